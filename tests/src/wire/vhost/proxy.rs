//! A message relay between QEMU and the rust-vmm daemon, for one ordering
//! the daemon refuses.
//!
//! QEMU 7.2's virtio-net enables queue pair 0 (`SET_VRING_ENABLE`) when the
//! guest writes its features, which is before QEMU sends `SET_FEATURES` to
//! the backend; it sends the same enable again once it starts the rings.
//! The `vhost` crate's request handler accepts `SET_VRING_ENABLE` only after
//! `SET_FEATURES` has acknowledged `VHOST_USER_F_PROTOCOL_FEATURES`, and
//! drops the connection otherwise, so QEMU falls back to no vhost at all.
//! The relay holds such early enables back and hands the last state of
//! each ring to the daemon right after `SET_FEATURES`; every other message
//! (with its file descriptors) passes through unchanged, and the daemon's
//! replies go back as bytes. The protocol itself is still the crate's: the
//! relay reads only the 12-byte header to find message boundaries.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use vhost::vhost_user::message::{FrontendReq, VhostUserVringState, MAX_MSG_SIZE};
use vm_memory::ByteValued;
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

/// The most descriptors one message carries (SET_MEM_TABLE: 8 regions,
/// or more with CONFIGURE_MEM_SLOTS, which is not offered).
const MAX_FDS: usize = 32;
/// The message header (vhost-user, "Message Specification"): request,
/// flags, payload size, each a little-endian u32. The crate keeps its own
/// header type private, so the relay reads these three words itself.
const HDR: usize = 12;
/// Protocol version 1 in the flags word.
const VERSION_1: u32 = 0x1;

#[derive(Clone, Copy)]
struct Header {
    request: u32,
    size: u32,
}

impl Header {
    fn parse(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        Self {
            request: word(0),
            size: word(8),
        }
    }

    fn is(&self, req: FrontendReq) -> bool {
        self.request == req as u32
    }
}

/// Relay between `qemu` and `daemon` until either side closes; both are
/// shut down on return.
pub fn relay(qemu: UnixStream, daemon: UnixStream) -> io::Result<()> {
    let back = {
        let (mut from, mut to) = (daemon.try_clone()?, qemu.try_clone()?);
        std::thread::Builder::new()
            .name("vhost-user-relay".into())
            .spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Both);
            })?
    };
    let r = forward(&qemu, &daemon);
    let _ = qemu.shutdown(Shutdown::Both);
    let _ = daemon.shutdown(Shutdown::Both);
    let _ = back.join();
    r
}

fn forward(qemu: &UnixStream, daemon: &UnixStream) -> io::Result<()> {
    let mut features_set = false;
    let mut early: BTreeMap<u32, u32> = BTreeMap::new();
    let mut msg = vec![0u8; HDR + MAX_MSG_SIZE];
    loop {
        let Some((len, fds)) = read_message(qemu, &mut msg)? else {
            return Ok(());
        };
        let hdr = Header::parse(&msg[..HDR]);
        if hdr.is(FrontendReq::SET_VRING_ENABLE) && !features_set && hdr.size == 8 {
            // NEED_REPLY is only set with REPLY_ACK, which is not offered.
            if let Some(state) = VhostUserVringState::from_slice(&msg[HDR..HDR + 8]) {
                let (index, num) = (state.index, state.num);
                early.insert(index, num);
                continue;
            }
        }
        send(daemon, &msg[..len], &fds)?;
        if hdr.is(FrontendReq::SET_FEATURES) && !features_set {
            features_set = true;
            for (index, num) in std::mem::take(&mut early) {
                let body = VhostUserVringState::new(index, num);
                let mut m = Vec::with_capacity(HDR + 8);
                for word in [FrontendReq::SET_VRING_ENABLE as u32, VERSION_1, 8] {
                    m.extend_from_slice(&word.to_le_bytes());
                }
                m.extend_from_slice(body.as_slice());
                send(daemon, &m, &[])?;
            }
        }
    }
}

/// One whole message (header, payload) and the descriptors that came with
/// it; `None` at a clean end of the stream.
fn read_message(s: &UnixStream, buf: &mut [u8]) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    let mut raw: [RawFd; MAX_FDS] = [-1; MAX_FDS];
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: HDR,
    }];
    // SAFETY: the iovec points at the first HDR bytes of `buf`, which we
    // borrow mutably; any bytes may be written there.
    let (got, nfds) = unsafe { s.recv_with_fds(&mut iov, &mut raw) }
        .map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    let fds = raw[..nfds]
        .iter()
        // SAFETY: recv_with_fds hands us ownership of the first `nfds`
        // descriptors, fresh from SCM_RIGHTS.
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if got == 0 {
        return Ok(None);
    }
    let mut r = s;
    r.read_exact(&mut buf[got..HDR])?;
    let size = Header::parse(&buf[..HDR]).size as usize;
    if size > MAX_MSG_SIZE {
        return Err(io::Error::other(format!("message of {size} bytes refused")));
    }
    r.read_exact(&mut buf[HDR..HDR + size])?;
    Ok(Some((HDR + size, fds)))
}

fn send(s: &UnixStream, msg: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let sent = s
        .send_with_fds(&[msg], &raw)
        .map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    let mut w = s;
    w.write_all(&msg[sent..])
}

//! Unix datagram endpoint: the host side of QEMU's `-netdev dgram`.
//!
//! One datagram is one Ethernet frame, as QEMU sends them: QEMU's socket is
//! bound to LOCAL and unconnected, it `sendto`s REMOTE and `recv`s from
//! anyone.
//!
//! Ours connects to the peer when it first sends. A connected unix datagram
//! socket is the only kind whose `poll(POLLOUT)` waits for room in the
//! peer's queue (`net.unix.max_dgram_qlen` frames, often just 10), so the
//! sender sleeps instead of spinning on EAGAIN; and a peer sending to a
//! socket connected back to it is not held to that queue limit at all, so
//! QEMU's frames to a port that sent once (the learning frame) queue deep
//! instead of making QEMU spin.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::sockpath::{clear_stale, context, Unlink};
use super::sys::{self, RecvBatch, SendBatch, UnixAddr};

/// Bytes of socket buffer to ask for: unix datagrams are charged to the
/// sender until read, so this bounds the frames in flight.
const SNDBUF: i32 = 4 << 20;

pub struct Dgram {
    fd: OwnedFd,
    peer: UnixAddr,
    peer_path: PathBuf,
    connected: bool,
    _unlink: Unlink,
}

impl Dgram {
    pub fn open(bind: &Path, peer: &Path) -> io::Result<Self> {
        let what = || format!("dgram {}", bind.display());
        let bind_addr = UnixAddr::new(bind)?;
        let peer_addr = UnixAddr::new(peer)?;
        clear_stale(bind).map_err(|e| context(e, what()))?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0)?;
        sys::bind_unix(&fd, &bind_addr)
            .map_err(|e| context(e, format!("cannot bind {}", bind.display())))?;
        let unlink = Unlink(bind.to_path_buf());
        // Best effort: a smaller buffer only means more waiting.
        let _ = sys::set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SNDBUF)
            .or_else(|_| sys::set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SNDBUF));
        // Connected on the first send, not here: a socket that only
        // receives stays unconnected, so any (restarted) peer may send to it.
        Ok(Self {
            fd,
            peer: peer_addr,
            peer_path: peer.to_path_buf(),
            connected: false,
            _unlink: unlink,
        })
    }

    fn connect(&mut self) -> io::Result<()> {
        sys::connect_unix(&self.fd, &self.peer).map_err(|e| {
            let why = match e.raw_os_error() {
                // The peer is connected to some other socket: one of ours
                // from before it restarted; it lets go when it next sends.
                Some(libc::EPERM) => "is connected to another socket (a peer from an earlier run?)",
                _ => "cannot be reached (start QEMU or the peer first)",
            };
            context(e, format!("{} {why}", self.peer_path.display()))
        })?;
        self.connected = true;
        Ok(())
    }

    pub fn send_batch<F: AsRef<[u8]>>(
        &mut self,
        scratch: &mut SendBatch,
        frames: &[F],
    ) -> io::Result<usize> {
        if !self.connected {
            self.connect()?;
        }
        match scratch.send(&self.fd, frames) {
            // The peer went away and may have come back on the same path
            // (a restarted QEMU): connect again once.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNREFUSED) | Some(libc::ENOTCONN)
                ) =>
            {
                self.connected = false;
                self.connect()?;
                scratch.send(&self.fd, frames)
            }
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                Err(context(e, "frame too large for a unix datagram"))
            }
            r => r,
        }
    }

    pub fn recv_batch(&mut self, scratch: &mut RecvBatch) -> io::Result<usize> {
        scratch.recv(&self.fd)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn wait(&self, events: i16, timeout: std::time::Duration) -> io::Result<bool> {
        sys::wait(self.fd.as_fd(), events, timeout)
    }
}

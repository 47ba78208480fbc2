//! `AF_PACKET` endpoint: the host side of QEMU's `-netdev tap`.
//!
//! On the host a tap is just a kernel interface: a frame sent on it with a
//! raw packet socket is delivered to QEMU's tap fd, and a frame QEMU writes
//! shows up as received on the interface. Frames the host itself transmits
//! on the interface (ours, or its IPv6 chatter) are "outgoing" and are
//! never reported as received.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::sockpath::context;
use super::sys::{self, RecvBatch, SendBatch};

const BUF: i32 = 4 << 20;

pub struct Packet {
    fd: OwnedFd,
    ifname: String,
}

impl Packet {
    pub fn open(ifname: &str) -> io::Result<Self> {
        let what = format!("tap {ifname}");
        let ifindex = sys::if_index(ifname).map_err(|e| {
            context(
                e,
                format!("no interface {ifname} in this network namespace"),
            )
        })?;
        // Protocol 0 receives nothing until bind sets ETH_P_ALL on this one
        // interface, so no frame from another interface sneaks in first.
        let fd = sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0).map_err(|e| {
            context(
                e,
                format!("{what}: cannot open a packet socket (needs root or CAP_NET_RAW)"),
            )
        })?;
        sys::bind_packet(&fd, ifindex, sys::ETH_P_ALL_BE).map_err(|e| context(e, &what))?;
        // Older kernels lack the option; recv_batch filters by pkttype anyway.
        let _ = sys::set_int_opt(&fd, libc::SOL_PACKET, sys::PACKET_IGNORE_OUTGOING, 1);
        for (force, plain) in [
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        ] {
            let _ = sys::set_int_opt(&fd, libc::SOL_SOCKET, force, BUF)
                .or_else(|_| sys::set_int_opt(&fd, libc::SOL_SOCKET, plain, BUF));
        }
        Ok(Self {
            fd,
            ifname: ifname.to_string(),
        })
    }

    pub fn send_batch<F: AsRef<[u8]>>(
        &mut self,
        scratch: &mut SendBatch,
        frames: &[F],
    ) -> io::Result<usize> {
        scratch
            .send(&self.fd, frames)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENETDOWN) => context(
                    e,
                    format!("tap {0} is down (ip link set {0} up)", self.ifname),
                ),
                Some(libc::EMSGSIZE) => {
                    context(e, format!("frame larger than the MTU of {}", self.ifname))
                }
                _ => context(e, format!("tap {}", self.ifname)),
            })
    }

    /// One non-blocking batch; frames for which [`Packet::incoming`] is
    /// false must be skipped by the caller.
    pub fn recv_batch(&mut self, scratch: &mut RecvBatch) -> io::Result<usize> {
        scratch
            .recv(&self.fd)
            .map_err(|e| context(e, format!("tap {}", self.ifname)))
    }

    /// Whether frame `i` of the last batch came in (rather than went out).
    pub fn incoming(scratch: &RecvBatch, i: usize) -> bool {
        scratch.pkttype(i) != Some(sys::PACKET_OUTGOING)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn wait(&self, events: i16, timeout: Duration) -> io::Result<bool> {
        sys::wait(self.fd.as_fd(), events, timeout)
    }
}

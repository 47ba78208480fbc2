//! The few libc calls the endpoints need, behind safe signatures.
//!
//! Every `unsafe` block of the wire and pktgen modules lives here, each with
//! the reason it is sound. Sockets are always created non-blocking and
//! close-on-exec: the callers wait with [`wait`] and a timeout, never in a
//! blocking syscall, so every loop stays bounded.

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use libc::{c_int, c_void, socklen_t};

/// `PACKET_OUTGOING` from `<linux/if_packet.h>`: a frame this host sent.
pub const PACKET_OUTGOING: u8 = 4;
/// `PACKET_IGNORE_OUTGOING` (Linux 4.20): don't queue outgoing frames at all.
pub const PACKET_IGNORE_OUTGOING: c_int = 23;
/// `ETH_P_ALL` in network byte order, as `socket(2)` and `sockaddr_ll` want it.
pub const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// True for the errors that mean "nothing now, try later".
pub fn would_block(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR))
        || e.kind() == io::ErrorKind::WouldBlock
}

/// `socket(2)`, non-blocking and close-on-exec.
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a fresh
    // descriptor nobody else owns, so OwnedFd may take it.
    unsafe {
        let fd = cvt(libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A filesystem unix socket address.
pub struct UnixAddr {
    addr: libc::sockaddr_un,
    len: socklen_t,
}

impl UnixAddr {
    pub fn new(path: &Path) -> io::Result<Self> {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unix socket path '{}' must be 1-{} bytes without NUL",
                    path.display(),
                    addr.sun_path.len() - 1
                ),
            ));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let len = (mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as socklen_t;
        Ok(Self { addr, len })
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.addr as *const libc::sockaddr_un).cast()
    }
}

pub fn bind_unix(fd: &OwnedFd, addr: &UnixAddr) -> io::Result<()> {
    // SAFETY: the address pointer and length describe a live sockaddr_un.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

pub fn connect_unix(fd: &OwnedFd, addr: &UnixAddr) -> io::Result<()> {
    // SAFETY: the address pointer and length describe a live sockaddr_un.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

pub fn listen(fd: &OwnedFd, backlog: c_int) -> io::Result<()> {
    // SAFETY: no pointers involved.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// `accept4(2)` a connection, non-blocking and close-on-exec.
pub fn accept(fd: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed (we don't want the peer's
    // address); a non-negative result is a fresh descriptor we own.
    unsafe {
        let c = cvt(libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        ))?;
        Ok(OwnedFd::from_raw_fd(c))
    }
}

/// Bind an `AF_PACKET` socket to one interface and protocol.
pub fn bind_packet(fd: &OwnedFd, ifindex: u32, protocol_be: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol_be;
    sll.sll_ifindex = ifindex as c_int;
    let len = mem::size_of::<libc::sockaddr_ll>() as socklen_t;
    // SAFETY: the pointer and length describe the live sockaddr_ll above.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            len,
        )
    })
    .map(drop)
}

pub fn set_int_opt(fd: &OwnedFd, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    let len = mem::size_of::<c_int>() as socklen_t;
    // SAFETY: the option value is a live c_int of the stated length.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const c_int).cast(),
            len,
        )
    })
    .map(drop)
}

pub fn get_int_opt(fd: &OwnedFd, level: c_int, name: c_int) -> io::Result<c_int> {
    let mut value: c_int = 0;
    let mut len = mem::size_of::<c_int>() as socklen_t;
    // SAFETY: value and len are live and writable; the kernel writes at most len bytes.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Bytes this socket sent that its peer has not read yet (`SIOCOUTQ`;
/// for a unix datagram socket, the datagrams still queued at the peer).
pub fn outq(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut value: c_int = 0;
    // SAFETY: SIOCOUTQ writes one c_int through the pointer, which is live.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut value as *mut c_int) })?;
    Ok(value.max(0) as usize)
}

/// The index of interface `name` in this thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// Wait until `fd` is ready for `events` (POLLIN / POLLOUT) or `timeout`
/// passes. Returns whether it is ready (an error or hang-up counts as ready,
/// so the caller's next call reports it).
pub fn wait(fd: BorrowedFd<'_>, events: i16, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: pfd and ts are live for the call; one pollfd is passed; a null
    // signal mask keeps the current one.
    let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    match cvt(r) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Wait until any of `fds` is ready for its events, or `timeout` passes.
pub fn wait_any(fds: &[(BorrowedFd<'_>, i16)], timeout: Duration) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: pfds and ts are live for the call and pfds.len() pollfds are
    // passed; a null signal mask keeps the current one.
    let r = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    match cvt(r) {
        Err(e) if e.raw_os_error() != Some(libc::EINTR) => Err(e),
        _ => Ok(()),
    }
}

/// `send(2)`; `MSG_NOSIGNAL` is always added so a closed peer is an error,
/// not a SIGPIPE.
pub fn send(fd: &OwnedFd, buf: &[u8], flags: c_int) -> io::Result<usize> {
    // SAFETY: buf is a live readable slice of the stated length.
    cvt_size(unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
        )
    })
}

pub fn recv(fd: &OwnedFd, buf: &mut [u8], flags: c_int) -> io::Result<usize> {
    // SAFETY: buf is a live writable slice of the stated length.
    cvt_size(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// CLOCK_MONOTONIC in nanoseconds: the clock frames are stamped with.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is live and writable; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time the calling thread has used, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is live and writable; the thread CPU clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Move the calling thread into the network namespace `ns` refers to.
pub fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers; setns only affects the calling thread's namespaces.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

/// `TUNSETIFF` on an open `/dev/net/tun`: attach it to (or create) the tap
/// interface `name`, without the packet-information header, as QEMU does.
pub fn tun_attach_tap(fd: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    if name.is_empty() || name.len() >= ifr.ifr_name.len() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name '{name}'"),
        ));
    }
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one struct ifreq, which is live and writable.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF,
            &mut ifr as *mut libc::ifreq,
        )
    })
    .map(drop)
}

/// Scratch for `sendmmsg(2)`: one iovec and one header per frame.
///
/// The raw pointers inside are rewritten on every call to point at that
/// call's frames and are never read between calls.
pub struct SendBatch {
    iov: Vec<libc::iovec>,
    hdr: Vec<libc::mmsghdr>,
}

// SAFETY: the pointers in iov/hdr are only meaningful during `send`, which
// rewrites them from borrowed slices first; moving the scratch to another
// thread between calls moves no live borrow.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // SAFETY: iovec and mmsghdr are plain old data; zeroes are valid values.
        let (iov, hdr) = unsafe { (vec![mem::zeroed(); capacity], vec![mem::zeroed(); capacity]) };
        Self { iov, hdr }
    }

    /// Send up to `capacity` frames as one `sendmmsg`, each its own datagram
    /// on a connected or bound socket. Returns how many went; 0 when the
    /// socket would block.
    pub fn send<F: AsRef<[u8]>>(&mut self, fd: &OwnedFd, frames: &[F]) -> io::Result<usize> {
        let n = frames.len().min(self.iov.len());
        if n == 0 {
            return Ok(0);
        }
        for (i, f) in frames[..n].iter().enumerate() {
            let f = f.as_ref();
            // The kernel only reads from send iovecs; the *mut is the C type.
            self.iov[i] = libc::iovec {
                iov_base: f.as_ptr() as *mut c_void,
                iov_len: f.len(),
            };
            // SAFETY: msghdr is plain old data; zeroes are a valid value.
            self.hdr[i].msg_hdr = unsafe { mem::zeroed() };
            self.hdr[i].msg_hdr.msg_iov = &mut self.iov[i];
            self.hdr[i].msg_hdr.msg_iovlen = 1;
            self.hdr[i].msg_len = 0;
        }
        // SAFETY: hdr[..n] point at iov[..n], which point at frames[..n]; all
        // are borrowed for the whole call. No msg_name: the socket is
        // connected (unix) or bound to an interface (packet).
        let r = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.hdr.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match cvt(r) {
            Ok(sent) => Ok(sent as usize),
            Err(e) if would_block(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Scratch for `recvmmsg(2)`: `capacity` buffers of `slot` bytes, and
/// (for packet sockets) the sender address of each, to read `sll_pkttype`.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    /// Distance between slots: `slot` rounded up, and never a multiple of
    /// the page size, so the frames of a batch don't all land in the same
    /// cache set.
    stride: usize,
    iov: Vec<libc::iovec>,
    hdr: Vec<libc::mmsghdr>,
    names: Vec<libc::sockaddr_ll>,
    with_names: bool,
    filled: usize,
}

// SAFETY: as for SendBatch: the pointers are rewritten from `self`'s own
// buffers at the start of every `recv` and not used between calls.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(capacity: usize, slot: usize, with_names: bool) -> Self {
        let capacity = capacity.max(1);
        // SAFETY: iovec, mmsghdr and sockaddr_ll are plain old data; zeroes are valid.
        let (iov, hdr, names) = unsafe {
            (
                vec![mem::zeroed(); capacity],
                vec![mem::zeroed(); capacity],
                vec![mem::zeroed(); capacity],
            )
        };
        let mut stride = slot.div_ceil(64) * 64;
        if stride.is_multiple_of(4096) {
            stride += 64;
        }
        // vec![0; n] is calloc: pages the frames never reach are never touched.
        Self {
            buf: vec![0; capacity * stride],
            slot,
            stride,
            iov,
            hdr,
            names,
            with_names,
            filled: 0,
        }
    }

    /// One non-blocking `recvmmsg`; returns how many frames arrived (0 when
    /// none are queued).
    pub fn recv(&mut self, fd: &OwnedFd) -> io::Result<usize> {
        self.filled = 0;
        let n = self.iov.len();
        let base = self.buf.as_mut_ptr();
        for i in 0..n {
            // SAFETY: i * stride + slot <= capacity * stride = buf.len(), so
            // the slot stays inside buf.
            let p = unsafe { base.add(i * self.stride) };
            self.iov[i] = libc::iovec {
                iov_base: p.cast(),
                iov_len: self.slot,
            };
            // SAFETY: msghdr is plain old data; zeroes are a valid value.
            self.hdr[i].msg_hdr = unsafe { mem::zeroed() };
            self.hdr[i].msg_hdr.msg_iov = &mut self.iov[i];
            self.hdr[i].msg_hdr.msg_iovlen = 1;
            if self.with_names {
                self.hdr[i].msg_hdr.msg_name =
                    (&mut self.names[i] as *mut libc::sockaddr_ll).cast();
                self.hdr[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as socklen_t;
            }
        }
        // SAFETY: every header points at its own iovec (and name), every
        // iovec at its own `slot`-byte piece of buf; all owned by self and
        // live for the call. A null timeout with MSG_DONTWAIT never blocks.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdr.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        match cvt(r) {
            Ok(got) => {
                self.filled = got as usize;
                Ok(self.filled)
            }
            Err(e) if would_block(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Frames from the last `recv`.
    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Frame `i` of the last `recv` (cut at the slot size if it was longer).
    pub fn frame(&self, i: usize) -> &[u8] {
        assert!(i < self.filled, "frame {i} of {}", self.filled);
        let len = (self.hdr[i].msg_len as usize).min(self.slot);
        &self.buf[i * self.stride..i * self.stride + len]
    }

    /// Whether frame `i` was longer than the slot and got cut.
    pub fn truncated(&self, i: usize) -> bool {
        self.hdr[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0
    }

    /// `sll_pkttype` of frame `i` (packet sockets only).
    pub fn pkttype(&self, i: usize) -> Option<u8> {
        self.with_names.then(|| self.names[i].sll_pkttype)
    }
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() }
}

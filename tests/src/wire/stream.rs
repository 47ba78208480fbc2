//! Unix stream endpoint: the host side of QEMU's `-netdev stream`.
//!
//! QEMU (`server=off`) connects to a socket we listen on; each frame on the
//! byte stream is a 4-byte big-endian length then the frame. Partial frames
//! are buffered both ways: a frame is never cut on the wire. Frames a send
//! accepted may still sit in our buffer: [`Stream::drain_output`] (through
//! `Endpoint::flush`) pushes them out.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sockpath::{clear_stale, context, Unlink};
use super::sys::{self, UnixAddr};
use super::MAX_FRAME;

/// Bytes queued for sending before `send_batch` says "would block".
const OUT_LIMIT: usize = 256 << 10;
/// Receive buffer: room for several maximal frames.
const IN_CAP: usize = 4 * (MAX_FRAME + 4);

pub struct Stream {
    listener: Option<OwnedFd>,
    conn: Option<OwnedFd>,
    path: PathBuf,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    out: Vec<u8>,
    out_start: usize,
    _unlink: Option<Unlink>,
}

impl Stream {
    fn new(
        listener: Option<OwnedFd>,
        conn: Option<OwnedFd>,
        path: &Path,
        unlink: Option<Unlink>,
    ) -> Self {
        Self {
            listener,
            conn,
            path: path.to_path_buf(),
            inbuf: vec![0; IN_CAP],
            in_start: 0,
            in_end: 0,
            out: Vec::with_capacity(OUT_LIMIT + MAX_FRAME + 4),
            out_start: 0,
            _unlink: unlink,
        }
    }

    /// Listen on `path` for QEMU to connect (pktgen's side).
    pub fn listen(path: &Path) -> io::Result<Self> {
        let addr = UnixAddr::new(path)?;
        clear_stale(path).map_err(|e| context(e, format!("stream {}", path.display())))?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)?;
        sys::bind_unix(&fd, &addr)
            .map_err(|e| context(e, format!("cannot bind {}", path.display())))?;
        let unlink = Unlink(path.to_path_buf());
        sys::listen(&fd, 1)?;
        Ok(Self::new(Some(fd), None, path, Some(unlink)))
    }

    /// Connect to a listener at `path` (QEMU's side; for tests).
    pub fn connect(path: &Path) -> io::Result<Self> {
        let addr = UnixAddr::new(path)?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)?;
        match sys::connect_unix(&fd, &addr) {
            // A non-blocking unix connect either completes or fails at once,
            // except EAGAIN when the backlog is full.
            Ok(()) => Ok(Self::new(None, Some(fd), path, None)),
            Err(e) => Err(context(e, format!("cannot connect to {}", path.display()))),
        }
    }

    /// What to poll: the connection, or the listener until QEMU connects.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.conn
            .as_ref()
            .or(self.listener.as_ref())
            .map(|f| f.as_fd())
    }

    /// Accept QEMU's connection if there is one by `timeout`.
    pub fn accept(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.conn.is_some() {
            return Ok(true);
        }
        let Some(listener) = &self.listener else {
            return Ok(false);
        };
        if !timeout.is_zero() && !sys::wait(listener.as_fd(), libc::POLLIN, timeout)? {
            return Ok(false);
        }
        match sys::accept(listener) {
            Ok(c) => {
                self.conn = Some(c);
                Ok(true)
            }
            Err(e) if sys::would_block(&e) => Ok(false),
            Err(e) => Err(context(e, format!("accept on {}", self.path.display()))),
        }
    }

    fn closed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            format!(
                "stream {}: the peer closed the connection",
                self.path.display()
            ),
        )
    }

    /// Write out what is queued, as far as the socket takes it now.
    fn flush(&mut self) -> io::Result<()> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        while self.out_start < self.out.len() {
            match sys::send(conn, &self.out[self.out_start..], libc::MSG_DONTWAIT) {
                Ok(n) => self.out_start += n,
                Err(e) if sys::would_block(&e) => break,
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) =>
                {
                    return Err(self.closed())
                }
                Err(e) => return Err(e),
            }
        }
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.out.len() - self.out_start
    }

    pub fn send_batch<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> io::Result<usize> {
        if !self.accept(Duration::ZERO)? {
            return Ok(0);
        }
        self.flush()?;
        let mut taken = 0;
        for f in frames {
            let f = f.as_ref();
            if self.queued() > 0 && self.queued() + 4 + f.len() > OUT_LIMIT {
                break;
            }
            if self.out_start > 0 {
                // Keep the buffer from growing: move the unsent tail down.
                self.out.drain(..self.out_start);
                self.out_start = 0;
            }
            self.out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            self.out.extend_from_slice(f);
            taken += 1;
        }
        self.flush()?;
        Ok(taken)
    }

    /// Wait for QEMU to connect, or for the socket to take some of what is
    /// queued; returns whether there is room to queue more.
    pub fn wait_writable(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.conn.is_none() {
            return self.accept(timeout);
        }
        if self.queued() == 0 {
            return Ok(true);
        }
        let conn = self.conn.as_ref().expect("connected");
        sys::wait(conn.as_fd(), libc::POLLOUT, timeout)?;
        self.flush()?;
        Ok(self.queued() < OUT_LIMIT)
    }

    /// Push out everything queued, waiting up to `timeout`; returns whether
    /// all of it went.
    pub fn drain_output(&mut self, timeout: Duration) -> io::Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        self.flush()?;
        while self.queued() > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let conn = self.conn.as_ref().expect("queued output means connected");
            sys::wait(conn.as_fd(), libc::POLLOUT, left)?;
            self.flush()?;
        }
        Ok(true)
    }

    /// Read what is there (waiting up to `timeout` if nothing is buffered)
    /// and hand every complete frame to `f`.
    pub fn recv_batch(&mut self, timeout: Duration, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        if !self.accept(timeout)? {
            return Ok(0);
        }
        // Queued output must not wait on our reads (both sides could block).
        self.flush()?;
        let mut n = self.deliver(f)?;
        if n > 0 {
            return Ok(n);
        }
        let conn = self.conn.as_ref().expect("connected");
        if !timeout.is_zero() && !sys::wait(conn.as_fd(), libc::POLLIN, timeout)? {
            return Ok(0);
        }
        match sys::recv(conn, &mut self.inbuf[self.in_end..], libc::MSG_DONTWAIT) {
            Ok(0) => return Err(self.closed()),
            Ok(got) => self.in_end += got,
            Err(e) if sys::would_block(&e) => return Ok(0),
            Err(e) => return Err(e),
        }
        n += self.deliver(f)?;
        Ok(n)
    }

    /// Hand out the complete frames in the input buffer; keep the partial one.
    fn deliver(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut n = 0;
        loop {
            let avail = &self.inbuf[self.in_start..self.in_end];
            if avail.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
            if len > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "stream {}: framing broken, length {len} > {MAX_FRAME}",
                        self.path.display()
                    ),
                ));
            }
            if avail.len() < 4 + len {
                break;
            }
            f(&avail[4..4 + len]);
            self.in_start += 4 + len;
            n += 1;
        }
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        } else if self.in_start > 0 {
            self.inbuf.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        Ok(n)
    }
}

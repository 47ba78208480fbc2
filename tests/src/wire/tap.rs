//! A tap device opened the way QEMU opens one (`/dev/net/tun`, `IFF_TAP |
//! IFF_NO_PI`), so tests can play QEMU's side of a `tap:` NIC.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use super::sys;

pub struct TapDevice {
    file: File,
    name: String,
}

impl TapDevice {
    /// Create (or attach to) tap `name` in this thread's network namespace.
    /// The interface exists while this is open (unless made persistent).
    pub fn create(name: &str) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        sys::tun_attach_tap(file.as_fd(), name)
            .map_err(|e| io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")))?;
        Ok(Self {
            file,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One frame the host sent on the interface, waiting up to `timeout`.
    pub fn read_frame(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = vec![0; super::MAX_FRAME];
        loop {
            match self.file.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
                Err(e) if sys::would_block(&e) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() || !sys::wait(self.file.as_fd(), libc::POLLIN, left)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deliver one frame to the host, as if the guest had sent it.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let n = self.file.write(frame)?;
        if n != frame.len() {
            return Err(io::Error::other(format!(
                "tap {}: wrote {n} of {} bytes",
                self.name,
                frame.len()
            )));
        }
        Ok(())
    }
}

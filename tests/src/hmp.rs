//! QEMU's human monitor (HMP) over a unix socket, for looking inside the
//! emulated devices when a test or benchmark finds the guest stuck.
//!
//! Add the socket with [`Hmp::arg`] (QEMU listens, does not wait), then
//! [`Hmp::query`] runs one command and returns its text. Read-only use:
//! nothing here changes the VM.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The monitor's prompt, which ends every answer.
const PROMPT: &str = "(qemu) ";

/// Where a VM's monitor listens.
#[derive(Clone, Debug)]
pub struct Hmp {
    path: PathBuf,
}

impl Hmp {
    /// A monitor socket at `path` (at most 107 bytes: a unix socket path).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The `-monitor` value that makes QEMU listen there.
    pub fn arg(&self) -> String {
        format!("unix:{},server=on,wait=off", self.path.display())
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `command` and return what the monitor printed (prompt and
    /// echo removed).
    pub fn query(&self, command: &str, timeout: Duration) -> io::Result<String> {
        let mut s = UnixStream::connect(&self.path)?;
        let deadline = Instant::now() + timeout;
        read_to_prompt(&mut s, deadline)?;
        s.write_all(command.as_bytes())?;
        s.write_all(b"\n")?;
        let text = read_to_prompt(&mut s, deadline)?;
        Ok(clean(&text, command))
    }

    /// `info virtio-queue-status` of queue `queue` of the NIC added as
    /// number `nic` (see `boot::Nic`: its device id is `nicN`).
    pub fn virtio_queue(&self, nic: usize, queue: u16, timeout: Duration) -> io::Result<String> {
        self.query(
            &format!(
                "info virtio-queue-status /machine/peripheral/nic{nic}/virtio-backend {queue}"
            ),
            timeout,
        )
    }
}

fn read_to_prompt(s: &mut UnixStream, deadline: Instant) -> io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "monitor did not answer",
            ));
        }
        s.set_read_timeout(Some(left))?;
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "monitor closed",
            ));
        }
        out.extend_from_slice(&buf[..n]);
        if out.ends_with(PROMPT.as_bytes()) {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
    }
}

/// Drop terminal escapes, carriage returns, the echoed command and the
/// prompt.
fn clean(text: &str, command: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            plain.push(c);
        }
    }
    // The monitor echoes what it reads, redrawing the line per keystroke:
    // the echo is the first line that ends with the whole command.
    let lines: Vec<&str> = plain.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end().ends_with(command))
        .map_or(0, |i| i + 1);
    lines[start..]
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(PROMPT.trim_end()))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_echo_prompt_and_escapes() {
        let raw = "i\x1b[K\x1b[Din\x1b[Dinfo x\r\nline one\r\nline two\r\n(qemu) ";
        assert_eq!(clean(raw, "info x"), "line one\nline two");
    }
}

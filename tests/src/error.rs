//! The harness's error: one line saying what went wrong, then the serial
//! output that explains it.

use std::fmt;

/// A failed wait, a dead QEMU, a missing kernel, ...
///
/// `Debug` prints the same as `Display`, so `.unwrap()` in a test shows a
/// readable message rather than a struct dump.
pub struct Error {
    /// One line: what failed.
    pub message: String,
    /// The last serial lines (may be empty).
    pub serial_tail: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            serial_tail: String::new(),
        }
    }

    pub fn with_tail(message: impl Into<String>, serial_tail: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            serial_tail: serial_tail.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.serial_tail.is_empty() {
            write!(f, "\n--- last serial lines ---\n{}\n---", self.serial_tail)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

//! Socket files on disk: clear a stale one before binding, remove ours after.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Remove a leftover socket at `path` (from a crashed run) so bind works.
/// Anything that is not a socket is left alone and refused: a typo must not
/// delete someone's file.
pub fn clear_stale(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the socket file it names when dropped.
#[derive(Debug)]
pub struct Unlink(pub PathBuf);

impl Drop for Unlink {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.0) {
            if m.file_type().is_socket() {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }
}

/// Prefix an error with what we were doing, keeping its kind.
pub fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

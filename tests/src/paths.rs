//! Where things live: the workspace, its target directory, and the
//! harness's images and logs inside it.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `$CARGO_TARGET_DIR`, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Disk images the harness builds (one per test that has a script).
pub fn images_dir() -> PathBuf {
    target_dir().join("qemu-images")
}

/// Serial logs of failed tests.
pub fn logs_dir() -> PathBuf {
    target_dir().join("qemu-logs")
}

/// The harness's own cargo target directory, apart from `target/` so a
/// test that has to build the kernel never waits for the lock that the
/// surrounding `cargo test` holds.
pub fn harness_target_dir() -> PathBuf {
    workspace_root().join("target").join("harness")
}

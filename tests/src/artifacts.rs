//! The binaries the tests need: the kernel ELF and the xtask binary.
//!
//! `cargo xtask test` builds them and passes their paths in `KERNEL_ELF`
//! and `XTASK_BIN`. A plain `cargo test -p integration` has neither, so the
//! harness builds them itself, once per test process, in its own target
//! directory (`target/harness`): the `cargo test` that runs us holds the
//! lock on `target/`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::paths::{harness_target_dir, workspace_root};
use crate::process::run_with_timeout;
use crate::timeouts::{scaled, CARGO_BUILD};

/// The release kernel ELF: `$KERNEL_ELF`, else built once per process.
pub fn kernel_elf() -> Result<PathBuf> {
    static ELF: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    from_env_or_build(
        &ELF,
        "KERNEL_ELF",
        &["--package", "kernel", "--release"],
        || {
            harness_target_dir()
                .join("x86_64-unknown-none")
                .join("release")
                .join("kernel")
        },
    )
}

/// The xtask binary: `$XTASK_BIN`, else built once per process.
pub fn xtask_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    from_env_or_build(&BIN, "XTASK_BIN", &["--package", "xtask"], || {
        harness_target_dir().join("debug").join("xtask")
    })
}

fn from_env_or_build(
    cell: &OnceLock<Result<PathBuf, String>>,
    var: &str,
    build_args: &[&str],
    built_path: impl Fn() -> PathBuf,
) -> Result<PathBuf> {
    cell.get_or_init(|| {
        if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
            return if path.is_file() {
                Ok(path)
            } else {
                Err(format!("{var}={} does not exist", path.display()))
            };
        }
        cargo_build(build_args)?;
        let path = built_path();
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "cargo built {build_args:?} but {} is missing",
                path.display()
            ))
        }
    })
    .clone()
    .map_err(Error::new)
}

fn cargo_build(args: &[&str]) -> Result<(), String> {
    // The rustup proxy picks the pinned toolchain from rust-toolchain.toml.
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", harness_target_dir())
        .arg("build")
        .args(args);
    // Straight to stderr, past libtest's capture: the first test waits
    // for this build and the person watching should know why.
    let _ = writeln!(
        std::io::stderr(),
        "harness: running `cargo build {}` in {} (set KERNEL_ELF / XTASK_BIN to skip)",
        args.join(" "),
        harness_target_dir().display()
    );
    let out = run_with_timeout(cmd, scaled(CARGO_BUILD)).map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let tail = crate::text::tail(&out.stderr, 30);
        Err(format!("`cargo build {}` failed:\n{tail}", args.join(" ")))
    }
}

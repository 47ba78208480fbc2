//! Building the kernel ELF and its images.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot::image::{self, Firmware, ImageSet};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

/// The cargo that runs us (so the pinned toolchain builds the kernel).
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo build -p kernel`; returns the ELF's path.
pub fn kernel(release: bool) -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["build", "--package", "kernel"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the kernel failed (cargo's errors are above)".into());
    }
    let profile = if release { "release" } else { "debug" };
    let elf = target_dir()
        .join("x86_64-unknown-none")
        .join(profile)
        .join("kernel");
    if elf.is_file() {
        Ok(elf)
    } else {
        Err(format!(
            "cargo built the kernel but {} is missing",
            elf.display()
        ))
    }
}

/// The startup script from `--script FILE` followed by `--exec "a; b"`.
pub fn startup_script(script: Option<&Path>, exec: Option<&str>) -> Result<Option<String>, String> {
    let mut text = String::new();
    if let Some(path) = script {
        text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if let Some(exec) = exec {
        text.push_str(exec);
        text.push('\n');
    }
    Ok(if text.trim().is_empty() {
        None
    } else {
        Some(text)
    })
}

/// Kernel + images in `target/images/`. `prebuilt` skips the build.
///
/// Images are named after the profile and the script's hash, so runs with
/// different scripts (tests run several at once) never share a file.
pub fn images(
    release: bool,
    prebuilt: Option<&Path>,
    script: Option<&str>,
    firmwares: &[Firmware],
) -> Result<(PathBuf, ImageSet), String> {
    let elf = match prebuilt {
        Some(path) if path.is_file() => path.to_path_buf(),
        Some(path) => return Err(format!("--kernel {} does not exist", path.display())),
        None => kernel(release)?,
    };
    let out = target_dir().join("images");
    let mut name = match (prebuilt, release) {
        (Some(_), _) => "kernel-prebuilt".to_string(),
        (None, true) => "kernel-release".to_string(),
        (None, false) => "kernel-debug".to_string(),
    };
    if let Some(script) = script {
        name.push_str(&format!("-{:016x}", fnv1a(script.as_bytes())));
    }
    let set = image::build(&elf, script, &out, &name, firmwares).map_err(|e| e.to_string())?;
    Ok((elf, set))
}

/// FNV-1a: a stable hash (the same name for the same script, every run).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

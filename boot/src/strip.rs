//! The kernel as packed into an image: without its debug info.
//!
//! The release profile keeps line tables (`debug = 1`) for gdb and
//! addr2line, which makes the ELF several times larger than what gets
//! loaded. The BIOS bootloader reads the whole file through real-mode disk
//! calls, slow under TCG: packing a copy stripped of debug sections saved
//! about 1 s per BIOS boot (2.1 MB -> 0.3 MB). Symbols stay, and the
//! unstripped ELF is still the one to give gdb.
//!
//! `llvm-objcopy` comes with the pinned toolchain's `llvm-tools-preview`
//! component; without it the kernel is packed as it is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `$LLVM_OBJCOPY`, else the one in the active toolchain's sysroot.
fn llvm_objcopy() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("LLVM_OBJCOPY") {
                return Some(PathBuf::from(p));
            }
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            let out = Command::new(rustc)
                .args(["--print", "sysroot"])
                .output()
                .ok()?;
            let sysroot = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
            let rustlib = std::fs::read_dir(sysroot.join("lib").join("rustlib")).ok()?;
            rustlib
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.path().join("bin").join("llvm-objcopy"))
                .find(|p| p.is_file())
        })
        .as_deref()
}

/// Write `kernel` without debug sections to `out`; false (and `out`
/// untouched) when llvm-objcopy is missing or fails.
pub fn strip_debug(kernel: &Path, out: &Path) -> bool {
    let Some(objcopy) = llvm_objcopy() else {
        return false;
    };
    let ok = Command::new(objcopy)
        .arg("--strip-debug")
        .arg(kernel)
        .arg(out)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let _ = std::fs::remove_file(out);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_a_host_binary_or_says_it_cannot() {
        // Any ELF does: the test binary itself carries debug info.
        let me = std::env::current_exe().unwrap();
        let out = std::env::temp_dir().join(format!("boot-strip-test-{}", std::process::id()));
        if strip_debug(&me, &out) {
            let before = std::fs::metadata(&me).unwrap().len();
            let after = std::fs::metadata(&out).unwrap().len();
            std::fs::remove_file(&out).unwrap();
            assert!(after < before, "stripping did not shrink {before} bytes");
        } else {
            assert!(llvm_objcopy().is_none() || !out.exists());
        }
    }
}

//! Kernel ELF -> bootable disk images.
//!
//! The `bootloader` crate (0.11) packs the kernel and an optional ramdisk
//! into a FAT partition behind an MBR (BIOS) or GPT (UEFI) disk. It has no
//! kernel command line, so the startup script (shell commands, one per line
//! or separated by `;`) travels as the ramdisk.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use bootloader::{BootConfig, DiskImageBuilder};
use bootloader_boot_config::LevelFilter;

use crate::strip;

/// Which firmware boots the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, QEMU's default: MBR image.
    Bios,
    /// OVMF: GPT image with the bootloader's EFI application.
    Uefi,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// The images built from one kernel and one script.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub bios: Option<PathBuf>,
    pub uefi: Option<PathBuf>,
}

impl ImageSet {
    pub fn get(&self, firmware: Firmware) -> Option<&Path> {
        match firmware {
            Firmware::Bios => self.bios.as_deref(),
            Firmware::Uefi => self.uefi.as_deref(),
        }
    }
}

/// An image could not be built.
#[derive(Debug)]
pub struct ImageError(pub String);

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImageError {}

/// The bootloader's own configuration: its log goes to serial only at
/// warning level and above, and never to the framebuffer (drawing text
/// under TCG costs most of a second per boot).
fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.log_level = LevelFilter::Warn;
    config.frame_buffer_logging = false;
    config.serial_logging = true;
    config
}

/// Build the requested images of `kernel` into `out_dir`, named
/// `<name>-bios.img` / `<name>-uefi.img`, with `script` as the ramdisk.
/// The kernel is packed without its debug info (see [`crate::strip`]).
/// Safe to call from several processes at once, also for the same name.
pub fn build(
    kernel: &Path,
    script: Option<&str>,
    out_dir: &Path,
    name: &str,
    firmwares: &[Firmware],
) -> Result<ImageSet, ImageError> {
    if !kernel.is_file() {
        return Err(ImageError(format!(
            "kernel ELF not found at {}",
            kernel.display()
        )));
    }
    fs::create_dir_all(out_dir)
        .map_err(|e| ImageError(format!("cannot create {}: {e}", out_dir.display())))?;

    // Files are written under a temporary name and renamed into place, so
    // another process booting (or rebuilding) the same name never sees a
    // half-written image: QEMU keeps the inode it opened.
    let tmp = |file: &str| out_dir.join(format!(".{file}.{}.tmp", std::process::id()));
    let stripped = tmp(&format!("{name}.kernel"));
    let packed = if strip::strip_debug(kernel, &stripped) {
        stripped.as_path()
    } else {
        kernel
    };
    let result = build_from(packed, script, out_dir, name, firmwares, &tmp);
    let _ = fs::remove_file(&stripped);
    result
}

fn build_from(
    kernel: &Path,
    script: Option<&str>,
    out_dir: &Path,
    name: &str,
    firmwares: &[Firmware],
    tmp: &dyn Fn(&str) -> PathBuf,
) -> Result<ImageSet, ImageError> {
    let mut builder = DiskImageBuilder::new(kernel.to_path_buf());
    builder.set_boot_config(&boot_config());
    let mut script_tmp = None;
    if let Some(script) = script.filter(|s| !s.trim().is_empty()) {
        let path = tmp(&format!("{name}.script"));
        fs::write(&path, script)
            .map_err(|e| ImageError(format!("cannot write {}: {e}", path.display())))?;
        builder.set_ramdisk(path.clone());
        script_tmp = Some(path);
    }

    let mut set = ImageSet {
        bios: None,
        uefi: None,
    };
    for &firmware in firmwares {
        let file = format!("{name}-{}.img", firmware.name());
        let path = out_dir.join(&file);
        let partial = tmp(&file);
        let result = match firmware {
            Firmware::Bios => builder.create_bios_image(&partial),
            Firmware::Uefi => builder.create_uefi_image(&partial),
        };
        let result = result
            .map_err(|e| format!("{e:#}"))
            .and_then(|()| fs::rename(&partial, &path).map_err(|e| e.to_string()));
        if let Err(e) = result {
            let _ = fs::remove_file(&partial);
            if let Some(s) = &script_tmp {
                let _ = fs::remove_file(s);
            }
            return Err(ImageError(format!(
                "building the {} image {} failed: {e}",
                firmware.name(),
                path.display()
            )));
        }
        match firmware {
            Firmware::Bios => set.bios = Some(path),
            Firmware::Uefi => set.uefi = Some(path),
        }
    }
    if let Some(s) = &script_tmp {
        let _ = fs::remove_file(s);
    }
    Ok(set)
}

/// OVMF firmware files (Debian package `ovmf`): code and a variable store
/// template. `OVMF_CODE` / `OVMF_VARS` override the search.
pub fn find_ovmf() -> Result<(PathBuf, PathBuf), ImageError> {
    let pick = |var: &str, candidates: &[&str]| -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(var) {
            return Some(PathBuf::from(p));
        }
        candidates.iter().map(PathBuf::from).find(|p| p.is_file())
    };
    let code = pick(
        "OVMF_CODE",
        &[
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_CODE.fd",
        ],
    );
    let vars = pick(
        "OVMF_VARS",
        &[
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ],
    );
    match (code, vars) {
        (Some(c), Some(v)) => Ok((c, v)),
        _ => Err(ImageError(
            "OVMF not found: install it with `apt-get install -y ovmf` (or set OVMF_CODE and OVMF_VARS)"
                .into(),
        )),
    }
}

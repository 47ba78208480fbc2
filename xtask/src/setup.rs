//! Making sure QEMU (and OVMF for UEFI) are there.

use std::process::Command;

use boot::qemu::find_qemu;

const PACKAGES: [&str; 2] = ["qemu-system-x86", "ovmf"];

fn is_root() -> bool {
    // SAFETY-free check: the effective uid is what apt-get cares about.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Find QEMU; install it with apt-get when we are root and it is missing.
pub fn ensure_qemu(need_ovmf: bool) -> Result<(), String> {
    let ovmf_ok = !need_ovmf || boot::image::find_ovmf().is_ok();
    if find_qemu().is_ok() && ovmf_ok {
        return Ok(());
    }
    let install = format!(
        "apt-get update && apt-get install -y {}",
        PACKAGES.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "QEMU (or OVMF) is missing: run `sudo sh -c '{install}'`"
        ));
    }
    eprintln!("xtask: QEMU or OVMF missing; running `{install}`");
    let ok = Command::new("sh")
        .args(["-c", &format!("{install} >/tmp/xtask-apt.log 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "installing {} failed; see /tmp/xtask-apt.log",
            PACKAGES.join(" ")
        ));
    }
    find_qemu().map(|_| ()).map_err(|e| e.to_string())
}

//! Every wait in the harness has a timeout; these are the defaults.
//!
//! They are generous because the machines are small (2 cores shared by
//! cargo, rustc and several TCG guests); `QEMU_TIMEOUT_SCALE=3` stretches
//! all of them on a slower host.

use std::time::Duration;

/// BIOS boot to the ready line (about 1 s when the host is idle).
pub const BOOT: Duration = Duration::from_secs(60);
/// UEFI boot to the ready line (about 5 s when the host is idle).
pub const UEFI_BOOT: Duration = Duration::from_secs(120);
/// One shell command to its prompt.
pub const COMMAND: Duration = Duration::from_secs(15);
/// From a shutdown/panic/fault to QEMU's exit.
pub const EXIT: Duration = Duration::from_secs(30);
/// Building the kernel or xtask when the harness has to (first build of
/// the bootloader takes minutes on 2 cores).
pub const CARGO_BUILD: Duration = Duration::from_secs(20 * 60);

/// `d` times `QEMU_TIMEOUT_SCALE` (default 1).
pub fn scaled(d: Duration) -> Duration {
    let scale = std::env::var("QEMU_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0);
    d.mul_f64(scale)
}

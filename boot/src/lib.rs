//! Host-side boot support for the unikernel.
//!
//! Two jobs, one crate, so that `xtask` and the integration tests agree:
//!
//! * [`image`]: turn the kernel ELF (plus a startup script carried as the
//!   bootloader's ramdisk) into a BIOS or UEFI disk image with the
//!   `bootloader` crate.
//! * [`qemu`]: build the QEMU command line (machine, accelerator, NICs,
//!   serial, exit device) and decode QEMU's exit status back into the
//!   kernel's exit code ([`exit`]).
//! * [`mod@vhost_probe`]: check that a vhost-user NIC's backend answers before
//!   QEMU starts (xtask and the test harness share the check).
//!
//! This is the only place in the repository that spells QEMU flags.

pub mod exit;
pub mod image;
pub mod nic;
pub mod qemu;
pub mod strip;
pub mod vhost_probe;

pub use exit::KernelExit;
pub use image::{Firmware, ImageSet};
pub use nic::{Nic, NicBackend};
pub use qemu::{Accel, Machine, QemuConfig, Serial};
pub use vhost_probe::{
    probe_nics as probe_vhost_nics, vhost_probe, PROBE_TIMEOUT as VHOST_PROBE_TIMEOUT,
};

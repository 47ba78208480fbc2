//! What the firmware tells us about the machine.

pub mod acpi;
pub mod ramdisk;

//! Port I/O: the one place the kernel executes `in` and `out`.
//!
//! Under KVM every port access is a VM exit, so each is counted
//! ([`crate::exits`], `pio`); keeping them all here keeps the count
//! complete. Users: the UARTs (`console/serial.rs`), PCI configuration
//! mechanism #1 (`pci/cam.rs`), the PIT and port B (`time/pit.rs`), the
//! 8259 PICs and port 0x80 (`irq/pic.rs`), the exit device
//! (`arch/qemu_exit.rs`). Nothing else may use `x86_64`'s `Port` or
//! `in`/`out` assembly (the integration test `exits` checks the tree).

use x86_64::instructions::port::{PortRead, PortWrite};

use crate::exits;

/// Reads a `T` (u8, u16 or u32) from `port`.
///
/// # Safety
///
/// `port` must be a device register whose read has no effect on memory
/// safety (reading a register may change the device's state: popping a
/// FIFO, acknowledging an interrupt).
#[inline]
pub unsafe fn read<T: PortRead>(port: u16) -> T {
    exits::this_cpu().pio();
    // SAFETY: the caller vouches for the port.
    unsafe { T::read_from_port(port) }
}

/// Writes `value` (u8, u16 or u32) to `port`.
///
/// # Safety
///
/// `port` must be a device register whose write cannot break memory
/// safety (e.g. by pointing a device's DMA or a BAR at memory the kernel
/// uses).
#[inline]
pub unsafe fn write<T: PortWrite>(port: u16, value: T) {
    exits::this_cpu().pio();
    // SAFETY: the caller vouches for the port.
    unsafe { T::write_to_port(port, value) }
}

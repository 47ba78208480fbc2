//! Bounds-checked access to a device register block mapped by
//! [`paging::map_mmio`], so drivers need no `unsafe` for register I/O.
//!
//! Every access is counted as `mmio` in [`crate::exits`] (a VM exit under
//! KVM), except [`Mmio::notify16`], a doorbell, counted as one.

use super::paging::{self, MapError};
use crate::exits;
use x86_64::{PhysAddr, VirtAddr};

/// A mapped, uncached register block of `len` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: VirtAddr,
    len: u64,
}

impl Mmio {
    /// Maps `len` bytes of registers at `phys`.
    ///
    /// # Safety
    ///
    /// `[phys, phys + len)` must be a device's register block (a memory
    /// BAR, the local or an I/O APIC, the ECAM window) and stay one while
    /// the `Mmio` (or a copy) is used: its safe accessors read and write
    /// any aligned offset in it, which is sound only where no Rust object
    /// lives ([`paging::map_mmio`]'s contract, which this discharges).
    pub unsafe fn map(phys: PhysAddr, len: u64) -> Result<Self, MapError> {
        Ok(Self {
            // SAFETY: a register block is device memory (this function's
            // contract).
            base: unsafe { paging::map_mmio(phys, len)? },
            len,
        })
    }

    /// Virtual address of the first register.
    #[allow(
        dead_code,
        reason = "driver API; unused: drivers go through the accessors"
    )]
    pub fn base(&self) -> VirtAddr {
        self.base
    }

    fn register(&self, offset: u64, width: u64) -> VirtAddr {
        assert!(
            offset.is_multiple_of(width)
                && offset.checked_add(width).is_some_and(|end| end <= self.len),
            "MMIO access at {offset:#x} outside a {:#x}-byte block",
            self.len
        );
        self.base + offset
    }

    /// Reads the 32-bit register at `offset` (4-byte aligned, in bounds).
    pub fn read32(&self, offset: u64) -> u32 {
        let register = self.register(offset, 4).as_ptr::<u32>();
        exits::this_cpu().mmio(1);
        // SAFETY: `register` is aligned and inside the block map_mmio mapped
        // for this object, which `Mmio::map`'s caller vouched is device
        // registers: it aliases no Rust object.
        unsafe { register.read_volatile() }
    }

    /// Writes the 32-bit register at `offset` (4-byte aligned, in bounds).
    pub fn write32(&self, offset: u64, value: u32) {
        let register = self.register(offset, 4).as_mut_ptr::<u32>();
        exits::this_cpu().mmio(1);
        // SAFETY: as in read32.
        unsafe { register.write_volatile(value) }
    }

    /// Reads the 16-bit register at `offset` (2-byte aligned, in bounds).
    pub fn read16(&self, offset: u64) -> u16 {
        let register = self.register(offset, 2).as_ptr::<u16>();
        exits::this_cpu().mmio(1);
        // SAFETY: as in read32.
        unsafe { register.read_volatile() }
    }

    /// Writes the 16-bit register at `offset` (2-byte aligned, in bounds).
    pub fn write16(&self, offset: u64, value: u16) {
        exits::this_cpu().mmio(1);
        self.write16_uncounted(offset, value);
    }

    /// Writes a virtio queue's 16-bit notify register at `offset`: a
    /// doorbell, counted as one (not as an MMIO access).
    pub fn notify16(&self, offset: u64, queue: u16) {
        exits::this_cpu().doorbell();
        self.write16_uncounted(offset, queue);
    }

    fn write16_uncounted(&self, offset: u64, value: u16) {
        let register = self.register(offset, 2).as_mut_ptr::<u16>();
        // SAFETY: as in read32.
        unsafe { register.write_volatile(value) }
    }
}

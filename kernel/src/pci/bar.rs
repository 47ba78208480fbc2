//! Base address registers: decoding and sizing.
//!
//! Sizing writes all ones to a BAR and reads back which address bits stick;
//! it is done with the function's I/O and memory decoding switched off, so
//! the BAR never decodes at the temporary all-ones address.

use super::config::{ConfigAccess, PciAddress, BAR0, COMMAND, COMMAND_IO, COMMAND_MEMORY};
use core::fmt;
use x86_64::instructions::interrupts;

const IO_SPACE: u32 = 0x1;
const MEMORY_TYPE_MASK: u32 = 0x6;
const MEMORY_64BIT: u32 = 0x4;
const PREFETCHABLE: u32 = 0x8;

/// One decoded BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    Io {
        port: u32,
        size: u32,
    },
    Memory {
        address: u64,
        size: u64,
        is_64bit: bool,
        prefetchable: bool,
    },
}

impl Bar {
    /// Size of the region in bytes.
    #[allow(
        dead_code,
        reason = "driver API; unused: BARs are sized by the scan and mapped by virtio-drivers"
    )]
    pub fn size(&self) -> u64 {
        match *self {
            Bar::Io { size, .. } => u64::from(size),
            Bar::Memory { size, .. } => size,
        }
    }
}

/// `io 0xc000 size 0x20`, `mem32 0xfebd1000 size 0x1000`,
/// `mem64 pref 0xfe000000 size 0x4000` (the `pci` command's format).
impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Bar::Io { port, size } => write!(f, "io {port:#x} size {size:#x}"),
            Bar::Memory {
                address,
                size,
                is_64bit,
                prefetchable,
            } => {
                write!(f, "mem{}", if is_64bit { "64" } else { "32" })?;
                if prefetchable {
                    write!(f, " pref")?;
                }
                write!(f, " {address:#x} size {size:#x}")
            }
        }
    }
}

/// Writes all ones to the BAR dword at `offset`, returns what stuck, and
/// restores the original value.
fn probe_dword(cfg: &dyn ConfigAccess, address: PciAddress, offset: u16, original: u32) -> u32 {
    cfg.write32(address, offset, u32::MAX);
    let mask = cfg.read32(address, offset);
    cfg.write32(address, offset, original);
    mask
}

/// Decodes the BAR at `index`, given its original value. Returns the BAR
/// (if implemented) and how many BAR slots it spans (2 for 64-bit).
fn decode(
    cfg: &dyn ConfigAccess,
    address: PciAddress,
    index: usize,
    count: usize,
) -> (Option<Bar>, usize) {
    let offset = BAR0 + 4 * index as u16;
    let low = cfg.read32(address, offset);
    if low & IO_SPACE != 0 {
        // I/O BARs may implement only 16 address bits; the upper ones then
        // read back as zero and must not count toward the size.
        let mut mask = probe_dword(cfg, address, offset, low) & !0x3;
        if mask & 0xffff_0000 == 0 {
            mask |= 0xffff_0000;
        }
        let size = (!mask).wrapping_add(1);
        let bar = (mask & 0xffff != 0).then_some(Bar::Io {
            port: low & !0x3,
            size,
        });
        return (bar, 1);
    }

    let is_64bit = low & MEMORY_TYPE_MASK == MEMORY_64BIT;
    if is_64bit && index + 1 >= count {
        return (None, 1); // a 64-bit BAR cannot start in the last slot
    }
    let mut address_bits = u64::from(low & !0xf);
    let mut mask = u64::from(probe_dword(cfg, address, offset, low) & !0xf);
    if is_64bit {
        let high = cfg.read32(address, offset + 4);
        address_bits |= u64::from(high) << 32;
        mask |= u64::from(probe_dword(cfg, address, offset + 4, high)) << 32;
    } else {
        mask |= 0xffff_ffff_0000_0000;
    }
    let slots = if is_64bit { 2 } else { 1 };
    if mask & 0xffff_ffff == 0 {
        return (None, slots); // unimplemented: no address bit sticks
    }
    let bar = Bar::Memory {
        address: address_bits,
        size: (!mask).wrapping_add(1),
        is_64bit,
        prefetchable: low & PREFETCHABLE != 0,
    };
    (Some(bar), slots)
}

/// Decodes the first `count` BARs (6 for devices, 2 for bridges).
///
/// Host bridges keep decoding during the probe (as Linux does): switching
/// a host bridge off can cut the CPU off from the rest of the system.
pub fn probe_all(
    cfg: &dyn ConfigAccess,
    address: PciAddress,
    count: usize,
    host_bridge: bool,
) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    interrupts::without_interrupts(|| {
        let command = cfg.read16(address, COMMAND);
        if !host_bridge {
            cfg.write_command(address, command & !(COMMAND_IO | COMMAND_MEMORY));
        }
        let mut index = 0;
        while index < count.min(bars.len()) {
            let (bar, slots) = decode(cfg, address, index, count);
            bars[index] = bar;
            index += slots;
        }
        if !host_bridge {
            cfg.write_command(address, command);
        }
    });
    bars
}

//! MSI-X (PCI Local Bus 3.0, 6.8.2): a function's table of interrupt
//! messages, each a write of `data` to `address` that the platform turns
//! into an interrupt on one local APIC. Used to send each virtio-net queue
//! pair's interrupts to the CPU that polls it.
//!
//! x86 message format (Intel SDM vol. 3, 11.11): address `0xfee0_0000 |
//! apic_id << 12` (physical destination, no redirection hint), data the
//! vector with fixed delivery, edge triggered. Edge: nothing to
//! acknowledge at the device, unlike INTx.

use super::config::COMMAND;
use super::{config, Bar, PciAddress, PciFunction};
use crate::mem::mmio::Mmio;

/// Capability ID of MSI-X.
const CAP_ID_MSIX: u8 = 0x11;
/// Message Control (upper half of the capability's first dword).
const CONTROL_ENABLE: u32 = 1 << 31;
const CONTROL_FUNCTION_MASK: u32 = 1 << 30;
const CONTROL_TABLE_SIZE: u32 = 0x7ff << 16;
/// Command register bit 10: INTx disabled (MSI-X replaces it).
const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// One table entry: address low/high, data, vector control.
const ENTRY_SIZE: u64 = 16;
const ENTRY_MASKED: u32 = 1;
/// The local APICs' message window.
const MSI_ADDRESS_BASE: u32 = 0xfee0_0000;

/// Where the function's standard capability `id` starts, if it has one.
pub fn find_capability(address: PciAddress, id: u8) -> Option<u16> {
    super::capabilities(address)
        .find(|&(i, _)| i == id)
        .map(|(_, at)| at)
}

/// A function's MSI-X table, mapped.
pub struct MsixTable {
    address: PciAddress,
    cap: u16,
    table: Mmio,
    entries: u16,
}

impl MsixTable {
    /// The function's table, if it has MSI-X and the table lies inside a
    /// memory BAR. Every entry starts masked; nothing is enabled yet.
    pub fn find(func: &PciFunction) -> Option<Self> {
        let cap = find_capability(func.address, CAP_ID_MSIX)?;
        let cfg = config();
        let control = cfg.read32(func.address, cap);
        let entries = ((control & CONTROL_TABLE_SIZE) >> 16) as u16 + 1;
        let table_reg = cfg.read32(func.address, cap + 4);
        let (bir, offset) = ((table_reg & 7) as usize, u64::from(table_reg & !7));
        let Some(Some(Bar::Memory { address, size, .. })) = func.bars.get(bir) else {
            return None;
        };
        let len = u64::from(entries) * ENTRY_SIZE;
        if offset.checked_add(len)? > *size {
            return None;
        }
        // SAFETY: the table lies inside a memory BAR of the function
        // (`offset + len` checked against the BAR's size): device
        // registers, which the kernel never moves.
        let table = unsafe { Mmio::map(x86_64::PhysAddr::new(address + offset), len) }.ok()?;
        let t = Self {
            address: func.address,
            cap,
            table,
            entries,
        };
        for entry in 0..entries {
            t.table
                .write32(u64::from(entry) * ENTRY_SIZE + 12, ENTRY_MASKED);
        }
        Some(t)
    }

    /// Entries in the table.
    pub fn len(&self) -> u16 {
        self.entries
    }

    /// Entry `entry` raises `vector` on the CPU whose local APIC ID is
    /// `apic_id`, and is unmasked. Returns `false` for an entry past the
    /// table.
    pub fn route(&self, entry: u16, apic_id: u8, vector: u8) -> bool {
        if entry >= self.entries {
            return false;
        }
        let base = u64::from(entry) * ENTRY_SIZE;
        self.table
            .write32(base, MSI_ADDRESS_BASE | u32::from(apic_id) << 12);
        self.table.write32(base + 4, 0);
        self.table.write32(base + 8, u32::from(vector));
        self.table.write32(base + 12, 0);
        true
    }

    /// Turns MSI-X on (and INTx off) for the function.
    pub fn enable(&self) {
        let cfg = config();
        let control = cfg.read32(self.address, self.cap);
        cfg.write32(
            self.address,
            self.cap,
            (control | CONTROL_ENABLE) & !CONTROL_FUNCTION_MASK,
        );
        let command = cfg.read16(self.address, COMMAND) | COMMAND_INTX_DISABLE;
        cfg.write_command(self.address, command);
    }

    /// Turns MSI-X off (and INTx back on).
    pub fn disable(&self) {
        let cfg = config();
        let control = cfg.read32(self.address, self.cap);
        cfg.write32(self.address, self.cap, control & !CONTROL_ENABLE);
        let command = cfg.read16(self.address, COMMAND) & !COMMAND_INTX_DISABLE;
        cfg.write_command(self.address, command);
    }
}

//! PCI Express enhanced configuration access (ECAM): each function's 4 KiB
//! configuration space memory mapped, at the window the ACPI MCFG table
//! gives (QEMU's q35 machine has one; the i440FX `pc` does not).

use super::config::{ConfigAccess, PciAddress};
use crate::firmware::acpi::EcamRegion;
use crate::mem::mmio::Mmio;
use crate::mem::paging::MapError;

const FUNCTION_SPACE: u16 = 4096;

/// One mapped ECAM window (one segment's bus range).
pub struct Ecam {
    region: EcamRegion,
    regs: Mmio,
}

impl Ecam {
    /// Maps the whole window: 1 MiB per bus, uncached (2 MiB pages keep a
    /// 256-bus window at 128 page table entries).
    pub fn map(region: EcamRegion) -> Result<Self, MapError> {
        let buses = u64::from(region.bus_end.saturating_sub(region.bus_start)) + 1;
        Ok(Self {
            region,
            // SAFETY: the MCFG gives the ECAM window, 1 MiB of configuration
            // registers per bus for the buses it covers (PCI Firmware 3.2,
            // 4.1.2); the firmware reserves it from RAM.
            regs: unsafe { Mmio::map(region.base, buses << 20)? },
        })
    }

    /// Offset of `address`/`offset` in the window, if the bus is covered.
    fn offset(&self, address: PciAddress, offset: u16) -> Option<u64> {
        if !(self.region.bus_start..=self.region.bus_end).contains(&address.bus)
            || offset >= FUNCTION_SPACE
        {
            return None;
        }
        Some(
            u64::from(address.bus - self.region.bus_start) << 20
                | u64::from(address.device & 0x1f) << 15
                | u64::from(address.function & 0x7) << 12
                | u64::from(offset & !3),
        )
    }
}

impl ConfigAccess for Ecam {
    fn read32(&self, address: PciAddress, offset: u16) -> u32 {
        self.offset(address, offset)
            .map_or(u32::MAX, |offset| self.regs.read32(offset))
    }

    fn write32(&self, address: PciAddress, offset: u16, value: u32) {
        if let Some(offset) = self.offset(address, offset) {
            self.regs.write32(offset, value);
        }
    }

    fn name(&self) -> &'static str {
        "ECAM"
    }
}

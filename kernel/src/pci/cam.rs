//! Configuration mechanism #1: the address/data port pair 0xcf8/0xcfc.
//! Works on every PC chipset; reaches only the first 256 bytes of each
//! function. The only mechanism on QEMU's i440FX `pc` machine.

use super::config::{ConfigAccess, PciAddress};
use crate::arch::pio;
use spin::Mutex;
use x86_64::instructions::interrupts;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;
const ENABLE: u32 = 1 << 31;
const LEGACY_SPACE: u16 = 256;

/// Port I/O configuration access.
pub struct PortCam {
    /// Address then data is a two-step protocol.
    lock: Mutex<()>,
}

impl PortCam {
    pub const fn new() -> Self {
        Self {
            lock: Mutex::new(()),
        }
    }

    /// Selects `address`/`offset` and runs `f`, which accesses the data
    /// port, under the lock.
    fn with_data<R>(&self, address: PciAddress, offset: u16, f: impl FnOnce() -> R) -> R {
        let selector = ENABLE
            | u32::from(address.bus) << 16
            | u32::from(address.device & 0x1f) << 11
            | u32::from(address.function & 0x7) << 8
            | u32::from(offset & 0xfc);
        interrupts::without_interrupts(|| {
            let _guard = self.lock.lock();
            // SAFETY: 0xcf8/0xcfc are the PCI configuration ports; selecting
            // a register has no effect by itself.
            unsafe { pio::write::<u32>(CONFIG_ADDRESS, selector) };
            f()
        })
    }
}

impl ConfigAccess for PortCam {
    fn read32(&self, address: PciAddress, offset: u16) -> u32 {
        if offset >= LEGACY_SPACE {
            return u32::MAX;
        }
        self.with_data(address, offset, || {
            // SAFETY: reading configuration data has no memory side effects.
            unsafe { pio::read::<u32>(CONFIG_DATA) }
        })
    }

    fn write32(&self, address: PciAddress, offset: u16, value: u32) {
        if offset >= LEGACY_SPACE {
            return;
        }
        self.with_data(address, offset, || {
            // SAFETY: configuration writes can move a device's BARs or enable
            // its DMA; the PCI module and drivers are the only writers and
            // never move a BAR onto RAM (sizes are probed with decoding off).
            unsafe { pio::write::<u32>(CONFIG_DATA, value) }
        })
    }

    fn name(&self) -> &'static str {
        "port I/O"
    }
}

//! I/O APICs: route global system interrupts (GSIs) to vectors.

use super::{Error, Polarity, Trigger};
use crate::firmware::acpi::IoApicInfo;
use crate::mem::mmio::Mmio;
use alloc::vec::Vec;
use spin::Mutex;
use x86_64::instructions::interrupts;

// Indirect access: write a register index to IOREGSEL, then use IOWIN.
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION_BASE: u32 = 0x10;

const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

struct IoApic {
    regs: Mmio,
    gsi_base: u32,
    inputs: u32,
}

impl IoApic {
    fn read(&self, register: u32) -> u32 {
        self.regs.write32(IOREGSEL, register);
        self.regs.read32(IOWIN)
    }

    fn write(&self, register: u32, value: u32) {
        self.regs.write32(IOREGSEL, register);
        self.regs.write32(IOWIN, value);
    }

    fn serves(&self, gsi: u32) -> bool {
        (self.gsi_base..self.gsi_base + self.inputs).contains(&gsi)
    }

    /// Low and high register index of input `input`'s redirection entry.
    fn entry(input: u32) -> (u32, u32) {
        let low = REG_REDIRECTION_BASE + 2 * input;
        (low, low + 1)
    }
}

/// The select/window pair is a two-step protocol, so every access holds
/// this lock with interrupts off.
static IOAPICS: Mutex<Vec<IoApic>> = Mutex::new(Vec::new());

fn with<R>(f: impl FnOnce(&[IoApic]) -> R) -> R {
    interrupts::without_interrupts(|| f(&IOAPICS.lock()))
}

/// Maps every I/O APIC and masks all its inputs.
pub fn init(infos: &[IoApicInfo]) -> Result<(), Error> {
    let mut ioapics = Vec::with_capacity(infos.len());
    for info in infos {
        // SAFETY: the MADT gives each I/O APIC's register window, IOREGSEL
        // and IOWIN within its first 0x20 bytes (82093AA datasheet, 3.0).
        let regs = unsafe { Mmio::map(info.address, 0x20)? };
        let mut ioapic = IoApic {
            regs,
            gsi_base: info.gsi_base,
            inputs: 0,
        };
        ioapic.inputs = ((ioapic.read(REG_VERSION) >> 16) & 0xff) + 1;
        for input in 0..ioapic.inputs {
            let (low, _) = IoApic::entry(input);
            ioapic.write(low, MASKED);
        }
        log::debug!(
            "I/O APIC {} at {:#x}: GSIs {}..{}",
            info.id,
            info.address.as_u64(),
            ioapic.gsi_base,
            ioapic.gsi_base + ioapic.inputs
        );
        ioapics.push(ioapic);
    }
    interrupts::without_interrupts(|| *IOAPICS.lock() = ioapics);
    Ok(())
}

/// Routes `gsi` to `vector` on the CPU with APIC ID `destination`
/// (fixed delivery, physical destination) and unmasks it.
pub fn route(
    gsi: u32,
    vector: u8,
    trigger: Trigger,
    polarity: Polarity,
    destination: u8,
    masked: bool,
) -> Result<(), Error> {
    with(|ioapics| {
        let ioapic = ioapics
            .iter()
            .find(|io| io.serves(gsi))
            .ok_or(Error::NoIoApicFor(gsi))?;
        let (low, high) = IoApic::entry(gsi - ioapic.gsi_base);
        let mut entry = u32::from(vector);
        if trigger == Trigger::Level {
            entry |= LEVEL_TRIGGERED;
        }
        if polarity == Polarity::ActiveLow {
            entry |= ACTIVE_LOW;
        }
        if masked {
            entry |= MASKED;
        }
        // Destination first, while the entry is still masked.
        ioapic.write(low, MASKED);
        ioapic.write(high, u32::from(destination) << 24);
        ioapic.write(low, entry);
        Ok(())
    })
}

/// Masks or unmasks `gsi`, keeping the rest of its entry.
pub fn set_masked(gsi: u32, masked: bool) -> Result<(), Error> {
    with(|ioapics| {
        let ioapic = ioapics
            .iter()
            .find(|io| io.serves(gsi))
            .ok_or(Error::NoIoApicFor(gsi))?;
        let (low, _) = IoApic::entry(gsi - ioapic.gsi_base);
        let entry = ioapic.read(low);
        ioapic.write(
            low,
            if masked {
                entry | MASKED
            } else {
                entry & !MASKED
            },
        );
        Ok(())
    })
}

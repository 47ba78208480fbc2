//! ACPI static tables, read once at boot with the `acpi` crate: the MADT
//! (local APIC, I/O APICs, ISA interrupt overrides, the processors) and the MCFG (PCI
//! Express ECAM windows; present on q35, absent on the i440FX `pc`).

use crate::irq::{Polarity, Trigger};
use crate::mem::paging;
use ::acpi::platform::interrupt::{self as madt, InterruptModel};
use ::acpi::platform::ProcessorState;
use ::acpi::{AcpiError, AcpiHandler, AcpiTables, PciConfigRegions, PhysicalMapping, PlatformInfo};
use alloc::vec::Vec;
use core::ptr::NonNull;
use x86_64::PhysAddr;

/// Maps tables for the `acpi` crate. Tables live in RAM, inside the physical
/// memory window; anything outside it gets an MMIO mapping.
#[derive(Clone, Copy)]
struct Mapper;

impl AcpiHandler for Mapper {
    unsafe fn map_physical_region<T>(
        &self,
        address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let phys = PhysAddr::new(address as u64);
        let virt = if paging::in_window(phys, size as u64) {
            paging::phys_to_virt(phys)
        } else {
            // SAFETY: outside the window is not RAM the kernel allocates
            // (the window covers all of it): firmware memory holding the
            // table the acpi crate asks for, read only.
            unsafe { paging::map_mmio(phys, size as u64) }.expect("cannot map ACPI table")
        };
        let virt = NonNull::new(virt.as_mut_ptr::<T>()).expect("ACPI table mapped at null");
        // SAFETY: `virt` maps `size` bytes at `address`, which the caller
        // (the acpi crate) guarantees hold a `T`.
        unsafe { PhysicalMapping::new(address, virt, size, size, *self) }
    }

    /// Window mappings are permanent, and the rare MMIO fallback is kept:
    /// tables are read once, at boot.
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// One I/O APIC from the MADT.
#[derive(Debug, Clone, Copy)]
pub struct IoApicInfo {
    pub id: u8,
    pub address: PhysAddr,
    /// First global system interrupt (GSI) this I/O APIC serves.
    pub gsi_base: u32,
}

/// An ISA IRQ that is not identity mapped to a GSI, or not edge/high.
#[derive(Debug, Clone, Copy)]
pub struct IsaOverride {
    pub isa_irq: u8,
    pub gsi: u32,
    pub trigger: Trigger,
    pub polarity: Polarity,
}

/// One ECAM window from the MCFG.
#[derive(Debug, Clone, Copy)]
pub struct EcamRegion {
    pub segment: u16,
    pub bus_start: u8,
    pub bus_end: u8,
    /// Physical address of the configuration space of bus `bus_start`.
    pub base: PhysAddr,
}

/// The platform facts the kernel uses.
#[derive(Debug)]
pub struct Platform {
    pub local_apic: PhysAddr,
    pub io_apics: Vec<IoApicInfo>,
    pub isa_overrides: Vec<IsaOverride>,
    pub ecam: Vec<EcamRegion>,
    /// APIC IDs of the application processors that may be started (not
    /// marked disabled), in the MADT's order (the order to start them in).
    pub application_processors: Vec<u32>,
}

/// Why the tables could not be used.
#[derive(Debug)]
pub enum Error {
    Acpi(#[allow(dead_code, reason = "read through Debug, in the boot panic")] AcpiError),
    /// The MADT describes no APIC (a PIC-only machine).
    NoApic,
}

impl From<AcpiError> for Error {
    fn from(error: AcpiError) -> Self {
        Error::Acpi(error)
    }
}

/// ISA interrupts are edge triggered, active high, unless overridden.
fn isa_trigger(mode: madt::TriggerMode) -> Trigger {
    match mode {
        madt::TriggerMode::Level => Trigger::Level,
        madt::TriggerMode::Edge | madt::TriggerMode::SameAsBus => Trigger::Edge,
    }
}

fn isa_polarity(polarity: madt::Polarity) -> Polarity {
    match polarity {
        madt::Polarity::ActiveLow => Polarity::ActiveLow,
        madt::Polarity::ActiveHigh | madt::Polarity::SameAsBus => Polarity::ActiveHigh,
    }
}

/// Reads the tables from the RSDP the bootloader found (or a BIOS-area
/// search if it found none).
pub fn read(rsdp: Option<u64>) -> Result<Platform, Error> {
    let tables = match rsdp {
        // SAFETY: the bootloader located and validated the RSDP there.
        Some(address) => unsafe { AcpiTables::from_rsdp(Mapper, address as usize) }?,
        // SAFETY: the BIOS data area and ROM lie in the physical window.
        None => unsafe { AcpiTables::search_for_rsdp_bios(Mapper) }?,
    };
    let info = PlatformInfo::new(&tables)?;
    let InterruptModel::Apic(apic) = info.interrupt_model else {
        return Err(Error::NoApic);
    };
    let io_apics = apic
        .io_apics
        .iter()
        .map(|io| IoApicInfo {
            id: io.id,
            address: PhysAddr::new(u64::from(io.address)),
            gsi_base: io.global_system_interrupt_base,
        })
        .collect();
    let isa_overrides = apic
        .interrupt_source_overrides
        .iter()
        .map(|o| IsaOverride {
            isa_irq: o.isa_source,
            gsi: o.global_system_interrupt,
            trigger: isa_trigger(o.trigger_mode),
            polarity: isa_polarity(o.polarity),
        })
        .collect();
    // No MCFG (the i440FX `pc` machine) just means no ECAM.
    let ecam = match PciConfigRegions::new(&tables) {
        Err(AcpiError::TableMissing(_)) => Vec::new(),
        Err(error) => {
            log::warn!("unusable MCFG table ({error:?}): PCI falls back to port I/O");
            Vec::new()
        }
        Ok(regions) => regions
            .iter()
            .map(|entry| EcamRegion {
                segment: entry.segment_group,
                bus_start: *entry.bus_range.start(),
                bus_end: *entry.bus_range.end(),
                base: PhysAddr::new(entry.physical_address as u64),
            })
            .collect(),
    };
    let application_processors = info
        .processor_info
        .as_ref()
        .map(|processors| {
            processors
                .application_processors
                .iter()
                .filter(|p| p.state != ProcessorState::Disabled)
                .map(|p| p.local_apic_id)
                .collect()
        })
        .unwrap_or_default();
    let platform = Platform {
        local_apic: PhysAddr::new(apic.local_apic_address),
        io_apics,
        isa_overrides,
        ecam,
        application_processors,
    };
    log::info!(
        "local APIC at {:#x}, {} I/O APIC(s), {} ISA override(s), {} ECAM window(s), {} application processor(s)",
        platform.local_apic.as_u64(),
        platform.io_apics.len(),
        platform.isa_overrides.len(),
        platform.ecam.len(),
        platform.application_processors.len()
    );
    Ok(platform)
}

//! PCI: configuration access (port I/O on the `pc` machine, ECAM from the
//! ACPI MCFG on q35), enumeration, BAR decoding, and mapping BARs.
//!
//! For drivers (e.g. virtio-net over virtio-drivers' `PciTransport`):
//! - [`functions`] / [`find`] list what the scan found,
//! - [`config`] is the configuration space access to wrap in the driver
//!   crate's `ConfigurationAccess`,
//! - [`map_bar`] maps a memory BAR uncached, wherever it lies,
//! - [`enable`] turns on decoding and bus mastering.

mod bar;
mod cam;
pub mod config;
mod ecam;
pub mod msix;
mod scan;

pub use bar::Bar;
pub use config::{ConfigAccess, PciAddress};
pub use scan::PciFunction;

use crate::firmware::acpi::EcamRegion;
use crate::mem::mmio::Mmio;
use crate::mem::paging::MapError;
use alloc::boxed::Box;
use alloc::vec::Vec;
use cam::PortCam;
use config::{COMMAND, COMMAND_BUS_MASTER, COMMAND_IO, COMMAND_MEMORY};
use ecam::Ecam;
use spin::Once;
use x86_64::PhysAddr;

static CONFIG: Once<&'static dyn ConfigAccess> = Once::new();
static FUNCTIONS: Once<Vec<PciFunction>> = Once::new();

/// Chooses the access mechanism and enumerates the buses. ECAM is used
/// when the MCFG describes segment 0; otherwise port I/O.
pub fn init(ecam_regions: &[EcamRegion]) {
    let config = *CONFIG.call_once(|| choose_access(ecam_regions));
    let functions = FUNCTIONS.call_once(|| scan::scan(config));
    log::info!(
        "{} functions found through {}",
        functions.len(),
        config.name()
    );
}

fn choose_access(ecam_regions: &[EcamRegion]) -> &'static dyn ConfigAccess {
    for region in ecam_regions {
        if region.segment != 0 {
            log::warn!("ignoring ECAM window of PCI segment {}", region.segment);
            continue;
        }
        match Ecam::map(*region) {
            Ok(ecam) => return Box::leak(Box::new(ecam)),
            Err(error) => log::warn!("cannot map ECAM at {:#x}: {error:?}", region.base.as_u64()),
        }
    }
    Box::leak(Box::new(PortCam::new()))
}

/// The configuration space access mechanism.
pub fn config() -> &'static dyn ConfigAccess {
    *CONFIG.get().expect("PCI not initialized")
}

/// Every function found at boot, sorted by address.
pub fn functions() -> &'static [PciFunction] {
    FUNCTIONS.get().map_or(&[], Vec::as_slice)
}

/// Functions with this vendor and device ID.
#[allow(
    dead_code,
    reason = "driver API; unused: virtio-net finds its functions and maps its BARs through virtio-drivers"
)]
pub fn find(vendor_id: u16, device_id: u16) -> impl Iterator<Item = &'static PciFunction> {
    functions()
        .iter()
        .filter(move |f| f.vendor_id == vendor_id && f.device_id == device_id)
}

/// Maps a memory BAR uncached (it may lie above the physical memory
/// window). I/O BARs have nothing to map.
#[allow(
    dead_code,
    reason = "driver API; unused: virtio-net finds its functions and maps its BARs through virtio-drivers"
)]
pub fn map_bar(bar: &Bar) -> Result<Mmio, MapError> {
    match *bar {
        // SAFETY: a memory BAR as the scan sized it: the function's
        // registers, where the firmware put them (the kernel never moves a
        // BAR, so it stays there).
        Bar::Memory { address, size, .. } => unsafe { Mmio::map(PhysAddr::new(address), size) },
        Bar::Io { .. } => Err(MapError::BadRange),
    }
}

/// Enables I/O and memory decoding, and bus mastering (DMA) if asked.
pub fn enable(address: PciAddress, bus_master: bool) {
    let cfg = config();
    let mut command = cfg.read16(address, COMMAND) | COMMAND_IO | COMMAND_MEMORY;
    if bus_master {
        command |= COMMAND_BUS_MASTER;
    }
    cfg.write_command(address, command);
}

/// Standard header: status bit "capability list", and its pointer.
const STATUS: u16 = 0x06;
const STATUS_CAP_LIST: u16 = 1 << 4;
const CAP_PTR: u16 = 0x34;

/// The function's capability list: `(id, offset)` of each entry, at most
/// 48 (all that fit), so a malformed list cannot loop forever.
pub fn capabilities(address: PciAddress) -> impl Iterator<Item = (u8, u16)> {
    let cfg = config();
    let mut ptr = if cfg.read16(address, STATUS) & STATUS_CAP_LIST != 0 {
        u16::from(cfg.read8(address, CAP_PTR) & !3)
    } else {
        0
    };
    (0..48).map_while(move |_| {
        if ptr < 0x40 {
            return None;
        }
        let at = ptr;
        ptr = u16::from(cfg.read8(address, at + 1) & !3);
        Some((cfg.read8(address, at), at))
    })
}

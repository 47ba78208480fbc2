//! The virtio PCI capabilities (virtio 1.2, 4.1.4) the driver reads
//! itself, past what `virtio-drivers`' transport exposes: where the notify
//! registers and the common configuration live.

use crate::mem::mmio::Mmio;
use crate::pci::{self, PciAddress, PciFunction};

/// 4.1.4: vendor-specific capability id, and the `cfg_type`s we use.
pub const PCI_CAP_ID_VNDR: u8 = 0x09;
pub const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
pub const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
/// 4.1.4.3: `queue_select` in the common configuration.
pub const COMMON_QUEUE_SELECT: u64 = 0x16;

/// Where a capability's structure lives.
#[derive(Clone, Copy)]
pub struct CapRegion {
    pub bar: u8,
    pub offset: u32,
    pub length: u32,
    /// `notify_off_multiplier`, for the notify capability.
    pub multiplier: u32,
}

/// The first virtio capability of `cfg_type` in the function's list.
pub fn find(address: PciAddress, cfg_type: u8) -> Option<CapRegion> {
    let cfg = pci::config();
    let (_, at) = pci::capabilities(address)
        .find(|&(id, at)| id == PCI_CAP_ID_VNDR && cfg.read8(address, at + 3) == cfg_type)?;
    Some(CapRegion {
        bar: cfg.read8(address, at + 4),
        offset: cfg.read32(address, at + 8),
        length: cfg.read32(address, at + 12),
        multiplier: if cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG {
            cfg.read32(address, at + 16)
        } else {
            0
        },
    })
}

/// Maps a capability's structure (inside one of the function's memory BARs).
pub fn map(func: &PciFunction, cap: CapRegion) -> Option<Mmio> {
    let bar = func.bars.get(usize::from(cap.bar))?.as_ref()?;
    let pci::Bar::Memory { address, size, .. } = *bar else {
        return None;
    };
    let end = u64::from(cap.offset).checked_add(u64::from(cap.length))?;
    if end > size || cap.length == 0 {
        return None;
    }
    // SAFETY: the structure lies inside a memory BAR of the function
    // (`offset + length` checked against the BAR's size above): device
    // registers, which the kernel never moves.
    unsafe {
        Mmio::map(
            x86_64::PhysAddr::new(address + u64::from(cap.offset)),
            u64::from(cap.length),
        )
    }
    .ok()
}

/// The common configuration structure (4.1.4.3), mapped.
pub fn common(func: &PciFunction) -> Option<Mmio> {
    map(func, find(func.address, VIRTIO_PCI_CAP_COMMON_CFG)?)
}

//! Direct doorbells: one 16-bit MMIO write per kick (counted as a
//! doorbell in [`crate::exits`]).
//!
//! `virtio-drivers`' `PciTransport::notify` selects the queue and reads its
//! `queue_notify_off` on every kick: three device accesses where the spec
//! needs one, and under QEMU each access takes the device emulation's big
//! lock. The notify address of a queue never changes (virtio 1.2, 4.1.4.4:
//! `cap.offset + queue_notify_off * notify_off_multiplier`), so it is
//! computed once here from the capabilities and the common configuration.

use netmap_virtio::Doorbell;

use crate::mem::mmio::Mmio;
use crate::pci::{self, PciAddress, PciFunction};

/// 4.1.4: vendor-specific capability id, and the `cfg_type`s we use.
const PCI_CAP_ID_VNDR: u8 = 0x09;
const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
/// Standard header: status register bit "capability list", and its pointer.
const STATUS: u16 = 0x06;
const STATUS_CAP_LIST: u16 = 1 << 4;
const CAP_PTR: u16 = 0x34;
/// 4.1.4.3: `queue_select` and `queue_notify_off` in the common configuration.
const COMMON_QUEUE_SELECT: u64 = 0x16;
const COMMON_QUEUE_NOTIFY_OFF: u64 = 0x1e;

/// Where a capability's structure lives.
#[derive(Clone, Copy)]
struct CapRegion {
    bar: u8,
    offset: u32,
    length: u32,
    /// `notify_off_multiplier`, for the notify capability.
    multiplier: u32,
}

fn find_cap(address: PciAddress, cfg_type: u8) -> Option<CapRegion> {
    let cfg = pci::config();
    if cfg.read16(address, STATUS) & STATUS_CAP_LIST == 0 {
        return None;
    }
    let mut ptr = u16::from(cfg.read8(address, CAP_PTR) & !3);
    // A malformed list must not loop forever: at most 48 capabilities fit.
    for _ in 0..48 {
        if ptr < 0x40 {
            return None;
        }
        let (id, next) = (cfg.read8(address, ptr), cfg.read8(address, ptr + 1));
        if id == PCI_CAP_ID_VNDR && cfg.read8(address, ptr + 3) == cfg_type {
            return Some(CapRegion {
                bar: cfg.read8(address, ptr + 4),
                offset: cfg.read32(address, ptr + 8),
                length: cfg.read32(address, ptr + 12),
                multiplier: if cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG {
                    cfg.read32(address, ptr + 16)
                } else {
                    0
                },
            });
        }
        ptr = u16::from(next & !3);
    }
    None
}

fn map(func: &PciFunction, cap: CapRegion) -> Option<Mmio> {
    let bar = func.bars.get(usize::from(cap.bar))?.as_ref()?;
    let pci::Bar::Memory { address, size, .. } = *bar else {
        return None;
    };
    let end = u64::from(cap.offset).checked_add(u64::from(cap.length))?;
    if end > size || cap.length == 0 {
        return None;
    }
    // SAFETY: the notify structure lies inside a memory BAR of the function
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

/// The notify registers of a device's queues.
pub struct Notifier {
    region: Mmio,
    /// Byte offset of each queue's register within `region`.
    offsets: [u64; 2],
}

impl Notifier {
    /// Compute the notify addresses of queues 0 and 1. Call after the
    /// queues are set up and before DRIVER_OK work starts; `None` if the
    /// device's capabilities do not add up (the caller falls back to the
    /// transport's own notify).
    pub fn new(func: &PciFunction) -> Option<Self> {
        let common = map(func, find_cap(func.address, VIRTIO_PCI_CAP_COMMON_CFG)?)?;
        let ncap = find_cap(func.address, VIRTIO_PCI_CAP_NOTIFY_CFG)?;
        let region = map(func, ncap)?;
        let mut offsets = [0u64; 2];
        for (queue, off) in offsets.iter_mut().enumerate() {
            common.write16(COMMON_QUEUE_SELECT, queue as u16);
            let notify_off = u64::from(common.read16(COMMON_QUEUE_NOTIFY_OFF));
            *off = notify_off * u64::from(ncap.multiplier);
            if *off + 2 > u64::from(ncap.length) {
                return None;
            }
        }
        Some(Self { region, offsets })
    }
}

impl Doorbell for Notifier {
    fn kick(&self, queue: u16) {
        if let Some(&off) = self.offsets.get(usize::from(queue)) {
            self.region.notify16(off, queue);
        }
    }
}

//! Direct doorbells: one 16-bit MMIO write per kick (counted as a
//! doorbell in [`crate::exits`]).
//!
//! `virtio-drivers`' `PciTransport::notify` selects the queue and reads its
//! `queue_notify_off` on every kick: three device accesses where the spec
//! needs one, and under QEMU each access takes the device emulation's big
//! lock. The notify address of a queue never changes (virtio 1.2, 4.1.4.4:
//! `cap.offset + queue_notify_off * notify_off_multiplier`), so it is
//! computed once here from the capabilities and the common configuration.

use alloc::vec::Vec;

use netmap_virtio::Doorbell;

use super::caps::{self, COMMON_QUEUE_SELECT, VIRTIO_PCI_CAP_NOTIFY_CFG};
use crate::mem::mmio::Mmio;
use crate::pci::PciFunction;

/// 4.1.4.3: `queue_notify_off` in the common configuration.
const COMMON_QUEUE_NOTIFY_OFF: u64 = 0x1e;

/// The notify registers of a device's queues.
pub struct Notifier {
    region: Mmio,
    /// Byte offset of each queue's register within `region`, by queue
    /// index (every data queue of every pair, and the control queue).
    offsets: Vec<u64>,
}

impl Notifier {
    /// Compute the notify addresses of queues `0..queues`. Call after
    /// the queues are set up and before DRIVER_OK work starts; `None` if
    /// the device's capabilities do not add up (the caller falls back to
    /// the transport's own notify).
    pub fn new(func: &PciFunction, queues: u16) -> Option<Self> {
        let common = caps::common(func)?;
        let ncap = caps::find(func.address, VIRTIO_PCI_CAP_NOTIFY_CFG)?;
        let region = caps::map(func, ncap)?;
        let mut offsets = alloc::vec![0u64; usize::from(queues)];
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

//! virtio-net queues as netmap krings (netmap's "native" NIC adapter).
//!
//! # The mapping
//!
//! A kring of `n` slots sits on a split virtqueue of `2n` descriptors,
//! that is `n` descriptor chains: chain `c` is `2c -> 2c + 1`:
//!
//! ```text
//!   desc 2c      the 12-byte virtio_net_hdr of chain c     (fixed at set-up)
//!   desc 2c + 1  the buffer of the slot the chain carries  (rewritten per post)
//! ```
//!
//! Slots are posted in ring order on chains taken in ring order, so in
//! steady state chain `i` carries slot `i`; a TX slot the driver refuses
//! to send takes no chain, and a device reset starts again from chain 0,
//! so each chain records which slot it carries. Either way txsync and
//! rxsync write one address and one length per slot and never touch
//! payload. The header has its own descriptor rather than headroom in the
//! buffer, because netmap buffers start with the frame (applications,
//! pipes and the switch all assume it) and a 12-byte header in front would
//! need an offset in every slot. The cost is half the descriptors: a
//! 1024-entry queue carries 512 slots, QEMU's 256-entry TX queues (its cap
//! with tap and socket backends) 128. Headers are zero on TX (no offloads
//! negotiated) and ignored on RX.
//!
//! # What the device is trusted with
//!
//! Nothing it writes. Every used element is checked: the chain id must be
//! one the device holds (posted, and not already used), and on RX the
//! length must fit the buffer. The order is the device's to choose
//! (virtio 1.2, 2.7.8: buffers need not be used in the order they were
//! made available): a used element marks its slot done (on RX with its
//! length) and the kring moves over the contiguous done prefix, so the
//! application still sees frames, and gets TX slots back, in ring order.
//! Completions that overtook an older chain are counted
//! ([`NicStats::ooo_completions`]), not punished. Under
//! `VIRTIO_F_IN_ORDER` (2.7.9; see [`virtq::Virtqueue::with_in_order`])
//! the chains are what the feature asks of the driver (made available in
//! ring order from descriptor 0, with no hole for an unsent TX slot, and
//! from descriptor 0 again after a reset), and a used element naming a
//! chain past the oldest one out stands for the whole batch up to it: the
//! chains before it were used completely (on RX: full-buffer frames). A
//! batch longer than the used index moved is a violation. A violation (an index
//! past what the device holds, an id never posted or used twice, a bad
//! length) is counted and returned as [`DeviceError`]; the driver then
//! resets the device and re-posts the rings ([`TxQueue::reset`],
//! [`RxQueue::reset`]): slots keep their buffers, so nothing is lost but
//! the frames in flight, which are counted.
//!
//! # Batching
//!
//! A sync pushes every slot it can, publishes the avail index once and
//! reports whether to kick, honouring `VIRTIO_F_EVENT_IDX`: one doorbell
//! per batch at most, none while the device is already polling.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod bridge;
mod bufmap;
mod chains;
mod nic;
mod recovery;
mod rx;
mod stats;
mod tx;

pub use bridge::{bridge_slots, Bridge, BRIDGE_SLOTS, MIN_BRIDGE_SLOTS};
pub use bufmap::BufMap;
pub use nic::{rx_queue, tx_queue, Doorbell, RingState, VirtioNic, RX_QUEUE, TX_QUEUE};
pub use recovery::{retry_delay_ms, Recovery, RecoveryState, FIRST_RETRY_MS, MAX_RETRY_MS};
pub use rx::RxQueue;
pub use stats::NicStats;
pub use tx::TxQueue;

/// `struct virtio_net_hdr` with VERSION_1 (virtio 1.2, 5.1.6).
pub const NET_HDR_LEN: u32 = 12;
/// Bytes of header memory per slot (the header rounded up for alignment).
pub const HDR_STRIDE: u64 = 16;

/// The device broke the queue protocol; the caller resets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The used index ran ahead of what the device held.
    UsedIndexJump,
    /// A used element named a chain the device does not hold: never
    /// posted, or already used (a completion given twice).
    BadUsedId(u32),
    /// An RX length shorter than the header or longer than the buffer.
    BadUsedLen(u32),
}

/// Descriptor count a kring of `slots` slots needs.
pub const fn queue_size_for(slots: u32) -> u32 {
    slots * 2
}

/// Slots a queue of `queue_size` descriptors carries.
pub const fn slots_for(queue_size: u16) -> u32 {
    queue_size as u32 / 2
}

/// The size to give a queue whose device allows at most `device_max`
/// entries (the `queue_size` it reports, which the driver may lower: virtio
/// 1.2, 4.1.4.3) when `want` would do: the largest power of two (2.7) not
/// above either, so the kring gets as many slots as the device allows up
/// to `want / 2`. `None` below 4 entries (a ring of one usable slot).
pub fn queue_size(want: u32, device_max: u32) -> Option<u16> {
    let size = want.min(device_max).min(u32::from(virtq::MAX_QUEUE_SIZE));
    if size < 4 {
        return None;
    }
    u16::try_from(1u32 << (31 - size.leading_zeros())).ok()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bridge;
#[cfg(test)]
mod tests_mq;

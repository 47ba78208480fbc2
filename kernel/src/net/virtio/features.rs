//! Feature bits this driver understands (virtio 1.2, sections 5.1.3 and 6).
//!
//! The driver accepts only what its datapath uses: frames go in and out
//! unmodified, one buffer each, so no offloads and no mergeable buffers.
//! The control queue is negotiated only with multi-queue (`MQ` needs it,
//! 5.1.3.1), for the one command that turns the extra pairs on; no
//! `CTRL_RX`, so QEMU's virtio-net stays in the promiscuous mode it starts
//! in, which a switch port needs.

/// 5.1.3: the device has a given MAC address in its configuration.
pub const VIRTIO_NET_F_MAC: u64 = 1 << 5;
/// 5.1.3: the configuration's `status` field reports link up/down.
pub const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// 5.1.3, bit 17: a control virtqueue (5.1.6.5), after the data queues:
/// index 2 without `MQ`, `2 * max_virtqueue_pairs` with it (5.1.2).
pub const VIRTIO_NET_F_CTRL_VQ: u64 = 1 << 17;
/// 5.1.3, bit 22: several receive/transmit queue pairs, up to the
/// configuration's `max_virtqueue_pairs`; only the first is used until the
/// driver sends `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET` (5.1.6.5.5). The device
/// picks the receive queue of each frame (its flow spreading: the same
/// flow, the same queue, 5.1.6.5.5 "automatic receive steering"); the
/// driver relies on nothing more.
pub const VIRTIO_NET_F_MQ: u64 = 1 << 22;
/// 6: `used_event` / `avail_event` notification suppression (2.7.10).
pub const VIRTIO_F_RING_EVENT_IDX: u64 = 1 << 29;
/// 6: modern device; mandatory for us (12-byte header, little-endian rings).
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
/// 6, bit 35: the device uses buffers in the order they were made
/// available (2.7.9). In exchange the driver makes descriptors available
/// in ring order from descriptor 0, chained descriptor `x` pointing at
/// `x + 1` (2.7.5), which netmap-virtio's chains do (also after a reset
/// and when a TX slot is not sent), and the device may report a batch with
/// one used element naming its last chain, which netmap-virtio expands
/// (`Virtqueue::with_in_order`). Without it, completions in any order are
/// accepted.
pub const VIRTIO_F_IN_ORDER: u64 = 1 << 35;

/// Asked for only together, when both are offered (`MQ` requires
/// `CTRL_VQ`; without `MQ` the control queue has no use here, and leaving
/// it off keeps a single-queue device exactly as before).
pub const MULTI_QUEUE: u64 = VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_MQ;

/// The features to write for `offered`.
pub fn choose(offered: u64) -> u64 {
    let mut f = offered & SUPPORTED;
    if offered & MULTI_QUEUE == MULTI_QUEUE {
        f |= MULTI_QUEUE;
    }
    f
}

/// What we ask for (and [`MULTI_QUEUE`] when offered whole).
pub const SUPPORTED: u64 = VIRTIO_NET_F_MAC
    | VIRTIO_NET_F_STATUS
    | VIRTIO_F_RING_EVENT_IDX
    | VIRTIO_F_VERSION_1
    | VIRTIO_F_IN_ORDER;
/// What we cannot work without.
pub const REQUIRED: u64 = VIRTIO_F_VERSION_1;

/// 5.1.4: device configuration layout offsets.
pub mod config {
    /// `mac[6]` (valid with VIRTIO_NET_F_MAC).
    pub const MAC: usize = 0;
    /// `le16 status` (valid with VIRTIO_NET_F_STATUS).
    pub const STATUS: usize = 6;
    /// `status` bit: link is up.
    pub const STATUS_LINK_UP: u16 = 1;
    /// `le16 max_virtqueue_pairs` (valid with VIRTIO_NET_F_MQ): 1..=0x8000.
    pub const MAX_VIRTQUEUE_PAIRS: usize = 8;
}

/// 5.1.6.5: the control queue's commands (`struct virtio_net_ctrl`: class,
/// command, data, then an ack byte the device writes).
pub mod ctrl {
    /// 5.1.6.5.5: class of the multi-queue commands.
    pub const CLASS_MQ: u8 = 4;
    /// 5.1.6.5.5: `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET`, data `le16
    /// virtqueue_pairs` (1..=max_virtqueue_pairs).
    pub const MQ_VQ_PAIRS_SET: u8 = 0;
    /// 5.1.6.5: the device's ack for a command carried out.
    pub const OK: u8 = 0;
}

/// Names of the bits we may see, for logs and `ifconfig`-like output.
pub fn names(bits: u64) -> impl Iterator<Item = &'static str> {
    [
        (VIRTIO_NET_F_MAC, "MAC"),
        (VIRTIO_NET_F_STATUS, "STATUS"),
        (VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"),
        (VIRTIO_NET_F_MQ, "MQ"),
        (VIRTIO_F_RING_EVENT_IDX, "EVENT_IDX"),
        (VIRTIO_F_VERSION_1, "VERSION_1"),
        (VIRTIO_F_IN_ORDER, "IN_ORDER"),
    ]
    .into_iter()
    .filter(move |(bit, _)| bits & bit != 0)
    .map(|(_, name)| name)
}

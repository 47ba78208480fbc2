//! Feature bits this driver understands (virtio 1.2, sections 5.1.3 and 6).
//!
//! The driver accepts only what its datapath uses: frames go in and out
//! unmodified, one buffer each, so no offloads, no mergeable buffers and
//! no control queue. QEMU's virtio-net starts in promiscuous mode and stays
//! there without `CTRL_RX`, which a switch port needs.

/// 5.1.3: the device has a given MAC address in its configuration.
pub const VIRTIO_NET_F_MAC: u64 = 1 << 5;
/// 5.1.3: the configuration's `status` field reports link up/down.
pub const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
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

/// What we ask for.
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
}

/// Names of the bits we may see, for logs and `ifconfig`-like output.
pub fn names(bits: u64) -> impl Iterator<Item = &'static str> {
    [
        (VIRTIO_NET_F_MAC, "MAC"),
        (VIRTIO_NET_F_STATUS, "STATUS"),
        (VIRTIO_F_RING_EVENT_IDX, "EVENT_IDX"),
        (VIRTIO_F_VERSION_1, "VERSION_1"),
        (VIRTIO_F_IN_ORDER, "IN_ORDER"),
    ]
    .into_iter()
    .filter(move |(bit, _)| bits & bit != 0)
    .map(|(_, name)| name)
}

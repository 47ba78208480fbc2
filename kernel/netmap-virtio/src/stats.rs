//! NIC-level counters (the krings count packets and bytes themselves).

/// What the driver saw go wrong, or skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Doorbells rung.
    pub kicks: u64,
    /// Publishes that needed no doorbell (EVENT_IDX said the device polls).
    pub kicks_suppressed: u64,
    /// Doorbells the watchdog rang for a notification that was lost
    /// (`virtq::Virtqueue::watchdog`); included in `kicks`.
    pub watchdog_kicks: u64,
    /// TX slots not sent: empty or shorter than an Ethernet header.
    pub tx_drop_short: u64,
    /// TX slots not sent: part of a MOREFRAG chain (one buffer per frame).
    pub tx_drop_frag: u64,
    /// Device protocol violations (each followed by a reset).
    pub device_errors: u64,
    /// Device resets.
    pub resets: u64,
    /// Frames in flight lost to a reset.
    pub lost_in_reset: u64,
    /// Used elements that came back before an older chain of the same
    /// queue (accepted: virtio 1.2, 2.7.8 lets a device use buffers in any
    /// order; the kring still delivers and reclaims in ring order).
    pub ooo_completions: u64,
}

impl NicStats {
    /// These counters with a virtqueue's kick counts filled in (watchdog
    /// kicks are doorbells too).
    pub(crate) fn with_queue(self, q: virtq::queue::QueueStats) -> Self {
        NicStats {
            kicks: q.kicks + q.watchdog_kicks,
            kicks_suppressed: q.kicks_suppressed,
            watchdog_kicks: q.watchdog_kicks,
            ..self
        }
    }
}

//! Per-kring counters.

/// Per-kring counters. Updated under the kring lock, so plain integers; a
/// port's [`PortCounters`](crate::port::PortCounters) sums its krings.
///
/// On a tx kring `packets`/`bytes` count frames the port accepted from the
/// application; on an rx kring, frames delivered into the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KringStats {
    pub packets: u64,
    pub bytes: u64,
    /// Frames shorter than an Ethernet header.
    pub drop_short: u64,
    /// Frames longer than the port's maximum frame size.
    pub drop_oversize: u64,
    /// Fragment chains longer than [`MAX_FRAGS`](crate::slot::MAX_FRAGS).
    pub drop_frag_chain: u64,
    /// Frames the lookup sent nowhere (or back to their source port).
    pub drop_no_dest: u64,
    /// Frames that found this (rx) ring full.
    pub drop_ring_full: u64,
    /// Frames a monitor ring had no room for.
    pub drop_monitor: u64,
    /// Frames dropped because the port was detached mid-sync.
    pub drop_detached: u64,
    /// Ring re-initialisations after a bad head/cur.
    pub ring_reinit: u64,
    /// Always 0 since the application and the kernel share one slot array
    /// (buffer indices are read-only to the application); kept so that
    /// counters keep their layout.
    pub bad_buf_idx: u64,
    /// Returned slots whose `len` exceeded the buffer size.
    pub bad_len: u64,
}

impl KringStats {
    /// Adds `o` into `self`.
    pub fn accumulate(&mut self, o: &KringStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.drop_short += o.drop_short;
        self.drop_oversize += o.drop_oversize;
        self.drop_frag_chain += o.drop_frag_chain;
        self.drop_no_dest += o.drop_no_dest;
        self.drop_ring_full += o.drop_ring_full;
        self.drop_monitor += o.drop_monitor;
        self.drop_detached += o.drop_detached;
        self.ring_reinit += o.ring_reinit;
        self.bad_buf_idx += o.bad_buf_idx;
        self.bad_len += o.bad_len;
    }

    /// All drops, whatever the reason.
    pub fn drops(&self) -> u64 {
        self.drop_short
            + self.drop_oversize
            + self.drop_frag_chain
            + self.drop_no_dest
            + self.drop_ring_full
            + self.drop_monitor
            + self.drop_detached
    }
}

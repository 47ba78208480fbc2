//! Where the three parts of a split virtqueue live (virtio 1.2, 2.7).
//!
//! | part | size | alignment (2.7.5) |
//! | --- | --- | --- |
//! | descriptor table | 16 * N | 16 |
//! | available ring | 6 + 2 * N (flags, idx, ring, used_event) | 2 |
//! | used ring | 6 + 8 * N (flags, idx, ring, avail_event) | 4 |
//!
//! All three go in one region. The used ring, the only part the device
//! writes, starts on its own cache line so device writes do not bounce the
//! line the driver is filling.

/// Cache-line separation between driver-written and device-written parts.
const USED_ALIGN: usize = 64;

/// Byte offsets of a queue of `size` entries inside one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Number of descriptors (and of ring entries): a power of two.
    pub size: u16,
    /// Offset of the descriptor table (always 0).
    pub desc: usize,
    /// Offset of the available (driver) ring.
    pub avail: usize,
    /// Offset of the used (device) ring.
    pub used: usize,
    /// Total bytes the region must have.
    pub total: usize,
}

/// A queue size the spec does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadQueueSize(pub u32);

impl QueueLayout {
    /// The layout for `size` entries; `size` must be a power of two in
    /// `1..=32768` (2.7: "Queue Size value is always a power of 2").
    pub fn new(size: u32) -> Result<Self, BadQueueSize> {
        if size == 0 || size > u32::from(crate::MAX_QUEUE_SIZE) || !size.is_power_of_two() {
            return Err(BadQueueSize(size));
        }
        let n = size as usize;
        let desc = 0;
        let avail = desc + 16 * n;
        let avail_end = avail + 6 + 2 * n;
        let used = avail_end.next_multiple_of(USED_ALIGN);
        let total = used + 6 + 8 * n;
        Ok(Self {
            size: size as u16,
            desc,
            avail,
            used,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_aligned_and_disjoint() {
        for shift in 0..=15 {
            let l = QueueLayout::new(1 << shift).unwrap();
            let n = 1usize << shift;
            assert_eq!(l.desc % 16, 0);
            assert_eq!(l.avail % 2, 0);
            assert_eq!(l.used % 4, 0);
            assert!(l.avail >= l.desc + 16 * n);
            assert!(l.used >= l.avail + 6 + 2 * n);
            assert_eq!(l.total, l.used + 6 + 8 * n);
        }
    }

    #[test]
    fn refuses_sizes_the_spec_forbids() {
        for bad in [0u32, 3, 100, 65536, 1 << 20] {
            assert_eq!(QueueLayout::new(bad), Err(BadQueueSize(bad)));
        }
    }
}

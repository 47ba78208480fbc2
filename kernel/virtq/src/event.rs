//! Notification suppression with `VIRTIO_F_EVENT_IDX` (virtio 1.2, 2.7.10).
//!
//! Each side publishes the index at which it next wants to be told; the
//! other side notifies only when its own index crosses that point. All
//! indices are free-running `u16` counters, so every comparison here is a
//! wrapping one.

/// Whether moving an index from `old` to `new` crossed `event`, i.e.
/// whether `event` lies in the half-open window `[old, new)` of the
/// wrapping `u16` sequence. This is the spec's `vring_need_event`.
#[inline]
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_the_event_index_notifies() {
        assert!(need_event(5, 6, 5));
        assert!(need_event(5, 10, 0));
        assert!(!need_event(5, 5, 0)); // 5 not yet reached: [0, 5)
        assert!(!need_event(11, 10, 0));
        assert!(!need_event(4, 10, 5)); // already passed before this batch
    }

    #[test]
    fn wraps_around_u16() {
        assert!(need_event(0xffff, 2, 0xfffe));
        assert!(need_event(0, 2, 0xfffe));
        assert!(need_event(1, 2, 0xfffe));
        assert!(!need_event(2, 2, 0xfffe));
        assert!(!need_event(0xfffd, 2, 0xfffe));
    }

    #[test]
    fn empty_batch_never_notifies() {
        for e in [0u16, 1, 0x7fff, 0xffff] {
            assert!(!need_event(e, 7, 7));
        }
    }
}

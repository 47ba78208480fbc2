//! Typed, shared views of a queue's memory.
//!
//! The one place in this crate with `unsafe`: a raw region (in the kernel,
//! a DMA allocation the device also sees) becomes slices of atomics laid
//! out as [`QueueLayout`] says. Every address is only ever accessed with
//! one width, through one of these views.
#![allow(unsafe_code)]

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

use crate::layout::QueueLayout;

/// One descriptor (2.7.5): where a buffer is, how long, and what follows.
#[repr(C)]
#[derive(Debug)]
pub struct Desc {
    /// Guest-physical address of the buffer.
    pub addr: AtomicU64,
    /// Length in bytes.
    pub len: AtomicU32,
    /// `VIRTQ_DESC_F_*`.
    pub flags: AtomicU16,
    /// Next descriptor of the chain when `VIRTQ_DESC_F_NEXT` is set.
    pub next: AtomicU16,
}

/// One used-ring element (2.7.8): a finished chain and the bytes written.
#[repr(C)]
#[derive(Debug)]
pub struct UsedSlot {
    /// Head descriptor of the finished chain.
    pub id: AtomicU32,
    /// Bytes the device wrote into the chain's writable buffers.
    pub len: AtomicU32,
}

/// Views of one queue's memory. Cheap to copy: the driver and, in tests,
/// the device model each hold one.
#[derive(Clone, Copy, Debug)]
pub struct QueueMem<'a> {
    pub(crate) layout: QueueLayout,
    pub(crate) desc: &'a [Desc],
    /// flags, idx, ring[N], used_event
    pub(crate) avail: &'a [AtomicU16],
    /// flags, idx
    pub(crate) used_hdr: &'a [AtomicU16; 2],
    pub(crate) used_ring: &'a [UsedSlot],
    pub(crate) avail_event: &'a AtomicU16,
}

/// The region cannot hold the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// Not aligned to 16 bytes (the descriptor table's alignment).
    Misaligned,
    /// Fewer bytes than the layout's total.
    TooSmall,
}

impl<'a> QueueMem<'a> {
    /// Views over `layout.total` bytes at `base`.
    ///
    /// # Safety
    ///
    /// For all of `'a`: `base..base + layout.total` is valid for reads and
    /// writes, and no Rust code accesses it except through `QueueMem`
    /// views made by this function with the same `base` and `layout` (the
    /// device may access it at any time; that is what the atomics are for).
    pub unsafe fn new(base: NonNull<u8>, layout: QueueLayout) -> Result<Self, MemError> {
        if !(base.as_ptr() as usize).is_multiple_of(16) {
            return Err(MemError::Misaligned);
        }
        let n = usize::from(layout.size);
        let p = base.as_ptr();
        // SAFETY: the caller guarantees the region is valid for 'a and only
        // accessed through these views. The parts are disjoint (layout.rs
        // tests it) and each is aligned for its type: desc at 0 (16-aligned
        // base), avail at 16 * N (2), used at a multiple of 64 (4), and
        // avail_event at used + 4 + 8 * N (2). Atomics have no invalid bit
        // patterns, so whatever the memory holds is a valid value.
        unsafe {
            Ok(Self {
                layout,
                desc: core::slice::from_raw_parts(p.add(layout.desc).cast::<Desc>(), n),
                avail: core::slice::from_raw_parts(p.add(layout.avail).cast::<AtomicU16>(), n + 3),
                used_hdr: &*p.add(layout.used).cast::<[AtomicU16; 2]>(),
                used_ring: core::slice::from_raw_parts(
                    p.add(layout.used + 4).cast::<UsedSlot>(),
                    n,
                ),
                avail_event: &*p.add(layout.used + 4 + 8 * n).cast::<AtomicU16>(),
            })
        }
    }

    /// Views over memory Rust itself owns as atomic words (host tests and
    /// the device model). Safe: the words stay borrowed for `'a`, and every
    /// byte is reached only through atomics of one width.
    pub fn from_words(words: &'a [AtomicU64], layout: QueueLayout) -> Result<Self, MemError> {
        if words.len() * 8 < layout.total {
            return Err(MemError::TooSmall);
        }
        let base = NonNull::from(words).cast::<u8>();
        // SAFETY: `words` is valid for 'a and borrowed shared, so no Rust
        // code writes it except through atomics; the views below use
        // atomics only, each address with a single width.
        unsafe { Self::new(base, layout) }
    }

    /// The queue's layout.
    pub fn layout(&self) -> QueueLayout {
        self.layout
    }

    /// Descriptor `i` (the caller keeps `i < size`).
    pub fn desc(&self, i: u16) -> &'a Desc {
        &self.desc[usize::from(i)]
    }

    pub(crate) fn avail_flags(&self) -> &'a AtomicU16 {
        &self.avail[0]
    }
    pub(crate) fn avail_idx(&self) -> &'a AtomicU16 {
        &self.avail[1]
    }
    pub(crate) fn avail_ring(&self, pos: u16) -> &'a AtomicU16 {
        &self.avail[2 + usize::from(pos & (self.layout.size - 1))]
    }
    pub(crate) fn used_event(&self) -> &'a AtomicU16 {
        &self.avail[2 + usize::from(self.layout.size)]
    }
    pub(crate) fn used_flags(&self) -> &'a AtomicU16 {
        &self.used_hdr[0]
    }
    pub(crate) fn used_idx(&self) -> &'a AtomicU16 {
        &self.used_hdr[1]
    }
    pub(crate) fn used_slot(&self, pos: u16) -> &'a UsedSlot {
        &self.used_ring[usize::from(pos & (self.layout.size - 1))]
    }
    pub(crate) fn avail_event(&self) -> &'a AtomicU16 {
        self.avail_event
    }
}

/// Atomic words enough for a queue of `layout` (host-side helper).
#[cfg(any(test, feature = "sim"))]
pub fn words_for(layout: QueueLayout) -> alloc::vec::Vec<AtomicU64> {
    (0..layout.total.div_ceil(8))
        .map(|_| AtomicU64::new(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_short_region() {
        let layout = QueueLayout::new(8).unwrap();
        let words: [AtomicU64; 4] = Default::default();
        assert_eq!(
            QueueMem::from_words(&words, layout).unwrap_err(),
            MemError::TooSmall
        );
    }

    #[test]
    fn ring_positions_wrap_modulo_size() {
        let layout = QueueLayout::new(4).unwrap();
        let words = words_for(layout);
        let mem = QueueMem::from_words(&words, layout).unwrap();
        assert!(core::ptr::eq(mem.avail_ring(1), mem.avail_ring(5)));
        assert!(core::ptr::eq(mem.used_slot(3), mem.used_slot(0xffff)));
        assert!(!core::ptr::eq(mem.used_event(), mem.avail_ring(0)));
    }
}

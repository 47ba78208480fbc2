//! The buffer pool: fixed-size packet buffers named by `u32` index.
//!
//! Invariants:
//! - buffer `i` occupies bytes `[i * buf_size, (i + 1) * buf_size)` of the
//!   region; buffers never overlap;
//! - indices 0 and 1 are reserved (netmap uses them as dummy buffers); they
//!   are never on the free list and never held by a slot array;
//! - every other index is owned by exactly one party at any time: the free
//!   list, one entry of one [`SlotArray`](super::SlotArray), or a queue built
//!   from slot arrays. [`BufferPool::audit`] checks it.
//!
//! The free list is a stack preallocated for every buffer, so freeing never
//! allocates. Buffers are taken and returned only when rings are created or
//! destroyed; the datapath exchanges buffers between slot arrays instead.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use spin::Mutex;

use super::Region;
use crate::error::{AuditError, PoolError};

/// Default buffer size, as netmap's.
pub const DEFAULT_BUF_SIZE: usize = 2048;
/// First index that names a usable buffer.
pub const FIRST_BUF: u32 = 2;

/// A pool of fixed-size buffers over one [`Region`].
pub struct BufferPool {
    region: Region,
    buf_size: usize,
    shift: u32,
    nbufs: u32,
    /// Free indices; capacity `nbufs`, so `push` never reallocates.
    free: Mutex<Vec<u32>>,
}

impl BufferPool {
    /// Carves `region` into buffers of `buf_size` bytes (a power of two,
    /// 64 to 65536). All buffers but 0 and 1 start free. Bytes past the last
    /// whole buffer are unused.
    pub fn new(region: Region, buf_size: usize) -> Result<Self, PoolError> {
        if !buf_size.is_power_of_two() || !(64..=65536).contains(&buf_size) {
            return Err(PoolError::BadBufSize(buf_size));
        }
        let nbufs = (region.len() / buf_size).min(u32::MAX as usize) as u32;
        if nbufs <= FIRST_BUF {
            return Err(PoolError::RegionTooSmall);
        }
        let mut free = Vec::with_capacity(nbufs as usize);
        // Pop order hands out low indices first: easier to read in traces.
        free.extend((FIRST_BUF..nbufs).rev());
        Ok(BufferPool {
            region,
            buf_size,
            shift: buf_size.trailing_zeros(),
            nbufs,
            free: Mutex::new(free),
        })
    }

    /// A pool of `nbufs` buffers (reserved ones included) on the heap.
    pub fn on_heap(nbufs: u32, buf_size: usize) -> Result<Arc<Self>, PoolError> {
        let len = (nbufs as usize)
            .checked_mul(buf_size)
            .ok_or(PoolError::RegionTooSmall)?;
        let region = Region::alloc(len).ok_or(PoolError::RegionTooSmall)?;
        Ok(Arc::new(BufferPool::new(region, buf_size)?))
    }

    /// Size of every buffer in bytes.
    #[inline]
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Number of buffers, reserved ones included: valid indices are
    /// `2..nbufs()`.
    #[inline]
    pub fn nbufs(&self) -> u32 {
        self.nbufs
    }

    /// Buffers currently on the free list.
    pub fn free_count(&self) -> usize {
        self.free.lock().len()
    }

    /// Whether `idx` names a usable buffer.
    #[inline]
    pub fn is_valid(&self, idx: u32) -> bool {
        idx >= FIRST_BUF && idx < self.nbufs
    }

    /// Byte offset of buffer `idx` from the start of the region. The kernel
    /// computes a buffer's physical address as `region_phys + offset`.
    pub fn buf_offset(&self, idx: u32) -> Result<usize, PoolError> {
        if self.is_valid(idx) {
            Ok((idx as usize) << self.shift)
        } else {
            Err(PoolError::BadIndex(idx))
        }
    }

    /// The region the buffers live in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Takes a buffer off the free list (ring creation only).
    pub(super) fn alloc(&self) -> Option<u32> {
        self.free.lock().pop()
    }

    /// Returns a buffer to the free list. Only slot arrays call this, with an
    /// index they own, so the list can never overflow its capacity.
    pub(super) fn release(&self, idx: u32) {
        debug_assert!(self.is_valid(idx));
        self.free.lock().push(idx);
    }

    /// Start of the region (buffer 0) and log2 of the buffer size, for
    /// batch loops that compute many buffers' addresses ([`buf_ptr`]'s
    /// arithmetic, with the fields read once).
    ///
    /// [`buf_ptr`]: Self::buf_ptr
    #[inline]
    pub(super) fn base_and_shift(&self) -> (*mut u8, u32) {
        (self.region.base().as_ptr(), self.shift)
    }

    /// Start of buffer `idx`. The caller has checked `is_valid(idx)`.
    #[inline]
    pub(super) fn buf_ptr(&self, idx: u32) -> *mut u8 {
        debug_assert!(self.is_valid(idx));
        // `idx < nbufs` and `nbufs * buf_size <= region.len()`, so the
        // offset is inside the region (plain arithmetic, no dereference).
        self.region
            .base()
            .as_ptr()
            .wrapping_add((idx as usize) << self.shift)
    }

    /// Conservation check: the free list plus `owners` (every buffer index
    /// held by every slot array and queue) must name each buffer `2..nbufs`
    /// exactly once. Allocates a bitmap: a debugging and test tool, not for
    /// the datapath. Holds the free-list lock while it runs, so ring creation
    /// waits, but forwarding does not.
    pub fn audit(&self, owners: impl IntoIterator<Item = u32>) -> Result<(), AuditError> {
        let mut seen = vec![0u64; (self.nbufs as usize).div_ceil(64)];
        let mut mark = |idx: u32| -> Result<(), AuditError> {
            if idx >= self.nbufs {
                return Err(AuditError::OutOfRange(idx));
            }
            if idx < FIRST_BUF {
                return Err(AuditError::Reserved(idx));
            }
            let (w, b) = ((idx / 64) as usize, idx % 64);
            if seen[w] & (1 << b) != 0 {
                return Err(AuditError::Duplicate(idx));
            }
            seen[w] |= 1 << b;
            Ok(())
        };
        let free = self.free.lock();
        for &idx in free.iter() {
            mark(idx)?;
        }
        for idx in owners {
            mark(idx)?;
        }
        drop(free);
        let mut first = None;
        let mut count = 0u32;
        for idx in FIRST_BUF..self.nbufs {
            if seen[(idx / 64) as usize] & (1 << (idx % 64)) == 0 {
                first.get_or_insert(idx);
                count += 1;
            }
        }
        match first {
            None => Ok(()),
            Some(first) => Err(AuditError::Missing { first, count }),
        }
    }
}

impl core::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BufferPool")
            .field("buf_size", &self.buf_size)
            .field("nbufs", &self.nbufs)
            .finish_non_exhaustive()
    }
}

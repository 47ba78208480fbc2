//! Slot arrays: the only holders of buffers, and so the only way to reach
//! buffer memory.
//!
//! Ownership is structural. A buffer index enters a [`SlotArray`] only from
//! the pool's free list ([`SlotArray::fill`]) or by moving or swapping it from
//! another slot array; it leaves only to another array or back to the free
//! list ([`SlotArray::release`], or `Drop`). Nothing outside this module can
//! write an index into an array. Hence every buffer has at most one holder,
//! and `&mut SlotArray` is exclusive access to the bytes of all its buffers —
//! which is what makes [`SlotArray::buf_mut`] sound, on one core or many.
//!
//! An entry with `buf_idx == 0` is empty: buffer 0 is reserved and never
//! handed out.

use alloc::sync::Arc;
use alloc::vec;
use core::slice;

use super::BufferPool;
use crate::error::PoolError;
use crate::slot::Slot;

/// Fixed-length array of slots that owns the buffers its slots name.
pub struct SlotArray {
    pool: Arc<BufferPool>,
    slots: alloc::boxed::Box<[Slot]>,
}

impl SlotArray {
    /// `n` empty slots (allocates the array, not buffers).
    pub fn new_empty(pool: &Arc<BufferPool>, n: usize) -> Self {
        SlotArray { pool: pool.clone(), slots: vec![Slot::default(); n].into_boxed_slice() }
    }

    /// `n` slots, each holding a fresh buffer. On exhaustion the buffers
    /// taken so far go back to the pool.
    pub fn new_filled(pool: &Arc<BufferPool>, n: usize) -> Result<Self, PoolError> {
        let mut a = SlotArray::new_empty(pool, n);
        for i in 0..n {
            a.fill(i)?; // on error `a` drops and releases what it holds
        }
        Ok(a)
    }

    /// Number of slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the array has no slots at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The pool the buffers come from.
    #[inline]
    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    /// Copy of slot `i`. Panics if `i >= len()`, like slice indexing: slot
    /// numbers are computed by the crate modulo the ring size, never taken
    /// from an application unchecked.
    #[inline]
    pub fn get(&self, i: usize) -> Slot {
        self.slots[i]
    }

    /// Buffer index held by slot `i` (0 if empty).
    #[inline]
    pub fn buf_idx(&self, i: usize) -> u32 {
        self.slots[i].buf_idx
    }

    /// Sets the length of slot `i`; a length over the buffer size is refused.
    #[inline]
    pub fn set_len(&mut self, i: usize, len: u16) -> Result<(), PoolError> {
        if len as usize > self.pool.buf_size() {
            return Err(PoolError::BadLen(len as usize));
        }
        self.slots[i].len = len;
        Ok(())
    }

    /// Sets the flags of slot `i`.
    #[inline]
    pub fn set_flags(&mut self, i: usize, flags: u16) {
        self.slots[i].flags = flags;
    }

    /// The whole buffer held by slot `i`.
    #[inline]
    pub fn buf(&self, i: usize) -> Result<&[u8], PoolError> {
        let idx = self.held(i)?;
        let p = self.pool.buf_ptr(idx);
        // SAFETY: `idx` is a valid index (checked by `held`), so `p` starts a
        // `buf_size`-byte buffer inside the region, disjoint from every other
        // buffer. This array is its only holder (module invariant) and we
        // hold `&self`, so nobody writes it for the lifetime of the slice.
        Ok(unsafe { slice::from_raw_parts(p, self.pool.buf_size()) })
    }

    /// The whole buffer held by slot `i`, writable.
    #[inline]
    pub fn buf_mut(&mut self, i: usize) -> Result<&mut [u8], PoolError> {
        let idx = self.held(i)?;
        let p = self.pool.buf_ptr(idx);
        // SAFETY: as in `buf`, plus `&mut self` makes the access exclusive:
        // no other slice of this buffer can be alive.
        Ok(unsafe { slice::from_raw_parts_mut(p, self.pool.buf_size()) })
    }

    /// The first `len` bytes of slot `i`'s buffer (the frame or fragment).
    #[inline]
    pub fn frame(&self, i: usize) -> Result<&[u8], PoolError> {
        let len = self.slots.get(i).ok_or(PoolError::SlotOutOfRange(i))?.len as usize;
        Ok(&self.buf(i)?[..len])
    }

    /// Copies `len` bytes of slot `i`'s buffer into slot `j` of `dst` and
    /// sets `dst[j].len`. This is the one copy VALE makes per destination.
    #[inline]
    pub fn copy_to(&self, i: usize, dst: &mut SlotArray, j: usize, len: u16) -> Result<(), PoolError> {
        let n = len as usize;
        if n > self.pool.buf_size() || n > dst.pool.buf_size() {
            return Err(PoolError::BadLen(n));
        }
        let src = &self.buf(i)?[..n];
        dst.buf_mut(j)?[..n].copy_from_slice(src);
        dst.slots[j].len = len;
        Ok(())
    }

    /// Exchanges slot `i` (buffer, length, flags) with slot `j` of `other`.
    /// Zero copy: only indices move.
    #[inline]
    pub fn swap(&mut self, i: usize, other: &mut SlotArray, j: usize) -> Result<(), PoolError> {
        self.check(i)?;
        other.check(j)?;
        if !Arc::ptr_eq(&self.pool, &other.pool) {
            return Err(PoolError::PoolMismatch);
        }
        core::mem::swap(&mut self.slots[i], &mut other.slots[j]);
        Ok(())
    }

    /// Exchanges slots `i` and `j` of this array.
    #[inline]
    pub fn swap_within(&mut self, i: usize, j: usize) -> Result<(), PoolError> {
        self.check(i)?;
        self.check(j)?;
        self.slots.swap(i, j);
        Ok(())
    }

    /// Moves slot `i` (buffer, length, flags) into the empty slot `j` of
    /// `dst`; slot `i` becomes empty.
    #[inline]
    pub fn move_to(&mut self, i: usize, dst: &mut SlotArray, j: usize) -> Result<(), PoolError> {
        self.check(i)?;
        dst.check(j)?;
        if !Arc::ptr_eq(&self.pool, &dst.pool) {
            return Err(PoolError::PoolMismatch);
        }
        if dst.slots[j].buf_idx != 0 {
            return Err(PoolError::SlotOccupied(j));
        }
        dst.slots[j] = core::mem::take(&mut self.slots[i]);
        Ok(())
    }

    /// Gives the empty slot `i` a fresh buffer from the pool (ring creation).
    pub fn fill(&mut self, i: usize) -> Result<(), PoolError> {
        self.check(i)?;
        if self.slots[i].buf_idx != 0 {
            return Err(PoolError::SlotOccupied(i));
        }
        let idx = self.pool.alloc().ok_or(PoolError::Exhausted)?;
        self.slots[i] = Slot { buf_idx: idx, len: 0, flags: 0 };
        Ok(())
    }

    /// Returns slot `i`'s buffer to the pool; the slot becomes empty.
    pub fn release(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            let idx = core::mem::take(s).buf_idx;
            if idx != 0 {
                self.pool.release(idx);
            }
        }
    }

    /// Every buffer index held, for [`BufferPool::audit`].
    pub fn bufs(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().map(|s| s.buf_idx).filter(|&b| b != 0)
    }

    /// Whether slot `i` holds a buffer.
    #[inline]
    pub fn is_held(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.buf_idx != 0)
    }

    #[inline]
    fn check(&self, i: usize) -> Result<(), PoolError> {
        if i < self.slots.len() {
            Ok(())
        } else {
            Err(PoolError::SlotOutOfRange(i))
        }
    }

    #[inline]
    fn held(&self, i: usize) -> Result<u32, PoolError> {
        match self.slots.get(i) {
            None => Err(PoolError::SlotOutOfRange(i)),
            Some(s) if s.buf_idx == 0 => Err(PoolError::SlotEmpty(i)),
            Some(s) => Ok(s.buf_idx),
        }
    }
}

impl Drop for SlotArray {
    /// Buffers go back to the pool, so dropping a ring (a detached port, a
    /// closed pipe) can never leak one.
    fn drop(&mut self) {
        for i in 0..self.slots.len() {
            self.release(i);
        }
    }
}

impl core::fmt::Debug for SlotArray {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotArray").field("len", &self.slots.len()).finish_non_exhaustive()
    }
}

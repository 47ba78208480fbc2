//! Where a buffer is, as the device sees it.

use alloc::sync::Arc;

use netmap::BufferPool;

/// Translates buffer indices into device (physical) addresses: the pool
/// is one contiguous region at `base_phys`.
#[derive(Clone)]
pub struct BufMap {
    pool: Arc<BufferPool>,
    base_phys: u64,
}

impl BufMap {
    /// The pool's region starts at device address `base_phys`.
    pub fn new(pool: Arc<BufferPool>, base_phys: u64) -> Self {
        Self { pool, base_phys }
    }

    /// Device address of buffer `idx`, or `None` for an index outside the
    /// pool (never posted: the slot is dropped instead).
    #[inline]
    pub fn phys(&self, idx: u32) -> Option<u64> {
        self.pool
            .buf_offset(idx)
            .ok()
            .map(|off| self.base_phys + off as u64)
    }

    /// Bytes per buffer.
    #[inline]
    pub fn buf_size(&self) -> u32 {
        self.pool.buf_size() as u32
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }
}

//! The application's view of a ring (netmap's `struct netmap_ring`).
//!
//! The application owns the slots `[head, tail)`: it reads received frames
//! (rx) or fills frames to send (tx) there, then advances `head` (and `cur`,
//! its wake-up hint) and asks for a sync. `tail` is written by the kernel
//! only; a value written by the application is overwritten at the next sync.
//!
//! The `slot` array is the application's to scribble on, exactly like the
//! shared-memory ring of netmap: nothing in it is trusted. What the
//! application really holds is recorded apart, in a private [`SlotArray`]
//! (`held`) that only the kernel side and [`NetmapRing::swap_buf`] change. The
//! rule for `buf_idx` follows (see the crate docs, "buffer ownership"): a
//! buffer changes hands only through `swap_buf`/`swap_within`; a `buf_idx`
//! written by hand is reverted to the held buffer at the next sync and
//! counted in `bad_buf_idx`. Duplicate or bogus indices therefore can neither
//! create nor destroy a buffer.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;

use crate::error::PoolError;
use crate::kring::{ring_add, ring_dist};
use crate::mem::{BufferPool, SlotArray};
use crate::slot::{Slot, NS_BUF_CHANGED};

/// One ring as the application sees it.
pub struct NetmapRing {
    /// First slot owned by the application.
    pub head: u32,
    /// Wake-up point: the application wants to be notified when slots past
    /// `cur` are available. Must lie in `[head, tail]`.
    pub cur: u32,
    /// First slot not owned by the application (kernel-written).
    pub tail: u32,
    /// The slots. `buf_idx` is informative: see the module docs.
    pub slot: Box<[Slot]>,
    /// The buffers the application holds, at the positions `[head, tail)`
    /// as of the last sync.
    pub(crate) held: SlotArray,
    num_slots: u32,
    /// Address of the kring this ring was built for: a ring the application
    /// moved elsewhere (a swap through `Handle::rings_mut`, or between two
    /// handles) is recognised and refused instead of indexed out of range.
    owner: usize,
}

impl NetmapRing {
    pub(crate) fn new(pool: &Arc<BufferPool>, num_slots: u32, owner: &crate::Kring) -> Self {
        NetmapRing {
            head: 0,
            cur: 0,
            tail: 0,
            slot: vec![Slot::default(); num_slots as usize].into_boxed_slice(),
            held: SlotArray::new_empty(pool, num_slots as usize),
            num_slots,
            owner: owner as *const crate::Kring as usize,
        }
    }

    /// Whether this ring can be synced against `kring`: it was built for it
    /// and its slot array still has the kring's size. The application can
    /// break either (the `slot` array is public, rings can be swapped);
    /// a sync then refuses with [`SyncError::WrongRing`](crate::SyncError::WrongRing).
    #[inline]
    pub(crate) fn belongs_to(&self, kring: &crate::Kring) -> bool {
        self.owner == kring as *const crate::Kring as usize && self.fits(kring.num_slots())
    }

    /// Whether the ring, including the application's slot array, has `n`
    /// slots (the `held` array always has `num_slots`).
    #[inline]
    pub(crate) fn fits(&self, n: u32) -> bool {
        self.num_slots == n && self.slot.len() == n as usize
    }

    /// Number of slots (netmap's `num_slots`).
    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.num_slots
    }

    /// Buffer size in bytes (netmap's `nr_buf_size`).
    #[inline]
    pub fn nr_buf_size(&self) -> usize {
        self.held.pool().buf_size()
    }

    /// The slot after `i` (netmap's `nm_ring_next`).
    #[inline]
    pub fn next(&self, i: u32) -> u32 {
        ring_add(i % self.num_slots, 1, self.num_slots)
    }

    /// Slots available to the application from `cur` to `tail`
    /// (netmap's `nm_ring_space`).
    #[inline]
    pub fn space(&self) -> u32 {
        let n = self.num_slots;
        ring_dist(self.cur % n, self.tail % n, n)
    }

    /// Whether `cur == tail` (netmap's `nm_ring_empty`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.space() == 0
    }

    /// Moves `head` and `cur` forward by `n` slots (wrapping).
    #[inline]
    pub fn advance(&mut self, n: u32) {
        let m = self.num_slots;
        let h = ring_add(self.head % m, n % m, m);
        self.head = h;
        self.cur = h;
    }

    /// The buffer of slot `i`, if the application holds it.
    #[inline]
    pub fn buf(&self, i: u32) -> Result<&[u8], PoolError> {
        self.held.buf(i as usize)
    }

    /// The buffer of slot `i`, writable, if the application holds it.
    #[inline]
    pub fn buf_mut(&mut self, i: u32) -> Result<&mut [u8], PoolError> {
        self.held.buf_mut(i as usize)
    }

    /// The frame in slot `i`: `slot[i].len` bytes of its buffer (clamped to
    /// the buffer size).
    #[inline]
    pub fn frame(&self, i: u32) -> Result<&[u8], PoolError> {
        let len = self
            .slot
            .get(i as usize)
            .ok_or(PoolError::SlotOutOfRange(i as usize))?
            .len;
        let b = self.buf(i)?;
        Ok(&b[..(len as usize).min(b.len())])
    }

    /// Copies `data` into slot `i`'s buffer and sets its length: the usual
    /// way to fill a tx slot.
    pub fn write_frame(&mut self, i: u32, data: &[u8]) -> Result<(), PoolError> {
        let view = self
            .slot
            .get_mut(i as usize)
            .ok_or(PoolError::SlotOutOfRange(i as usize))?;
        let buf = self.held.buf_mut(i as usize)?;
        if data.len() > buf.len() || data.len() > u16::MAX as usize {
            return Err(PoolError::BadLen(data.len()));
        }
        buf[..data.len()].copy_from_slice(data);
        view.len = data.len() as u16;
        Ok(())
    }

    /// Zero-copy exchange of the buffers of slot `i` here and slot `j` of
    /// `other` (another ring of any port on the same pool), as netmap
    /// applications do by swapping `buf_idx`. Lengths travel with the
    /// buffers; both slots get `NS_BUF_CHANGED`. Both slots must be held by
    /// the application.
    pub fn swap_buf(&mut self, i: u32, other: &mut NetmapRing, j: u32) -> Result<(), PoolError> {
        let (iu, ju) = (i as usize, j as usize);
        if iu >= self.slot.len() || ju >= other.slot.len() {
            return Err(PoolError::SlotOutOfRange(iu.max(ju)));
        }
        if !self.held.is_held(iu) {
            return Err(PoolError::SlotEmpty(iu));
        }
        if !other.held.is_held(ju) {
            return Err(PoolError::SlotEmpty(ju));
        }
        self.held.swap(iu, &mut other.held, ju)?;
        let (a, b) = (self.slot[iu], other.slot[ju]);
        self.slot[iu] = Slot {
            buf_idx: self.held.buf_idx(iu),
            len: b.len,
            flags: a.flags | NS_BUF_CHANGED,
        };
        other.slot[ju] = Slot {
            buf_idx: other.held.buf_idx(ju),
            len: a.len,
            flags: b.flags | NS_BUF_CHANGED,
        };
        Ok(())
    }

    /// [`swap_buf`](Self::swap_buf) between two slots of this ring.
    pub fn swap_within(&mut self, i: u32, j: u32) -> Result<(), PoolError> {
        let (iu, ju) = (i as usize, j as usize);
        if iu.max(ju) >= self.slot.len() {
            return Err(PoolError::SlotOutOfRange(iu.max(ju)));
        }
        if !self.held.is_held(iu) {
            return Err(PoolError::SlotEmpty(iu));
        }
        if !self.held.is_held(ju) {
            return Err(PoolError::SlotEmpty(ju));
        }
        self.held.swap_within(iu, ju)?;
        let (a, b) = (self.slot[iu], self.slot[ju]);
        self.slot[iu] = Slot {
            buf_idx: self.held.buf_idx(iu),
            len: b.len,
            flags: a.flags | NS_BUF_CHANGED,
        };
        self.slot[ju] = Slot {
            buf_idx: self.held.buf_idx(ju),
            len: a.len,
            flags: b.flags | NS_BUF_CHANGED,
        };
        Ok(())
    }

    /// Buffer indices the application holds, for [`BufferPool::audit`].
    pub fn held_bufs(&self) -> impl Iterator<Item = u32> + '_ {
        self.held.bufs()
    }
}

impl core::fmt::Debug for NetmapRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NetmapRing")
            .field("head", &self.head)
            .field("cur", &self.cur)
            .field("tail", &self.tail)
            .field("num_slots", &self.num_slots)
            .finish_non_exhaustive()
    }
}

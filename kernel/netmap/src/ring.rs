//! The application's view of a ring (netmap's `struct netmap_ring`).
//!
//! The application owns the slots `[head, tail)`: it reads received frames
//! (rx) or fills frames to send (tx) there, then advances `head` (and `cur`,
//! its wake-up hint) and asks for a sync. `tail` is written by the kernel
//! only; a value written by the application is overwritten at the next sync.
//!
//! The application's ring and its kring share one slot array (see
//! [`SlotArray`]): the application's [`slot`](NetmapRing::slot) view reaches
//! only its own part `[head, tail)` as of the last sync, the kring's view
//! the rest. In its part the application writes `len` and `flags` in place
//! ([`AppSlot`]); buffer indices are read-only and change hands only through
//! [`swap_buf`](NetmapRing::swap_buf)/[`swap_within`](NetmapRing::swap_within),
//! which exchange whole cells, so every buffer keeps exactly one holder and
//! no index ever needs validating. A slot outside the application's part
//! reads as empty and writes to it are discarded. A sync moves the boundary
//! between the two views and checks only the lengths (and flags) of the
//! slots handed back.

use alloc::sync::Arc;

use crate::error::PoolError;
use crate::kring::{ring_add, ring_dist, Dir};
use crate::mem::SlotArray;
use crate::port::Port;
use crate::slot::{AppSlot, NS_BUF_CHANGED};

/// The application's slots of one ring: index it as an array
/// (`ring.slot[i].len = n`). Slots outside the application's part of the
/// ring (and past its end) read as empty, and writes to them are discarded.
pub struct SlotView {
    pub(crate) arr: SlotArray,
    scratch: AppSlot,
    /// The kring this view shares its cells with (its port, direction and
    /// number), to give them back when the view is dropped.
    home: Option<(Arc<dyn Port>, Dir, usize)>,
    /// Address of that kring: a view the application moved elsewhere (a
    /// swap of rings or of `slot` fields) is recognised and refused.
    owner: usize,
}

impl SlotView {
    /// Number of slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.arr.len()
    }

    /// Whether the ring has no slots (never).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.arr.is_empty()
    }

    /// Slot `i` (empty outside the application's part), if `i < len()`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&AppSlot> {
        (i < self.len()).then(|| &self[i])
    }

    /// Slot `i`, writable (writes outside the application's part are
    /// discarded), if `i < len()`.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut AppSlot> {
        (i < self.len()).then(|| &mut self[i])
    }

    /// Copies of every slot, those outside the application's part empty.
    pub fn iter(&self) -> impl Iterator<Item = AppSlot> + '_ {
        (0..self.arr.len()).map(|i| self[i])
    }

    /// Gives the cells back to the kring (unbinds): the handle does it on
    /// close, and dropping the view does it if not done.
    pub(crate) fn detach(&mut self) {
        if let Some((port, dir, r)) = self.home.take() {
            if let Some(k) = port.krings(dir).get(r) {
                k.lock().detach_view(&mut self.arr);
            }
        }
    }
}

impl core::ops::Index<usize> for SlotView {
    type Output = AppSlot;
    #[inline]
    fn index(&self, i: usize) -> &AppSlot {
        self.arr.app_slot(i).unwrap_or(&AppSlot::EMPTY)
    }
}

impl core::ops::IndexMut<usize> for SlotView {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut AppSlot {
        if self.arr.app_slot(i).is_some() {
            if let Some(s) = self.arr.app_slot_mut(i) {
                return s;
            }
        }
        self.scratch = AppSlot::EMPTY;
        &mut self.scratch
    }
}

impl Drop for SlotView {
    fn drop(&mut self) {
        self.detach();
    }
}

impl core::fmt::Debug for SlotView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotView")
            .field("arr", &self.arr)
            .finish_non_exhaustive()
    }
}

/// One ring as the application sees it.
pub struct NetmapRing {
    /// First slot owned by the application.
    pub head: u32,
    /// Wake-up point: the application wants to be notified when slots past
    /// `cur` are available. Must lie in `[head, tail]`.
    pub cur: u32,
    /// First slot not owned by the application (kernel-written).
    pub tail: u32,
    /// The slots, shared with the kring (see the module docs).
    pub slot: SlotView,
    num_slots: u32,
}

impl NetmapRing {
    /// A ring for kring `r` of direction `dir` of `port`, whose locked
    /// state is `st`: a view of the kring's cells, not yet bound.
    pub(crate) fn new(
        port: &Arc<dyn Port>,
        dir: Dir,
        r: usize,
        owner: &crate::Kring,
        st: &crate::KringState,
    ) -> Self {
        NetmapRing {
            head: 0,
            cur: 0,
            tail: 0,
            slot: SlotView {
                arr: st.slots.share(),
                scratch: AppSlot::EMPTY,
                home: Some((port.clone(), dir, r)),
                owner: owner as *const crate::Kring as usize,
            },
            num_slots: owner.num_slots(),
        }
    }

    /// Whether this ring can be synced against `kring`: its slots were made
    /// for it and have the kring's size. The application can break either
    /// (rings and `slot` fields can be swapped); a sync then refuses with
    /// [`SyncError::WrongRing`](crate::SyncError::WrongRing).
    #[inline]
    pub(crate) fn belongs_to(&self, kring: &crate::Kring) -> bool {
        self.slot.owner == kring as *const crate::Kring as usize && self.fits(kring.num_slots())
    }

    /// Whether the ring, including its slot view, has `n` slots.
    #[inline]
    pub(crate) fn fits(&self, n: u32) -> bool {
        self.num_slots == n && self.slot.arr.len() == n as usize
    }

    /// Number of slots (netmap's `num_slots`).
    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.num_slots
    }

    /// Buffer size in bytes (netmap's `nr_buf_size`).
    #[inline]
    pub fn nr_buf_size(&self) -> usize {
        self.slot.arr.pool().buf_size()
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
        self.slot.arr.buf(i as usize)
    }

    /// The buffer of slot `i`, writable, if the application holds it.
    #[inline]
    pub fn buf_mut(&mut self, i: u32) -> Result<&mut [u8], PoolError> {
        self.slot.arr.buf_mut(i as usize)
    }

    /// The frame in slot `i`: `slot[i].len` bytes of its buffer (clamped to
    /// the buffer size).
    #[inline]
    pub fn frame(&self, i: u32) -> Result<&[u8], PoolError> {
        self.slot.arr.frame(i as usize)
    }

    /// Copies `data` into slot `i`'s buffer and sets its length: the usual
    /// way to fill a tx slot.
    pub fn write_frame(&mut self, i: u32, data: &[u8]) -> Result<(), PoolError> {
        let buf = self.slot.arr.buf_mut(i as usize)?;
        if data.len() > buf.len() || data.len() > u16::MAX as usize {
            return Err(PoolError::BadLen(data.len()));
        }
        buf[..data.len()].copy_from_slice(data);
        self.slot.arr.set_len(i as usize, data.len() as u16)
    }

    /// Zero-copy exchange of the buffers of slot `i` here and slot `j` of
    /// `other` (another ring of any port on the same pool), as netmap
    /// applications do by swapping `buf_idx`. Lengths travel with the
    /// buffers; flags stay with the slots, and both get `NS_BUF_CHANGED`.
    /// Both slots must be held by the application.
    pub fn swap_buf(&mut self, i: u32, other: &mut NetmapRing, j: u32) -> Result<(), PoolError> {
        let (iu, ju) = (i as usize, j as usize);
        if iu >= self.slot.len() || ju >= other.slot.len() {
            return Err(PoolError::SlotOutOfRange(iu.max(ju)));
        }
        if !self.slot.arr.is_held(iu) {
            return Err(PoolError::SlotEmpty(iu));
        }
        if !other.slot.arr.is_held(ju) {
            return Err(PoolError::SlotEmpty(ju));
        }
        let (fa, fb) = (self.slot.arr.get(iu).flags, other.slot.arr.get(ju).flags);
        self.slot.arr.swap(iu, &mut other.slot.arr, ju)?;
        self.slot.arr.set_flags(iu, fa | NS_BUF_CHANGED);
        other.slot.arr.set_flags(ju, fb | NS_BUF_CHANGED);
        Ok(())
    }

    /// [`swap_buf`](Self::swap_buf) between two slots of this ring.
    pub fn swap_within(&mut self, i: u32, j: u32) -> Result<(), PoolError> {
        let (iu, ju) = (i as usize, j as usize);
        if iu.max(ju) >= self.slot.len() {
            return Err(PoolError::SlotOutOfRange(iu.max(ju)));
        }
        if !self.slot.arr.is_held(iu) {
            return Err(PoolError::SlotEmpty(iu));
        }
        if !self.slot.arr.is_held(ju) {
            return Err(PoolError::SlotEmpty(ju));
        }
        let (fa, fb) = (self.slot.arr.get(iu).flags, self.slot.arr.get(ju).flags);
        self.slot.arr.swap_within(iu, ju)?;
        self.slot.arr.set_flags(iu, fa | NS_BUF_CHANGED);
        self.slot.arr.set_flags(ju, fb | NS_BUF_CHANGED);
        Ok(())
    }

    /// Buffer indices the application holds, for [`BufferPool::audit`](crate::BufferPool::audit).
    pub fn held_bufs(&self) -> impl Iterator<Item = u32> + '_ {
        self.slot.arr.bufs()
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

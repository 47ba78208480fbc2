//! Slot arrays: the only holders of buffers, and so the only way to reach
//! buffer memory.
//!
//! Ownership is structural. A buffer index enters a slot array's cells only
//! from the pool's free list ([`SlotArray::fill`]) or by moving or swapping
//! it from another cell; it leaves only to another cell or back to the free
//! list ([`SlotArray::release`], or when the cells are dropped). Nothing
//! outside this module can write an index into a cell. Hence every buffer
//! has at most one holding cell.
//!
//! The cells of a ring are shared by two views (the kring's and the
//! application's), each confined to its window; the windows are disjoint
//! and move together, only in [`SlotArray::set_window`], which needs both
//! views `&mut`. So a cell is reachable through one view at a time, and
//! `&mut SlotArray` is exclusive access to the cells of its window and the
//! bytes of their buffers — which is what makes [`SlotArray::buf_mut`]
//! sound, on one core or many.
//!
//! An entry with `buf_idx == 0` is empty: buffer 0 is reserved and never
//! handed out.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::slice;
use core::sync::atomic::{AtomicU64, Ordering};

use super::BufferPool;
use crate::error::PoolError;
use crate::slot::{AppSlot, Slot};

/// The cells of one ring, shared by its views (see [`SlotArray`]). Owns
/// every buffer its cells name: they go back to the pool when the last
/// view is dropped.
struct Storage {
    pool: Arc<BufferPool>,
    cells: Box<[UnsafeCell<Slot>]>,
}

// SAFETY: a cell is only ever reached through a view whose window contains
// it (`SlotArray::cell`/`cell_mut`/`run_mut`), and the windows of the views
// of one storage are disjoint at every moment: the primary view sees the
// complement of the one bound application view's window, every other view
// sees nothing, and both windows move together only in
// [`SlotArray::set_window`], which holds `&mut` to both views. Within a
// view, `&`/`&mut` borrows of the view order the accesses as for a plain
// array. So no cell is written while another thread reads or writes it.
unsafe impl Sync for Storage {}

impl Drop for Storage {
    fn drop(&mut self) {
        for c in self.cells.iter_mut() {
            let idx = core::mem::take(c.get_mut()).buf_idx;
            if idx != 0 {
                self.pool.release(idx);
            }
        }
    }
}

/// Source of view identities (0 means none).
static NEXT_VIEW: AtomicU64 = AtomicU64::new(1);

/// A fixed-length array of slots that owns the buffers its slots name: a
/// *view* of a ring's cells.
///
/// A ring's cells are shared by two views: the kring's (the *primary* view,
/// [`KringState::slots`](crate::KringState::slots)) and the application's
/// (inside its [`NetmapRing`](crate::NetmapRing)). Each view sees only its
/// *window*, a cyclic range of cells; the application's is `[rhead, rtail)`
/// and the kring's the rest. A cell outside a view's window reads through
/// that view as an empty slot, and cannot be written, filled, moved into or
/// swapped through it — exactly what the other side's slots looked like when
/// each side had an array of its own, so callers see no difference. A sync
/// moves ownership by moving the window ([`set_window`](Self::set_window)),
/// not the buffers.
pub struct SlotArray {
    pool: Arc<BufferPool>,
    st: Arc<Storage>,
    /// First cell of the window.
    lo: u32,
    /// Cells in the window (from `lo`, wrapping).
    vis: u32,
    /// Identity of this view.
    id: u64,
    /// Primary view: created with the storage, sees everything but the
    /// bound application view's window.
    primary: bool,
    /// Primary view: the application view bound to it (0 = none).
    bound: u64,
}

impl SlotArray {
    /// `n` empty slots (allocates the array, not buffers).
    pub fn new_empty(pool: &Arc<BufferPool>, n: usize) -> Self {
        let cells = (0..n).map(|_| UnsafeCell::new(Slot::default())).collect();
        SlotArray {
            pool: pool.clone(),
            st: Arc::new(Storage {
                pool: pool.clone(),
                cells,
            }),
            lo: 0,
            vis: n as u32,
            id: NEXT_VIEW.fetch_add(1, Ordering::Relaxed),
            primary: true,
            bound: 0,
        }
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

    /// A second view of this array's cells with an empty window (the
    /// application's view of a kring), to be bound with
    /// [`set_window`](Self::set_window).
    pub(crate) fn share(&self) -> SlotArray {
        SlotArray {
            pool: self.pool.clone(),
            st: self.st.clone(),
            lo: 0,
            vis: 0,
            id: NEXT_VIEW.fetch_add(1, Ordering::Relaxed),
            primary: false,
            bound: 0,
        }
    }

    /// Whether `app` is the application view bound to this primary view.
    #[inline]
    pub(crate) fn is_bound_to(&self, app: &SlotArray) -> bool {
        self.primary && Arc::ptr_eq(&self.st, &app.st) && self.bound == app.id
    }

    /// Whether an application view is bound to this primary view.
    #[inline]
    pub(crate) fn has_bound(&self) -> bool {
        self.bound != 0
    }

    /// Gives the application view `app` of this (primary) array the window
    /// `[lo, lo + len)` (wrapping) and this view the rest. Refused (false,
    /// nothing changes) unless `app` is a view of the same cells made by
    /// [`share`](Self::share), no other application view is bound, and
    /// `lo < n`, `len < n`. Binds `app` if no view was bound.
    pub(crate) fn set_window(&mut self, app: &mut SlotArray, lo: u32, len: u32) -> bool {
        let n = self.st.cells.len() as u32;
        if !self.primary
            || app.primary
            || !Arc::ptr_eq(&self.st, &app.st)
            || (self.bound != 0 && self.bound != app.id)
            || lo >= n
            || len >= n
        {
            return false;
        }
        app.lo = lo;
        app.vis = len;
        let end = lo + len;
        self.lo = if end >= n { end - n } else { end };
        self.vis = n - len;
        self.bound = app.id;
        true
    }

    /// Unbinds the bound application view `app`: its window becomes empty
    /// and this (primary) view sees every cell again. Refused (false) if
    /// `app` is not the bound view.
    pub(crate) fn unbind(&mut self, app: &mut SlotArray) -> bool {
        if !self.is_bound_to(app) {
            return false;
        }
        app.lo = 0;
        app.vis = 0;
        self.lo = 0;
        self.vis = self.st.cells.len() as u32;
        self.bound = 0;
        true
    }

    /// Whether slot `i` is in this view's window.
    #[inline]
    fn visible(&self, i: usize) -> bool {
        let n = self.st.cells.len();
        if i >= n {
            return false;
        }
        let lo = self.lo as usize;
        let d = if i >= lo { i - lo } else { i + n - lo };
        d < self.vis as usize
    }

    /// From slot `i < n`: whether it is visible, and how many slots from
    /// it on (not wrapping) share that answer.
    #[inline]
    fn run_at(&self, i: usize) -> (bool, usize) {
        let n = self.st.cells.len();
        let lo = self.lo as usize;
        let d = if i >= lo { i - lo } else { i + n - lo };
        let vis = self.vis as usize;
        if d < vis {
            (true, (vis - d).min(n - i))
        } else {
            (false, (n - d).min(n - i))
        }
    }

    /// Slot `i`, if in the window.
    #[inline]
    fn cell(&self, i: usize) -> Option<&Slot> {
        if self.visible(i) {
            // SAFETY: `i` is in range and in this view's window, which no
            // other view's window overlaps (see `Storage`); `&self` keeps
            // this view from writing it meanwhile.
            Some(unsafe { &*self.st.cells[i].get() })
        } else {
            None
        }
    }

    /// Slot `i`, writable, if in the window.
    #[inline]
    fn cell_mut(&mut self, i: usize) -> Option<&mut Slot> {
        if self.visible(i) {
            // SAFETY: as in `cell`, and `&mut self` makes the access
            // exclusive within this view.
            Some(unsafe { &mut *self.st.cells[i].get() })
        } else {
            None
        }
    }

    /// Slots `[i, i + len)`, which the caller found visible with `run_at`.
    #[inline]
    fn run_mut(&mut self, i: usize, len: usize) -> &mut [Slot] {
        assert!(len == 0 || (self.visible(i) && self.run_at(i).1 >= len));
        let p = UnsafeCell::raw_get(self.st.cells[i..i + len].as_ptr());
        // SAFETY: the cells `[i, i + len)` exist (the slice above) and are
        // all in this view's window (asserted), so no other view reaches
        // them; `&mut self` makes this the only access through this view.
        // `UnsafeCell<Slot>` has the layout of `Slot`.
        unsafe { slice::from_raw_parts_mut(p, len) }
    }

    /// The application's slot `i` (see [`SlotView`](crate::ring::SlotView)).
    #[inline]
    pub(crate) fn app_slot(&self, i: usize) -> Option<&AppSlot> {
        let s: *const Slot = self.cell(i)?;
        // SAFETY: `AppSlot` is `repr(C)` with the fields of `Slot` (also
        // `repr(C)`) in the same order and types, so the pointer is valid
        // for it, with the lifetime and sharing of the `&Slot` it came from.
        Some(unsafe { &*s.cast::<AppSlot>() })
    }

    /// The application's slot `i`, writable (its buffer index stays private).
    #[inline]
    pub(crate) fn app_slot_mut(&mut self, i: usize) -> Option<&mut AppSlot> {
        let s: *mut Slot = self.cell_mut(i)?;
        // SAFETY: as in `app_slot`, from an exclusive `&mut Slot`.
        Some(unsafe { &mut *s.cast::<AppSlot>() })
    }

    /// Clamps lengths over the buffer size to 0 and masks flags to `mask` in
    /// the visible slots among `count` from `start` (wrapping); returns how
    /// many lengths were bad. Used on slots an application hands back.
    pub(crate) fn sanitize(&mut self, start: u32, count: u32, mask: u16) -> u64 {
        let n = self.st.cells.len();
        let bs = self.pool.buf_size();
        let (mut i, mut left, mut bad) = (start as usize, (count as usize).min(n), 0u64);
        if i >= n {
            return 0;
        }
        while left > 0 {
            let (vis, len) = self.run_at(i);
            let len = len.min(left);
            if vis {
                for s in self.run_mut(i, len) {
                    let ok = s.len as usize <= bs;
                    bad += !ok as u64;
                    if !ok {
                        s.len = 0;
                    }
                    s.flags &= mask;
                }
            }
            left -= len;
            i += len;
            if i == n {
                i = 0;
            }
        }
        bad
    }

    /// Number of slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.st.cells.len()
    }

    /// Whether the array has no slots at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.st.cells.is_empty()
    }

    /// The pool the buffers come from.
    #[inline]
    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    /// Copy of slot `i` (empty if outside this view's window). Panics if
    /// `i >= len()`, like slice indexing: slot numbers are computed by the
    /// crate modulo the ring size, never taken from an application
    /// unchecked.
    #[inline]
    pub fn get(&self, i: usize) -> Slot {
        assert!(i < self.len(), "slot {i} out of range");
        self.cell(i).copied().unwrap_or_default()
    }

    /// Buffer index held by slot `i` (0 if empty).
    #[inline]
    pub fn buf_idx(&self, i: usize) -> u32 {
        self.get(i).buf_idx
    }

    /// Sets the length of slot `i`; a length over the buffer size is refused.
    #[inline]
    pub fn set_len(&mut self, i: usize, len: u16) -> Result<(), PoolError> {
        if len as usize > self.pool.buf_size() {
            return Err(PoolError::BadLen(len as usize));
        }
        self.slot_mut(i)?.len = len;
        Ok(())
    }

    /// Sets the flags of slot `i` (ignored outside this view's window).
    #[inline]
    pub fn set_flags(&mut self, i: usize, flags: u16) {
        if let Some(s) = self.cell_mut(i) {
            s.flags = flags;
        }
    }

    /// The whole buffer held by slot `i`.
    #[inline]
    pub fn buf(&self, i: usize) -> Result<&[u8], PoolError> {
        let idx = self.held(i)?;
        let p = self.pool.buf_ptr(idx);
        // SAFETY: `idx` is a valid index (checked by `held`), so `p` starts a
        // `buf_size`-byte buffer inside the region, disjoint from every other
        // buffer. This view's cell is its only holder (module invariant: one
        // cell per buffer, one view per cell) and we hold `&self`, so nobody
        // writes it for the lifetime of the slice.
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

    /// The first `len` bytes of slot `i`'s buffer (the frame or fragment),
    /// clamped to the buffer size.
    #[inline]
    pub fn frame(&self, i: usize) -> Result<&[u8], PoolError> {
        let len = self.get_checked(i)?.len as usize;
        let b = self.buf(i)?;
        Ok(&b[..len.min(b.len())])
    }

    /// Copies `len` bytes of slot `i`'s buffer into slot `j` of `dst` and
    /// sets `dst[j].len`. This is the one copy VALE makes per destination.
    ///
    /// The copy moves whole 64-byte blocks: fixed-size block copies compile
    /// to a few vector moves, where a `memmove` call per small frame costs
    /// more than the copy itself. The bytes past `len` come from the source
    /// buffer and land in the destination buffer, both held by the caller,
    /// and buffer sizes are multiples of 64, so nothing else is touched.
    #[inline]
    pub fn copy_to(
        &self,
        i: usize,
        dst: &mut SlotArray,
        j: usize,
        len: u16,
    ) -> Result<(), PoolError> {
        let n = len as usize;
        let src = self.buf(i)?;
        let to = dst.buf_mut(j)?;
        if n > src.len() || n > to.len() {
            return Err(PoolError::BadLen(n));
        }
        let blocks = n.div_ceil(64) * 64;
        let (to, _) = to[..blocks].as_chunks_mut::<64>();
        let (from, _) = src[..blocks].as_chunks::<64>();
        for (d, s) in to.iter_mut().zip(from) {
            *d = *s;
        }
        dst.slot_mut(j)?.len = len;
        Ok(())
    }

    /// Appends the frame of slot `src` (its first `len` bytes) to the one
    /// of slot `dst` of the same array: copies them to `dst`'s buffer at
    /// offset `dst.len` and grows `dst.len` by as much. Gathers a fragment
    /// chain into its first buffer (a device that takes one buffer per
    /// frame). Refused if the two are the same slot, either is empty, or
    /// the result would not fit the buffer or a `u16`; then nothing changes.
    pub fn append_from(&mut self, dst: usize, src: usize) -> Result<(), PoolError> {
        if dst == src {
            return Err(PoolError::SlotOccupied(dst));
        }
        let (d, s) = (self.held(dst)?, self.held(src)?);
        let at = self.get(dst).len as usize;
        let n = self.get(src).len as usize;
        let bs = self.pool.buf_size();
        if n > bs || at + n > bs || at + n > u16::MAX as usize {
            return Err(PoolError::BadLen(at + n));
        }
        let (from, to) = (self.pool.buf_ptr(s), self.pool.buf_ptr(d));
        // SAFETY: `s` and `d` are valid indices held by two different
        // visible entries of this view (checked above), so each starts its
        // own `buf_size`-byte buffer inside the region and the two do not
        // overlap; `n <= buf_size` and `at + n <= buf_size` keep both
        // ranges inside their buffers. `&mut self` makes this view, whose
        // cells are their only holders, the only access to either.
        unsafe { core::ptr::copy_nonoverlapping(from, to.add(at), n) };
        self.slot_mut(dst)?.len = (at + n) as u16;
        Ok(())
    }

    /// [`frame`](Self::frame) for a batch: the pool's fields are read once
    /// for all the frames read through the returned [`FrameReader`].
    #[inline]
    pub fn frame_reader(&self) -> FrameReader<'_> {
        let (base, shift) = self.pool.base_and_shift();
        FrameReader {
            slots: self,
            base,
            shift,
            size: self.pool.buf_size(),
        }
    }

    /// [`copy_to`](Self::copy_to) for a batch: the pools' fields are read
    /// once for all the copies made through the returned [`BatchCopy`]
    /// (a loop of `copy_to` reloads them per frame: the compiler cannot
    /// keep them across the calls).
    #[inline]
    pub fn batch_copy<'a>(&'a self, dst: &'a mut SlotArray) -> BatchCopy<'a> {
        let (src_base, src_shift) = self.pool.base_and_shift();
        let (dst_base, dst_shift) = dst.pool.base_and_shift();
        BatchCopy {
            src: self,
            src_base,
            src_shift,
            src_size: self.pool.buf_size(),
            dst_base,
            dst_shift,
            dst_size: dst.pool.buf_size(),
            dst,
        }
    }

    /// Exchanges slot `i` (buffer, length, flags) with slot `j` of `other`.
    /// Zero copy: only indices move.
    #[inline]
    pub fn swap(&mut self, i: usize, other: &mut SlotArray, j: usize) -> Result<(), PoolError> {
        if !Arc::ptr_eq(&self.pool, &other.pool) {
            return Err(PoolError::PoolMismatch);
        }
        let a = self.slot_mut(i)?;
        let b = other.slot_mut(j)?;
        core::mem::swap(a, b);
        Ok(())
    }

    /// Exchanges slots `i` and `j` of this array.
    #[inline]
    pub fn swap_within(&mut self, i: usize, j: usize) -> Result<(), PoolError> {
        let a = *self.slot_mut(i)?;
        let b = core::mem::replace(self.slot_mut(j)?, a);
        *self.slot_mut(i)? = b;
        Ok(())
    }

    /// Moves slot `i` (buffer, length, flags) into the empty slot `j` of
    /// `dst`; slot `i` becomes empty.
    #[inline]
    pub fn move_to(&mut self, i: usize, dst: &mut SlotArray, j: usize) -> Result<(), PoolError> {
        if !Arc::ptr_eq(&self.pool, &dst.pool) {
            return Err(PoolError::PoolMismatch);
        }
        self.slot_mut(i)?;
        let d = dst.slot_mut(j)?;
        if d.buf_idx != 0 {
            return Err(PoolError::SlotOccupied(j));
        }
        *d = core::mem::take(self.slot_mut(i)?);
        Ok(())
    }

    /// Moves `count` slots from `self[src..]` to `dst[dst_start..]`, both
    /// ranges wrapping around their arrays: the batch form of
    /// [`move_to`](Self::move_to), with the pool check done once. `f` sees
    /// each slot as it moves (with its index in `self`) and returns what to
    /// store (to set lengths and flags); a length over the buffer size is
    /// stored as 0. Entries that are empty (or outside the window) in
    /// `self` or occupied (or outside the window) in `dst` are skipped, so a
    /// misbehaving caller can never lose or duplicate a buffer.
    #[inline]
    pub fn move_slots(
        &mut self,
        src: u32,
        dst: &mut SlotArray,
        dst_start: u32,
        count: u32,
        mut f: impl FnMut(u32, Slot) -> Slot,
    ) -> Result<(), PoolError> {
        if !Arc::ptr_eq(&self.pool, &dst.pool) {
            return Err(PoolError::PoolMismatch);
        }
        let bs = self.pool.buf_size();
        for_segments(self, src, dst, dst_start, count, |from, to, i| {
            for (k, (s, d)) in from.iter_mut().zip(to.iter_mut()).enumerate() {
                let v = *s;
                if v.buf_idx != 0 && d.buf_idx == 0 {
                    let mut out = f((i + k) as u32, v);
                    out.buf_idx = v.buf_idx;
                    if out.len as usize > bs {
                        out.len = 0;
                    }
                    *d = out;
                    *s = Slot::default();
                }
            }
        })
    }

    /// Exchanges `count` slots of `self[i..]` with `other[j..]`, both ranges
    /// wrapping: the batch form of [`swap`](Self::swap). `f(mine, theirs)`
    /// may adjust lengths and flags of both after the exchange (lengths over
    /// the buffer size become 0; indices cannot be changed). Pairs with a
    /// slot outside either window are skipped.
    #[inline]
    pub fn swap_slots(
        &mut self,
        i: u32,
        other: &mut SlotArray,
        j: u32,
        count: u32,
        mut f: impl FnMut(&mut Slot, &mut Slot),
    ) -> Result<(), PoolError> {
        if !Arc::ptr_eq(&self.pool, &other.pool) {
            return Err(PoolError::PoolMismatch);
        }
        let bs = self.pool.buf_size();
        for_segments(self, i, other, j, count, |mine, theirs, _| {
            for (a, b) in mine.iter_mut().zip(theirs.iter_mut()) {
                core::mem::swap(a, b);
                let (ia, ib) = (a.buf_idx, b.buf_idx);
                f(a, b);
                a.buf_idx = ia;
                b.buf_idx = ib;
                if a.len as usize > bs {
                    a.len = 0;
                }
                if b.len as usize > bs {
                    b.len = 0;
                }
            }
        })
    }

    /// Gives the empty slot `i` a fresh buffer from the pool (ring creation).
    pub fn fill(&mut self, i: usize) -> Result<(), PoolError> {
        if self.slot_mut(i)?.buf_idx != 0 {
            return Err(PoolError::SlotOccupied(i));
        }
        let idx = self.pool.alloc().ok_or(PoolError::Exhausted)?;
        *self.slot_mut(i)? = Slot {
            buf_idx: idx,
            len: 0,
            flags: 0,
        };
        Ok(())
    }

    /// Returns slot `i`'s buffer to the pool; the slot becomes empty
    /// (nothing happens outside the window).
    pub fn release(&mut self, i: usize) {
        if let Some(s) = self.cell_mut(i) {
            let idx = core::mem::take(s).buf_idx;
            if idx != 0 {
                self.pool.release(idx);
            }
        }
    }

    /// Every buffer index held in the window, for [`BufferPool::audit`].
    pub fn bufs(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len())
            .filter_map(|i| self.cell(i).map(|s| s.buf_idx))
            .filter(|&b| b != 0)
    }

    /// Whether slot `i` holds a buffer (in the window).
    #[inline]
    pub fn is_held(&self, i: usize) -> bool {
        self.cell(i).is_some_and(|s| s.buf_idx != 0)
    }

    /// Slot `i` if in range (empty if outside the window).
    #[inline]
    fn get_checked(&self, i: usize) -> Result<Slot, PoolError> {
        if i < self.len() {
            Ok(self.cell(i).copied().unwrap_or_default())
        } else {
            Err(PoolError::SlotOutOfRange(i))
        }
    }

    /// Slot `i`, writable: out of range or outside the window (the other
    /// side's) is an error.
    #[inline]
    fn slot_mut(&mut self, i: usize) -> Result<&mut Slot, PoolError> {
        if i >= self.len() {
            return Err(PoolError::SlotOutOfRange(i));
        }
        self.cell_mut(i).ok_or(PoolError::SlotOccupied(i))
    }

    #[inline]
    fn held(&self, i: usize) -> Result<u32, PoolError> {
        if i >= self.len() {
            return Err(PoolError::SlotOutOfRange(i));
        }
        match self.cell(i) {
            Some(s) if s.buf_idx != 0 => Ok(s.buf_idx),
            _ => Err(PoolError::SlotEmpty(i)),
        }
    }
}

/// Reads the frames of a slot array (see [`SlotArray::frame_reader`]):
/// borrows it shared, as [`SlotArray::frame`] does.
#[derive(Clone, Copy)]
pub struct FrameReader<'a> {
    slots: &'a SlotArray,
    base: *mut u8,
    shift: u32,
    size: usize,
}

impl core::fmt::Debug for FrameReader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameReader")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<'a> FrameReader<'a> {
    /// As [`SlotArray::frame`]: the first `len` bytes of slot `i`'s buffer.
    #[inline]
    pub fn frame(&self, i: usize) -> Result<&'a [u8], PoolError> {
        let s = *self.slots.cell(i).ok_or(if i < self.slots.len() {
            PoolError::SlotEmpty(i)
        } else {
            PoolError::SlotOutOfRange(i)
        })?;
        if s.buf_idx == 0 {
            return Err(PoolError::SlotEmpty(i));
        }
        let len = s.len as usize;
        if len > self.size {
            return Err(PoolError::BadLen(len));
        }
        let p = self.base.wrapping_add((s.buf_idx as usize) << self.shift);
        // SAFETY: as in `SlotArray::buf`: the index is held (non-zero) by a
        // visible cell, so it is a valid index of the pool and `p` starts a
        // `size`-byte buffer inside the region, of which `len <= size` bytes
        // are read. The view is borrowed shared for `'a` and its cell is the
        // buffer's only holder, so nobody writes those bytes meanwhile.
        Ok(unsafe { slice::from_raw_parts(p, len) })
    }
}

/// Copies from one slot array into another (see [`SlotArray::batch_copy`]):
/// borrows the source shared and the destination exclusively, as
/// [`SlotArray::copy_to`] does for one copy.
pub struct BatchCopy<'a> {
    src: &'a SlotArray,
    src_base: *mut u8,
    src_shift: u32,
    src_size: usize,
    dst: &'a mut SlotArray,
    dst_base: *mut u8,
    dst_shift: u32,
    dst_size: usize,
}

impl core::fmt::Debug for BatchCopy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatchCopy")
            .field("src_slots", &self.src.len())
            .field("dst_slots", &self.dst.len())
            .finish_non_exhaustive()
    }
}

impl BatchCopy<'_> {
    /// Slot `i` of the source (empty outside its window).
    #[inline]
    pub fn src(&self, i: usize) -> Option<Slot> {
        self.src.get_checked(i).ok()
    }

    /// As [`SlotArray::copy_to`] (whole 64-byte blocks, `dst[j].len`
    /// set), and sets `dst[j].flags` to `flags`.
    #[inline]
    pub fn copy(&mut self, i: usize, j: usize, len: u16, flags: u16) -> Result<(), PoolError> {
        let s = self.src.held(i)?;
        let d = self.dst.slot_mut(j)?;
        if d.buf_idx == 0 {
            return Err(PoolError::SlotEmpty(j));
        }
        let n = len as usize;
        let blocks = n.div_ceil(64);
        // Buffer sizes are powers of two >= 64: `n` fits a buffer exactly
        // when its whole blocks do.
        if blocks * 64 > self.src_size || blocks * 64 > self.dst_size {
            return Err(PoolError::BadLen(n));
        }
        let from = self.src_base.wrapping_add((s as usize) << self.src_shift);
        let to = self
            .dst_base
            .wrapping_add((d.buf_idx as usize) << self.dst_shift);
        // SAFETY: as in `SlotArray::buf` and `buf_mut`: both indices are
        // held (non-zero) by visible cells of their views, so they are valid
        // indices of their pools and each pointer starts a buffer of
        // `*_size` bytes inside its region; `blocks * 64 <= size` was
        // checked above. The source view is borrowed shared and the
        // destination exclusively for the life of `self`, and a buffer has
        // one holder, so nothing else reads or writes these bytes and the
        // two buffers do not overlap.
        let (src, dst) = unsafe {
            (
                core::slice::from_raw_parts(from, blocks * 64),
                core::slice::from_raw_parts_mut(to, blocks * 64),
            )
        };
        // The same loop as `copy_to`: whole 64-byte blocks, which the
        // compiler turns into one straight copy (a copy call per block was
        // measured 2x slower on 1514-byte frames under TCG).
        let (to_blocks, _) = dst.as_chunks_mut::<64>();
        let (from_blocks, _) = src.as_chunks::<64>();
        for (t, f) in to_blocks.iter_mut().zip(from_blocks) {
            *t = *f;
        }
        d.len = len;
        d.flags = flags;
        Ok(())
    }
}

/// Splits `count` steps from `i` in `a` and from `j` in `b` (both wrapping)
/// into runs contiguous in both and inside both windows, and calls `run`
/// with the two runs and the index in `a` where they start; runs outside
/// either window are skipped. The loops over them are plain slice walks
/// without index arithmetic or bounds checks.
#[inline]
fn for_segments(
    a: &mut SlotArray,
    i: u32,
    b: &mut SlotArray,
    j: u32,
    count: u32,
    mut run: impl FnMut(&mut [Slot], &mut [Slot], usize),
) -> Result<(), PoolError> {
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j, mut left) = (i as usize, j as usize, count as usize);
    if left > 0 && (i >= n || j >= m) {
        return Err(PoolError::SlotOutOfRange(i.max(j)));
    }
    while left > 0 {
        let (va, la) = a.run_at(i);
        let (vb, lb) = b.run_at(j);
        let len = left.min(la).min(lb);
        if va && vb {
            run(a.run_mut(i, len), b.run_mut(j, len), i);
        }
        left -= len;
        i += len;
        j += len;
        if i == n {
            i = 0;
        }
        if j == m {
            j = 0;
        }
    }
    Ok(())
}

impl core::fmt::Debug for SlotArray {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotArray")
            .field("len", &self.len())
            .field("window", &(self.lo, self.vis))
            .finish_non_exhaustive()
    }
}

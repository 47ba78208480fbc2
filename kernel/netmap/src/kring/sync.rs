//! The txsync/rxsync protocol on a kring: prologue checks (netmap's
//! `nm_txsync_prologue` / `nm_rxsync_prologue`), the ownership transfer of
//! returned and new slots, `netmap_ring_reinit`, and binding an application
//! ring.

use super::{Dir, KringState};
use crate::error::SyncError;
use crate::ring::NetmapRing;
use crate::slot::{Slot, NS_APP_FLAGS};

impl KringState {
    /// Prologue check of a txsync (netmap's `nm_txsync_prologue`): wants
    /// `rhead <= head <= cur <= rtail`, all below `n`. Stricter than netmap
    /// in one point: a `cur` outside the ring is an error too.
    pub fn txsync_check(&self, head: u32, cur: u32) -> bool {
        let n = self.nkr_num_slots;
        self.kring_sane()
            && head < n
            && cur < n
            && self.within(self.rhead, head, self.rtail)
            && self.within(head, cur, self.rtail)
    }

    /// Prologue check of an rxsync (netmap's `nm_rxsync_prologue`): wants
    /// `hwcur <= head <= cur <= hwtail`. As in netmap the bound is the live
    /// `nr_hwtail`, so an application may release frames received since its
    /// last sync without having seen them (they are dropped unseen).
    pub fn rxsync_check(&self, head: u32, cur: u32) -> bool {
        let n = self.nkr_num_slots;
        self.kring_sane()
            && head < n
            && cur < n
            && self.within(self.nr_hwcur, head, self.nr_hwtail)
            && self.within(head, cur, self.nr_hwtail)
    }

    /// Rx: the slots received since the copy monitors last looked
    /// (`[mon_tail, nr_hwtail)`), now marked seen. Copied at every rxsync,
    /// before the application can release them, so `/r` sees each arrival
    /// once, reported or not (netmap's `mon_tail`). Empty if the mark is
    /// off the received range (a re-initialised ring).
    pub(crate) fn mon_arrivals(&mut self) -> (u32, u32) {
        let (from, to) = (self.mon_tail, self.nr_hwtail);
        self.mon_tail = to;
        if self.kring_sane() && from < self.nkr_num_slots && self.within(self.nr_hwcur, from, to) {
            (from, to)
        } else {
            (to, to)
        }
    }

    /// Phase 1 of a sync: validate `ring.head`/`ring.cur` (each read once),
    /// take back the slots the application returned, and record
    /// `rhead`/`rcur`. On a protocol violation the ring is re-initialised
    /// ([`reinit`](Self::reinit)) and the error returned; the caller must
    /// then skip the port's sync, as netmap does.
    ///
    /// A ring of another size than the kring (see [`SyncError::WrongRing`])
    /// is refused untouched; the error names ring 0, the kring not knowing
    /// its number ([`Handle`](crate::Handle) checks first, with the number).
    pub fn begin_sync(&mut self, ring: &mut NetmapRing, dir: Dir) -> Result<(), SyncError> {
        if !ring.fits(self.nkr_num_slots) {
            return Err(SyncError::WrongRing(0));
        }
        let (head, cur) = (ring.head, ring.cur);
        let ok = match dir {
            Dir::Tx => self.txsync_check(head, cur),
            Dir::Rx => self.rxsync_check(head, cur),
        };
        if !ok {
            self.reinit(ring);
            return Err(SyncError::RingReinit { head, cur });
        }
        // `tail` is the kernel's; an application that wrote it is ignored.
        ring.tail = self.rtail;
        let returned = self.dist(self.rhead, head);
        let owned = self.dist(self.rhead, self.rtail);
        self.take_back_range(ring, self.rhead, returned.min(owned));
        if returned > owned {
            // Rx only: released past what was reported; those slots never
            // left the kernel.
            self.rtail = head;
        }
        self.rhead = head;
        self.rcur = cur;
        Ok(())
    }

    /// Phase 3 of a sync (netmap's `nm_sync_finalize`): hand the slots
    /// `[rtail, nr_hwtail)` to the application and report the new tail.
    pub fn finish_sync(&mut self, ring: &mut NetmapRing) {
        if !self.kring_sane() || !ring.fits(self.nkr_num_slots) {
            return;
        }
        let count = self.dist(self.rtail, self.nr_hwtail);
        self.give_range(ring, self.rtail, count);
        self.rtail = self.nr_hwtail;
        ring.tail = self.rtail;
    }

    /// Moves `count` slots from `start` on from the application to the
    /// kernel, validating the application's view of each. The buffer that
    /// moves is the one the application *holds*; a different `buf_idx` in
    /// the view is an error, counted, and has no effect. A `len` over the
    /// buffer size becomes 0; flags are masked to [`NS_APP_FLAGS`].
    fn take_back_range(&mut self, ring: &mut NetmapRing, start: u32, count: u32) {
        let bs = ring.nr_buf_size();
        let view = &ring.slot;
        let (mut bad_idx, mut bad_len) = (0u64, 0u64);
        // Cannot fail: both arrays have `n` slots and share the pool.
        let _ = ring
            .held
            .move_slots(start, &mut self.slots, start, count, |i, held| {
                let v = view[i as usize];
                bad_idx += (v.buf_idx != held.buf_idx) as u64;
                let len_ok = v.len as usize <= bs;
                bad_len += !len_ok as u64;
                Slot {
                    buf_idx: held.buf_idx,
                    len: if len_ok { v.len } else { 0 },
                    flags: v.flags & NS_APP_FLAGS,
                }
            });
        self.stats.bad_buf_idx += bad_idx;
        self.stats.bad_len += bad_len;
    }

    /// Moves `count` slots from `start` on from the kernel to the
    /// application and refreshes the application's view of them.
    fn give_range(&mut self, ring: &mut NetmapRing, start: u32, count: u32) {
        let view = &mut ring.slot;
        let _ = self
            .slots
            .move_slots(start, &mut ring.held, start, count, |i, s| {
                view[i as usize] = s;
                s
            });
    }

    /// Re-initialises the ring after a protocol violation, as netmap's
    /// `netmap_ring_reinit`: every buffer the application held returns to
    /// the kernel (validated as in a sync), then head = cur = hwcur and
    /// tail = hwtail, the application is handed `[hwcur, hwtail)`, and every
    /// slot of its view is rewritten from the truth. Counts one
    /// `ring_reinit`. No buffer is lost or duplicated: only moves happen.
    pub fn reinit(&mut self, ring: &mut NetmapRing) {
        if !ring.fits(self.nkr_num_slots) {
            return;
        }
        self.stats.ring_reinit += 1;
        let n = self.nkr_num_slots;
        self.take_back_range(ring, 0, n);
        if !self.kring_sane() {
            // A buggy port corrupted the kring: leave the application
            // nothing rather than trust the indices.
            self.nr_hwcur %= n;
            self.nr_hwtail = self.nr_hwcur;
            self.nkr_hwlease = self.nr_hwcur;
        }
        self.rhead = self.nr_hwcur;
        self.rcur = self.nr_hwcur;
        self.rtail = self.nr_hwcur;
        self.finish_sync(ring);
        for (iu, v) in ring.slot.iter_mut().enumerate() {
            *v = if ring.held.is_held(iu) {
                ring.held.get(iu)
            } else {
                self.slots.get(iu)
            };
        }
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rtail;
    }

    /// Binds an application ring to this kring: the application receives
    /// `[rhead, rtail)` and its view is initialised.
    pub fn attach_ring(&mut self, ring: &mut NetmapRing) {
        if !ring.fits(self.nkr_num_slots) {
            return;
        }
        self.bound = true;
        let count = self.dist(self.rhead, self.rtail);
        self.give_range(ring, self.rhead, count);
        for (iu, v) in ring.slot.iter_mut().enumerate() {
            *v = if ring.held.is_held(iu) {
                ring.held.get(iu)
            } else {
                self.slots.get(iu)
            };
        }
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rtail;
    }

    /// Unbinds an application ring: every buffer it holds comes back, so
    /// the kring owns all its buffers again. Lengths and flags of the
    /// application's view are kept (a persistent port can be reopened).
    ///
    /// A ring of another size is left alone: its buffers go back to the
    /// pool when it is dropped.
    pub fn detach_ring(&mut self, ring: &mut NetmapRing) {
        self.bound = false;
        if !ring.fits(self.nkr_num_slots) {
            return;
        }
        self.take_back_range(ring, 0, self.nkr_num_slots);
    }
}

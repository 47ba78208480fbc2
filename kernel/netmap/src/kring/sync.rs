//! The txsync/rxsync protocol on a kring: prologue checks (netmap's
//! `nm_txsync_prologue` / `nm_rxsync_prologue`), the ownership transfer of
//! returned and new slots, `netmap_ring_reinit`, and binding an application
//! ring.

use super::{Dir, KringState};
use crate::error::SyncError;
use crate::ring::NetmapRing;
use crate::slot::NS_APP_FLAGS;

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
    /// Taking back moves no buffer: the returned slots' lengths are checked
    /// (over the buffer size: 0, counted in `bad_len`) and their flags
    /// masked to [`NS_APP_FLAGS`], then the application's window shrinks to
    /// `[head, rtail)`.
    ///
    /// A ring of another size than the kring, or not bound to it (see
    /// [`SyncError::WrongRing`]), is refused untouched; the error names ring
    /// 0, the kring not knowing its number ([`Handle`](crate::Handle) checks
    /// first, with the number).
    pub fn begin_sync(&mut self, ring: &mut NetmapRing, dir: Dir) -> Result<(), SyncError> {
        if !ring.fits(self.nkr_num_slots) || !self.slots.is_bound_to(&ring.slot.arr) {
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
        self.stats.bad_len += ring
            .slot
            .arr
            .sanitize(self.rhead, returned.min(owned), NS_APP_FLAGS);
        if returned > owned {
            // Rx only: released past what was reported; those slots never
            // left the kernel.
            self.rtail = head;
        }
        self.rhead = head;
        self.rcur = cur;
        self.set_window(ring);
        Ok(())
    }

    /// The application's window becomes `[rhead, rtail)`.
    fn set_window(&mut self, ring: &mut NetmapRing) {
        let len = self.dist(self.rhead, self.rtail);
        let _ = self.slots.set_window(&mut ring.slot.arr, self.rhead, len);
    }

    /// Phase 3 of a sync (netmap's `nm_sync_finalize`): hand the slots
    /// `[rtail, nr_hwtail)` to the application (its window grows to
    /// `[rhead, nr_hwtail)`) and report the new tail.
    pub fn finish_sync(&mut self, ring: &mut NetmapRing) {
        if !self.kring_sane()
            || !ring.fits(self.nkr_num_slots)
            || !self.slots.is_bound_to(&ring.slot.arr)
        {
            return;
        }
        self.rtail = self.nr_hwtail;
        self.set_window(ring);
        ring.tail = self.rtail;
    }

    /// Re-initialises the ring after a protocol violation, as netmap's
    /// `netmap_ring_reinit`: every slot the application held returns to
    /// the kernel (validated as in a sync), then head = cur = hwcur and
    /// tail = hwtail, and the application is handed `[hwcur, hwtail)`.
    /// Counts one `ring_reinit`. No buffer moves.
    pub fn reinit(&mut self, ring: &mut NetmapRing) {
        if !ring.fits(self.nkr_num_slots) || !self.slots.is_bound_to(&ring.slot.arr) {
            return;
        }
        self.stats.ring_reinit += 1;
        let n = self.nkr_num_slots;
        self.stats.bad_len += ring.slot.arr.sanitize(0, n, NS_APP_FLAGS);
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
        self.set_window(ring);
        self.finish_sync(ring);
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rtail;
    }

    /// Binds an application ring to this kring: the application receives
    /// `[rhead, rtail)`. A ring made for this kring while another is bound
    /// gets nothing (empty window) and its syncs are refused.
    pub fn attach_ring(&mut self, ring: &mut NetmapRing) {
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rhead;
        if !ring.fits(self.nkr_num_slots) || self.slots.has_bound() || !self.kring_sane() {
            return;
        }
        let len = self.dist(self.rhead, self.rtail);
        if self.slots.set_window(&mut ring.slot.arr, self.rhead, len) {
            self.bound = true;
            ring.tail = self.rtail;
        }
    }

    /// Unbinds an application ring: the kring sees all its slots again.
    /// Lengths and flags the application left are kept, checked as in a
    /// sync (a persistent port can be reopened).
    pub fn detach_ring(&mut self, ring: &mut NetmapRing) {
        self.detach_view(&mut ring.slot.arr);
    }

    /// [`detach_ring`](Self::detach_ring) on the ring's slot view; nothing
    /// happens if the view is not the one bound here.
    pub(crate) fn detach_view(&mut self, view: &mut crate::mem::SlotArray) {
        if !self.slots.is_bound_to(view) {
            return;
        }
        self.stats.bad_len += view.sanitize(0, self.nkr_num_slots, NS_APP_FLAGS);
        if self.slots.unbind(view) {
            self.bound = false;
        }
    }
}

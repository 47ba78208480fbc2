//! Krings: the kernel side of a ring, and the txsync/rxsync protocol.
//!
//! Positions (all in `0..n`, `n = nkr_num_slots`, arithmetic modulo `n`):
//!
//! ```text
//!  tx:  nr_hwcur <= rhead <= rcur <= rtail <= nr_hwtail        (cyclically)
//!       [hwcur, rhead)   handed to the port, not yet consumed
//!       [rhead, rtail)   owned by the application
//!       [hwtail, hwcur)  consumed by the port, not yet reclaimed (>= 1 slot)
//!  rx:  nr_hwcur == rhead <= rcur <= rtail <= nr_hwtail <= nkr_hwlease
//!       [rhead, rtail)   received frames the application was told about
//!       [rtail, hwtail)  received, reported at the next rxsync
//!       [hwtail, hwlease) reserved by writers (VALE leases), being filled
//!       [hwlease, hwcur-1) free for writers; slot hwcur-1 stays empty
//! ```
//!
//! The application owns exactly `[rhead, rtail)`: those buffers sit in its
//! [`NetmapRing`]'s `held` array; every other buffer of the ring sits in
//! [`KringState::slots`]. A sync moves buffers between the two as the
//! boundaries move, so the application and the port never share a buffer.
//!
//! A sync runs in three phases, each under the kring lock, so that writers
//! into the ring (switch, pipe peer, monitors) wait only for short sections:
//! [`KringState::begin_sync`] (the prologue: validate head/cur, take back the
//! slots the application returned), the port's own sync (netmap's
//! `nm_sync`), and [`KringState::finish_sync`] (hand new slots to the
//! application, as `nm_sync_finalize`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, MutexGuard};

use crate::error::{PoolError, SyncError};
use crate::mem::{BufferPool, SlotArray};
use crate::ring::NetmapRing;
use crate::slot::{Slot, NS_APP_FLAGS};

/// Direction of a ring, as seen by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The application sends on it.
    Tx,
    /// The application receives on it.
    Rx,
}

/// Marks a lease that is not complete yet (netmap's `NR_NOSLOT`).
const NR_NOSLOT: u32 = u32::MAX;

/// `(i + k) mod n` for `i < n`, `k <= n`.
#[inline]
pub(crate) fn ring_add(i: u32, k: u32, n: u32) -> u32 {
    let s = i + k;
    if s >= n {
        s - n
    } else {
        s
    }
}

/// Number of steps from `a` to `b` going forward (`(b - a) mod n`).
#[inline]
pub(crate) fn ring_dist(a: u32, b: u32, n: u32) -> u32 {
    if b >= a {
        b - a
    } else {
        b + n - a
    }
}

/// Per-kring counters. Updated under the kring lock, so plain integers; a
/// port's [`PortCounters`](crate::port::PortCounters) sums its krings.
///
/// On a tx kring `packets`/`bytes` count frames the port accepted from the
/// application; on an rx kring, frames delivered into the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KringStats {
    pub packets: u64,
    pub bytes: u64,
    /// Frames shorter than an Ethernet header.
    pub drop_short: u64,
    /// Frames longer than the port's maximum frame size.
    pub drop_oversize: u64,
    /// Fragment chains longer than [`MAX_FRAGS`](crate::slot::MAX_FRAGS).
    pub drop_frag_chain: u64,
    /// Frames the lookup sent nowhere (or back to their source port).
    pub drop_no_dest: u64,
    /// Frames that found this (rx) ring full.
    pub drop_ring_full: u64,
    /// Frames a monitor ring had no room for.
    pub drop_monitor: u64,
    /// Frames dropped because the port was detached mid-sync.
    pub drop_detached: u64,
    /// Ring re-initialisations after a bad head/cur.
    pub ring_reinit: u64,
    /// Returned slots whose `buf_idx` was not the buffer the slot held.
    pub bad_buf_idx: u64,
    /// Returned slots whose `len` exceeded the buffer size.
    pub bad_len: u64,
}

impl KringStats {
    /// Adds `o` into `self`.
    pub fn accumulate(&mut self, o: &KringStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.drop_short += o.drop_short;
        self.drop_oversize += o.drop_oversize;
        self.drop_frag_chain += o.drop_frag_chain;
        self.drop_no_dest += o.drop_no_dest;
        self.drop_ring_full += o.drop_ring_full;
        self.drop_monitor += o.drop_monitor;
        self.drop_detached += o.drop_detached;
        self.ring_reinit += o.ring_reinit;
        self.bad_buf_idx += o.bad_buf_idx;
        self.bad_len += o.bad_len;
    }

    /// All drops, whatever the reason.
    pub fn drops(&self) -> u64 {
        self.drop_short
            + self.drop_oversize
            + self.drop_frag_chain
            + self.drop_no_dest
            + self.drop_ring_full
            + self.drop_monitor
            + self.drop_detached
    }
}

/// A reservation of rx slots `[start, start + n)`, made by
/// [`KringState::lease`]. Its buffers were moved out to the writer, who fills
/// them without the kring lock and hands them back with
/// [`KringState::complete_lease`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a lease must be completed, or its slots stay empty"]
pub struct Lease {
    pub start: u32,
    pub n: u32,
}

/// The lock-protected part of a kring.
pub struct KringState {
    /// Next slot the port will consume (tx) or the application will release (rx).
    pub nr_hwcur: u32,
    /// Tx: first slot not yet reclaimed. Rx: first slot not yet received.
    pub nr_hwtail: u32,
    /// `head` as validated at the last sync.
    pub rhead: u32,
    /// `cur` as validated at the last sync.
    pub rcur: u32,
    /// `tail` as reported to the application at the last sync.
    pub rtail: u32,
    /// Ring size.
    pub nkr_num_slots: u32,
    /// Rx: end of the slots reserved by writers (`>= nr_hwtail`).
    pub nkr_hwlease: u32,
    /// `leases[start]` is the end of the completed lease starting at `start`,
    /// or `NR_NOSLOT` while it is pending.
    leases: Box<[u32]>,
    /// Buffers of every slot the application does not own.
    pub slots: SlotArray,
    pub stats: KringStats,
}

impl KringState {
    fn new(pool: &Arc<BufferPool>, dir: Dir, n: u32) -> Result<Self, PoolError> {
        let slots = SlotArray::new_filled(pool, n as usize)?;
        let (hwtail, rtail) = match dir {
            // An idle tx ring offers all but one slot to the application.
            Dir::Tx => (n - 1, n - 1),
            Dir::Rx => (0, 0),
        };
        Ok(KringState {
            nr_hwcur: 0,
            nr_hwtail: hwtail,
            rhead: 0,
            rcur: 0,
            rtail,
            nkr_num_slots: n,
            nkr_hwlease: hwtail,
            leases: vec![NR_NOSLOT; n as usize].into_boxed_slice(),
            slots,
            stats: KringStats::default(),
        })
    }

    #[inline]
    fn add(&self, i: u32, k: u32) -> u32 {
        ring_add(i, k, self.nkr_num_slots)
    }

    #[inline]
    fn dist(&self, a: u32, b: u32) -> u32 {
        ring_dist(a, b, self.nkr_num_slots)
    }

    /// Whether `a <= x <= b` going forward from `a`.
    #[inline]
    fn within(&self, a: u32, x: u32, b: u32) -> bool {
        self.dist(a, x) <= self.dist(a, b)
    }

    /// The kernel's sanity check (netmap's first `NM_FAIL_ON`): the kring's
    /// own indices are in range. Only a buggy port can break it; the sync
    /// then refuses to run rather than index out of bounds.
    fn kring_sane(&self) -> bool {
        let n = self.nkr_num_slots;
        self.nr_hwcur < n && self.nr_hwtail < n && self.rhead < n && self.rtail < n && self.nkr_hwlease < n
    }

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

    /// Phase 1 of a sync: validate `ring.head`/`ring.cur` (each read once),
    /// take back the slots the application returned, and record
    /// `rhead`/`rcur`. On a protocol violation the ring is re-initialised
    /// ([`reinit`](Self::reinit)) and the error returned; the caller must
    /// then skip the port's sync, as netmap does.
    pub fn begin_sync(&mut self, ring: &mut NetmapRing, dir: Dir) -> Result<(), SyncError> {
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
        if !self.kring_sane() {
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
        let _ = ring.held.move_slots(start, &mut self.slots, start, count, |i, held| {
            let v = view[i as usize];
            bad_idx += (v.buf_idx != held.buf_idx) as u64;
            let len_ok = v.len as usize <= bs;
            bad_len += !len_ok as u64;
            Slot { buf_idx: held.buf_idx, len: if len_ok { v.len } else { 0 }, flags: v.flags & NS_APP_FLAGS }
        });
        self.stats.bad_buf_idx += bad_idx;
        self.stats.bad_len += bad_len;
    }

    /// Moves `count` slots from `start` on from the kernel to the
    /// application and refreshes the application's view of them.
    fn give_range(&mut self, ring: &mut NetmapRing, start: u32, count: u32) {
        let view = &mut ring.slot;
        let _ = self.slots.move_slots(start, &mut ring.held, start, count, |i, s| {
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
            *v = if ring.held.is_held(iu) { ring.held.get(iu) } else { self.slots.get(iu) };
        }
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rtail;
    }

    /// Binds an application ring to this kring: the application receives
    /// `[rhead, rtail)` and its view is initialised.
    pub fn attach_ring(&mut self, ring: &mut NetmapRing) {
        let count = self.dist(self.rhead, self.rtail);
        self.give_range(ring, self.rhead, count);
        for (iu, v) in ring.slot.iter_mut().enumerate() {
            *v = if ring.held.is_held(iu) { ring.held.get(iu) } else { self.slots.get(iu) };
        }
        ring.head = self.rhead;
        ring.cur = self.rcur;
        ring.tail = self.rtail;
    }

    /// Unbinds an application ring: every buffer it holds comes back, so
    /// the kring owns all its buffers again. Lengths and flags of the
    /// application's view are kept (a persistent port can be reopened).
    pub fn detach_ring(&mut self, ring: &mut NetmapRing) {
        self.take_back_range(ring, 0, self.nkr_num_slots);
    }

    /// Rx: slots writers may still reserve (`[hwlease, hwcur - 1)`).
    #[inline]
    pub fn rx_free(&self) -> u32 {
        let last = if self.nr_hwcur == 0 { self.nkr_num_slots - 1 } else { self.nr_hwcur - 1 };
        self.dist(self.nkr_hwlease, last)
    }

    /// Rx: slots a writer holding the lock may fill in place, starting at
    /// `nr_hwtail`. Zero while a lease is pending, so that in-place writes
    /// can never overtake a lease and publication stays in order.
    #[inline]
    pub fn rx_direct_space(&self) -> u32 {
        if self.nkr_hwlease != self.nr_hwtail {
            0
        } else {
            self.rx_free()
        }
    }

    /// Rx: publishes `n` slots filled in place at `nr_hwtail` (at most
    /// [`rx_direct_space`](Self::rx_direct_space)).
    #[inline]
    pub fn rx_publish_direct(&mut self, n: u32, packets: u64, bytes: u64) {
        let n = n.min(self.rx_direct_space());
        self.nr_hwtail = self.add(self.nr_hwtail, n);
        self.nkr_hwlease = self.nr_hwtail;
        self.stats.packets += packets;
        self.stats.bytes += bytes;
    }

    /// Tx: slots handed to the port and not yet consumed (`[hwcur, rhead)`).
    #[inline]
    pub fn tx_pending(&self) -> u32 {
        self.dist(self.nr_hwcur, self.rhead)
    }

    /// Rx: reserves `n` free slots (at most [`rx_free`](Self::rx_free)) for a
    /// writer and moves their buffers into `into[0..n]`, which must be empty
    /// there. The writer fills them without this lock, then calls
    /// [`complete_lease`](Self::complete_lease). Concurrent leases complete
    /// in any order; frames are published in lease order.
    pub fn lease(&mut self, n: u32, into: &mut SlotArray) -> Lease {
        let n = n.min(self.rx_free()).min(into.len() as u32);
        let start = self.nkr_hwlease;
        let _ = self.slots.move_slots(start, into, 0, n, |_, s| s);
        if n > 0 {
            self.leases[start as usize] = NR_NOSLOT;
        }
        self.nkr_hwlease = self.add(start, n);
        Lease { start, n }
    }

    /// Returns a lease's buffers from `from[0..n]` (with the lengths and
    /// flags the writer set) and publishes every completed lease that is no
    /// longer behind a pending one by moving `nr_hwtail`. `packets` and
    /// `bytes` are added to the ring's counters.
    pub fn complete_lease(&mut self, lease: Lease, from: &mut SlotArray, packets: u64, bytes: u64) {
        if lease.n == 0 {
            return;
        }
        let _ = from.move_slots(0, &mut self.slots, lease.start, lease.n, |_, s| s);
        let i = self.add(lease.start, lease.n);
        self.stats.packets += packets;
        self.stats.bytes += bytes;
        self.leases[lease.start as usize] = i;
        while self.nr_hwtail != self.nkr_hwlease {
            let end = self.leases[self.nr_hwtail as usize];
            if end == NR_NOSLOT {
                break;
            }
            self.leases[self.nr_hwtail as usize] = NR_NOSLOT;
            self.nr_hwtail = end;
        }
    }

    /// Slot `i` of the kernel's array (for ports and tests).
    pub fn slot(&self, i: u32) -> Option<Slot> {
        (i < self.nkr_num_slots).then(|| self.slots.get(i as usize))
    }
}

impl core::fmt::Debug for KringState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KringState")
            .field("nr_hwcur", &self.nr_hwcur)
            .field("nr_hwtail", &self.nr_hwtail)
            .field("rhead", &self.rhead)
            .field("rcur", &self.rcur)
            .field("rtail", &self.rtail)
            .field("nkr_hwlease", &self.nkr_hwlease)
            .field("nkr_num_slots", &self.nkr_num_slots)
            .finish_non_exhaustive()
    }
}

/// The kernel side of one ring: geometry, the locked state, and a
/// notification counter.
pub struct Kring {
    dir: Dir,
    id: u16,
    num_slots: u32,
    state: Mutex<KringState>,
    notifications: AtomicU64,
    pub(crate) monitors: crate::monitor::MonitorHooks,
}

impl Kring {
    /// A kring of `num_slots` slots (2..=65536), every slot holding a fresh
    /// buffer from `pool`.
    pub fn new(pool: &Arc<BufferPool>, dir: Dir, id: u16, num_slots: u32) -> Result<Self, PoolError> {
        if !(2..=65536).contains(&num_slots) {
            return Err(PoolError::SlotOutOfRange(num_slots as usize));
        }
        Ok(Kring {
            dir,
            id,
            num_slots,
            state: Mutex::new(KringState::new(pool, dir, num_slots)?),
            notifications: AtomicU64::new(0),
            monitors: crate::monitor::MonitorHooks::new(),
        })
    }

    /// Creates `count` krings numbered `0..count`.
    pub fn new_set(pool: &Arc<BufferPool>, dir: Dir, count: u16, num_slots: u32) -> Result<Box<[Kring]>, PoolError> {
        (0..count).map(|id| Kring::new(pool, dir, id, num_slots)).collect()
    }

    #[inline]
    pub fn dir(&self) -> Dir {
        self.dir
    }

    #[inline]
    pub fn id(&self) -> u16 {
        self.id
    }

    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.num_slots
    }

    /// Takes the kring lock. Hold it briefly: writers into an rx ring spin
    /// on it. Lock order: a tx kring before an rx kring; a port's kring
    /// before its monitors' krings.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, KringState> {
        self.state.lock()
    }

    /// Records a wake-up for whoever waits on this ring. Ports call it from
    /// their `notify`; the waiter compares [`notifications`](Self::notifications).
    #[inline]
    pub fn wake(&self) {
        self.notifications.fetch_add(1, Ordering::Release);
    }

    /// Number of wake-ups so far.
    #[inline]
    pub fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Acquire)
    }

    /// Buffer indices this kring owns, for [`BufferPool::audit`]. Takes the
    /// lock; buffers held by an application ring are not included.
    pub fn owned_bufs(&self) -> alloc::vec::Vec<u32> {
        self.lock().slots.bufs().collect()
    }
}

impl core::fmt::Debug for Kring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kring").field("dir", &self.dir).field("id", &self.id).finish_non_exhaustive()
    }
}

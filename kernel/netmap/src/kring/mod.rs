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
//! The application owns exactly `[rhead, rtail)`. The kring and the
//! application's [`NetmapRing`](crate::NetmapRing) share one slot array:
//! [`KringState::slots`] is a view of it that excludes `[rhead, rtail)`,
//! the ring's `slot` a view of that window only (see
//! [`SlotArray`](crate::SlotArray)). A sync moves the window boundary, not
//! buffers, so the application and the port never share a buffer and no
//! buffer is copied or moved between them.
//!
//! A sync runs in three phases, each under the kring lock, so that writers
//! into the ring (switch, pipe peer, monitors) wait only for short sections:
//! [`KringState::begin_sync`] (the prologue: validate head/cur, take back the
//! slots the application returned), the port's own sync (netmap's
//! `nm_sync`), and [`KringState::finish_sync`] (hand new slots to the
//! application, as `nm_sync_finalize`).

mod lease;
mod ops;
mod stats;
mod sync;

pub use ops::Moved;
pub use stats::KringStats;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, MutexGuard};

use crate::error::PoolError;
use crate::mem::{BufferPool, SlotArray};
use crate::slot::Slot;

/// Direction of a ring, as seen by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The application sends on it.
    Tx,
    /// The application receives on it.
    Rx,
}

/// Marks a lease that is not complete yet (netmap's `NR_NOSLOT`).
pub(super) const NR_NOSLOT: u32 = u32::MAX;

/// `(i + k) mod n` for `i < n`, `k <= n`: the crate's one ring-modulo
/// helper (with [`ring_dist`]); ports and tests use it too.
///
/// Wrapping arithmetic: with indices a buggy port corrupted the result is
/// wrong (and the ring gets re-initialised) but nothing panics.
#[inline]
pub fn ring_add(i: u32, k: u32, n: u32) -> u32 {
    let s = i.wrapping_add(k);
    if s >= n {
        s.wrapping_sub(n)
    } else {
        s
    }
}

/// Number of steps from `a` to `b` going forward (`(b - a) mod n`), for
/// `a, b < n`.
#[inline]
pub fn ring_dist(a: u32, b: u32, n: u32) -> u32 {
    if b >= a {
        b - a
    } else {
        b.wrapping_add(n).wrapping_sub(a)
    }
}

/// A reservation of rx slots `[start, start + n)`, made by
/// [`KringState::lease`]. Its buffers were moved out to the writer, who fills
/// them without the kring lock and hands them back with
/// [`KringState::complete_lease`]. Opaque, so that a lease cannot be forged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a lease must be completed, or its slots stay empty"]
pub struct Lease {
    pub(crate) start: u32,
    pub(crate) n: u32,
}

impl Lease {
    /// First slot reserved.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Number of slots reserved.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Whether nothing was reserved.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// The lock-protected part of a kring.
///
/// The indices are private to the crate: other crates read them through
/// [`hwcur`](Self::hwcur), [`hwtail`](Self::hwtail), [`rhead`](Self::rhead),
/// ... and move them only through the kring's operations (see the `ops`
/// section: [`arrived`](Self::arrived), [`release`](Self::release),
/// [`queued`](Self::queued), [`submit`](Self::submit),
/// [`move_to_tx`](Self::move_to_tx) for code playing the application;
/// [`tx_consume`](Self::tx_consume), [`tx_reclaim`](Self::tx_reclaim),
/// [`rx_take_released`](Self::rx_take_released),
/// [`rx_publish_direct`](Self::rx_publish_direct) for a port's own sync),
/// each of which keeps the ring's invariants whatever it is asked.
pub struct KringState {
    /// Next slot the port will consume (tx) or the application will release (rx).
    pub(crate) nr_hwcur: u32,
    /// Tx: first slot not yet reclaimed. Rx: first slot not yet received.
    pub(crate) nr_hwtail: u32,
    /// `head` as validated at the last sync.
    pub(crate) rhead: u32,
    /// `cur` as validated at the last sync.
    pub(crate) rcur: u32,
    /// `tail` as reported to the application at the last sync.
    pub(crate) rtail: u32,
    /// Ring size.
    pub(crate) nkr_num_slots: u32,
    /// Rx: end of the slots reserved by writers (`>= nr_hwtail`).
    pub(crate) nkr_hwlease: u32,
    /// `leases[start]` is the end of the completed lease starting at `start`,
    /// or `NR_NOSLOT` while it is pending.
    pub(super) leases: Box<[u32]>,
    /// The ring's slots, except the application's window `[rhead, rtail)`
    /// while a ring is bound (those read as empty here).
    pub slots: SlotArray,
    pub stats: KringStats,
    /// Copy monitors: the last range they saw ended inside a fragment chain
    /// longer than `MAX_FRAGS`, whose rest they drop too.
    pub(crate) mon_discarding: bool,
    /// Rx: copy monitors saw every frame before this slot (netmap's
    /// `mon_tail`): they copy at arrival, not when the application is told.
    pub(crate) mon_tail: u32,
    /// Copy monitors: the monitor ring's buffers leased for one copy (see
    /// `monitor::copy_into`), between the reservation and the publication.
    /// Empty outside a copy. Sized to this ring when the first copy monitor
    /// attaches (0 slots before), so a sync never allocates; protected by
    /// this kring's lock, which the copying sync holds throughout.
    pub(crate) mon_hold: SlotArray,
    /// A [`NetmapRing`](crate::NetmapRing) is bound (attach_ring ..
    /// detach_ring): the application-side operations stay off.
    pub(crate) bound: bool,
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
            mon_discarding: false,
            mon_tail: hwtail,
            mon_hold: SlotArray::new_empty(pool, 0),
            bound: false,
        })
    }

    /// `(i + k) mod n` on this ring ([`ring_add`]).
    #[inline]
    pub fn add(&self, i: u32, k: u32) -> u32 {
        ring_add(i, k, self.nkr_num_slots)
    }

    /// The slot after `i` (netmap's `nm_next`).
    #[inline]
    pub fn next(&self, i: u32) -> u32 {
        ring_add(i, 1, self.nkr_num_slots)
    }

    /// Steps from `a` to `b` on this ring ([`ring_dist`]).
    #[inline]
    pub fn dist(&self, a: u32, b: u32) -> u32 {
        ring_dist(a, b, self.nkr_num_slots)
    }

    /// Whether `a <= x <= b` going forward from `a`.
    #[inline]
    pub(super) fn within(&self, a: u32, x: u32, b: u32) -> bool {
        self.dist(a, x) <= self.dist(a, b)
    }

    /// The kernel's sanity check (netmap's first `NM_FAIL_ON`): the kring's
    /// own indices are in range. Only a buggy port can break it; the sync
    /// then refuses to run rather than index out of bounds.
    pub(super) fn kring_sane(&self) -> bool {
        let n = self.nkr_num_slots;
        self.nr_hwcur < n
            && self.nr_hwtail < n
            && self.rhead < n
            && self.rtail < n
            && self.nkr_hwlease < n
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

/// Monitors to notify after [`Kring::monitor_copy`] (opaque).
#[derive(Default)]
pub struct MonitorWake(crate::monitor::Woken);

impl core::fmt::Debug for MonitorWake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MonitorWake")
    }
}

/// The kernel side of one ring: geometry, the locked state, and a
/// notification counter. Aligned to [`CACHE_PAD`](crate::padded::CACHE_PAD)
/// bytes: a port's krings sit side by side in one array and are driven by
/// different CPUs (see [`crate::padded`]).
#[repr(align(128))]
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
    pub fn new(
        pool: &Arc<BufferPool>,
        dir: Dir,
        id: u16,
        num_slots: u32,
    ) -> Result<Self, PoolError> {
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

    /// For code that drives this kring without a [`Handle`](crate::Handle)
    /// (a bridge playing the application on a NIC's krings): slots
    /// `[from, to)` of `k`, this kring's locked state, were just handed to
    /// the port (tx kring) or just received (rx kring); copy them to the
    /// kring's copy monitors (`/t`, `/r`, `/rt`). Wake the monitors with
    /// [`wake_monitors`](Self::wake_monitors) once every kring lock is
    /// released. Zero-copy monitors (`/z`) see only handle-driven rings.
    pub fn monitor_copy(&self, k: &mut KringState, from: u32, to: u32) -> MonitorWake {
        let mut w = crate::monitor::Woken::default();
        let hooks = self.monitors.read();
        match self.dir {
            Dir::Tx => hooks.tx_submitted(k, from, to, self.id as usize, &mut w),
            Dir::Rx => {
                hooks.rx_arrived(k, from, to, self.id as usize, &mut w);
                k.mon_tail = to;
            }
        }
        MonitorWake(w)
    }

    /// Notifies the monitors [`monitor_copy`](Self::monitor_copy) fed.
    pub fn wake_monitors(&self, w: &MonitorWake) {
        self.monitors.read().wake(&w.0);
    }

    /// Creates `count` krings numbered `0..count`.
    pub fn new_set(
        pool: &Arc<BufferPool>,
        dir: Dir,
        count: u16,
        num_slots: u32,
    ) -> Result<Box<[Kring]>, PoolError> {
        (0..count)
            .map(|id| Kring::new(pool, dir, id, num_slots))
            .collect()
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
    /// on it. Lock order (the crate docs list it whole): a tx kring before
    /// an rx kring; a port's kring before its monitors' krings; a sending
    /// ring's scratch mutex before its kring; never held across a `notify`.
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
        let st = self.lock();
        st.slots.bufs().chain(st.mon_hold.bufs()).collect()
    }
}

impl core::fmt::Debug for Kring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kring")
            .field("dir", &self.dir)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

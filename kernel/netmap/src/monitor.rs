//! Monitors: ports that see a copy of another port's traffic
//! (netmap's `PORT/t`, `PORT/r`, `PORT/rt` and `PORT/z`).
//!
//! A monitor is a port with rx rings only; ring `r` of the monitored port
//! feeds monitor ring `r mod m`. Monitors hook the monitored port's krings
//! and run inside its syncs, so they see exactly what its application does:
//!
//! | mode | sees | when |
//! | --- | --- | --- |
//! | `/t` copy | every frame the application sends | when the txsync takes it (`[old head, head)`) |
//! | `/r` copy | every frame that arrives for the application | at the first rxsync that sees it arrive (`[mon_tail, hwtail)`), before the application is told, so also frames it releases unseen |
//! | `/z` zero copy, tx | every frame the port has finished sending | when the txsync reclaims its slot (up to the new `nr_hwtail` included, so every frame of a batch the port finished at once): the buffer moves to the monitor and the sender gets the monitor's free buffer (`NS_BUF_CHANGED`) |
//! | `/z` zero copy, rx | every frame the application released | when the rxsync takes the slot back, before the port can reuse it |
//!
//! A monitor never slows or blocks the monitored port: when its ring is full
//! the frame is not copied and `drop_monitor` of the monitor ring counts it.
//! Several copy monitors may watch a port (up to [`MAX_COPY_MONITORS`]), but
//! only one zero-copy monitor, since a buffer can move only once. Zero-copy
//! monitoring of pipes is refused: a pipe's reclaimed tx slot holds the
//! peer's old buffer, not the frame.
//!
//! Locking: monitored kring, then monitor kring (never the reverse: monitors
//! of monitors are refused); see the crate's lock order. A copy monitor
//! holds its ring's lock only to reserve slots and to publish them, as the
//! switch does (lease, copy without the lock, publish), so monitored rings
//! on several CPUs copying into one monitor ring overlap their copies; the
//! leased buffers wait in the monitored kring's preallocated hold array.
//! Wake-ups happen after both are released.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{RwLock, RwLockReadGuard};

use crate::error::{OpenError, SyncError};
use crate::kring::{ring_add, Dir, Kring, KringState};
use crate::mem::{BufferPool, SlotArray};
use crate::port::{Port, PortKind};
use crate::slot::{MAX_FRAGS, NS_BUF_CHANGED, NS_MOREFRAG};

/// Copy monitors one port accepts.
pub const MAX_COPY_MONITORS: usize = 8;

/// Which traffic a monitor sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorMode {
    pub tx: bool,
    pub rx: bool,
    /// Zero copy (`/z`): both directions, by buffer swap.
    pub zcopy: bool,
}

/// A monitor port.
pub struct MonitorPort {
    name: String,
    mode: MonitorMode,
    rx: Box<[Kring]>,
    max_frame: usize,
}

impl MonitorPort {
    /// A monitor for `parent`, with as many rx rings as the parent has rings
    /// in either direction, each as large as the parent's largest ring.
    pub fn new(
        pool: &Arc<BufferPool>,
        name: String,
        mode: MonitorMode,
        parent: &dyn Port,
    ) -> Result<Self, OpenError> {
        let count = parent
            .krings(Dir::Tx)
            .len()
            .max(parent.krings(Dir::Rx).len())
            .max(1);
        let slots = parent
            .krings(Dir::Tx)
            .iter()
            .chain(parent.krings(Dir::Rx))
            .map(|k| k.num_slots())
            .max()
            .unwrap_or(2);
        let rx = Kring::new_set(pool, Dir::Rx, count as u16, slots)?;
        Ok(MonitorPort {
            name,
            mode,
            rx,
            max_frame: parent.max_frame(),
        })
    }

    /// The monitor's mode.
    pub fn mode(&self) -> MonitorMode {
        self.mode
    }
}

impl core::fmt::Debug for MonitorPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MonitorPort")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Port for MonitorPort {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> PortKind {
        PortKind::Monitor
    }
    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &[],
            Dir::Rx => &self.rx,
        }
    }
    fn max_frame(&self) -> usize {
        self.max_frame
    }
    fn txsync(&self, ring: usize) -> Result<(), SyncError> {
        Err(SyncError::NoSuchRing(ring))
    }
    fn rxsync(&self, ring: usize) -> Result<(), SyncError> {
        let k = self.rx.get(ring).ok_or(SyncError::NoSuchRing(ring))?;
        let mut k = k.lock();
        k.nr_hwcur = k.rhead;
        Ok(())
    }
}

/// The monitors hooked on one kring.
#[derive(Default)]
pub(crate) struct HookList {
    copies: Vec<Arc<MonitorPort>>,
    zcopy: Option<Arc<MonitorPort>>,
}

/// Monitors that received frames during one sync: bit `i` is `copies[i]`,
/// bit 63 the zero-copy monitor.
#[derive(Default)]
pub(crate) struct Woken {
    mask: u64,
    ring: usize,
}

const ZCOPY_BIT: u64 = 1 << 63;

/// Lock-protected hook list of a kring.
pub(crate) struct MonitorHooks {
    list: RwLock<HookList>,
}

impl MonitorHooks {
    pub(crate) fn new() -> Self {
        MonitorHooks {
            list: RwLock::new(HookList::default()),
        }
    }

    /// Held across a sync, so that detaching a monitor waits for syncs in
    /// progress rather than racing them.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, HookList> {
        self.list.read()
    }
}

impl HookList {
    /// `/t`: copy the slots the application just handed to the port.
    pub(crate) fn tx_submitted(
        &self,
        k: &mut KringState,
        from: u32,
        to: u32,
        ring: usize,
        w: &mut Woken,
    ) {
        w.ring = ring;
        let discarding = k.mon_discarding;
        for (b, m) in self.copies.iter().enumerate() {
            if m.mode.tx {
                let (any, rest) = copy_into(m, ring, k, from, to, discarding);
                k.mon_discarding = rest;
                if any {
                    w.mask |= 1 << b;
                }
            }
        }
    }

    /// `/z` on tx: take the buffers of slots the port is done with.
    pub(crate) fn tx_reclaimed(
        &self,
        k: &mut KringState,
        from: u32,
        to: u32,
        ring: usize,
        w: &mut Woken,
    ) {
        w.ring = ring;
        if let Some(m) = &self.zcopy {
            if swap_into(m, ring, k, from, to) {
                w.mask |= ZCOPY_BIT;
            }
        }
    }

    /// `/z` on rx: take the buffers the application just released.
    pub(crate) fn rx_released(
        &self,
        k: &mut KringState,
        from: u32,
        to: u32,
        ring: usize,
        w: &mut Woken,
    ) {
        self.tx_reclaimed(k, from, to, ring, w);
    }

    /// `/r`: copy the frames that arrived since the last look.
    pub(crate) fn rx_arrived(
        &self,
        k: &mut KringState,
        from: u32,
        to: u32,
        ring: usize,
        w: &mut Woken,
    ) {
        w.ring = ring;
        let discarding = k.mon_discarding;
        for (b, m) in self.copies.iter().enumerate() {
            if m.mode.rx {
                let (any, rest) = copy_into(m, ring, k, from, to, discarding);
                k.mon_discarding = rest;
                if any {
                    w.mask |= 1 << b;
                }
            }
        }
    }

    /// Notifies the monitors that received frames (no kring lock held).
    pub(crate) fn wake(&self, w: &Woken) {
        for (b, m) in self.copies.iter().enumerate() {
            if w.mask & (1 << b) != 0 {
                m.notify(Dir::Rx, w.ring % m.rx.len());
            }
        }
        if w.mask & ZCOPY_BIT != 0 {
            if let Some(m) = &self.zcopy {
                m.notify(Dir::Rx, w.ring % m.rx.len());
            }
        }
    }
}

/// Slots of the chain starting at `i` that lie in `[i, to)`, and whether
/// the chain ends there (else it continues past `to`, in a later sync).
fn chain_len(slots: &SlotArray, n: u32, i: u32, to: u32) -> (u32, bool) {
    let mut len = 1;
    let mut j = i;
    while slots.get(j as usize).flags & NS_MOREFRAG != 0 {
        j = ring_add(j, 1, n);
        if j == to {
            return (len, false);
        }
        len += 1;
    }
    (len, true)
}

/// How a copy monitor takes the chains of `[from, to)`.
#[derive(Clone, Copy, Default)]
struct Walk {
    /// Slots of the chains kept.
    kept: u32,
    /// Chains dropped: longer than [`MAX_FRAGS`], or no room left.
    dropped: u64,
    /// The range ends inside an over-long chain.
    discarding: bool,
}

/// Walks the chains of `[from, to)` (`n`-slot ring) with `avail` free
/// monitor slots, in order: the rest of an over-long chain (`discarding`)
/// is skipped, an over-long chain is dropped, a chain that does not fit
/// what is left is dropped (a later shorter one may fit), and `keep(first,
/// frags)` sees every other one. Depends on the slots' flags and `avail`
/// only, so two walks over the same locked source agree.
fn walk(
    slots: &SlotArray,
    n: u32,
    from: u32,
    to: u32,
    mut discarding: bool,
    mut avail: u32,
    mut keep: impl FnMut(u32, u32),
) -> Walk {
    let mut w = Walk::default();
    let mut i = from;
    while i != to {
        if discarding {
            // The rest of a chain already dropped as too long.
            discarding = slots.get(i as usize).flags & NS_MOREFRAG != 0;
            i = ring_add(i, 1, n);
            continue;
        }
        let (frags, complete) = chain_len(slots, n, i, to);
        if frags as usize > MAX_FRAGS {
            w.dropped += 1;
            discarding = !complete;
        } else if frags > avail {
            w.dropped += 1;
        } else {
            keep(i, frags);
            avail -= frags;
            w.kept += frags;
        }
        i = ring_add(i, frags, n);
    }
    w.discarding = discarding;
    w
}

/// Copies the frames in slots `[from, to)` of `src` into monitor ring
/// `ring`. Whole chains only; what does not fit is counted and skipped.
/// A chain longer than [`MAX_FRAGS`] is dropped whole (counted once), also
/// when it spans syncs: `discarding` says the range starts inside such a
/// chain, and the second result whether it ends inside one (the caller
/// keeps that in the source kring; it depends on the slots only, so every
/// copy monitor of the kring computes the same). The first result is
/// whether anything was delivered.
///
/// Runs with `src`'s lock held (its slots cannot change) and takes the
/// monitor ring's lock twice, for index moves only, as VALE's `deliver`:
/// *reserve* the slots of the chains that fit ([`KringState::lease`]; the
/// buffers move into `src.mon_hold`), *copy* into them without the lock,
/// *publish* ([`KringState::complete_lease`]). So source rings on several
/// CPUs copying into one monitor ring wait for each other only for those
/// index moves, and publish in reservation order. A pending lease makes the
/// ring's [`rx_direct_space`](KringState::rx_direct_space) 0, so an
/// in-place writer never overtakes it.
fn copy_into(
    m: &MonitorPort,
    ring: usize,
    src: &mut KringState,
    from: u32,
    to: u32,
    discarding: bool,
) -> (bool, bool) {
    let n = src.nkr_num_slots;
    if from >= n || to >= n {
        return (false, discarding); // a port corrupted the kring; the sync repairs it
    }
    let slots = &src.slots;
    let hold = &mut src.mon_hold;
    // Everything the range offers, without the monitor's lock.
    let all = walk(slots, n, from, to, discarding, u32::MAX, |_, _| {});
    if all.kept == 0 && all.dropped == 0 {
        return (false, all.discarding);
    }
    let mk = &m.rx[ring % m.rx.len()];

    // Reserve. Usually everything fits: a few index moves. On a nearly
    // full ring the chains are fitted one by one, as `walk` does.
    let (budget, lease) = {
        let mut dst = mk.lock();
        let mut avail = dst.rx_free().min(hold.len() as u32);
        if !Arc::ptr_eq(dst.slots.pool(), hold.pool()) {
            avail = 0; // the leased buffers could not move into `hold`
        }
        let (budget, fit) = if all.kept <= avail {
            (u32::MAX, all)
        } else {
            (
                avail,
                walk(slots, n, from, to, discarding, avail, |_, _| {}),
            )
        };
        let lease = dst.lease(fit.kept, hold);
        dst.stats.drop_monitor += fit.dropped;
        if lease.n != fit.kept {
            // Only a corrupted monitor ring refuses a lease that fits
            // (`lease` then reserves nothing): drop what was kept. Hand
            // back whatever was leased all the same, so no buffer strays.
            if lease.n > 0 {
                dst.complete_lease(lease, hold, 0, 0);
            }
            let mut frames = 0u64;
            walk(slots, n, from, to, discarding, budget, |_, _| frames += 1);
            dst.stats.drop_monitor += frames;
            return (false, all.discarding);
        }
        (budget, lease)
    };
    if lease.n == 0 {
        return (false, all.discarding);
    }

    // Copy, without the monitor's lock: the leased buffers are ours alone.
    let (mut packets, mut bytes) = (0u64, 0u64);
    {
        let mut c = slots.batch_copy(hold);
        let mut h = 0u32;
        walk(slots, n, from, to, discarding, budget, |first, frags| {
            let mut i = first;
            for _ in 0..frags {
                let s = slots.get(i as usize);
                // Cannot fail: `len <= buf_size` holds for kernel slots, the
                // pools match (checked) and the leased slot holds a buffer.
                // Keep the source's chaining, also for a chain cut by `to`:
                // its rest comes with the next sync.
                let _ = c.copy(i as usize, h as usize, s.len, s.flags & NS_MOREFRAG);
                packets += (s.flags & NS_MOREFRAG == 0) as u64;
                bytes += s.len as u64;
                h += 1;
                i = ring_add(i, 1, n);
            }
        });
    }

    // Publish.
    mk.lock().complete_lease(lease, hold, packets, bytes);
    (true, all.discarding)
}

/// Moves the buffers of `[from, to)` of `src` into monitor ring `ring`,
/// giving `src` the monitor's free buffers in exchange.
fn swap_into(m: &MonitorPort, ring: usize, src: &mut KringState, from: u32, to: u32) -> bool {
    let n = src.nkr_num_slots;
    if from >= n || to >= n {
        return false; // a port corrupted the kring; the sync repairs it
    }
    let mk = &m.rx[ring % m.rx.len()];
    let mut dst = mk.lock();
    let mut i = from;
    let mut any = false;
    while i != to {
        let s = src.slots.get(i as usize);
        if s.len == 0 && s.flags & NS_MOREFRAG == 0 {
            // No frame here: a tx ring's initial spare slot, or a slot this
            // monitor already emptied.
        } else if dst.rx_direct_space() == 0 || !src.slots.is_held(i as usize) {
            if s.flags & NS_MOREFRAG == 0 {
                dst.stats.drop_monitor += 1;
            }
        } else {
            let j = dst.nr_hwtail as usize;
            if src.slots.swap(i as usize, &mut dst.slots, j).is_ok() {
                src.slots.set_flags(i as usize, NS_BUF_CHANGED);
                let _ = src.slots.set_len(i as usize, 0);
                dst.slots
                    .set_flags(j, (s.flags & NS_MOREFRAG) | NS_BUF_CHANGED);
                dst.rx_publish_direct(1, (s.flags & NS_MOREFRAG == 0) as u64, s.len as u64);
                any = true;
            }
        }
        i = ring_add(i, 1, n);
    }
    any
}

/// Hooks `mon` on every kring of `parent` its mode asks for.
pub fn attach_monitor(parent: &dyn Port, mon: &Arc<MonitorPort>) -> Result<(), OpenError> {
    if parent.kind() == PortKind::Monitor {
        return Err(OpenError::Unsupported);
    }
    if mon.mode.zcopy && parent.kind() == PortKind::Pipe {
        return Err(OpenError::Unsupported);
    }
    let all = || parent.krings(Dir::Tx).iter().chain(parent.krings(Dir::Rx));
    // Check first, so a refused attach leaves no hook behind.
    for k in all() {
        let l = k.monitors.list.read();
        if mon.mode.zcopy && l.zcopy.is_some()
            || !mon.mode.zcopy && l.copies.len() >= MAX_COPY_MONITORS
        {
            return Err(OpenError::Busy);
        }
    }
    for k in all() {
        let wanted = mon.mode.zcopy
            || (k.dir() == Dir::Tx && mon.mode.tx)
            || (k.dir() == Dir::Rx && mon.mode.rx);
        if !wanted {
            continue;
        }
        if !mon.mode.zcopy {
            size_hold(k, mon);
        }
        let mut l = k.monitors.list.write();
        if mon.mode.zcopy {
            l.zcopy = Some(mon.clone());
        } else {
            l.copies.push(mon.clone());
        }
    }
    Ok(())
}

/// Gives kring `k` the hold array its copy monitors lease into (as many
/// slots as `k`, from `mon`'s pool), unless it has one: allocated here, on
/// the control plane, so that a sync never allocates. Kept when monitors
/// detach (a later one reuses it).
fn size_hold(k: &Kring, mon: &MonitorPort) {
    let Some(pool) = mon.rx.first().map(|mk| mk.lock().slots.pool().clone()) else {
        return;
    };
    let fits = |st: &KringState| {
        st.mon_hold.len() >= k.num_slots() as usize && Arc::ptr_eq(st.mon_hold.pool(), &pool)
    };
    if fits(&k.lock()) {
        return;
    }
    // Allocate without the kring lock; the array swapped out is empty.
    let hold = SlotArray::new_empty(&pool, k.num_slots() as usize);
    let mut st = k.lock();
    if !fits(&st) {
        let old = core::mem::replace(&mut st.mon_hold, hold);
        drop(st);
        drop(old);
    }
}

/// Removes every hook of `mon` from `parent`. Waits for syncs in progress.
pub fn detach_monitor(parent: &dyn Port, mon: &Arc<MonitorPort>) {
    for k in parent.krings(Dir::Tx).iter().chain(parent.krings(Dir::Rx)) {
        let mut l = k.monitors.list.write();
        l.copies.retain(|m| !Arc::ptr_eq(m, mon));
        if l.zcopy.as_ref().is_some_and(|m| Arc::ptr_eq(m, mon)) {
            l.zcopy = None;
        }
    }
}

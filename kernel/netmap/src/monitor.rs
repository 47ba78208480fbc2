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
//! of monitors are refused). Wake-ups happen after both are released.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{RwLock, RwLockReadGuard};

use crate::error::{OpenError, SyncError};
use crate::kring::{ring_add, Dir, Kring, KringState};
use crate::mem::BufferPool;
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
fn chain_len(k: &KringState, i: u32, to: u32) -> (u32, bool) {
    let n = k.nkr_num_slots;
    let mut len = 1;
    let mut j = i;
    while k.slots.get(j as usize).flags & NS_MOREFRAG != 0 {
        j = ring_add(j, 1, n);
        if j == to {
            return (len, false);
        }
        len += 1;
    }
    (len, true)
}

/// Copies the frames in slots `[from, to)` of `src` into monitor ring
/// `ring`. Whole chains only; what does not fit is counted and skipped.
/// A chain longer than [`MAX_FRAGS`] is dropped whole (counted once), also
/// when it spans syncs: `discarding` says the range starts inside such a
/// chain, and the second result whether it ends inside one (the caller
/// keeps that in the source kring; it depends on the slots only, so every
/// copy monitor of the kring computes the same). The first result is
/// whether anything was delivered.
fn copy_into(
    m: &MonitorPort,
    ring: usize,
    src: &KringState,
    from: u32,
    to: u32,
    mut discarding: bool,
) -> (bool, bool) {
    let n = src.nkr_num_slots;
    if from >= n || to >= n {
        return (false, discarding); // a port corrupted the kring; the sync repairs it
    }
    let mk = &m.rx[ring % m.rx.len()];
    let mut dst = mk.lock();
    let mut i = from;
    let mut any = false;
    while i != to {
        if discarding {
            // The rest of a chain already dropped as too long.
            discarding = src.slots.get(i as usize).flags & NS_MOREFRAG != 0;
            i = ring_add(i, 1, n);
            continue;
        }
        let (frags, complete) = chain_len(src, i, to);
        if frags as usize > MAX_FRAGS {
            dst.stats.drop_monitor += 1;
            discarding = !complete;
            i = ring_add(i, frags, n);
            continue;
        }
        if frags > dst.rx_direct_space() {
            dst.stats.drop_monitor += 1;
            i = ring_add(i, frags, n);
            continue;
        }
        for _ in 0..frags {
            let s = src.slots.get(i as usize);
            let j = dst.nr_hwtail as usize;
            // Cannot fail: `len <= buf_size` holds for kernel slots and the
            // monitor slot was checked free above.
            let _ = src.slots.copy_to(i as usize, &mut dst.slots, j, s.len);
            // Keep the source's chaining, also for a chain cut by `to`:
            // its rest comes with the next sync.
            dst.slots.set_flags(j, s.flags & NS_MOREFRAG);
            dst.rx_publish_direct(1, (s.flags & NS_MOREFRAG == 0) as u64, s.len as u64);
            i = ring_add(i, 1, n);
        }
        any = true;
    }
    (any, discarding)
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
        let mut l = k.monitors.list.write();
        if mon.mode.zcopy {
            l.zcopy = Some(mon.clone());
        } else {
            l.copies.push(mon.clone());
        }
    }
    Ok(())
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

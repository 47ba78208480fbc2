//! VALE: software switches `valeN` connecting up to 254 ports each.
//!
//! A [`Switch`] holds a port table and a [`Lookup`]; it has no rings of its
//! own. Frames enter when a port's sender calls [`Switch::forward`] (a VALE
//! port does it from its txsync; a NIC port from its receive loop) and leave
//! into the destination ports' rx krings. Forwarding works on batches, as
//! netmap's `nm_bdg_flush`:
//!
//! 1. *look up* every frame of the batch (up to [`BATCH`] slots), dropping
//!    malformed ones, and chain the survivors into one list per destination
//!    (plus one list of floods);
//! 2. per destination: *reserve* slots in its rx kring under the kring lock
//!    (a [`Lease`](crate::Lease): a few index moves), *copy* the frames
//!    without any lock, then *publish* under the lock again; leases of
//!    concurrent senders complete in any order but publish in order;
//! 3. *notify* the destinations once per batch, after every kring lock is
//!    released.
//!
//! A full destination ring drops the frames that do not fit (counted there)
//! and never blocks the sender. There is no global lock on this path: the
//! port table is read-locked per batch (a shared lock, as netmap's
//! `BDG_RLOCK`; attach/detach take it for writing and so wait for batches in
//! flight, which is what makes detach-under-traffic safe), and each
//! destination ring has its own short lock. Ring `r` of a source feeds ring
//! `r mod m` of each destination, so one core per ring scales later without
//! two cores sharing a destination ring in the common case.

mod forward;
mod learning;
mod lookup;
mod port;

pub use forward::{Batch, ForwardScratch, Forwarded, Wakeups, BATCH};
pub use learning::{LearningBridge, LearningConfig, WAYS};
pub use lookup::{Dest, FrameBatch, FrameMeta, Lookup, MacEntry, PatchPanel};
pub use port::ValePort;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::RwLock;

use crate::error::OpenError;
use crate::kring::Dir;
use crate::port::Port;

/// Port number within a switch.
pub type PortId = u8;

/// Ports per switch (netmap's `NM_BDG_MAXPORTS`).
pub const MAX_PORTS: usize = 254;

/// Destinations [`Switch::wake`] collects per read lock of the port table.
pub const WAKE_CHUNK: usize = 32;

/// Proof of attachment: a port number plus the generation of the table slot,
/// so that a detached port can never send as whoever reuses its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub id: PortId,
    gen: u32,
}

/// The read-mostly state: who is attached, and how to decide.
struct Table {
    ports: Vec<Option<Arc<dyn Port>>>,
    gens: Vec<u32>,
    /// Attached port ids, for floods.
    active: Vec<PortId>,
    lookup: Box<dyn Lookup>,
}

/// A switch clock, in ticks of the caller's choosing: one per switch, or
/// one shared by every switch of a [`Registry`](crate::Registry), so that
/// the kernel advances them all with one store (no lock, no allocation).
#[derive(Debug, Default)]
pub struct SwitchClock(AtomicU64);

impl SwitchClock {
    /// A clock at 0.
    pub fn new() -> Arc<Self> {
        Arc::new(SwitchClock::default())
    }

    /// Sets the time. It must not go backwards.
    #[inline]
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::Relaxed);
    }

    /// The time.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A VALE switch.
pub struct Switch {
    name: String,
    table: RwLock<Table>,
    clock: Arc<SwitchClock>,
}

impl Switch {
    /// A switch with the default learning bridge.
    pub fn new(name: &str) -> Arc<Self> {
        Self::with_lookup(
            name,
            Box::new(LearningBridge::new(LearningConfig::default())),
        )
    }

    /// A switch with the given lookup and a clock of its own.
    pub fn with_lookup(name: &str, lookup: Box<dyn Lookup>) -> Arc<Self> {
        Self::with_clock(name, lookup, SwitchClock::new())
    }

    /// A switch with the given lookup, reading `clock` (shared with other
    /// switches: the [`Registry`](crate::Registry) gives all its switches
    /// its one clock).
    pub fn with_clock(name: &str, lookup: Box<dyn Lookup>, clock: Arc<SwitchClock>) -> Arc<Self> {
        Arc::new(Switch {
            name: name.into(),
            table: RwLock::new(Table {
                ports: (0..MAX_PORTS).map(|_| None).collect(),
                gens: alloc::vec![0; MAX_PORTS],
                active: Vec::with_capacity(MAX_PORTS),
                lookup,
            }),
            clock,
        })
    }

    /// The switch's name (`vale0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the lookup (netmap's `netmap_bdg_regops`). Waits for
    /// batches in flight.
    pub fn set_lookup(&self, lookup: Box<dyn Lookup>) {
        self.table.write().lookup = lookup;
    }

    /// Name of the current lookup.
    pub fn lookup_name(&self) -> String {
        self.table.read().lookup.name().into()
    }

    /// Sets the switch clock, in ticks of the caller's choosing (the
    /// learning table's `max_age` is in the same unit). It must not go
    /// backwards. A clock shared with other switches (see
    /// [`with_clock`](Self::with_clock)) moves for all of them. The kernel
    /// sets its registry's clock ([`Registry::set_clock`](crate::Registry::set_clock))
    /// from its poll loop; a read per batch is all the datapath costs.
    pub fn set_clock(&self, now: u64) {
        self.clock.set(now);
    }

    /// The switch clock.
    pub fn clock(&self) -> u64 {
        self.clock.get()
    }

    /// Attaches a port built elsewhere (a NIC, tap, tun, host port): the
    /// switch will deliver frames into its rx krings and call its `notify`.
    /// The port sends into the switch with [`forward`](Self::forward) using
    /// the returned attachment.
    pub fn attach(&self, port: Arc<dyn Port>) -> Result<Attachment, OpenError> {
        self.attach_with(|_| Ok(port)).map(|(a, _)| a)
    }

    /// Attaches the port `make` builds for the attachment it is given (a
    /// VALE port needs to know its own number). The table stays locked
    /// while `make` runs.
    pub fn attach_with(
        &self,
        make: impl FnOnce(Attachment) -> Result<Arc<dyn Port>, OpenError>,
    ) -> Result<(Attachment, Arc<dyn Port>), OpenError> {
        let mut t = self.table.write();
        let id = t
            .ports
            .iter()
            .position(|p| p.is_none())
            .ok_or(OpenError::SwitchFull)?;
        t.gens[id] = t.gens[id].wrapping_add(1);
        let a = Attachment {
            id: id as PortId,
            gen: t.gens[id],
        };
        let port = make(a)?;
        t.ports[id] = Some(port.clone());
        t.active.push(a.id);
        Ok((a, port))
    }

    /// Detaches a port; returns it if `a` was still attached. Waits for the
    /// batches in flight (which hold the table read lock), so when this
    /// returns no forwarder touches the port's rings any more; frames it
    /// had received stay in its rings until it is dropped, and then go back
    /// to the pool with its buffers.
    pub fn detach(&self, a: Attachment) -> Option<Arc<dyn Port>> {
        let mut t = self.table.write();
        let id = a.id as usize;
        if id >= MAX_PORTS || t.gens[id] != a.gen {
            return None;
        }
        let p = t.ports[id].take()?;
        t.active.retain(|&x| x != a.id);
        t.lookup.port_detached(a.id);
        Some(p)
    }

    /// Whether `a` is still attached.
    pub fn is_attached(&self, a: Attachment) -> bool {
        let t = self.table.read();
        (a.id as usize) < MAX_PORTS
            && t.gens[a.id as usize] == a.gen
            && t.ports[a.id as usize].is_some()
    }

    /// The port attached as `id`.
    pub fn port(&self, id: PortId) -> Option<Arc<dyn Port>> {
        self.table.read().ports.get(id as usize)?.clone()
    }

    /// Attached ports, by number.
    pub fn ports(&self) -> Vec<(PortId, Arc<dyn Port>)> {
        let t = self.table.read();
        t.active
            .iter()
            .filter_map(|&id| Some((id, t.ports[id as usize].clone()?)))
            .collect()
    }

    /// Number of attached ports.
    pub fn num_ports(&self) -> usize {
        self.table.read().active.len()
    }

    /// The lookup's learned addresses (empty for lookups that learn none).
    pub fn mac_table(&self) -> Vec<MacEntry> {
        let now = self.clock();
        let mut v = Vec::new();
        self.table.read().lookup.list(now, &mut |e| v.push(e));
        v.sort_by_key(|e| e.mac);
        v
    }

    /// Notifies the destinations recorded in `w` (after the caller released
    /// its kring locks).
    ///
    /// The port table is read-locked only to take a reference to each
    /// destination (up to [`WAKE_CHUNK`] at a time, on the stack: no
    /// allocation), never across a `notify`: a bridge's `notify` is a whole
    /// txsync with a doorbell, and a `notify` may even attach or detach
    /// ports, which takes the table for writing. So a port detached
    /// meanwhile may see one last `notify`, which must be harmless (it
    /// only wakes or flushes the port's own rings).
    pub fn wake(&self, w: &Wakeups) {
        if w.is_empty() {
            return;
        }
        let ring = w.ring() as usize;
        let mut ids = w.iter();
        loop {
            let mut ports: [Option<Arc<dyn Port>>; WAKE_CHUNK] = [const { None }; WAKE_CHUNK];
            let mut n = 0;
            let mut more = false;
            {
                let t = self.table.read();
                for id in ids.by_ref() {
                    if let Some(p) = &t.ports[id as usize] {
                        ports[n] = Some(p.clone());
                        n += 1;
                        if n == WAKE_CHUNK {
                            more = true;
                            break;
                        }
                    }
                }
            }
            for p in ports[..n].iter_mut().filter_map(Option::take) {
                let k = p.krings(Dir::Rx).len();
                if k > 0 {
                    p.notify(Dir::Rx, ring % k);
                }
            }
            if !more {
                break;
            }
        }
    }
}

impl core::fmt::Debug for Switch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Switch")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SyncError;
    use crate::kring::Kring;
    use crate::mem::BufferPool;
    use alloc::sync::Weak;
    use spin::Mutex;

    /// A port whose `notify` changes the switch it is on: it checks that
    /// the port table is free (`try_write`, which fails while any reader
    /// holds it), then attaches and detaches a port (which takes the table
    /// for writing: with the table read-locked across `notify`, that
    /// would spin forever).
    struct Rewirer {
        rx: Box<[Kring]>,
        pool: Arc<BufferPool>,
        switch: Weak<Switch>,
        /// Per notify: whether `try_write` got the table, and whether the
        /// attach and the detach worked.
        seen: Mutex<Vec<(bool, bool, bool)>>,
    }

    impl Port for Rewirer {
        fn name(&self) -> &str {
            "rewirer"
        }
        fn krings(&self, dir: Dir) -> &[Kring] {
            match dir {
                Dir::Tx => &[],
                Dir::Rx => &self.rx,
            }
        }
        fn max_frame(&self) -> usize {
            1514
        }
        fn txsync(&self, _: usize) -> Result<(), SyncError> {
            Ok(())
        }
        fn rxsync(&self, _: usize) -> Result<(), SyncError> {
            Ok(())
        }
        fn notify(&self, dir: Dir, ring: usize) {
            let s = self.switch.upgrade().unwrap();
            let free = s.table.try_write().is_some();
            let (mut attached, mut detached) = (false, false);
            if free {
                let p = rewirer(&self.pool, Weak::new());
                if let Ok(a) = s.attach(p) {
                    attached = true;
                    detached = s.detach(a).is_some();
                }
            }
            self.seen.lock().push((free, attached, detached));
            self.rx[ring].wake();
            let _ = dir;
        }
    }

    fn rewirer(pool: &Arc<BufferPool>, switch: Weak<Switch>) -> Arc<Rewirer> {
        Arc::new(Rewirer {
            rx: Kring::new_set(pool, Dir::Rx, 1, 4).unwrap(),
            pool: pool.clone(),
            switch,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Issue 13: `Switch::wake` holds no table lock across `notify`, so a
    /// destination whose `notify` attaches or detaches ports on the same
    /// switch neither deadlocks nor finds the table busy; with more
    /// destinations than one stack batch ([`WAKE_CHUNK`]) each is notified
    /// exactly once.
    #[test]
    fn notify_may_attach_and_detach_on_the_same_switch() {
        let pool = BufferPool::on_heap(2048, 256).unwrap();
        let s = Switch::new("vale0");
        let n = WAKE_CHUNK + 7;
        let mut ports = Vec::new();
        let mut w = Wakeups::new(0);
        for _ in 0..n {
            let p = rewirer(&pool, Arc::downgrade(&s));
            let a = s.attach(p.clone()).unwrap();
            w.set(a.id);
            ports.push(p);
        }
        // One id not attached (any more): skipped.
        let gone = s.attach(rewirer(&pool, Weak::new())).unwrap();
        s.detach(gone).unwrap();
        w.set(gone.id);
        s.wake(&w);
        for p in &ports {
            assert_eq!(*p.seen.lock(), [(true, true, true)]);
            assert_eq!(p.rx[0].notifications(), 1);
        }
        assert_eq!(s.num_ports(), n);
    }
}

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
    pub fn wake(&self, w: &Wakeups) {
        if w.is_empty() {
            return;
        }
        let t = self.table.read();
        for id in w.iter() {
            if let Some(p) = &t.ports[id as usize] {
                let n = p.krings(Dir::Rx).len();
                if n > 0 {
                    p.notify(Dir::Rx, w.ring() as usize % n);
                }
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

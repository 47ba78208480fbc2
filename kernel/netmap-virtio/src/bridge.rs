//! A native port on a VALE switch (netmap's "bwrap" adapter).
//!
//! The switch thinks in application terms: it reads what a port *sends*
//! and writes into the port's *rx* krings. For a NIC that is inside out:
//! what the NIC receives must enter the switch, and what the switch
//! delivers must leave on the NIC's transmit ring. The bridge is the port
//! the switch sees, and plays the application on the NIC's krings:
//!
//! ```text
//!  wire -> NIC rx kring --forward()--> switch --lease/copy--> other ports
//!  other ports --> switch --lease/copy--> bridge rx kring --swap--> NIC tx kring -> wire
//! ```
//!
//! Frames the NIC received are forwarded straight from its rx kring (the
//! one copy VALE makes per destination). Frames the switch delivered move
//! from the bridge's rx kring to the NIC's tx kring by swapping buffers,
//! so the device sends them in place. The bridge's rx kring also buffers
//! bursts while the NIC's transmit ring is full.
//!
//! A multi-queue NIC has several of each kring (one per queue pair): the
//! bridge forwards from every rx kring, as source ring `r` of the switch,
//! and has one rx kring per NIC tx kring, so the switch delivers a frame
//! that came in on ring `r` of any port into the bridge's ring
//! `r mod pairs` and it leaves on the NIC's pair `r mod pairs`: a source
//! ring picks its destination ring, so (once each pair is polled on its
//! own CPU) two CPUs do not meet on one ring unless their sources do.
//!
//! While bridged, the NIC has no other user: the kernel's registry refuses
//! to open it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use netmap::padded::CachePadded;
use netmap::port::{Port, PortCounters, PortKind};
use netmap::vale::{Attachment, Batch, ForwardScratch, Switch, Wakeups};
use netmap::{Dir, Kring, KringStats, OpenError, SyncError};
use spin::Mutex;

/// Slots of the bridge's rx krings (the switch-to-NIC queues) of one NIC,
/// all pairs together, as netmap's default ring size: a single-queue NIC's
/// one ring has them all, a multi-queue NIC's pairs share them (at least
/// [`MIN_BRIDGE_SLOTS`] each), so a NIC costs the pool about the same
/// buffers however many pairs it runs.
pub const BRIDGE_SLOTS: u32 = 1024;
/// The fewest slots of one bridge rx kring.
pub const MIN_BRIDGE_SLOTS: u32 = 256;

/// Slots of each bridge rx kring of a NIC with `pairs` queue pairs.
pub fn bridge_slots(pairs: usize) -> u32 {
    (BRIDGE_SLOTS / pairs.max(1) as u32).max(MIN_BRIDGE_SLOTS)
}

/// The switch's view of a native port.
pub struct Bridge {
    name: String,
    hw: Arc<dyn Port>,
    switch: Arc<Switch>,
    attachment: Attachment,
    rx: Box<[Kring]>,
    /// Per NIC rx kring (source ring): the switch's scratch space and the
    /// ring's counters. Only the ring's owner (whoever forwards from it)
    /// takes the lock on the datapath, so CPUs forwarding from different
    /// rings never wait for each other here; `counters` sums them.
    scratch: Box<[CachePadded<Mutex<SourceRing>>]>,
}

/// What forwarding from one NIC rx kring needs besides the kring.
struct SourceRing {
    fwd: ForwardScratch,
    /// Frames the NIC received on this ring that the switch accepted (the
    /// bridge's "tx" from the switch's point of view), and drops.
    stats: KringStats,
}

impl Bridge {
    /// Attach native port `hw` (one tx and one rx kring per queue pair)
    /// to `switch` as `name` (e.g. `vale0:virtio0`).
    pub fn attach(
        switch: &Arc<Switch>,
        hw: Arc<dyn Port>,
        name: &str,
    ) -> Result<Arc<Bridge>, OpenError> {
        if hw.krings(Dir::Tx).is_empty() || hw.krings(Dir::Rx).is_empty() {
            return Err(OpenError::Unsupported);
        }
        let pool = hw.krings(Dir::Rx)[0].lock().slots.pool().clone();
        let mut made = None;
        switch.attach_with(|attachment| {
            let b = Arc::new(Bridge {
                name: name.into(),
                hw: hw.clone(),
                switch: switch.clone(),
                attachment,
                rx: Kring::new_set(
                    &pool,
                    Dir::Rx,
                    hw.krings(Dir::Tx).len() as u16,
                    bridge_slots(hw.krings(Dir::Tx).len()),
                )?,
                scratch: (0..hw.krings(Dir::Rx).len())
                    .map(|_| {
                        CachePadded::new(Mutex::new(SourceRing {
                            fwd: ForwardScratch::new(&pool),
                            stats: KringStats::default(),
                        }))
                    })
                    .collect(),
            });
            made = Some(b.clone());
            Ok(b as Arc<dyn Port>)
        })?;
        let b = made.ok_or(OpenError::BadConfig)?;
        // A device error here is recorded by the NIC (the kernel resets it).
        let _ = b.discard_received();
        Ok(b)
    }

    /// Drop what the NIC received before it joined the switch (netmap
    /// resets a NIC's rings when it enters netmap mode): stale frames, up
    /// to a whole ring of them, must not burst out of the other ports.
    /// Counted as `detached`; the buffers go back to the device at once.
    fn discard_received(&self) -> Result<u32, SyncError> {
        // Kring lock and the ring's scratch are taken one after the other,
        // never nested the other way round (scratch first, see `forward_ring`).
        let mut all = 0;
        for r in 0..self.hw.krings(Dir::Rx).len() {
            self.hw.rxsync(r)?;
            let dropped = self.hw.krings(Dir::Rx)[r].lock().release(u32::MAX);
            self.scratch[r].lock().stats.drop_detached += u64::from(dropped);
            if dropped > 0 {
                self.hw.rxsync(r)?;
            }
            all += dropped;
        }
        Ok(all)
    }

    /// Its attachment to the switch.
    pub fn attachment(&self) -> Attachment {
        self.attachment
    }

    /// The native port behind the bridge.
    pub fn hw(&self) -> &Arc<dyn Port> {
        &self.hw
    }

    /// The switch.
    pub fn switch(&self) -> &Arc<Switch> {
        &self.switch
    }

    /// Leave the switch (idempotent). Frames queued for the NIC stay in
    /// the bridge's ring and go back to the pool when it is dropped.
    pub fn detach(&self) {
        self.switch.detach(self.attachment);
    }

    /// One round of both directions; returns the frames moved, so an idle
    /// loop knows whether to sleep.
    pub fn poll(&self) -> Result<u32, SyncError> {
        let sent = self.flush_to_hw()?;
        let received = self.forward_from_hw()?;
        Ok(sent + received)
    }

    /// NIC -> switch: receive, forward every frame, release the slots so
    /// the NIC re-posts them at once; every rx kring in turn.
    pub fn forward_from_hw(&self) -> Result<u32, SyncError> {
        let mut moved = 0;
        for r in 0..self.hw.krings(Dir::Rx).len() {
            moved += self.forward_ring(r)?;
        }
        Ok(moved)
    }

    /// [`Self::forward_from_hw`] for the NIC's rx kring `r` alone (source
    /// ring `r` of the switch).
    pub fn forward_ring(&self, r: usize) -> Result<u32, SyncError> {
        self.hw.rxsync(r)?;
        let mut wake = Wakeups::new(r as u16);
        let mut moved = 0;
        let kring = &self.hw.krings(Dir::Rx)[r];
        let monitors = {
            // This ring's own scratch and counters, taken before its kring
            // as a VALE port's txsync does: no lock shared with the other
            // rings' forwarders (see the lock order in netmap's docs).
            let mut src = self.scratch[r].lock();
            let SourceRing { fwd: sc, stats } = &mut *src;
            // The NIC's rx kring is the switch's source here: it counts as
            // a tx kring in the lock order (destination rx krings after it).
            let mut k = kring.lock();
            let k = &mut *k;
            let (start, _) = k.arrived();
            loop {
                // Take what arrived ([rhead, nr_hwtail)) ...
                let (first, count) = k.arrived();
                if count == 0 {
                    break;
                }
                let batch = Batch {
                    src: self.attachment,
                    src_ring: r as u16,
                    slots: &k.slots,
                    first,
                    count,
                    max_frame: self.hw.max_frame(),
                };
                match self.switch.forward(batch, stats, sc) {
                    Ok(f) if f.consumed > 0 => {
                        wake.merge(&f.wakeups);
                        // ... and release what the switch consumed.
                        moved += k.release(f.consumed);
                    }
                    Ok(_) => break, // an incomplete fragment chain waits for its end
                    Err(_) => {
                        // Detached: nobody to deliver to; drop, count, release.
                        stats.drop_detached += u64::from(k.release(count));
                        break;
                    }
                }
            }
            // What came off the wire, for the NIC's copy monitors.
            let end = k.rhead();
            kring.monitor_copy(k, start, end)
        };
        self.switch.wake(&wake);
        kring.wake_monitors(&monitors);
        if moved > 0 {
            // Give the buffers back to the device now, not at the next poll.
            self.hw.rxsync(r)?;
        }
        Ok(moved)
    }

    /// Switch -> NIC: swap queued frames into the NIC's tx krings and
    /// transmit them with one txsync (one doorbell) per ring.
    pub fn flush_to_hw(&self) -> Result<u32, SyncError> {
        let mut total = 0;
        for r in 0..self.rx.len() {
            total += self.flush_ring(r)?;
        }
        Ok(total)
    }

    /// [`Self::flush_to_hw`] for the bridge's rx kring `r` into the NIC's
    /// tx kring `r`.
    pub fn flush_ring(&self, r: usize) -> Result<u32, SyncError> {
        let mut total = 0;
        // Twice at most: the txsync reclaims sent slots, which may make
        // room for frames that did not fit the first time.
        let hw_tx = &self.hw.krings(Dir::Tx)[r];
        for _ in 0..2 {
            let (moved, monitors, more) = {
                // Lock order: the NIC's tx kring, then the bridge's rx kring.
                let mut h = hw_tx.lock();
                let mut b = self.rx[r].lock();
                // One batch swap (pool checked once, plain slice walks).
                let m = b.move_to_tx(&mut h, u32::MAX);
                drop(b);
                // What goes to the wire, for the NIC's copy monitors.
                let end = h.add(m.first, m.count);
                (m.count, hw_tx.monitor_copy(&mut h, m.first, end), m.more)
            };
            // Always sync: it also reclaims what the device finished.
            self.hw.txsync(r)?;
            hw_tx.wake_monitors(&monitors);
            total += moved;
            if !more {
                // Everything queued went out: a second round would only
                // repeat the reclaim.
                break;
            }
        }
        Ok(total)
    }

    /// Frames waiting in the bridge for room on the NIC.
    pub fn queued(&self) -> u32 {
        self.rx.iter().map(|k| k.lock().queued()).sum()
    }
}

impl Port for Bridge {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::External
    }

    /// The switch never reads a bridge's tx krings: frames enter from the
    /// NIC's rx kring through [`Bridge::forward_from_hw`].
    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &[],
            Dir::Rx => &self.rx,
        }
    }

    fn max_frame(&self) -> usize {
        self.hw.max_frame()
    }

    fn txsync(&self, _ring: usize) -> Result<(), SyncError> {
        self.forward_from_hw().map(|_| ())
    }

    fn rxsync(&self, _ring: usize) -> Result<(), SyncError> {
        self.flush_to_hw().map(|_| ())
    }

    /// The switch delivered frames: send them now, one doorbell per batch.
    /// A device error is recorded by the NIC (which the kernel then resets);
    /// the frames stay queued here.
    fn notify(&self, dir: Dir, ring: usize) {
        if dir == Dir::Rx && ring < self.rx.len() {
            let _ = self.flush_ring(ring);
        }
        if let Some(k) = self.krings(dir).get(ring) {
            k.wake();
        }
    }

    fn counters(&self) -> PortCounters {
        let mut c = PortCounters::default();
        for s in self.scratch.iter() {
            c.tx.accumulate(&s.lock().stats);
        }
        for k in self.rx.iter() {
            c.rx.accumulate(&k.lock().stats);
        }
        c
    }
}

impl core::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bridge")
            .field("name", &self.name)
            .field("hw", &self.hw.name())
            .finish_non_exhaustive()
    }
}

//! Ports (netmap's adapters) and handles (netmap's open file descriptors).
//!
//! A [`Port`] is anything with krings: a VALE port, a pipe end, a monitor, and
//! the kernel's own kinds (virtio-net NIC, tap, tun, the host stack), which
//! implement the trait outside this crate. A [`Handle`] binds one application
//! to a port: it owns the application's [`NetmapRing`]s and drives the
//! txsync/rxsync protocol (prologue, the port's sync, finalize, monitors,
//! notifications) around the port's own sync functions.
//!
//! # A kernel port
//!
//! A NIC driver owns krings whose slots map 1:1 onto its descriptors: slot
//! `i`'s buffer is what descriptor `i` points at (physical address =
//! region base + [`BufferPool::buf_offset`](crate::BufferPool::buf_offset)).
//! It implements [`Port`]: `txsync` posts `[nr_hwcur, rhead)` and kicks
//! once, `rxsync` re-posts released slots and advances `nr_hwtail` past
//! completed ones. Registered with the [`Registry`](crate::Registry), it
//! can be opened by name (native mode), monitored, or attached to a switch:
//! the switch then delivers into its rx krings and calls `notify` once per
//! batch, and the driver feeds received frames to the switch with
//! [`Switch::forward`](crate::Switch::forward).
//!
//! ```
//! use std::sync::Arc;
//! use netmap::{BufferPool, Dir, Handle, Kring, Port, Registry, SyncError};
//!
//! /// A loopback "device": what is sent comes back on the rx ring.
//! struct Loop { tx: Box<[Kring]>, rx: Box<[Kring]> }
//!
//! impl Port for Loop {
//!     fn name(&self) -> &str { "loop0" }
//!     fn krings(&self, d: Dir) -> &[Kring] { if d == Dir::Tx { &self.tx } else { &self.rx } }
//!     fn max_frame(&self) -> usize { 2048 }
//!     fn txsync(&self, r: usize) -> Result<(), SyncError> {
//!         // Lock order: tx kring, then rx kring.
//!         let (mut t, mut x) = (self.tx[r].lock(), self.rx[r].lock());
//!         while t.tx_pending() > 0 && x.rx_direct_space() > 0 {
//!             let (i, j) = (t.hwcur() as usize, x.hwtail() as usize);
//!             let len = t.slots.get(i).len;
//!             t.slots.copy_to(i, &mut x.slots, j, len).unwrap(); // the "DMA"
//!             x.rx_publish_direct(1, 1, len as u64); // nr_hwtail += 1
//!             t.tx_consume(1); // nr_hwcur += 1
//!         }
//!         t.tx_reclaim(u32::MAX); // completed at once: nr_hwtail = nr_hwcur - 1
//!         Ok(())
//!     }
//!     fn rxsync(&self, r: usize) -> Result<(), SyncError> {
//!         self.rx[r].lock().rx_take_released(); // nr_hwcur = rhead: re-post
//!         Ok(())
//!     }
//! }
//!
//! let pool = BufferPool::on_heap(256, 2048).unwrap();
//! let dev = Arc::new(Loop {
//!     tx: Kring::new_set(&pool, Dir::Tx, 1, 64).unwrap(),
//!     rx: Kring::new_set(&pool, Dir::Rx, 1, 64).unwrap(),
//! });
//! let reg = Registry::new(pool);
//! reg.register(dev).unwrap();
//! let mut h: Handle = reg.open("loop0").unwrap();
//! let ring = h.tx_ring(0).unwrap();
//! ring.write_frame(0, b"hello, wire").unwrap();
//! ring.advance(1);
//! h.txsync(0).unwrap();
//! h.rxsync(0).unwrap();
//! assert_eq!(h.rx_ring(0).unwrap().frame(0).unwrap(), b"hello, wire");
//! ```

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::SyncError;
use crate::kring::{ring_add, Dir, Kring, KringStats};
use crate::monitor;
use crate::ring::NetmapRing;

/// What kind of port this is; the registry uses it to refuse operations
/// that make no sense (a zero-copy monitor of a pipe, a monitor of a
/// monitor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A virtual port of a VALE switch.
    Vale,
    /// One end of a netmap pipe.
    Pipe,
    /// A monitor of another port.
    Monitor,
    /// A port implemented outside this crate (NIC, tap, tun, host stack).
    External,
}

/// The interface every port implements (netmap's `netmap_adapter`).
///
/// Sync contract, for both directions:
/// - the caller ([`Handle`], or a kernel driver loop) has run the prologue,
///   so `rhead`/`rcur` of the kring are validated; the kring lock is *not*
///   held on entry — the port takes it for as long as it needs it;
/// - `txsync(r)` consumes the slots `[nr_hwcur, rhead)` of tx kring `r`
///   (transmits, forwards, or passes them on) as far as it can, moving
///   `nr_hwcur`, and advances `nr_hwtail` past slots it is done with;
/// - `rxsync(r)` releases `[nr_hwcur, rhead)` to the port (sets
///   `nr_hwcur = rhead`) and advances `nr_hwtail` past newly received slots
///   if the port fills its rx rings itself (a NIC); ports fed by writers
///   (switch, pipe peer, monitors) see `nr_hwtail` advance on its own;
/// - the two never run concurrently on the same ring, but run concurrently
///   with writers into the port's rx krings;
/// - wake-ups of *other* ports are issued only after the port released every
///   kring lock (enqueue and notify apart).
pub trait Port: Send + Sync {
    /// The port's name (e.g. `vale0:a`, `x{1`, `vtnet0`).
    fn name(&self) -> &str;

    /// What kind of port this is.
    fn kind(&self) -> PortKind {
        PortKind::External
    }

    /// The krings of one direction.
    fn krings(&self, dir: Dir) -> &[Kring];

    /// Whether an application may open the port in native mode, through a
    /// [`Handle`] whose syncs move its frames. A port whose frames move
    /// some other way (a tap or tun: reads and writes on its device side;
    /// its syncs do nothing) says no: the registry refuses to open it by
    /// name (`OpenError::Unsupported`), while it can still join a switch
    /// and be monitored.
    fn native_open(&self) -> bool {
        true
    }

    /// Largest frame (all fragments) the port accepts or delivers.
    fn max_frame(&self) -> usize;

    /// The port's txsync body (netmap's `nm_sync` on a tx kring).
    fn txsync(&self, ring: usize) -> Result<(), SyncError>;

    /// The port's rxsync body (netmap's `nm_sync` on an rx kring).
    fn rxsync(&self, ring: usize) -> Result<(), SyncError>;

    /// New slots are available on ring `ring` of direction `dir` (frames on
    /// an rx ring, free space on a tx ring). Called with no kring lock held.
    /// The default records the wake-up on the kring; a NIC port overrides it
    /// to transmit what the switch queued and kick the device once.
    fn notify(&self, dir: Dir, ring: usize) {
        if let Some(k) = self.krings(dir).get(ring) {
            k.wake();
        }
    }

    /// Counters summed over the port's krings.
    fn counters(&self) -> PortCounters {
        let mut c = PortCounters::default();
        for k in self.krings(Dir::Tx) {
            c.tx.accumulate(&k.lock().stats);
        }
        for k in self.krings(Dir::Rx) {
            c.rx.accumulate(&k.lock().stats);
        }
        c
    }
}

impl core::fmt::Debug for dyn Port {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Port")
            .field("name", &self.name())
            .field("kind", &self.kind())
            .finish()
    }
}

/// Geometry of a port the crate creates (VALE ports, pipes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Tx rings (1..=256).
    pub tx_rings: u16,
    /// Rx rings (1..=256).
    pub rx_rings: u16,
    /// Slots per ring (2..=65536).
    pub num_slots: u32,
    /// Largest frame accepted or delivered, in bytes (all fragments).
    pub max_frame: usize,
}

impl Default for PortConfig {
    /// One ring each way of 1024 slots (netmap's default), jumbo frames.
    fn default() -> Self {
        PortConfig {
            tx_rings: 1,
            rx_rings: 1,
            num_slots: 1024,
            max_frame: 9216,
        }
    }
}

impl PortConfig {
    /// Refuses geometries the rings cannot have.
    pub fn check(&self) -> Result<(), crate::OpenError> {
        let rings = 1..=256;
        if rings.contains(&self.tx_rings)
            && rings.contains(&self.rx_rings)
            && (2..=65536).contains(&self.num_slots)
        {
            Ok(())
        } else {
            Err(crate::OpenError::BadConfig)
        }
    }
}

/// Per-port counters, from the point of view of the port's application:
/// `tx` are frames it sent (into the switch, pipe, device), `rx` frames it
/// was delivered. Drops are filed where they happen: a frame the switch
/// could not deliver because the destination ring was full counts as
/// `rx.drop_ring_full` of the destination; a frame too short to forward
/// counts as `tx.drop_short` of the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub tx: KringStats,
    pub rx: KringStats,
}

/// Every buffer a port's krings hold (not those held by an open handle's
/// rings: add [`Handle::held_bufs`]).
pub fn kring_bufs(port: &dyn Port) -> Vec<u32> {
    let mut v = Vec::new();
    for dir in [Dir::Tx, Dir::Rx] {
        for k in port.krings(dir) {
            let st = k.lock();
            // A copy monitor's hold array is empty outside a copy, unless
            // a corrupted monitor ring refused a lease back.
            v.extend(st.slots.bufs().chain(st.mon_hold.bufs()));
        }
    }
    v
}

/// Conservation check over whole ports: the pool's free list, every kring
/// of `ports` and every ring of `handles` must account for each buffer
/// exactly once (see [`BufferPool::audit`](crate::BufferPool::audit)).
pub fn audit<'a>(
    pool: &crate::BufferPool,
    ports: impl IntoIterator<Item = &'a dyn Port>,
    handles: impl IntoIterator<Item = &'a Handle>,
) -> Result<(), crate::AuditError> {
    let mut owned = Vec::new();
    for p in ports {
        owned.extend(kring_bufs(p));
    }
    for h in handles {
        owned.extend(h.held_bufs());
    }
    pool.audit(owned)
}

/// An application's binding to a port: its rings and the sync driver.
///
/// Dropping the handle closes it: the buffers its rings hold go back to the
/// port's krings, then the close hook runs (the registry removes ephemeral
/// ports and monitors there).
pub struct Handle {
    port: Arc<dyn Port>,
    tx: Box<[NetmapRing]>,
    rx: Box<[NetmapRing]>,
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Handle {
    /// Binds new application rings to every kring of `port`. The kernel uses
    /// this directly for its own ports; applications usually go through the
    /// [`Registry`](crate::registry::Registry).
    pub fn new(port: Arc<dyn Port>) -> Handle {
        let mk = |dir| -> Box<[NetmapRing]> {
            port.krings(dir)
                .iter()
                .enumerate()
                .map(|(r, k)| {
                    let mut st = k.lock();
                    let mut ring = NetmapRing::new(&port, dir, r, k, &st);
                    st.attach_ring(&mut ring);
                    ring
                })
                .collect()
        };
        let (tx, rx) = (mk(Dir::Tx), mk(Dir::Rx));
        Handle {
            port,
            tx,
            rx,
            on_close: None,
        }
    }

    pub(crate) fn set_on_close(&mut self, f: Box<dyn FnOnce() + Send + Sync>) {
        self.on_close = Some(f);
    }

    /// The port this handle is bound to.
    pub fn port(&self) -> &Arc<dyn Port> {
        &self.port
    }

    /// Tx ring `r`.
    pub fn tx_ring(&mut self, r: usize) -> Option<&mut NetmapRing> {
        self.tx.get_mut(r)
    }

    /// Rx ring `r`.
    pub fn rx_ring(&mut self, r: usize) -> Option<&mut NetmapRing> {
        self.rx.get_mut(r)
    }

    /// All tx and rx rings at once, e.g. to swap buffers between an rx and a
    /// tx ring (zero-copy forwarding).
    pub fn rings_mut(&mut self) -> (&mut [NetmapRing], &mut [NetmapRing]) {
        (&mut self.tx, &mut self.rx)
    }

    /// Number of tx and rx rings.
    pub fn num_rings(&self) -> (usize, usize) {
        (self.tx.len(), self.rx.len())
    }

    /// txsync on tx ring `r` (netmap's `NIOCTXSYNC` for one ring): hands
    /// `[old head, head)` to the port, and reports reclaimed slots in `tail`.
    /// A bad head/cur re-initialises the ring and returns
    /// [`SyncError::RingReinit`]; the port's sync does not run then.
    pub fn txsync(&mut self, r: usize) -> Result<(), SyncError> {
        let ring = self.tx.get_mut(r).ok_or(SyncError::NoSuchRing(r))?;
        let kring = self
            .port
            .krings(Dir::Tx)
            .get(r)
            .ok_or(SyncError::NoSuchRing(r))?;
        if !ring.belongs_to(kring) {
            return Err(SyncError::WrongRing(r));
        }
        let hooks = kring.monitors.read();
        let mut woken = monitor::Woken::default();
        {
            let mut k = kring.lock();
            let from = k.rhead;
            k.begin_sync(ring, Dir::Tx).map_err(|e| wrong_ring(e, r))?;
            let to = k.rhead;
            hooks.tx_submitted(&mut k, from, to, r, &mut woken);
        }
        let res = self.port.txsync(r);
        {
            let mut k = kring.lock();
            // What this sync reclaimed, the slot at the new `nr_hwtail`
            // included: the port is done with it too (it only stays the
            // kernel's as the ring's spare slot), as netmap's zero-copy
            // monitor takes `[old hwtail + 1, new hwtail + 1)`.
            let n = k.nkr_num_slots;
            let (from, to) = (ring_add(k.rtail, 1, n), ring_add(k.nr_hwtail, 1, n));
            hooks.tx_reclaimed(&mut k, from, to, r, &mut woken);
            k.finish_sync(ring);
        }
        hooks.wake(&woken);
        res
    }

    /// rxsync on rx ring `r` (netmap's `NIOCRXSYNC` for one ring): releases
    /// `[old head, head)` to the port and reports new frames in `tail`.
    /// After a bad head/cur the ring is re-initialised and, as in netmap,
    /// the port's sync still runs so that new frames are reported; the
    /// error is returned all the same.
    pub fn rxsync(&mut self, r: usize) -> Result<(), SyncError> {
        let ring = self.rx.get_mut(r).ok_or(SyncError::NoSuchRing(r))?;
        let kring = self
            .port
            .krings(Dir::Rx)
            .get(r)
            .ok_or(SyncError::NoSuchRing(r))?;
        if !ring.belongs_to(kring) {
            return Err(SyncError::WrongRing(r));
        }
        let hooks = kring.monitors.read();
        let mut woken = monitor::Woken::default();
        let prologue = {
            let mut k = kring.lock();
            // Copy monitors see every arrival before the application can
            // release it, even unseen (as far as the live `nr_hwtail`).
            let (from, to) = k.mon_arrivals();
            hooks.rx_arrived(&mut k, from, to, r, &mut woken);
            let from = k.rhead;
            let res = k.begin_sync(ring, Dir::Rx).map_err(|e| wrong_ring(e, r));
            if res.is_ok() {
                let to = k.rhead;
                hooks.rx_released(&mut k, from, to, r, &mut woken);
            }
            res
        };
        let res = self.port.rxsync(r).and(prologue);
        {
            let mut k = kring.lock();
            let (from, to) = k.mon_arrivals();
            hooks.rx_arrived(&mut k, from, to, r, &mut woken);
            k.finish_sync(ring);
        }
        hooks.wake(&woken);
        res
    }

    /// Every buffer the handle's rings hold, for [`BufferPool::audit`](crate::BufferPool::audit).
    pub fn held_bufs(&self) -> impl Iterator<Item = u32> + '_ {
        self.tx
            .iter()
            .chain(self.rx.iter())
            .flat_map(|r| r.held_bufs())
    }
}

/// A sync's `WrongRing` names the ring by its number.
fn wrong_ring(e: SyncError, r: usize) -> SyncError {
    match e {
        SyncError::WrongRing(_) => SyncError::WrongRing(r),
        e => e,
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Every ring's slots go back to the kring they were made for (a
        // ring the application swapped in from elsewhere to its own).
        for ring in self.tx.iter_mut().chain(self.rx.iter_mut()) {
            ring.slot.detach();
        }
        if let Some(f) = self.on_close.take() {
            f();
        }
    }
}

impl core::fmt::Debug for Handle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Handle")
            .field("port", &self.port.name())
            .finish_non_exhaustive()
    }
}

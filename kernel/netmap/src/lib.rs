//! # netmap: the portable datapath
//!
//! Netmap's rings, buffers, pipes, monitors and VALE switch, rebuilt as a
//! `no_std` library. The same code runs in the unikernel (over a physically
//! contiguous DMA region, driving virtio-net queues) and on the host, where
//! it is unit tested, property tested, fuzzed and benchmarked.
//!
//! ## Roadmap
//!
//! How a frame moves, and which module does what:
//!
//! 1. **Memory** ([`mem`]). A [`BufferPool`] carves a caller's [`Region`]
//!    into fixed-size buffers named by `u32` index (0 and 1 reserved).
//!    Buffers are held only by [`SlotArray`]s, and a buffer's bytes are
//!    reachable only through the one slot array entry holding it. This is
//!    the crate's only `unsafe` module.
//! 2. **Rings** ([`slot`], [`ring`], [`kring`]). A port's ring has two
//!    sides: the application's [`NetmapRing`] (`head`, `cur`, `tail`, and
//!    its window of the ring's one slot array) and the kernel's [`Kring`]
//!    (`nr_hwcur`, `nr_hwtail`, `rhead`, `rcur`, `rtail`, behind a short
//!    lock). The application owns `[head, tail)`. The kring's indices are
//!    private to this crate: ports in other crates read them through
//!    getters and move them only through [`KringState`]'s operations
//!    (`arrived`, `release`, `queued`, `tx_room`, `submit`, `move_to_tx`
//!    for code playing the application; `tx_consume`, `tx_reclaim`,
//!    `rx_take_released`, `rx_publish_direct` for a port's own sync). One
//!    modulo helper serves everyone: [`kring::ring_add`] / [`kring::ring_dist`].
//! 3. **Sync** ([`kring`], [`port`]). `txsync` hands `[old head, head)` to
//!    the port and reports reclaimed slots in `tail`; `rxsync` releases
//!    `[old head, head)` and reports received frames. A [`Handle`] runs
//!    each sync as: prologue (validate head/cur exactly as netmap's
//!    `nm_txsync_prologue`/`nm_rxsync_prologue`, take back returned slots),
//!    the port's own sync, finalize (hand new slots to the application),
//!    monitors, and notifications — with every lock released before
//!    anybody is woken.
//! 4. **Ports** ([`port`]). The [`Port`] trait (netmap's adapter):
//!    krings, txsync, rxsync, notify, counters. The crate ships VALE ports
//!    ([`vale`]), pipe ends ([`pipe`]) and monitors ([`monitor`]); other
//!    crates add theirs by implementing the trait: the virtio-net NIC and
//!    the bridge that puts it on a switch (`netmap-virtio`), tap and tun
//!    ports (`tuntap`). The kernel's IP stack is not a port of its own: it
//!    is an application holding a [`Handle`] on the VALE port
//!    `valeN:host0`, which it opens through the [`Registry`] like any
//!    netmap program.
//! 5. **Switching** ([`vale`]). A [`Switch`] forwards batches: look up
//!    every frame, then per destination lease slots under the destination
//!    ring's lock, copy without it, publish under it, and notify once.
//! 6. **Naming** ([`name`], [`registry`]). A [`Registry`] opens ports by
//!    netmap's names (`valeX:p`, `x{K`, `x}K`, `p/t`, `p/r`, `p/rt`,
//!    `p/z`, plain kernel port names) and runs the control plane.
//!
//! ## Rules the datapath keeps
//!
//! - It never allocates: rings, buffers, switch tables and forwarding
//!   scratch space are sized when a port is created.
//! - It never blocks: a full destination drops and counts; locks are held
//!   for index moves, never for copies or wake-ups.
//! - It never trusts input: head/cur/tail, slot indices, lengths, flags
//!   and frame bytes from an application or a device are validated, and bad
//!   ones are counted and repaired or dropped. Nothing panics on them.
//! - It never loses a buffer: buffers only move between slot arrays (or
//!   back to the pool when a ring is dropped), so every buffer is always
//!   held exactly once; [`BufferPool::audit`] checks it at any time.
//!
//! ## Buffer ownership: one slot array per ring, two windows
//!
//! Netmap lets an application swap buffers by writing `buf_idx` and setting
//! `NS_BUF_CHANGED`. Trusting that would let a bogus or duplicate index
//! alias another ring's buffer. Here the application's ring and its kring
//! share one slot array, seen through two windows (see
//! [`SlotArray`]): the application reaches only
//! `[head, tail)` as of its last sync, the kernel everything else. In its
//! window the application writes `len` and `flags` in place
//! ([`AppSlot`]); `buf_idx` is read-only, and buffers change hands only
//! through [`NetmapRing::swap_buf`] and [`NetmapRing::swap_within`] (zero
//! copy, `NS_BUF_CHANGED` set), which exchange whole slots. So no index
//! written by an application exists to be validated: bogus and duplicate
//! indices cannot even be expressed (`bad_buf_idx` stays 0, kept for
//! compatibility), and a sync moves no buffer — it moves the window
//! boundary and checks the lengths (`bad_len`) and flags of the slots
//! handed back.
//!
//! The kernel side touches a ring's cells only under the kring lock and
//! only outside the application's window: on tx `[hwcur, head)` (being
//! consumed) and `[hwtail, hwcur)` (being reclaimed); on rx `[tail, hwlease)`
//! (being written by the switch, a pipe peer, monitors, a device) and the
//! spare slot before `hwcur`; never `[head, tail)` — netmap's rule, here
//! enforced by the windows rather than trusted. The window moves only inside
//! a sync, which holds both the lock and `&mut NetmapRing`.
//!
//! ## Errors
//!
//! | error | raised by | meaning | effect |
//! | --- | --- | --- | --- |
//! | [`SyncError::RingReinit`] | `Handle::txsync`/`rxsync` | head or cur outside the ring or moved illegally | ring re-initialised as `netmap_ring_reinit` (head = cur = hwcur, tail = hwtail, view rewritten), `ring_reinit` counted, port sync skipped |
//! | [`SyncError::NoSuchRing`] | syncs | ring number out of range | nothing happens |
//! | [`SyncError::WrongRing`] | `Handle::txsync`/`rxsync` | the application swapped slot views (`ring.slot`) or whole rings between rings | nothing happens; the right ring or array put back works again |
//! | [`SyncError::Detached`] | VALE txsync, [`Switch::forward`] | the port left its switch | pending frames dropped, `drop_detached` counted |
//! | [`SyncError::Port`] | a kernel port's sync | device error | as the port documents |
//! | counters only | syncs | `len` over the buffer (`bad_len`, len := 0), runt (`drop_short`), oversize (`drop_oversize`), chain over 64 fragments (`drop_frag_chain`), no destination (`drop_no_dest`), destination full (`drop_ring_full`), monitor full (`drop_monitor`) | the slot is repaired or the frame dropped; traffic goes on |
//! | [`PoolError`] | pool, slot arrays, port creation | bad buffer size, region too small, bad index or slot, pool exhausted, pools mixed | the operation is refused, nothing changes |
//! | [`AuditError`] | [`BufferPool::audit`], [`Registry::audit`] | a buffer lost or owned twice | report only (a bug) |
//! | [`NameError`] | [`name::parse`], [`Registry::open`] | empty, too long, bad character, missing VALE port, bad pipe id, bad monitor mode | refused |
//! | [`OpenError`] | registry, switch, port creation | not found, busy (already open), exists, switch full (254 ports), bad geometry, unsupported (monitor of a monitor, `/z` of a pipe) | refused |
//!
//! ## Concurrency
//!
//! Several CPUs may run the datapath at once, one per ring pair (netmap's
//! model): each kring has its own lock; a switch's port table is
//! read-locked per batch (a shared lock, taken for writing only by
//! attach/detach); the learning table is lock-free. Ring `r` of a port
//! feeds ring `r mod m` of each destination, so CPUs meet on a destination
//! ring only when their source rings map to it. Writers into an rx ring
//! lease slots: they *reserve* under its lock, *copy* without it and
//! *publish* under it (the switch's `deliver`, copy monitors); no spin lock
//! is held across the copy of a batch when a finer one would do.
//!
//! ### Lock order
//!
//! A lock is taken only while holding locks *above* it in this list
//! (skipping levels is fine, going up is not):
//!
//! 1. The kernel's control-plane lock (outside this crate).
//! 2. A [`Registry`]'s lock. Control plane only: never taken on the
//!    datapath.
//! 3. A [`Switch`]'s port table, **for writing** (`attach`, `detach`,
//!    `set_lookup`). Its holder takes no kring lock (`attach_with`'s
//!    `make` only builds a port).
//! 4. A kring's monitor hook list (`monitor::MonitorHooks`). Read-locked
//!    across each sync of the kring, taken on either side of the kring's
//!    own lock (readers never exclude readers: spin's `RwLock` lets new
//!    readers in while a writer waits); write-locked by
//!    `attach_monitor`/`detach_monitor` with no kring lock held, and the
//!    writer takes none.
//! 5. A sending ring's scratch mutex: a VALE port's `ForwardScratch`, a
//!    bridge's per NIC rx kring scratch and counters (`netmap-virtio`).
//!    Taken only by the ring's owner (whoever syncs it), before its kring;
//!    a bridge's `counters` takes them alone.
//! 6. A source kring: a tx kring, or a kring feeding the switch as one (a
//!    NIC's rx kring under the bridge); in a bridge's flush, the NIC's tx
//!    kring. The slots [`Switch::forward`] reads are protected by it.
//! 7. A switch's port table, **for reading**: per batch inside
//!    [`Switch::forward`] (under the source kring), and in [`Switch::wake`]
//!    only while collecting the destinations, with nothing else held.
//! 8. A destination rx kring: the switch's lease and publish (never held
//!    across the copy), a pipe peer's in-place swap, a bridge's rx kring
//!    under the NIC's tx kring (flush).
//! 9. A monitor's rx kring, after the monitored kring: copy monitors
//!    reserve and publish under it and copy without it (the buffers are
//!    leased into the monitored kring's `mon_hold`, protected by the
//!    monitored kring's lock); zero-copy monitors swap under it. Nothing is
//!    taken while holding it.
//!
//! Leaves, taken with anything above held and holding nothing: the
//! [`BufferPool`]'s free list; in `netmap-virtio`, a NIC's virtqueue mutex
//! (under its kring in a sync or an arm; alone in the watchdog; a pair's
//! transmit queue before its receive queue when the driver's counters read
//! both) and its recovery state.
//!
//! `notify()` (a bridge's is a whole txsync with a doorbell, and may even
//! attach or detach ports) is called with **no kring lock, no scratch
//! mutex and no port table lock** held: [`Switch::wake`] collects the
//! destinations (`Arc` clones, on the stack) under the table's read lock,
//! releases it, then notifies. The only lock a `notify` may run under is
//! the sending kring's monitor hook list, read-locked for the whole sync;
//! so a `notify` must not attach or detach monitors of the port whose
//! sync called it.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

extern crate alloc;

pub mod error;
pub mod kring;
pub mod mem;
pub mod monitor;
pub mod name;
pub mod padded;
pub mod pipe;
pub mod port;
pub mod registry;
pub mod ring;
pub mod slot;
pub mod vale;

pub use error::{AuditError, NameError, OpenError, PoolError, SyncError};
pub use kring::{Dir, Kring, KringState, KringStats, Lease, MonitorWake, Moved};
pub use mem::{BufferPool, Region, SlotArray, DEFAULT_BUF_SIZE};
pub use port::{Handle, Port, PortConfig, PortCounters, PortKind};
pub use registry::Registry;
pub use ring::{NetmapRing, SlotView};
pub use slot::*;
pub use vale::{Switch, ValePort};

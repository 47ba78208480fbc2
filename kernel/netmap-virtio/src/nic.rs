//! The native NIC port: a [`Port`] whose krings sit on virtio-net queue
//! pairs, tx and rx kring `k` on pair `k` (virtqueues `2k + 1` and `2k`).
//! One pair unless the device is multi-queue (`VIRTIO_NET_F_MQ`); which
//! pair a received frame arrives on is the device's choice (its flow
//! spreading), and a frame sent on tx kring `k` leaves on pair `k`.
//!
//! The port owns the queues; the kernel owns the PCI transport and gives
//! the port a [`Doorbell`] to ring it. A sync holds the kring lock and the
//! queue lock only while it moves indices; the doorbell rings after both
//! are released, once per sync.

use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};

use netmap::port::{Port, PortCounters};
use netmap::{Dir, Kring, KringState, SyncError};
use spin::Mutex;
use virtq::Virtqueue;

use crate::{BufMap, DeviceError, NicStats, Recovery, RecoveryState, RxQueue, TxQueue};

/// Virtqueue index of the first receive queue (virtio 1.2, 5.1.2).
pub const RX_QUEUE: u16 = 0;
/// Virtqueue index of the first transmit queue (virtio 1.2, 5.1.2).
pub const TX_QUEUE: u16 = 1;

/// Virtqueue index of pair `k`'s receive queue (virtio 1.2, 5.1.2:
/// receiveq`k+1` is queue `2k`).
pub const fn rx_queue(k: usize) -> u16 {
    (2 * k) as u16 + RX_QUEUE
}

/// Virtqueue index of pair `k`'s transmit queue (transmitq`k+1`, `2k + 1`).
pub const fn tx_queue(k: usize) -> u16 {
    (2 * k) as u16 + TX_QUEUE
}

/// How the port notifies its device (in the kernel: a write to the
/// transport's notify register).
pub trait Doorbell: Send + Sync {
    /// Tell the device queue `queue` has new buffers.
    fn kick(&self, queue: u16);
}

/// One direction of a NIC: its kring's positions and its virtqueue's
/// indices, read together under the locks a sync takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingState {
    /// The kring's `nr_hwcur`.
    pub hwcur: u32,
    /// The kring's `nr_hwtail`.
    pub hwtail: u32,
    /// The kring's `rhead` (what the last sync was asked to process).
    pub head: u32,
    /// The virtqueue under it.
    pub queue: virtq::QueueState,
}

/// A virtio-net NIC as a netmap port (`virtioN`).
pub struct VirtioNic {
    name: String,
    mac: [u8; 6],
    bufs: BufMap,
    tx: Box<[Kring]>,
    rx: Box<[Kring]>,
    /// Per pair: the queues under tx and rx kring `k`.
    txq: Box<[Mutex<TxQueue<'static>>]>,
    rxq: Box<[Mutex<RxQueue<'static>>]>,
    doorbell: Box<dyn Doorbell>,
    /// The device broke the protocol; the kernel resets it from its loop.
    needs_reset: AtomicBool,
    /// The last re-initialisation failed: the queues are not the device's
    /// (syncs refuse, arming reports nothing) until a retry succeeds.
    dead: AtomicBool,
    /// A CPU is resetting the device: a second caller returns at once
    /// (each pair's syncs, on other CPUs, wait on its kring locks meanwhile).
    resetting: AtomicBool,
    /// Failed re-initialisations in a row and the backoff.
    recovery: Mutex<Recovery>,
    link_up: AtomicBool,
}

impl VirtioNic {
    /// A port over fresh queues (`2 * slots` descriptors each way). RX
    /// buffers are posted and the device kicked.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        mac: [u8; 6],
        bufs: BufMap,
        rxq: RxQueue<'static>,
        rx_slots: u32,
        txq: TxQueue<'static>,
        tx_slots: u32,
        doorbell: Box<dyn Doorbell>,
    ) -> Result<Self, netmap::PoolError> {
        Self::new_pairs(
            name,
            mac,
            bufs,
            alloc::vec![(rxq, txq)],
            rx_slots,
            tx_slots,
            doorbell,
        )
    }

    /// A port over `pairs` (queue pair `k`'s rx and tx queues, each of
    /// `2 * rx_slots` / `2 * tx_slots` descriptors): tx and rx kring `k`
    /// per pair. RX buffers of every pair are posted and the device kicked.
    pub fn new_pairs(
        name: &str,
        mac: [u8; 6],
        bufs: BufMap,
        pairs: alloc::vec::Vec<(RxQueue<'static>, TxQueue<'static>)>,
        rx_slots: u32,
        tx_slots: u32,
        doorbell: Box<dyn Doorbell>,
    ) -> Result<Self, netmap::PoolError> {
        let pool = bufs.pool().clone();
        let n = pairs.len().max(1) as u16;
        let (rxq, txq): (alloc::vec::Vec<_>, alloc::vec::Vec<_>) = pairs
            .into_iter()
            .map(|(r, t)| (Mutex::new(r), Mutex::new(t)))
            .unzip();
        let nic = Self {
            name: name.into(),
            mac,
            tx: Kring::new_set(&pool, Dir::Tx, n, tx_slots)?,
            rx: Kring::new_set(&pool, Dir::Rx, n, rx_slots)?,
            bufs,
            txq: txq.into_boxed_slice(),
            rxq: rxq.into_boxed_slice(),
            doorbell,
            needs_reset: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            resetting: AtomicBool::new(false),
            recovery: Mutex::new(Recovery::new()),
            link_up: AtomicBool::new(true),
        };
        for p in 0..nic.pairs() {
            let kick = {
                let k = nic.rx[p].lock();
                nic.rxq[p].lock().post(&k, &nic.bufs)
            };
            if kick {
                nic.doorbell.kick(rx_queue(p));
            }
        }
        Ok(nic)
    }

    /// Queue pairs (tx/rx kring pairs) of the port.
    pub fn pairs(&self) -> usize {
        self.rxq.len()
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Link state as last reported by the device.
    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::Relaxed)
    }

    /// Record the device's link state.
    pub fn set_link_up(&self, up: bool) {
        self.link_up.store(up, Ordering::Relaxed);
    }

    /// Driver counters, every queue summed.
    pub fn nic_stats(&self) -> NicStats {
        (0..self.pairs())
            .map(|p| self.pair_stats(p))
            .reduce(|a, b| NicStats {
                kicks: a.kicks + b.kicks,
                kicks_suppressed: a.kicks_suppressed + b.kicks_suppressed,
                watchdog_kicks: a.watchdog_kicks + b.watchdog_kicks,
                tx_drop_short: a.tx_drop_short + b.tx_drop_short,
                tx_drop_frag: a.tx_drop_frag + b.tx_drop_frag,
                device_errors: a.device_errors + b.device_errors,
                resets: a.resets.max(b.resets),
                lost_in_reset: a.lost_in_reset + b.lost_in_reset,
                ooo_completions: a.ooo_completions + b.ooo_completions,
            })
            .unwrap_or_default()
    }

    /// Driver counters of queue pair `p`, its two queues summed.
    pub fn pair_stats(&self, p: usize) -> NicStats {
        let (t, r) = (self.txq[p].lock().stats(), self.rxq[p].lock().stats());
        NicStats {
            kicks: t.kicks + r.kicks,
            kicks_suppressed: t.kicks_suppressed + r.kicks_suppressed,
            watchdog_kicks: t.watchdog_kicks + r.watchdog_kicks,
            tx_drop_short: t.tx_drop_short,
            tx_drop_frag: t.tx_drop_frag,
            device_errors: t.device_errors + r.device_errors,
            resets: t.resets.max(r.resets),
            lost_in_reset: t.lost_in_reset + r.lost_in_reset,
            ooo_completions: t.ooo_completions + r.ooo_completions,
        }
    }

    /// Frames and bytes through queue pair `p`'s krings: `(rx, tx)`.
    pub fn pair_counters(&self, p: usize) -> PortCounters {
        let mut c = PortCounters::default();
        c.tx.accumulate(&self.tx[p].lock().stats);
        c.rx.accumulate(&self.rx[p].lock().stats);
        c
    }

    /// Where the rx and tx rings of pair 0 stand, `(rx, tx)`.
    pub fn ring_states(&self) -> (RingState, RingState) {
        self.pair_ring_states(0)
    }

    /// Where pair `p`'s rx and tx rings stand, `(rx, tx)`.
    pub fn pair_ring_states(&self, p: usize) -> (RingState, RingState) {
        fn read(k: &KringState, vq: &mut Virtqueue<'_>) -> RingState {
            RingState {
                hwcur: k.hwcur(),
                hwtail: k.hwtail(),
                head: k.rhead(),
                queue: vq.state(),
            }
        }
        let rx = read(&self.rx[p].lock(), self.rxq[p].lock().vq());
        let tx = read(&self.tx[p].lock(), self.txq[p].lock().vq());
        (rx, tx)
    }

    /// Whether the device broke the protocol and must be reset.
    pub fn needs_reset(&self) -> bool {
        self.needs_reset.load(Ordering::Acquire)
    }

    /// Fault injection: reset the device on the next poll as if it had
    /// broken the protocol (the same path, counted in `resets`).
    pub fn request_reset(&self) {
        self.needs_reset.store(true, Ordering::Release);
    }

    fn failed(&self, _e: DeviceError) -> SyncError {
        self.needs_reset.store(true, Ordering::Release);
        SyncError::Port
    }

    /// Whether to call [`reset`](Self::reset) at `now_ms`: the device
    /// broke the protocol, and the backoff after a failed re-initialisation
    /// (if any) has run out.
    pub fn reset_due(&self, now_ms: u64) -> bool {
        self.needs_reset() && self.recovery.lock().due(now_ms)
    }

    /// Where recovery stands at `now_ms` (for `ifconfig`).
    pub fn recovery_state(&self, now_ms: u64) -> RecoveryState {
        self.recovery.lock().state(now_ms)
    }

    /// Reset after a protocol violation. `stop` must reset the device (so
    /// it no longer touches the queues); `start` re-initialises it with the
    /// same queue memory and sets DRIVER_OK, returning whether it could. In
    /// between, both queues start over: nothing the slots own is lost,
    /// frames in flight are counted. If `start` fails the NIC stays flagged
    /// and dead (syncs refuse) and [`reset_due`](Self::reset_due) says when
    /// to retry (backoff from `now_ms`). Returns whether the NIC is back.
    ///
    /// One CPU at a time: a call while another CPU's is under way returns
    /// `false` at once and does nothing (the flag stays set until that
    /// reset finishes).
    pub fn reset(&self, now_ms: u64, stop: impl FnOnce(), start: impl FnOnce() -> bool) -> bool {
        if self
            .resetting
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let back = self.reset_claimed(now_ms, stop, start);
        self.resetting.store(false, Ordering::Release);
        back
    }

    fn reset_claimed(
        &self,
        now_ms: u64,
        stop: impl FnOnce(),
        start: impl FnOnce() -> bool,
    ) -> bool {
        stop();
        for p in 0..self.pairs() {
            {
                let mut k = self.tx[p].lock();
                let mut q = self.txq[p].lock();
                let vq = q.vq().fresh();
                q.reset(vq, &mut k);
            }
            {
                let mut k = self.rx[p].lock();
                let mut q = self.rxq[p].lock();
                let vq = q.vq().fresh();
                q.reset(vq, &mut k, &self.bufs);
            }
        }
        if !start() {
            // Nothing was handed to a device: the next attempt must not
            // count the ring just posted as frames lost.
            for p in 0..self.pairs() {
                let k = self.rx[p].lock();
                self.rxq[p].lock().abandon(&k);
            }
            self.recovery.lock().failed(now_ms);
            self.dead.store(true, Ordering::Release);
            return false;
        }
        self.recovery.lock().succeeded();
        self.dead.store(false, Ordering::Release);
        self.needs_reset.store(false, Ordering::Release);
        for p in 0..self.pairs() {
            self.doorbell.kick(rx_queue(p));
        }
        true
    }

    /// The last re-initialisation failed (see [`reset`](Self::reset)).
    fn dead(&self) -> Result<(), SyncError> {
        if self.dead.load(Ordering::Acquire) {
            Err(SyncError::Port)
        } else {
            Ok(())
        }
    }

    /// Liveness check for a periodic timer (every few milliseconds, also
    /// while the CPU sleeps): kick a queue whose device stopped with work
    /// it was never told about. Returns the number of doorbells rung.
    pub fn watchdog(&self) -> u32 {
        let mut rung = 0;
        for p in 0..self.pairs() {
            let rx = self.rxq[p].lock().vq().watchdog();
            let tx = self.txq[p].lock().vq().watchdog();
            if rx {
                self.doorbell.kick(rx_queue(p));
            }
            if tx {
                self.doorbell.kick(tx_queue(p));
            }
            rung += u32::from(rx) + u32::from(tx);
        }
        rung
    }

    /// Fault injection: lose the next `n` notifications the `dir` queue
    /// owes its device, as the race [`watchdog`](Self::watchdog) recovers
    /// from would (pair 0's queue). For tests of that recovery.
    pub fn lose_kicks(&self, dir: Dir, n: u32) {
        match dir {
            Dir::Rx => self.rxq[0].lock().vq().lose_kicks(n),
            Dir::Tx => self.txq[0].lock().vq().lose_kicks(n),
        }
    }

    /// Reclaim sent frames without posting new ones (from the idle loop),
    /// on every pair.
    pub fn tx_reclaim(&self) -> Result<(), SyncError> {
        self.dead()?;
        for p in 0..self.pairs() {
            let mut k = self.tx[p].lock();
            let r = self.txq[p].lock().reclaim(&mut k);
            r.map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Arm interrupts before the CPU sleeps: on the next frame, and on the
    /// completion of what is in flight. Returns `true` if work is already
    /// waiting, in which case the caller polls again instead of sleeping.
    ///
    /// Frames the device used meanwhile are taken into the rx kring here
    /// (counted as received, left for the application at `nr_hwtail`), so
    /// they are reported once: on a NIC that nothing polls (not bridged,
    /// not open), the used index would otherwise stay ahead of the queue
    /// and every arm would report work, the idle loop never halting.
    pub fn arm(&self) -> bool {
        (0..self.pairs()).fold(false, |work, p| self.arm_pair(p) | work)
    }

    /// [`arm`](Self::arm) for queue pair `p` alone (by the CPU that polls
    /// it). A pair past the port's is never armed and reports nothing.
    pub fn arm_pair(&self, p: usize) -> bool {
        if p >= self.pairs() || self.dead().is_err() {
            return false;
        }
        let rx = {
            let mut k = self.rx[p].lock();
            let mut q = self.rxq[p].lock();
            if q.arm() {
                match q.receive(&mut k, &self.bufs) {
                    // New frames: poll again so their owner sees them; the
                    // next arm finds the used index caught up.
                    Ok(got) => got > 0 || q.arm(),
                    Err(e) => {
                        drop((k, q));
                        let _ = self.failed(e);
                        true
                    }
                }
            } else {
                false
            }
        };
        let tx = self.txq[p].lock().arm();
        rx || tx
    }

    /// Stop interrupts while the datapath is busy.
    pub fn disarm(&self) {
        for p in 0..self.pairs() {
            self.disarm_pair(p);
        }
    }

    /// [`disarm`](Self::disarm) for queue pair `p` alone.
    pub fn disarm_pair(&self, p: usize) {
        if p < self.pairs() {
            self.rxq[p].lock().disarm();
            self.txq[p].lock().disarm();
        }
    }

    /// Run `f` on the locked rx kring of pair 0 (for a bridge forwarding
    /// its frames).
    pub fn with_rx_kring<R>(&self, f: impl FnOnce(&mut KringState) -> R) -> R {
        f(&mut self.rx[0].lock())
    }
}

impl Port for VirtioNic {
    fn name(&self) -> &str {
        &self.name
    }

    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }

    fn max_frame(&self) -> usize {
        self.bufs.buf_size() as usize
    }

    fn txsync(&self, ring: usize) -> Result<(), SyncError> {
        let kring = self.tx.get(ring).ok_or(SyncError::NoSuchRing(ring))?;
        self.dead()?;
        let kick = {
            let mut k = kring.lock();
            let r = self.txq[ring].lock().txsync(&mut k, &self.bufs);
            r.map_err(|e| self.failed(e))?
        };
        if kick {
            self.doorbell.kick(tx_queue(ring));
        }
        Ok(())
    }

    fn rxsync(&self, ring: usize) -> Result<(), SyncError> {
        let kring = self.rx.get(ring).ok_or(SyncError::NoSuchRing(ring))?;
        self.dead()?;
        let kick = {
            let mut k = kring.lock();
            let r = self.rxq[ring].lock().rxsync(&mut k, &self.bufs);
            r.map_err(|e| self.failed(e))?
        };
        if kick {
            self.doorbell.kick(rx_queue(ring));
        }
        Ok(())
    }

    fn counters(&self) -> PortCounters {
        let mut c = PortCounters::default();
        for k in self.tx.iter() {
            c.tx.accumulate(&k.lock().stats);
        }
        for k in self.rx.iter() {
            c.rx.accumulate(&k.lock().stats);
        }
        c
    }
}

impl core::fmt::Debug for VirtioNic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioNic")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

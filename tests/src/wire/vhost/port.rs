//! The datapath: frames into the guest's receive queue, out of its
//! transmit queue, a batch at a time.
//!
//! One thread owns a [`VhostPort`] and polls. Per batch it takes the ring's
//! lock once (the protocol thread takes it only to set the ring up or stop
//! it), handles every available chain it can, writes the used elements and
//! stores the used index once, and notifies the guest only if the guest
//! asked (EVENT_IDX's `used_event`, or `NO_INTERRUPT`). While it polls it
//! asks the guest for no kicks; only before sleeping does it re-arm them
//! and look once more (the re-arm race).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vhost_user_backend::{VringRwLock, VringT};
use virtio_queue::QueueT;
use vm_memory::GuestAddressSpace;

use super::backend::{BackendOptions, Conn, Shared, RX_QUEUE, TX_QUEUE};
use super::mem::GuestRam;
use super::ring::{Chain, ChainError, RingError, RingView};
use super::server;
use crate::wire::sys;

/// The longest sleep on a kick. Kicks can be lost: under QEMU 7.2's
/// single-threaded TCG the guest's fence between publishing its avail
/// index and reading our `avail_event` emits no host fence, so the two may
/// pass each other and the guest skip a kick we asked for. A bounded sleep
/// caps what that costs (at most this long without service) for a few
/// hundred wake-ups a second while idle.
const KICK_SLEEP_CAP: Duration = Duration::from_millis(1);

/// `struct virtio_net_hdr` with VERSION_1 (virtio 1.2, 5.1.6): 12 bytes,
/// zero but for `num_buffers` = 1 on receive (no mergeable buffers).
pub const NET_HDR_LEN: usize = 12;

/// What the backend counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VhostStats {
    /// Frames written into the guest's receive queue.
    pub rx_frames: u64,
    /// Frames read from the guest's transmit queue.
    pub tx_frames: u64,
    /// Frames not delivered because the guest's buffer chain was too short.
    pub rx_too_big: u64,
    /// Transmit frames cut to the receive buffer.
    pub tx_truncated: u64,
    /// Chains handed back unused: malformed (bad next, loop, outside RAM,
    /// indirect, wrong direction, shorter than the header).
    pub bad_chains: u64,
    /// Times a queue was found broken (bad layout, index jump, bad head)
    /// and left alone until the guest sets it up again.
    pub broken_queues: u64,
    /// Interrupts sent to the guest (call eventfd writes).
    pub interrupts: u64,
    /// Times the datapath slept for a kick.
    pub sleeps: u64,
    /// Kicks the guest sent (from the protocol side).
    pub kicks: u64,
    /// Connections accepted so far.
    pub connections: u64,
    /// Batches (lock, work, one used-index store).
    pub batches: u64,
}

impl VhostStats {
    /// Several ports' counters added up; `None` when there are none.
    pub fn sum(all: impl IntoIterator<Item = VhostStats>) -> Option<VhostStats> {
        all.into_iter().reduce(|a, b| VhostStats {
            rx_frames: a.rx_frames + b.rx_frames,
            tx_frames: a.tx_frames + b.tx_frames,
            rx_too_big: a.rx_too_big + b.rx_too_big,
            tx_truncated: a.tx_truncated + b.tx_truncated,
            bad_chains: a.bad_chains + b.bad_chains,
            broken_queues: a.broken_queues + b.broken_queues,
            interrupts: a.interrupts + b.interrupts,
            sleeps: a.sleeps + b.sleeps,
            kicks: a.kicks + b.kicks,
            connections: a.connections + b.connections,
            batches: a.batches + b.batches,
        })
    }

    /// The counters as one JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"rx_frames\": {}, \"tx_frames\": {}, \"rx_too_big\": {}, \"tx_truncated\": {}, \
             \"bad_chains\": {}, \"broken_queues\": {}, \"interrupts\": {}, \"sleeps\": {}, \
             \"kicks\": {}, \"connections\": {}, \"batches\": {}}}",
            self.rx_frames,
            self.tx_frames,
            self.rx_too_big,
            self.tx_truncated,
            self.bad_chains,
            self.broken_queues,
            self.interrupts,
            self.sleeps,
            self.kicks,
            self.connections,
            self.batches
        )
    }
}

/// One queue pair's frame counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairFrames {
    /// Frames written into the pair's receive queue (to the guest).
    pub rx: u64,
    /// Frames read from the pair's transmit queue (from the guest).
    pub tx: u64,
    /// The guest's notifications (kicks) of the pair's two queues.
    pub kicks: u64,
}

/// The device's flow hash: which of `n` receive queues a frame goes to.
/// FNV-1a over the Ethernet addresses and, for IPv4, the IP addresses and
/// (TCP, UDP, unfragmented) the ports; every frame of a flow lands on one
/// queue, so the guest sees a flow in order. The guest relies on nothing
/// more than that: which queue a flow lands on is the device's choice.
pub fn flow_queue(frame: &[u8], n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
    };
    mix(&frame[..frame.len().min(12)]);
    if frame.len() >= 34 && frame[12] == 0x08 && frame[13] == 0x00 {
        let ihl = (frame[14] & 0x0f) as usize * 4;
        mix(&frame[26..34]);
        let proto = frame[23];
        let fragment = u16::from_be_bytes([frame[20], frame[21]]) & 0x3fff != 0;
        let l4 = 14 + ihl;
        if (proto == 6 || proto == 17) && !fragment && ihl >= 20 && frame.len() >= l4 + 4 {
            mix(&frame[l4..l4 + 4]);
        }
    }
    // Fold the high bits in: FNV's low bits alone spread poorly mod small n.
    ((h ^ (h >> 16)) as usize) % n
}

/// The datapath's view of the current connection.
struct View {
    generation: u64,
    conn: Conn,
    ram: GuestRam,
}

/// One vhost-user socket served as the device side of a virtio-net NIC.
pub struct VhostPort {
    path: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    view: Option<View>,
    /// Per queue: the generation at which it was found broken.
    broken: Vec<Option<u64>>,
    /// Per queue: kicks are switched off (we are polling).
    polling: Vec<bool>,
    /// Per queue pair: frames written into its receive queue, read from
    /// its transmit queue.
    pair_frames: Vec<PairFrames>,
    /// The transmit queue the next receive pass starts at (round robin).
    next_tx_pair: usize,
    chain: Box<Chain>,
    /// Used elements of the batch in hand, written at its end.
    used: Vec<(u16, u32)>,
    scratch: Vec<u8>,
    batch: usize,
    busy_poll: Duration,
    stats: VhostStats,
    /// The virtio-net header written before each frame into the guest;
    /// `None`: the honest one (no offloads, `num_buffers` 1).
    net_hdr: Option<[u8; NET_HDR_LEN]>,
}

impl VhostPort {
    /// Listen on `path` (replacing a stale socket file) and serve every
    /// connection QEMU makes until the port is dropped.
    pub fn listen(
        path: &Path,
        opts: BackendOptions,
        batch: usize,
        slot: usize,
        busy_poll: Duration,
    ) -> io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket() {
                std::fs::remove_file(path)?;
            }
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| io::Error::new(e.kind(), format!("vhost-user:{}: {e}", path.display())))?;
        let shared = Shared::new(opts)?;
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("vhost-user".into())
                .spawn(move || server::serve(listener, shared, stop))?
        };
        Ok(Self {
            path: path.to_path_buf(),
            shared,
            stop,
            server: Some(server),
            view: None,
            broken: vec![None; opts.num_queues()],
            polling: vec![false; opts.num_queues()],
            pair_frames: vec![PairFrames::default(); opts.pairs()],
            next_tx_pair: 0,
            chain: Box::default(),
            used: Vec::with_capacity(super::backend::MAX_QUEUE_SIZE),
            scratch: vec![0; slot.max(NET_HDR_LEN)],
            batch,
            busy_poll,
            stats: VhostStats::default(),
            net_hdr: None,
        })
    }

    /// Frames (and kicks) per queue pair so far (one entry per pair served).
    pub fn pair_frames(&self) -> Vec<PairFrames> {
        let kicks = |q: usize| {
            self.shared
                .stats
                .queue_kicks
                .get(q)
                .map_or(0, |k| k.load(Ordering::Relaxed))
        };
        self.pair_frames
            .iter()
            .enumerate()
            .map(|(k, p)| PairFrames {
                kicks: kicks(2 * k) + kicks(2 * k + 1),
                ..*p
            })
            .collect()
    }

    /// Queue pairs served.
    pub fn pairs(&self) -> usize {
        self.shared.opts.pairs()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> VhostStats {
        let p = &self.shared.stats;
        VhostStats {
            kicks: p.kicks.load(Ordering::Relaxed),
            connections: p.connections.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// The eventfd kicks and connection changes are signalled on.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the eventfd is owned by `shared`, which this port keeps
        // alive at least as long as the returned borrow of `self`.
        unsafe { BorrowedFd::borrow_raw(self.shared.wake.as_raw_fd()) }
    }

    /// Take a fresh view if the protocol side changed anything.
    fn refresh(&mut self) -> bool {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if self.view.as_ref().map(|v| v.generation) != Some(generation) {
            self.view = self.shared.conn.lock().unwrap().clone().map(|conn| {
                let ram = GuestRam::new(conn.mem.memory().into_inner());
                View {
                    generation,
                    conn,
                    ram,
                }
            });
            self.polling.iter_mut().for_each(|p| *p = false);
        }
        self.view.is_some()
    }

    /// Run `f` on queue `q` under its lock if the queue is live: set up,
    /// enabled, not broken. `f` gets the ring view and `(next_avail,
    /// next_used)` and returns the new pair.
    fn with_ring<R>(
        &mut self,
        q: usize,
        f: impl FnOnce(&mut Self, &RingView<'_>, u16, u16) -> (R, u16, u16),
    ) -> Option<Result<R, RingError>> {
        if !self.refresh() {
            return None;
        }
        let view = self.view.take()?;
        let out = self.with_ring_in(&view, q, f);
        self.view = Some(view);
        out
    }

    fn with_ring_in<R>(
        &mut self,
        view: &View,
        q: usize,
        f: impl FnOnce(&mut Self, &RingView<'_>, u16, u16) -> (R, u16, u16),
    ) -> Option<Result<R, RingError>> {
        if self.broken[q] == Some(view.generation) {
            return None;
        }
        let vring: &VringRwLock = view.conn.vrings.get(q)?;
        let mut state = vring.get_mut();
        if !state.is_enabled() || !state.get_queue().ready() {
            return None;
        }
        let queue = state.get_queue();
        let ring = match RingView::new(
            &view.ram,
            queue.size(),
            queue.desc_table(),
            queue.avail_ring(),
            queue.used_ring(),
            queue.event_idx_enabled(),
        ) {
            Ok(r) => r,
            Err(e) => {
                self.mark_broken(q, view.generation, e);
                return Some(Err(e));
            }
        };
        let (next_avail, next_used) = (queue.next_avail(), queue.next_used());
        if !self.polling[q] {
            ring.want_kicks(false, next_avail);
            self.polling[q] = true;
        }
        let (out, avail, used) = f(self, &ring, next_avail, next_used);
        let queue = state.get_queue_mut();
        queue.set_next_avail(avail);
        queue.set_next_used(used);
        if used != next_used {
            self.stats.batches += 1;
            if ring.publish_used(next_used, used) {
                if let Some(call) = state.get_call() {
                    let _ = call.notify();
                    self.stats.interrupts += 1;
                }
            }
        }
        Some(Ok(out))
    }

    fn mark_broken(&mut self, q: usize, generation: u64, e: RingError) {
        eprintln!(
            "vhost-user:{}: {} queue of pair {} broken ({e:?}); left alone until the guest sets it up again",
            self.path.display(),
            if q % 2 == RX_QUEUE { "receive" } else { "transmit" },
            q / 2
        );
        self.broken[q] = Some(generation);
        self.stats.broken_queues += 1;
    }

    /// Write the batch's used elements (in reverse in the out-of-order
    /// test mode) from `next_used` on; returns the new used index.
    fn put_used(&mut self, ring: &RingView<'_>, next_used: u16) -> u16 {
        let n = self.used.len();
        let reverse = self.shared.opts.out_of_order;
        for i in 0..n {
            let (id, len) = if reverse {
                self.used[n - 1 - i]
            } else {
                self.used[i]
            };
            ring.put_used(next_used.wrapping_add(i as u16), id, len);
        }
        self.used.clear();
        next_used.wrapping_add(n as u16)
    }

    /// Test mode: write `hdr` as the virtio-net header of the frames sent
    /// from now on (a lying device: offload flags, GSO types and buffer
    /// counts the guest never negotiated); `None` for the honest header.
    pub fn set_net_hdr(&mut self, hdr: Option<[u8; NET_HDR_LEN]>) {
        self.net_hdr = hdr;
    }

    /// Write as many of `frames` into the guest's receive queue as it has
    /// buffers for; returns how many were taken from the front (a frame
    /// too big for the guest's buffer is taken and counted as dropped).
    /// Never blocks; 0 while no guest is connected.
    ///
    /// With several queue pairs each frame goes to the receive queue its
    /// flow hashes to ([`flow_queue`] over the live ones: set up and
    /// enabled, so a guest that uses one pair gets everything there). The
    /// frames taken are still a prefix: the batch stops at the first frame
    /// whose queue has no buffer, so a flow's frames stay in order. (A
    /// hostile guest's bad chains, or a queue the guest switches off
    /// between the count of its room and the write, can make a queue take
    /// fewer than it had room for; frames of other queues past that point
    /// are then sent again by the caller. A caller that must not see that
    /// waits for [`Self::live_pairs`] to settle first.)
    pub fn send_batch<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> io::Result<usize> {
        if self.pairs() == 1 {
            return self.send_on(0, frames);
        }
        let live: Vec<usize> = (0..self.pairs())
            .filter(|&k| self.pending(2 * k + RX_QUEUE).is_some())
            .collect();
        if live.is_empty() {
            return Ok(0);
        }
        // Room per live queue, then the prefix that fits.
        let mut room: Vec<usize> = live
            .iter()
            .map(|&k| self.pending(2 * k + RX_QUEUE).unwrap_or(0))
            .collect();
        let mut per: Vec<Vec<&[u8]>> = vec![Vec::new(); live.len()];
        let mut prefix = 0;
        for f in frames {
            let f = f.as_ref();
            let i = flow_queue(f, live.len());
            if room[i] == 0 {
                break;
            }
            room[i] -= 1;
            per[i].push(f);
            prefix += 1;
        }
        // Each queue takes its share; a shortfall cuts the prefix there.
        let mut first_left = prefix;
        let mut seen = vec![0usize; live.len()];
        let mut taken_per = vec![0usize; live.len()];
        for (i, &k) in live.iter().enumerate() {
            if !per[i].is_empty() {
                taken_per[i] = self.send_on(k, &per[i])?;
            }
        }
        for (n, f) in frames[..prefix].iter().enumerate() {
            let i = flow_queue(f.as_ref(), live.len());
            if seen[i] == taken_per[i] {
                first_left = n;
                break;
            }
            seen[i] += 1;
        }
        Ok(first_left)
    }

    /// Queue pairs whose receive queue is live (set up and enabled) now.
    pub fn live_pairs(&mut self) -> usize {
        (0..self.pairs())
            .filter(|&k| self.pending(2 * k + RX_QUEUE).is_some())
            .count()
    }

    /// Available entries of queue `q` if it is live.
    fn pending(&mut self, q: usize) -> Option<usize> {
        match self.with_ring(q, |_, ring, a, u| (ring.pending(a).unwrap_or(0), a, u)) {
            Some(Ok(n)) => Some(n as usize),
            _ => None,
        }
    }

    /// [`Self::send_batch`] into the receive queue of pair `pair` alone.
    fn send_on<F: AsRef<[u8]>>(&mut self, pair: usize, frames: &[F]) -> io::Result<usize> {
        let q = 2 * pair + RX_QUEUE;
        let r = self.with_ring(q, |me, ring, next_avail, next_used| {
            let mut taken = 0;
            let mut consumed: u16 = 0;
            let mut err = None;
            let pending = match ring.pending(next_avail) {
                Ok(p) => p,
                Err(e) => return (Err(e), next_avail, next_used),
            };
            let mut in_hand = false;
            while taken < frames.len() {
                if !in_hand {
                    if consumed == pending {
                        break;
                    }
                    let head = match ring.avail_head(next_avail.wrapping_add(consumed)) {
                        Ok(h) => h,
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    };
                    consumed += 1;
                    if let Err(e) = ring.chain(head, true, &mut me.chain) {
                        me.bad_chain(e);
                        me.used.push((head, 0));
                        continue;
                    }
                    in_hand = true;
                }
                let frame = frames[taken].as_ref();
                taken += 1;
                if (NET_HDR_LEN + frame.len()) as u64 > me.chain.total {
                    me.stats.rx_too_big += 1;
                    continue;
                }
                let mut hdr = [0u8; NET_HDR_LEN];
                hdr[10] = 1; // num_buffers, little endian
                me.chain.write_at(0, me.net_hdr.as_ref().unwrap_or(&hdr));
                me.chain.write_at(NET_HDR_LEN as u64, frame);
                me.used
                    .push((me.chain.head, (NET_HDR_LEN + frame.len()) as u32));
                me.stats.rx_frames += 1;
                me.pair_frames[pair].rx += 1;
                in_hand = false;
            }
            if in_hand {
                // The last frames were too big: the chain goes back unused.
                consumed -= 1;
            }
            let used = me.put_used(ring, next_used);
            (
                err.map_or(Ok(taken), Err),
                next_avail.wrapping_add(consumed),
                used,
            )
        });
        self.finish(q, r)
    }

    /// Hand every frame the guest transmitted (up to a batch) to `f`, from
    /// what is queued now, or what comes within `timeout`. Returns how
    /// many frames `f` saw.
    pub fn recv_batch(&mut self, timeout: Duration, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let n = self.recv_now(f)?;
        if n > 0 || timeout.is_zero() {
            return Ok(n);
        }
        if self.wait(TX_QUEUE, timeout)? {
            return self.recv_now(f);
        }
        Ok(0)
    }

    /// Drain every transmit queue, up to a batch in all, starting at the
    /// pair after the one the last pass started at (no queue starves).
    fn recv_now(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let pairs = self.pairs();
        let start = self.next_tx_pair % pairs;
        self.next_tx_pair = (start + 1) % pairs;
        let mut seen = 0;
        for i in 0..pairs {
            if seen >= self.batch {
                break;
            }
            let budget = self.batch - seen;
            seen += self.recv_on((start + i) % pairs, budget, f)?;
        }
        Ok(seen)
    }

    fn recv_on(
        &mut self,
        pair: usize,
        batch: usize,
        f: &mut dyn FnMut(&[u8]),
    ) -> io::Result<usize> {
        let q = 2 * pair + TX_QUEUE;
        let r = self.with_ring(q, |me, ring, next_avail, next_used| {
            let pending = match ring.pending(next_avail) {
                Ok(p) => p,
                Err(e) => return (Err(e), next_avail, next_used),
            };
            let mut seen = 0;
            let mut consumed: u16 = 0;
            let mut err = None;
            while consumed < pending && seen < batch {
                let head = match ring.avail_head(next_avail.wrapping_add(consumed)) {
                    Ok(h) => h,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                };
                consumed += 1;
                me.used.push((head, 0));
                if let Err(e) = ring.chain(head, false, &mut me.chain) {
                    me.bad_chain(e);
                    continue;
                }
                if me.chain.total < NET_HDR_LEN as u64 {
                    me.stats.bad_chains += 1;
                    continue;
                }
                let len = me.chain.total - NET_HDR_LEN as u64;
                if len > me.scratch.len() as u64 {
                    me.stats.tx_truncated += 1;
                }
                let n = len.min(me.scratch.len() as u64) as usize;
                let mut scratch = std::mem::take(&mut me.scratch);
                let got = me.chain.read_from(NET_HDR_LEN as u64, &mut scratch[..n]);
                f(&scratch[..got]);
                me.scratch = scratch;
                me.stats.tx_frames += 1;
                me.pair_frames[pair].tx += 1;
                seen += 1;
            }
            let used = me.put_used(ring, next_used);
            (
                err.map_or(Ok(seen), Err),
                next_avail.wrapping_add(consumed),
                used,
            )
        });
        self.finish(q, r)
    }

    fn bad_chain(&mut self, e: ChainError) {
        if self.stats.bad_chains < 8 {
            eprintln!(
                "vhost-user:{}: bad chain from the guest: {e:?}",
                self.path.display()
            );
        }
        self.stats.bad_chains += 1;
    }

    /// A queue error found inside a batch: what was done is published
    /// already; mark the queue broken and report no error to the caller
    /// (the guest's fault, counted).
    fn finish(
        &mut self,
        q: usize,
        r: Option<Result<Result<usize, RingError>, RingError>>,
    ) -> io::Result<usize> {
        match r {
            None | Some(Err(_)) => Ok(0),
            Some(Ok(Ok(n))) => Ok(n),
            Some(Ok(Err(e))) => {
                if let Some(g) = self.view.as_ref().map(|v| v.generation) {
                    self.mark_broken(q, g, e);
                }
                Ok(0)
            }
        }
    }

    /// Whether any queue of direction `dir` ([`RX_QUEUE`] or [`TX_QUEUE`])
    /// has available entries now.
    fn has_work(&mut self, dir: usize) -> bool {
        (0..self.pairs()).any(|k| {
            matches!(
                self.with_ring(2 * k + dir, |_, ring, a, u| (
                    ring.pending(a).unwrap_or(1) > 0,
                    a,
                    u
                )),
                Some(Ok(true))
            )
        })
    }

    /// Re-arm kicks on every queue of direction `dir`; returns whether work
    /// raced in on any (then don't sleep).
    pub fn arm(&mut self, dir: usize) -> bool {
        let mut raced = false;
        for k in 0..self.pairs() {
            raced |= self.arm_queue(2 * k + dir);
        }
        raced
    }

    fn arm_queue(&mut self, q: usize) -> bool {
        let r = self.with_ring(q, |me, ring, a, u| {
            ring.want_kicks(true, a);
            me.polling[q] = false;
            (ring.pending(a).unwrap_or(1) > 0, a, u)
        });
        // The next batch switches kicks off again.
        if let Some(Ok(true)) = r {
            return true;
        }
        self.polling[q] = false;
        false
    }

    /// Wait up to `timeout` for a queue of direction `dir` to have
    /// available entries: poll for the busy-poll time, then sleep on the
    /// kick. Returns whether one has.
    pub fn wait(&mut self, dir: usize, timeout: Duration) -> io::Result<bool> {
        let start = Instant::now();
        let deadline = start + timeout;
        let spin_until = start + self.busy_poll.min(timeout);
        loop {
            if self.has_work(dir) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if now < spin_until {
                std::hint::spin_loop();
                continue;
            }
            if self.arm(dir) {
                return Ok(true);
            }
            self.stats.sleeps += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if sys::wait(self.wake_fd(), libc::POLLIN, left.min(KICK_SLEEP_CAP))? {
                let _ = self.shared.wake.read();
            }
        }
    }

    /// Wait until a guest has set up both queues (of pair 0: the others
    /// come up only when the guest asks for them), up to `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let live = |me: &mut Self, q| me.with_ring(q, |_, _, a, u| ((), a, u)).is_some();
            if live(self, RX_QUEUE) && live(self, TX_QUEUE) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            if sys::wait(
                self.wake_fd(),
                libc::POLLIN,
                left.min(Duration::from_millis(20)),
            )? {
                let _ = self.shared.wake.read();
            }
        }
    }
}

impl Drop for VhostPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(s) = self.shared.shutdown.lock().unwrap().take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

//! Stress: several threads drive one VALE switch from all sides at once
//! (issue 13, "Tests"), with the pool audit exact.
//!
//! One registry and pool; switch `vale0` with
//! - `w0` (ephemeral, one ring), `w1` (ephemeral, two tx and two rx rings),
//!   `w2` (persistent, two rings, opened by handle), `w4` (ephemeral): the
//!   *permanent* ports, each driven by its own thread for the whole run
//!   (ring 1 of `w1` and `w2` feeds ring 1 of the other, ring 0 of the
//!   one-ring ports);
//! - `w3`: ephemeral, closed and reopened by its thread every few dozen
//!   iterations;
//! - `ext0`: a registered port of this test (a NIC-like kernel port that
//!   sends with `Switch::forward` and drains its rx kring in `notify`),
//!   attached and detached by the control thread while its sender thread
//!   keeps sending with whatever attachment it last saw;
//! - `ctl`: a persistent port the control thread creates, opens, sends
//!   from, closes and deletes;
//! - alongside, the pipe `sp{1`/`sp}1`: `w4`'s thread sends every frame
//!   through the pipe, its peer thread echoes it back by buffer swap, and
//!   `w4` forwards the echo into the switch by buffer swap (zero copy
//!   across three ports);
//! - a copy monitor (`vale0:w0/rt`, `vale0:w1/t`, `sp}1/r` in turn) the
//!   control thread opens, drains and closes.
//!
//! The control thread also ages the MAC table (`Registry::set_clock` past
//! `max_age`) and runs `Registry::audit` concurrently (result ignored:
//! buffers in flight make it inexact; it must just not deadlock). Every
//! `PAUSE_EVERY` iterations the workers park (their handles stay in their
//! mutexes) and the control thread runs an exact `Registry::audit` with
//! every open handle.
//!
//! Every frame is generated from (sender, ring, sequence number) alone, so
//! every receiver checks every byte and that each flow's sequence numbers
//! only go up. At the end: every frame to a permanent port's address, to
//! broadcast or to an unknown address is there unless that port counted a
//! `drop_ring_full`; per port, frames sent == accepted + counted source
//! drops, frames delivered == frames received; the pipe lost nothing; the
//! audit is exact and the pool's free count is back to full.
//!
//! `NETMAP_STRESS_ITERS` (default 20000, about a second in debug) sets the iterations per worker
//! thread, for longer local runs: `NETMAP_STRESS_ITERS=100000 cargo test
//! -p netmap --release --test stress`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netmap::vale::{Attachment, Batch, ForwardScratch};
use netmap::{
    BufferPool, Dir, Handle, Kring, Port, PortConfig, PortCounters, Registry, Switch, SyncError,
};

const SLOTS: u32 = 256;
const MAX_FRAME: usize = 1518;
const HDR: usize = 26;
const PAUSE_EVERY: u64 = 1000;
const CHURN_EVERY: u64 = 40;

// Sender identities (the last byte of their MAC).
const W0: u8 = 1;
const W1: u8 = 2;
const W2: u8 = 3;
const W3: u8 = 4;
const W4: u8 = 5;
const EXT: u8 = 6;
const CTL: u8 = 7;
const PERMANENT: [u8; 4] = [W0, W1, W2, W4];

fn mac(id: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, id]
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The frame `sender` sends as number `seq` on its ring `ring`: runt (2 %),
/// oversize (2 %), broadcast (10 %), unknown unicast (6 %), else unicast
/// to another sender's address. Bytes depend on the three numbers only.
fn gen(sender: u8, ring: u8, seq: u64) -> Vec<u8> {
    let h = mix(((sender as u64) << 56) ^ ((ring as u64) << 48) ^ seq);
    let kind = h % 100;
    let len = match kind {
        0..2 => 1 + (h >> 8) as usize % 13,
        2..4 => 1600,
        _ if (h >> 40).is_multiple_of(50) => 1000 + (h >> 16) as usize % (MAX_FRAME - 999),
        _ => 60 + (h >> 16) as usize % 200,
    };
    let dst = match kind {
        4..14 => [0xff; 6],
        14..20 => [0x02, 0xee, 0, 0, 0, (h >> 24) as u8 % 4],
        _ => {
            let mut d = 1 + (h >> 24) as u8 % 7;
            if d == sender {
                d = d % 7 + 1;
            }
            mac(d)
        }
    };
    let mut f = vec![0u8; len.max(HDR)];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&mac(sender));
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14] = sender;
    f[15] = ring;
    f[16..24].copy_from_slice(&seq.to_le_bytes());
    f[24..26].copy_from_slice(&(len as u16).to_le_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(HDR) {
        *b = (h >> (i % 8 * 8)) as u8 ^ i as u8;
    }
    f.truncate(len);
    f
}

/// Whether a frame must reach permanent port `p` unless `p` counts a drop:
/// to `p`'s address, broadcast, or to an address nobody has.
fn must_reach(f: &[u8], p: u8) -> bool {
    f[6..12] != mac(p) && (f[..6] == mac(p) || f[..6] == [0xff; 6] || f[1] == 0xee)
}

#[derive(Default)]
struct Checker {
    me: u8,
    last: HashMap<(u8, u8), u64>,
    /// Frames received.
    got: u64,
    /// Of which `must_reach(me)`.
    got_must: u64,
    /// Frames too short to carry a header (monitors of a sender see them).
    runts: u64,
}

impl Checker {
    fn new(me: u8) -> Self {
        Checker {
            me,
            ..Default::default()
        }
    }

    fn check(&mut self, f: &[u8], what: &str) {
        self.got += 1;
        if f.len() < HDR {
            assert!(self.me == 0, "{what}: runt of {} bytes delivered", f.len());
            self.runts += 1;
            return;
        }
        let (sender, ring) = (f[14], f[15]);
        let seq = u64::from_le_bytes(f[16..24].try_into().unwrap());
        assert!(
            f == gen(sender, ring, seq),
            "{what}: frame {sender}/{ring}#{seq} corrupted"
        );
        assert!(
            self.me == 0 || sender != self.me,
            "{what}: own frame {ring}#{seq} came back"
        );
        if let Some(&prev) = self.last.get(&(sender, ring)) {
            assert!(
                seq > prev,
                "{what}: flow {sender}/{ring} went from #{prev} to #{seq}"
            );
        }
        self.last.insert((sender, ring), seq);
        if self.me != 0 && must_reach(f, self.me) {
            self.got_must += 1;
        }
    }
}

/// What a sender did, for the end's accounting.
#[derive(Default, Clone, Copy, Debug)]
struct Sent {
    submitted: u64,
    runts: u64,
    oversize: u64,
    detached: u64,
    /// Accepted frames that must reach each permanent port (by MAC id).
    must: [u64; 8],
}

impl Sent {
    fn add(&mut self, f: &[u8]) {
        self.submitted += 1;
        if f.len() < 14 {
            self.runts += 1;
        } else if f.len() > MAX_FRAME {
            self.oversize += 1;
        } else {
            for p in PERMANENT {
                self.must[p as usize] += must_reach(f, p) as u64;
            }
        }
    }
    fn merge(&mut self, o: &Sent) {
        self.submitted += o.submitted;
        self.runts += o.runts;
        self.oversize += o.oversize;
        self.detached += o.detached;
        for i in 0..8 {
            self.must[i] += o.must[i];
        }
    }
}

/// Source-side conservation: every frame handed to the port was accepted
/// or dropped for a documented, counted reason.
fn check_sender(name: &str, s: &Sent, c: &PortCounters) {
    let t = &c.tx;
    assert_eq!(
        s.submitted,
        t.packets + t.drop_short + t.drop_oversize + t.drop_frag_chain + t.drop_detached,
        "{name}: sent != accepted + drops ({s:?}, {t:?})"
    );
    assert_eq!(t.drop_short, s.runts, "{name}: runts");
    assert_eq!(t.drop_oversize, s.oversize, "{name}: oversize");
    assert_eq!(t.drop_detached, s.detached, "{name}: detached");
}

fn cfg(rings: u16) -> PortConfig {
    PortConfig {
        tx_rings: rings,
        rx_rings: rings,
        num_slots: SLOTS,
        max_frame: MAX_FRAME,
    }
}

/// Writes up to `n` frames of flow (`me`, `r`) into tx ring `r` and
/// txsyncs it.
fn send_burst(h: &mut Handle, r: usize, me: u8, seq: &mut u64, n: u32, sent: &mut Sent) {
    let ring = h.tx_ring(r).unwrap();
    for _ in 0..n {
        if ring.space() == 0 {
            break;
        }
        let f = gen(me, r as u8, *seq);
        *seq += 1;
        let i = ring.head;
        ring.write_frame(i, &f).unwrap();
        ring.slot[i as usize].flags = 0;
        ring.advance(1);
        sent.add(&f);
    }
    h.txsync(r).unwrap();
}

/// Receives and checks everything on every rx ring. Returns the frames.
fn drain(h: &mut Handle, ck: &mut Checker, what: &str) -> u64 {
    let mut n = 0;
    for r in 0..h.num_rings().1 {
        h.rxsync(r).unwrap();
        let ring = h.rx_ring(r).unwrap();
        while ring.head != ring.tail {
            ck.check(ring.frame(ring.head).unwrap(), what);
            ring.advance(1);
            n += 1;
        }
        h.rxsync(r).unwrap();
    }
    n
}

/// A kernel port on the switch, as a NIC under its bridge: its sender
/// hands frames to `Switch::forward` from its tx kring; the switch's
/// `notify` drains its rx kring (frames checked).
struct ExtPort {
    tx: Box<[Kring]>,
    rx: Box<[Kring]>,
    checker: Mutex<Checker>,
}

impl Port for ExtPort {
    fn name(&self) -> &str {
        "ext0"
    }
    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }
    fn max_frame(&self) -> usize {
        MAX_FRAME
    }
    fn txsync(&self, r: usize) -> Result<(), SyncError> {
        self.tx[r].lock().tx_complete_all();
        Ok(())
    }
    fn rxsync(&self, r: usize) -> Result<(), SyncError> {
        self.rx[r].lock().rx_take_released();
        Ok(())
    }
    fn notify(&self, dir: Dir, r: usize) {
        if dir != Dir::Rx {
            return;
        }
        let mut k = self.rx[r].lock();
        let (first, n) = k.arrived();
        let mut ck = self.checker.lock().unwrap();
        for i in 0..n {
            let j = k.add(first, i) as usize;
            ck.check(k.slots.frame(j).unwrap(), "ext0");
        }
        drop(ck);
        k.release(n);
        k.rx_take_released();
    }
}

/// The worker threads' state; locked by its thread for each iteration,
/// by the control thread while the workers are parked.
#[derive(Default)]
struct Worker {
    me: u8,
    name: String,
    vale: Option<Handle>,
    pipe: Option<Handle>,
    seq: [u64; 2],
    sent: Sent,
    /// Counters of `w3`'s closed incarnations.
    closed: PortCounters,
    ck: Checker,
    /// `w4`: frames sent into the pipe and echoes received.
    pipe_sent: u64,
    pipe_back: u64,
    /// `sp}1` + ext sender.
    ext: Option<Arc<ExtPort>>,
    ext_sent: Sent,
    ext_seq: u64,
    scratch: Option<ForwardScratch>,
}

struct Shared {
    reg: Registry,
    failed: AtomicBool,
    arrived: AtomicUsize,
    epoch: AtomicU64,
    done: AtomicUsize,
    /// The ext port's attachment as the control thread last made it.
    ext_att: Mutex<Option<(Arc<Switch>, Attachment)>>,
}

impl Shared {
    fn wait_epoch(&self, e: u64) {
        while self.epoch.load(SeqCst) < e {
            assert!(!self.failed.load(SeqCst), "another thread failed");
            thread::sleep(Duration::from_micros(50));
        }
    }
}

fn iterations() -> u64 {
    std::env::var("NETMAP_STRESS_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

impl Worker {
    fn step(&mut self, reg: &Registry, it: u64, rng: u64) {
        let burst = 1 + (rng % 8) as u32;
        match self.me {
            W3 => {
                if it % CHURN_EVERY == CHURN_EVERY - 1 {
                    if let Some(h) = self.vale.take() {
                        let c = h.port().counters();
                        self.closed.tx.accumulate(&c.tx);
                        self.closed.rx.accumulate(&c.rx);
                        drop(h);
                    }
                } else if self.vale.is_none() {
                    self.vale = Some(reg.open_with("vale0:w3", cfg(1)).unwrap());
                }
                if let Some(h) = self.vale.as_mut() {
                    send_burst(h, 0, W3, &mut self.seq[0], burst, &mut self.sent);
                    drain(h, &mut self.ck, "w3");
                }
            }
            W4 => self.pipe_master(burst),
            EXT => {
                self.pipe_echo();
                self.ext_send(burst);
            }
            _ => {
                let h = self.vale.as_mut().unwrap();
                let r = (it as usize) % h.num_rings().0;
                send_burst(h, r, self.me, &mut self.seq[r], burst, &mut self.sent);
                drain(h, &mut self.ck, &self.name);
            }
        }
    }

    /// `w4`: new frames into the pipe; echoes checked and forwarded into
    /// the switch by buffer swap; the switch's frames received.
    fn pipe_master(&mut self, burst: u32) {
        let p = self.pipe.as_mut().unwrap();
        let ring = p.tx_ring(0).unwrap();
        for _ in 0..burst {
            if ring.space() == 0 {
                break;
            }
            let f = gen(W4, 0, self.pipe_sent);
            let i = ring.head;
            ring.write_frame(i, &f).unwrap();
            ring.slot[i as usize].flags = 0;
            ring.advance(1);
            self.pipe_sent += 1;
        }
        p.txsync(0).unwrap();
        self.pipe_forward();
        drain(self.vale.as_mut().unwrap(), &mut self.ck, "w4");
    }

    /// `w4`: echoes from the pipe, in order and intact, into the switch.
    /// Returns how many moved.
    fn pipe_forward(&mut self) -> u64 {
        let p = self.pipe.as_mut().unwrap();
        let v = self.vale.as_mut().unwrap();
        // Frames the pipe held back while the peer's ring was full.
        p.txsync(0).unwrap();
        p.rxsync(0).unwrap();
        let (prx, vtx) = (p.rx_ring(0).unwrap(), v.tx_ring(0).unwrap());
        let mut moved = 0;
        while prx.head != prx.tail && vtx.space() > 0 {
            let f = prx.frame(prx.head).unwrap();
            let want = gen(W4, 0, self.pipe_back);
            assert!(f == want, "pipe echo #{} wrong", self.pipe_back);
            self.pipe_back += 1;
            self.sent.add(&want);
            let (i, j) = (prx.head, vtx.head);
            prx.swap_buf(i, vtx, j).unwrap();
            vtx.slot[j as usize].flags = 0;
            prx.advance(1);
            vtx.advance(1);
            moved += 1;
        }
        p.rxsync(0).unwrap();
        v.txsync(0).unwrap();
        moved
    }

    /// `sp}1`: everything received goes back, by buffer swap.
    fn pipe_echo(&mut self) -> u64 {
        let p = self.pipe.as_mut().unwrap();
        p.rxsync(0).unwrap();
        let (tx, rx) = p.rings_mut();
        let (tx, rx) = (&mut tx[0], &mut rx[0]);
        let mut moved = 0;
        while rx.head != rx.tail && tx.space() > 0 {
            let (i, j) = (rx.head, tx.head);
            rx.swap_buf(i, tx, j).unwrap();
            tx.slot[j as usize].flags = 0;
            rx.advance(1);
            tx.advance(1);
            moved += 1;
        }
        p.txsync(0).unwrap();
        p.rxsync(0).unwrap();
        moved
    }

    /// The ext port's sender: a burst through `Switch::forward` with the
    /// attachment last seen (stale after a detach: refused and counted).
    fn ext_send(&mut self, burst: u32) {
        let ext = self.ext.clone().unwrap();
        let sh = EXT_ATT.with(|a| a.borrow().clone());
        let sc = self.scratch.as_mut().unwrap();
        let mut k = ext.tx[0].lock();
        let mut frames = Vec::new();
        for i in 0..burst as usize {
            let f = gen(EXT, 0, self.ext_seq);
            self.ext_seq += 1;
            k.slots.buf_mut(i).unwrap()[..f.len()].copy_from_slice(&f);
            k.slots.set_len(i, f.len() as u16).unwrap();
            k.slots.set_flags(i, 0);
            frames.push(f);
        }
        let Some((sw, a)) = sh else {
            // Not attached: nothing to send into.
            self.ext_sent.submitted += burst as u64;
            self.ext_sent.detached += burst as u64;
            k.stats.drop_detached += burst as u64;
            return;
        };
        let ks = &mut *k;
        let batch = Batch {
            src: a,
            src_ring: 0,
            slots: &ks.slots,
            first: 0,
            count: burst,
            max_frame: MAX_FRAME,
        };
        match sw.forward(batch, &mut ks.stats, sc) {
            Ok(fw) => {
                assert_eq!(fw.consumed, burst, "ext0: batch not consumed");
                drop(k);
                for f in &frames {
                    self.ext_sent.add(f);
                }
                sw.wake(&fw.wakeups);
            }
            Err(SyncError::Detached) => {
                k.stats.drop_detached += burst as u64;
                self.ext_sent.submitted += burst as u64;
                self.ext_sent.detached += burst as u64;
            }
            Err(e) => panic!("ext0: forward: {e:?}"),
        }
    }
}

thread_local! {
    static EXT_ATT: std::cell::RefCell<Option<(Arc<Switch>, Attachment)>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets the failure flag if the thread unwinds, so nobody waits forever.
struct FailGuard<'a>(&'a AtomicBool);
impl Drop for FailGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, SeqCst);
        }
    }
}

/// What the control thread checked, for the report.
#[derive(Default, Debug)]
struct CtlReport {
    pauses: u64,
    attaches: u64,
    persistent_cycles: u64,
    monitors: u64,
    monitor_frames: u64,
    agings: u64,
    ctl_sent: Sent,
    ctl_counters: PortCounters,
}

fn control(sh: &Shared, workers: &[Arc<Mutex<Worker>>]) -> CtlReport {
    let reg = &sh.reg;
    let nw = workers.len();
    let mut rep = CtlReport::default();
    let mut step = 0u64;
    let mut clock = 0u64;
    let mut attached = false;
    let mut ctl: Option<(Arc<netmap::ValePort>, Option<Handle>)> = None;
    let mut ctl_seq = 0u64;
    let mut ctl_ck = Checker::new(CTL);
    let mut mon: Option<(Handle, Checker, u64)> = None;
    let mon_names = ["vale0:w0/rt", "vale0:w1/t", "sp}1/r"];
    let close_mon = |mon: &mut Option<(Handle, Checker, u64)>, rep: &mut CtlReport| {
        if let Some((mut h, mut ck, _)) = mon.take() {
            drain(&mut h, &mut ck, "monitor");
            let before = ck.got;
            let c = h.port().counters();
            drain(&mut h, &mut ck, "monitor");
            assert!(
                before <= c.rx.packets && c.rx.packets <= ck.got,
                "monitor {}: read {before}..{} but delivered {}",
                h.port().name(),
                ck.got,
                c.rx.packets
            );
            rep.monitor_frames += ck.got;
        }
    };
    loop {
        step += 1;
        let finished = sh.done.load(SeqCst) == nw;
        if !finished && sh.arrived.load(SeqCst) == nw {
            // Every worker parked between iterations: the exact audit.
            let guards: Vec<_> = workers.iter().map(|w| w.lock().unwrap()).collect();
            let mut hs: Vec<&Handle> = Vec::new();
            for g in &guards {
                hs.extend(g.vale.iter());
                hs.extend(g.pipe.iter());
            }
            if let Some((_, Some(h))) = &ctl {
                hs.push(h);
            }
            if let Some((h, _, _)) = &mon {
                hs.push(h);
            }
            if let Err(e) = reg.audit(&hs) {
                panic!("mid-run audit {}: {e:?}", rep.pauses);
            }
            drop(hs);
            drop(guards);
            rep.pauses += 1;
            sh.arrived.store(0, SeqCst);
            sh.epoch.store(rep.pauses, SeqCst);
        }
        if finished {
            break;
        }
        match step % 8 {
            0 => {
                // Attach or detach the kernel port.
                if attached {
                    reg.detach("vale0", "ext0").unwrap();
                    *sh.ext_att.lock().unwrap() = None;
                } else {
                    let a = reg.attach("vale0", "ext0").unwrap();
                    *sh.ext_att.lock().unwrap() = Some(a);
                    rep.attaches += 1;
                }
                attached = !attached;
            }
            1 | 5 => {
                // The persistent port's life: create, open, send, close,
                // delete.
                match &mut ctl {
                    None => {
                        let p = reg.create_persistent("vale0:ctl", cfg(1)).unwrap();
                        ctl = Some((p, None));
                    }
                    Some((_, h @ None)) if !step.is_multiple_of(3) => {
                        *h = Some(reg.open("vale0:ctl").unwrap());
                    }
                    Some((_, Some(h))) => {
                        send_burst(h, 0, CTL, &mut ctl_seq, 4, &mut rep.ctl_sent);
                        drain(h, &mut ctl_ck, "ctl");
                        if step.is_multiple_of(5) {
                            ctl.as_mut().unwrap().1 = None;
                        }
                    }
                    Some((p, None)) => {
                        assert_eq!(
                            reg.delete_persistent("vale0:ctl"),
                            Ok(()),
                            "delete persistent"
                        );
                        let c = p.counters();
                        rep.ctl_counters.tx.accumulate(&c.tx);
                        rep.ctl_counters.rx.accumulate(&c.rx);
                        ctl = None;
                        rep.persistent_cycles += 1;
                    }
                }
            }
            2 | 6 => {
                // A copy monitor: open, drain, close.
                match &mut mon {
                    None => {
                        let name = mon_names[(rep.monitors % 3) as usize];
                        mon = Some((reg.open(name).unwrap(), Checker::new(0), 0));
                        rep.monitors += 1;
                    }
                    Some((h, ck, n)) => {
                        drain(h, ck, "monitor");
                        *n += 1;
                        if *n >= 6 {
                            close_mon(&mut mon, &mut rep);
                        }
                    }
                }
            }
            3 => {
                // Time passes; now and then past every entry's age.
                clock += if step % 64 == 3 { 400_000 } else { 10 };
                rep.agings += (step % 64 == 3) as u64;
                reg.set_clock(clock);
            }
            4 => {
                // Concurrent audit: inexact (buffers in flight), must
                // neither deadlock nor panic.
                if step % 32 == 4 {
                    let _ = reg.audit(&[]);
                }
            }
            _ => {}
        }
        thread::sleep(Duration::from_micros(100));
    }
    close_mon(&mut mon, &mut rep);
    if let Some((p, h)) = ctl.take() {
        if let Some(mut h) = h {
            drain(&mut h, &mut ctl_ck, "ctl");
        }
        reg.delete_persistent("vale0:ctl").unwrap();
        let c = p.counters();
        rep.ctl_counters.tx.accumulate(&c.tx);
        rep.ctl_counters.rx.accumulate(&c.rx);
        rep.persistent_cycles += 1;
    }
    if attached {
        reg.detach("vale0", "ext0").unwrap();
        *sh.ext_att.lock().unwrap() = None;
    }
    rep
}

#[test]
fn switch_from_all_sides() {
    let started = Instant::now();
    let iters = iterations();
    // A hang is a deadlock: fail loudly rather than stall CI.
    let (alive, watchdog_rx) = mpsc::channel::<()>();
    let limit = Duration::from_secs(120 + iters / 100);
    thread::spawn(move || {
        if watchdog_rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("stress: no end after {limit:?}: deadlock?");
            std::process::abort();
        }
    });

    let pool = BufferPool::on_heap(8192, 2048).unwrap();
    let full = pool.free_count();
    let sh = Arc::new(Shared {
        reg: Registry::new(pool.clone()),
        failed: AtomicBool::new(false),
        arrived: AtomicUsize::new(0),
        epoch: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        ext_att: Mutex::new(None),
    });
    let reg = &sh.reg;
    let ext = Arc::new(ExtPort {
        tx: Kring::new_set(&pool, Dir::Tx, 1, SLOTS).unwrap(),
        rx: Kring::new_set(&pool, Dir::Rx, 1, SLOTS).unwrap(),
        checker: Mutex::new(Checker::new(EXT)),
    });
    reg.register(ext.clone()).unwrap();

    // The permanent ports and the pipe, opened before any thread starts.
    reg.create_persistent("vale0:w2", cfg(2)).unwrap();
    let mk = |me: u8, name: &str, vale: Option<Handle>, pipe: Option<Handle>| Worker {
        me,
        name: name.into(),
        vale,
        pipe,
        ck: Checker::new(me),
        ..Default::default()
    };
    let workers: Vec<Arc<Mutex<Worker>>> = vec![
        mk(
            W0,
            "w0",
            Some(reg.open_with("vale0:w0", cfg(1)).unwrap()),
            None,
        ),
        mk(
            W1,
            "w1",
            Some(reg.open_with("vale0:w1", cfg(2)).unwrap()),
            None,
        ),
        mk(W2, "w2", Some(reg.open("vale0:w2").unwrap()), None),
        mk(W3, "w3", None, None),
        mk(
            W4,
            "w4",
            Some(reg.open_with("vale0:w4", cfg(1)).unwrap()),
            Some(reg.open_with("sp{1", cfg(1)).unwrap()),
        ),
        Worker {
            ext: Some(ext.clone()),
            scratch: Some(ForwardScratch::new(&pool)),
            ..mk(
                EXT,
                "sp}1",
                None,
                Some(reg.open_with("sp}1", cfg(1)).unwrap()),
            )
        },
    ]
    .into_iter()
    .map(|w| Arc::new(Mutex::new(w)))
    .collect();
    reg.audit(
        &workers
            .iter()
            .map(|w| w.lock().unwrap())
            .collect::<Vec<_>>()
            .iter()
            .flat_map(|g| g.vale.iter().chain(g.pipe.iter()))
            .collect::<Vec<_>>(),
    )
    .unwrap();

    let threads: Vec<_> = workers
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let (w, sh) = (w.clone(), sh.clone());
            thread::spawn(move || {
                let _g = FailGuard(&sh.failed);
                let mut rng = mix(n as u64 + 1);
                let mut pauses = 0;
                for it in 0..iters {
                    if it > 0 && it % PAUSE_EVERY == 0 {
                        pauses += 1;
                        sh.arrived.fetch_add(1, SeqCst);
                        sh.wait_epoch(pauses);
                    }
                    assert!(!sh.failed.load(SeqCst), "another thread failed");
                    let att = sh.ext_att.lock().unwrap().clone();
                    EXT_ATT.with(|a| *a.borrow_mut() = att);
                    rng = mix(rng);
                    w.lock().unwrap().step(&sh.reg, it, rng);
                    if rng.is_multiple_of(4) {
                        thread::yield_now();
                    }
                }
                sh.done.fetch_add(1, SeqCst);
            })
        })
        .collect();
    let rep = {
        let _g = FailGuard(&sh.failed);
        let r = catch_unwind(AssertUnwindSafe(|| control(&sh, &workers)));
        if r.is_err() {
            sh.failed.store(true, SeqCst);
        }
        let mut first = None;
        for t in threads {
            if let Err(e) = t.join() {
                first.get_or_insert(e);
            }
        }
        match (r, first) {
            (Err(e), _) => std::panic::resume_unwind(e),
            (_, Some(e)) => std::panic::resume_unwind(e),
            (Ok(rep), None) => rep,
        }
    };
    let mut ws: Vec<Worker> = workers
        .into_iter()
        .map(|w| Arc::into_inner(w).unwrap().into_inner().unwrap())
        .collect();

    // Quiesce: echo and forward until the pipe is empty, then drain every
    // port the switch still delivers to.
    let (w4i, exti) = (4, 5);
    for _ in 0..10_000 {
        let e = ws[exti].pipe_echo();
        let f = ws[w4i].pipe_forward();
        if e == 0 && f == 0 && ws[w4i].pipe_back == ws[w4i].pipe_sent {
            break;
        }
        for w in ws.iter_mut() {
            if let Some(h) = w.vale.as_mut() {
                drain(h, &mut w.ck, &w.name);
            }
        }
    }
    for w in ws.iter_mut() {
        if let Some(h) = w.vale.as_mut() {
            drain(h, &mut w.ck, &w.name);
        }
    }
    assert_eq!(ws[w4i].pipe_back, ws[w4i].pipe_sent, "pipe lost frames");

    // Counters.
    let mut all = Sent::default();
    for w in ws.iter().filter(|w| w.me != EXT) {
        let mut c = w.closed;
        if let Some(h) = &w.vale {
            let now = h.port().counters();
            c.tx.accumulate(&now.tx);
            c.rx.accumulate(&now.rx);
        }
        check_sender(&w.name, &w.sent, &c);
        if PERMANENT.contains(&w.me) {
            assert_eq!(c.rx.packets, w.ck.got, "{}: delivered != received", w.name);
        }
        all.merge(&w.sent);
    }
    let ws_ext = &ws[exti];
    let ec = ext.counters();
    check_sender("ext0", &ws_ext.ext_sent, &ec);
    let ext_got = ext.checker.lock().unwrap().got;
    let ext_queued = ext.rx[0].lock().queued() as u64;
    assert_eq!(
        ec.rx.packets,
        ext_got + ext_queued,
        "ext0: delivered != seen"
    );
    all.merge(&ws_ext.ext_sent);
    check_sender("ctl", &rep.ctl_sent, &rep.ctl_counters);
    all.merge(&rep.ctl_sent);
    // The pipe: lossless both ways.
    let (m, s) = (
        ws[w4i].pipe.as_ref().unwrap().port().counters(),
        ws[exti].pipe.as_ref().unwrap().port().counters(),
    );
    assert_eq!(m.tx.packets, ws[w4i].pipe_sent, "pipe master tx");
    assert_eq!(s.rx.packets, m.tx.packets, "pipe slave rx");
    assert_eq!(s.tx.packets, m.tx.packets, "pipe slave tx");
    assert_eq!(m.rx.packets, m.tx.packets, "pipe master rx");
    // Every frame that had to reach a permanent port did, or was counted.
    let mut report = String::new();
    for w in ws.iter().filter(|w| PERMANENT.contains(&w.me)) {
        let c = w.vale.as_ref().unwrap().port().counters();
        let must = all.must[w.me as usize];
        assert!(
            w.ck.got_must <= must,
            "{}: more frames than sent ({} > {must})",
            w.name,
            w.ck.got_must
        );
        let missing = must - w.ck.got_must;
        assert!(
            missing <= c.rx.drop_ring_full,
            "{}: {missing} frames lost, {} counted",
            w.name,
            c.rx.drop_ring_full
        );
        report += &format!(
            " {}: {} got ({} of {must} due), {} ring-full;",
            w.name, w.ck.got, w.ck.got_must, c.rx.drop_ring_full
        );
    }

    // The final audit with every handle, then with none: exact, and every
    // buffer back in the pool.
    let hs: Vec<&Handle> = ws
        .iter()
        .flat_map(|w| w.vale.iter().chain(w.pipe.iter()))
        .collect();
    reg.audit(&hs).unwrap();
    drop(hs);
    for w in ws.iter_mut() {
        w.vale = None;
        w.pipe = None;
    }
    reg.delete_persistent("vale0:w2").unwrap();
    reg.audit(&[]).unwrap();
    reg.unregister("ext0").unwrap();
    assert!(reg.ports().is_empty(), "ports left: {:?}", reg.ports());
    assert!(reg.switches().is_empty(), "switches left");
    drop(ws);
    drop(ext);
    assert_eq!(pool.free_count(), full, "buffers not back in the pool");
    let _ = alive.send(());
    eprintln!(
        "stress: {iters} iterations x 6 workers in {:?}: {} frames sent; {} exact audits, \
         {} attaches, {} persistent cycles, {} monitors ({} frames), {} agings;{report} \
         ext0 got {ext_got}",
        started.elapsed(),
        all.submitted,
        rep.pauses,
        rep.attaches,
        rep.persistent_cycles,
        rep.monitors,
        rep.monitor_frames,
        rep.agings,
    );
}

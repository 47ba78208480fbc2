//! The two loops every mode is made of: send stamped frames, count the
//! frames that arrive. They run on their own threads and meet in [`Shared`].

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::Duration;

use super::clock::{now_ns, thread_cpu_ns};
use super::frame::{self, Template, LEARN_SEQ};
use super::rate::TokenBucket;
use super::stats::SeqTracker;
use crate::wire::Endpoint;

/// The longest one receive call waits, so stop flags are seen promptly.
pub const POLL: Duration = Duration::from_millis(10);
/// Drain the tx port's own receive queue every this many send batches.
const DRAIN_EVERY: u64 = 16;

/// What the tx and rx threads (and the progress printer) share.
pub struct Shared {
    /// Frames sent so far, warm-up included.
    pub sent: AtomicU64,
    /// Frames counted so far by the receiver.
    pub received: AtomicU64,
    /// The first sequence number sent after the warm-up; `u64::MAX` until then.
    pub warm_seq: AtomicU64,
    /// One past the last sequence number sent, once the sender is done.
    pub end_seq: AtomicU64,
    /// When the sender finished (ns), 0 while it runs.
    pub tx_done_ns: AtomicU64,
    /// Set when either side failed: the other stops too.
    pub stop: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            warm_seq: AtomicU64::new(u64::MAX),
            end_seq: AtomicU64::new(0),
            tx_done_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }
}

/// When and how much to send.
#[derive(Clone, Debug)]
pub struct TxPlan {
    pub count: Option<u64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub rate: u64,
    pub batch: usize,
    /// With a count: give up when the wire takes nothing for this long.
    pub stall: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct TxResult {
    pub warm_seq: u64,
    pub end_seq: u64,
    pub warm_ns: u64,
    pub end_ns: u64,
    /// This run's frames that arrived on the tx port, learning frame aside.
    pub returned: u64,
    /// CPU time the sender used (ns).
    pub cpu_ns: u64,
}

impl TxResult {
    pub fn sent(&self) -> u64 {
        self.end_seq - self.warm_seq
    }

    pub fn pps(&self) -> f64 {
        rate(self.sent(), self.end_ns.saturating_sub(self.warm_ns))
    }
}

/// `n` frames over `ns` nanoseconds, per second (0 for an empty span).
pub fn rate(n: u64, ns: u64) -> f64 {
    if ns == 0 { 0.0 } else { n as f64 * 1e9 / ns as f64 }
}

/// Sleep for waits long enough for the scheduler, spin for short ones.
fn pause(ns: u64) {
    if ns >= 200_000 {
        std::thread::sleep(Duration::from_nanos(ns - 50_000));
    } else if ns >= 20_000 {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// This run's frames that came back on the tx port (a switch flooding or
/// looping them), learning frame aside. Draining the port also keeps QEMU
/// from stalling on a full socket towards us.
fn drain(ep: &mut Endpoint, run: u16) -> io::Result<u64> {
    let mut n = 0;
    ep.recv_batch(Duration::ZERO, &mut |f| {
        if frame::parse(f).is_some_and(|s| s.run == run && s.seq != LEARN_SEQ) {
            n += 1;
        }
    })?;
    Ok(n)
}

/// Send stamped frames until the count or the time is up (or `stop`).
pub fn transmit(ep: &mut Endpoint, t: &Template, plan: &TxPlan, shared: &Shared) -> io::Result<TxResult> {
    let cpu0 = thread_cpu_ns();
    let start = now_ns();
    let warm_at = start + plan.warmup.as_nanos() as u64;
    let end_at = plan.count.is_none().then(|| warm_at + plan.duration.as_nanos() as u64);
    let stall = plan.stall.as_nanos() as u64;
    let mut frames = vec![t.bytes().to_vec(); plan.batch];
    let mut bucket = (plan.rate > 0).then(|| TokenBucket::for_rate(plan.rate, plan.batch, start));
    let mut r = TxResult::default();
    let mut seq = 0u64;
    let mut warm: Option<u64> = None;
    let mut last_progress = start;
    let mut batches = 0u64;
    let outcome = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        let now = now_ns();
        if warm.is_none() && now >= warm_at {
            warm = Some(seq);
            r.warm_ns = now;
            // Release: a receiver that sees a frame numbered >= this sees this too.
            shared.warm_seq.store(seq, Release);
        }
        if end_at.is_some_and(|e| now >= e) {
            break Ok(());
        }
        let mut want = plan.batch as u64;
        if let (Some(c), Some(w)) = (plan.count, warm) {
            let done = seq - w;
            if done >= c {
                break Ok(());
            }
            want = want.min(c - done);
        }
        if let Some(b) = &mut bucket {
            let n = b.take(now, want);
            if n == 0 {
                pause(b.wait_ns(now));
                continue;
            }
            want = n;
        }
        let want = want as usize;
        for (i, f) in frames[..want].iter_mut().enumerate() {
            t.stamp(f, seq + i as u64, now);
        }
        let n = match ep.send_batch(&frames[..want]) {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if n > 0 {
            seq += n as u64;
            shared.sent.store(seq, Relaxed);
            last_progress = now;
        }
        if n < want {
            if let Some(b) = &mut bucket {
                b.refund((want - n) as u64);
            }
            if plan.count.is_some() && now - last_progress > stall {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{}: the wire took nothing for {:.1} s (is the peer reading?)", ep.spec(), plan.stall.as_secs_f64()),
                ));
            }
            let left = end_at.map_or(POLL, |e| Duration::from_nanos(e.saturating_sub(now)).min(POLL));
            if let Err(e) = ep.wait_writable(left) {
                break Err(e);
            }
        }
        batches += 1;
        if batches % DRAIN_EVERY == 0 {
            match drain(ep, t.run()) {
                Ok(n) => r.returned += n,
                Err(e) => break Err(e),
            }
        }
    };
    // Frames a stream wire buffered go out before the sender calls it done.
    let outcome = outcome.and_then(|()| ep.flush(plan.stall));
    r.end_ns = now_ns();
    if warm.is_none() {
        // Ended (stopped) inside the warm-up: nothing was measured.
        r.warm_ns = r.end_ns;
        shared.warm_seq.store(seq, Release);
    }
    r.warm_seq = warm.unwrap_or(seq);
    r.end_seq = seq;
    r.returned += drain(ep, t.run()).unwrap_or(0);
    shared.end_seq.store(seq, Release);
    shared.tx_done_ns.store(r.end_ns.max(1), Release);
    if outcome.is_err() {
        shared.stop.store(true, Relaxed);
    }
    r.cpu_ns = thread_cpu_ns() - cpu0;
    outcome.map(|()| r)
}

/// When the receiver stops.
#[derive(Clone, Debug)]
pub enum RxUntil {
    /// txrx: after the sender is done and every frame is in, or nothing
    /// came for `idle`.
    Sender { idle: Duration },
    /// rx: after the warm-up plus `duration`, or `count` frames.
    Time { warmup: Duration, duration: Duration, count: Option<u64> },
}

#[derive(Clone, Debug, Default)]
pub struct RxResult {
    /// Measured frames of the tracked run, by sequence number.
    pub tracker: SeqTracker,
    /// Every measured frame, ours or not (rx mode's "received").
    pub frames: u64,
    /// Measured frames that were not the tracked run's.
    pub other: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Start and end of the measuring window (ns).
    pub window: (u64, u64),
    /// CPU time the receiver used (ns).
    pub cpu_ns: u64,
}

impl RxResult {
    pub fn pps(&self, n: u64) -> f64 {
        rate(n, self.last_ns.saturating_sub(self.first_ns))
    }
}

/// Count what arrives. `run`: count only that run's frames as ours (txrx);
/// `None`: follow the first pktgen run seen (rx mode).
pub fn receive(ep: &mut Endpoint, run: Option<u16>, until: &RxUntil, shared: &Shared) -> io::Result<RxResult> {
    let cpu0 = thread_cpu_ns();
    let start = now_ns();
    let (warm_at, end_at, count) = match until {
        RxUntil::Time { warmup, duration, count } => {
            let w = start + warmup.as_nanos() as u64;
            (w, count.is_none().then(|| w + duration.as_nanos() as u64), *count)
        }
        RxUntil::Sender { .. } => (start, None, None),
    };
    let mut r = RxResult { window: (warm_at, 0), ..RxResult::default() };
    let mut run = run;
    let outcome = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        let mut now = 0;
        let mut warm_seq = 0;
        let got = ep.recv_batch(POLL, &mut |f| {
            if now == 0 {
                now = now_ns(); // one clock read per batch
                // Read after the frames arrived, so it is at least as new as
                // any of them (Acquire pairs with the sender's Release).
                if let RxUntil::Sender { .. } = until {
                    warm_seq = shared.warm_seq.load(Acquire);
                }
            }
            if now < warm_at {
                return;
            }
            let ours = match frame::parse(f) {
                Some(s) if s.seq == LEARN_SEQ => return,
                Some(s) if run.is_none() => {
                    // Track dups from a little below the first frame seen,
                    // so early stragglers are still checked.
                    run = Some(s.run);
                    r.tracker = SeqTracker::new(s.seq.saturating_sub(1 << 16));
                    Some(s)
                }
                Some(s) if Some(s.run) == run => Some(s),
                _ => None,
            };
            match ours {
                Some(s) if s.seq < warm_seq => {} // sent during the warm-up
                Some(s) => {
                    r.tracker.record(s.seq);
                    r.frames += 1;
                    if r.first_ns == 0 {
                        r.first_ns = now;
                    }
                    r.last_ns = now;
                }
                None => {
                    r.other += 1;
                    r.frames += 1;
                    if matches!(until, RxUntil::Time { .. }) {
                        if r.first_ns == 0 {
                            r.first_ns = now;
                        }
                        r.last_ns = now;
                    }
                }
            }
        });
        if let Err(e) = got {
            break Err(e);
        }
        let counted = match until {
            RxUntil::Sender { .. } => r.tracker.unique,
            RxUntil::Time { .. } => r.frames,
        };
        shared.received.store(counted, Relaxed);
        let now = now_ns();
        match until {
            RxUntil::Time { .. } => {
                if end_at.is_some_and(|e| now >= e) || count.is_some_and(|c| r.frames >= c) {
                    break Ok(());
                }
            }
            RxUntil::Sender { idle } => {
                let done_ns = shared.tx_done_ns.load(Acquire);
                if done_ns == 0 {
                    continue;
                }
                let sent = shared.end_seq.load(Acquire).saturating_sub(shared.warm_seq.load(Acquire));
                let idle = idle.as_nanos() as u64;
                let quiet_since = done_ns.max(r.last_ns);
                // Stop when all are in, when nothing came for `idle`, and in
                // any case a few seconds on (a looping switch never idles).
                if r.tracker.unique >= sent || now > quiet_since + idle || now > done_ns + idle + 5_000_000_000 {
                    break Ok(());
                }
            }
        }
    };
    r.window.1 = now_ns();
    if outcome.is_err() {
        shared.stop.store(true, Relaxed);
    }
    r.cpu_ns = thread_cpu_ns() - cpu0;
    outcome.map(|()| r)
}

//! What the sender and the receiver share, and the one-thread loop that
//! drives both (`--one-thread`): fewer wake-ups, one core.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::Duration;

use super::clock::{now_ns, thread_cpu_ns};
use super::frame::{self, Template, LEARN_SEQ};
use super::receiver::Receiver;
use super::sender::{Sender, TxStep};
use super::stats::SeqTracker;
use crate::wire::{self, Endpoint};

/// The longest one receive call waits, so stop flags are seen promptly.
pub const POLL: Duration = Duration::from_millis(10);

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
    if ns == 0 {
        0.0
    } else {
        n as f64 * 1e9 / ns as f64
    }
}

/// Sleep for waits long enough for the scheduler, spin for short ones.
pub fn pause(ns: u64) {
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
pub fn drain(ep: &mut Endpoint, run: u16) -> io::Result<u64> {
    let mut n = 0;
    ep.recv_batch(Duration::ZERO, &mut |f| {
        if frame::parse(f).is_some_and(|s| s.run == run && s.seq != LEARN_SEQ) {
            n += 1;
        }
    })?;
    Ok(n)
}

/// When the receiver stops.
#[derive(Clone, Debug)]
pub enum RxUntil {
    /// txrx: after the sender is done and every frame is in, or nothing
    /// came for `idle`.
    Sender { idle: Duration },
    /// rx: after the warm-up plus `duration`, or `count` frames.
    Time {
        warmup: Duration,
        duration: Duration,
        count: Option<u64>,
    },
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

/// Send into `tx` and count on `rx` from one thread: each turn sends a
/// batch and takes what has arrived; when neither moves, sleep until
/// either port is ready. No wake-ups between threads, so less CPU per frame,
/// but only one core.
pub fn one_thread(
    tx: &mut Endpoint,
    rx: &mut Endpoint,
    t: &Template,
    plan: &TxPlan,
    run: u16,
    until: &RxUntil,
    shared: &Shared,
) -> (io::Result<TxResult>, io::Result<RxResult>) {
    let cpu0 = thread_cpu_ns();
    let mut sender = Some(Sender::new(t, plan));
    let mut tx_res = None;
    // When the sender finished sending but a stream wire still holds
    // frames: they go out as the peer takes them, while we keep receiving
    // (waiting on the tx side alone could deadlock with the peer waiting
    // on us).
    let mut flushing_since: Option<u64> = None;
    let mut receiver = Receiver::new(Some(run), until);
    let rx_outcome = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        let mut moved = false;
        let mut wait_write = false;
        let mut wait = POLL;
        if let Some(s) = &mut sender {
            let step = match flushing_since {
                None => s.step(tx, shared),
                Some(_) => Ok(TxStep::Done),
            };
            match step {
                Ok(TxStep::Sent(_)) => moved = true,
                Ok(TxStep::Full) => {
                    wait_write = true;
                    wait = s.wait_cap();
                }
                Ok(TxStep::Wait(ns)) => wait = wait.min(Duration::from_nanos(ns)),
                Ok(TxStep::Done) => {
                    let now = now_ns();
                    let since = *flushing_since.get_or_insert(now);
                    let outcome = match tx.try_flush() {
                        Ok(true) => Some(Ok(())),
                        Ok(false) if now - since > s.stall().as_nanos() as u64 => Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("{}: frames still queued after {:.1} s; the peer is not reading", tx.spec(), s.stall().as_secs_f64()),
                        ))),
                        Ok(false) => None,
                        Err(e) => Some(Err(e)),
                    };
                    match outcome {
                        Some(o) => {
                            tx_res =
                                Some(sender.take().expect("sender").finish(tx, shared, o, None));
                            moved = true;
                        }
                        None => wait_write = true,
                    }
                }
                Err(e) => {
                    tx_res = Some(
                        sender
                            .take()
                            .expect("sender")
                            .finish(tx, shared, Err(e), None),
                    );
                    moved = true;
                }
            }
        }
        match receiver.step(rx, Duration::ZERO, shared) {
            Ok(n) => moved |= n > 0,
            Err(e) => break Err(e),
        }
        if sender.is_none() && receiver.done(shared) {
            break Ok(());
        }
        if !moved {
            let mut ready = vec![(&mut *rx, libc::POLLIN)];
            if wait_write {
                ready.push((&mut *tx, libc::POLLOUT));
            }
            if let Err(e) = wire::wait_any(&mut ready, wait) {
                break Err(e);
            }
        }
    };
    let tx_res = match sender {
        // The receiver failed or `stop` was set first: wind the sender up.
        Some(s) => s.finish(tx, shared, Ok(()), None),
        None => tx_res.expect("finished sender"),
    };
    let cpu = thread_cpu_ns() - cpu0;
    // One thread did both: its CPU time is booked to the sender.
    let tx_res = tx_res.map(|mut r| {
        r.cpu_ns = cpu;
        r
    });
    (tx_res, receiver.finish(shared, rx_outcome))
}

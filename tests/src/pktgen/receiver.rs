//! The receiving side as a state machine: each [`Receiver::step`] handles
//! one batch; [`receive`] loops it on its own thread, `flow::one_thread`
//! interleaves it with a sender.

use std::io;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::clock::{now_ns, thread_cpu_ns};
use super::flow::{RxResult, RxUntil, Shared, POLL};
use super::frame::{self, LEARN_SEQ};
use super::stats::SeqTracker;
use crate::wire::Endpoint;

pub struct Receiver<'a> {
    until: &'a RxUntil,
    /// Count only this run's frames as ours; `None` until the first pktgen
    /// frame seen (rx mode follows that run).
    run: Option<u16>,
    warm_at: u64,
    end_at: Option<u64>,
    count: Option<u64>,
    r: RxResult,
}

impl<'a> Receiver<'a> {
    pub fn new(run: Option<u16>, until: &'a RxUntil) -> Self {
        let start = now_ns();
        let (warm_at, end_at, count) = match until {
            RxUntil::Time {
                warmup,
                duration,
                count,
            } => {
                let w = start + warmup.as_nanos() as u64;
                (
                    w,
                    count.is_none().then(|| w + duration.as_nanos() as u64),
                    *count,
                )
            }
            RxUntil::Sender { .. } => (start, None, None),
        };
        Self {
            until,
            run,
            warm_at,
            end_at,
            count,
            r: RxResult {
                window: (warm_at, 0),
                ..RxResult::default()
            },
        }
    }

    /// Handle one batch, waiting up to `wait` for it; returns its size.
    pub fn step(
        &mut self,
        ep: &mut Endpoint,
        wait: Duration,
        shared: &Shared,
    ) -> io::Result<usize> {
        let (until, warm_at) = (self.until, self.warm_at);
        let (r, run) = (&mut self.r, &mut self.run);
        let mut now = 0;
        let mut warm_seq = 0;
        let got = ep.recv_batch(wait, &mut |f| {
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
                    *run = Some(s.run);
                    r.tracker = SeqTracker::new(s.seq.saturating_sub(1 << 16));
                    Some(s)
                }
                Some(s) if Some(s.run) == *run => Some(s),
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
        })?;
        let counted = match self.until {
            RxUntil::Sender { .. } => self.r.tracker.unique,
            RxUntil::Time { .. } => self.r.frames,
        };
        shared.received.store(counted, Relaxed);
        Ok(got)
    }

    /// Whether counting is over.
    pub fn done(&self, shared: &Shared) -> bool {
        let now = now_ns();
        match self.until {
            RxUntil::Time { .. } => {
                self.end_at.is_some_and(|e| now >= e)
                    || self.count.is_some_and(|c| self.r.frames >= c)
            }
            RxUntil::Sender { idle } => {
                let done_ns = shared.tx_done_ns.load(Acquire);
                if done_ns == 0 {
                    return false;
                }
                let sent = shared
                    .end_seq
                    .load(Acquire)
                    .saturating_sub(shared.warm_seq.load(Acquire));
                let idle = idle.as_nanos() as u64;
                let quiet_since = done_ns.max(self.r.last_ns);
                // Stop when all are in, when nothing came for `idle`, and in
                // any case a few seconds on (a looping switch never idles).
                self.r.tracker.unique >= sent
                    || now > quiet_since + idle
                    || now > done_ns + idle + 5_000_000_000
            }
        }
    }

    pub fn finish(mut self, shared: &Shared, outcome: io::Result<()>) -> io::Result<RxResult> {
        self.r.window.1 = now_ns();
        if outcome.is_err() {
            shared.stop.store(true, Relaxed);
        }
        outcome.map(|()| self.r)
    }
}

/// Count what arrives, on this thread. `run`: count only that run's frames
/// as ours (txrx); `None`: follow the first pktgen run seen (rx mode).
pub fn receive(
    ep: &mut Endpoint,
    run: Option<u16>,
    until: &RxUntil,
    shared: &Shared,
) -> io::Result<RxResult> {
    let cpu0 = thread_cpu_ns();
    let mut rx = Receiver::new(run, until);
    let outcome = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        if let Err(e) = rx.step(ep, POLL, shared) {
            break Err(e);
        }
        if rx.done(shared) {
            break Ok(());
        }
    };
    let mut r = rx.finish(shared, outcome)?;
    r.cpu_ns = thread_cpu_ns() - cpu0;
    Ok(r)
}

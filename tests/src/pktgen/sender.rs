//! The sending side as a state machine: each [`Sender::step`] sends at most
//! one batch and says what it waits for, so one thread can drive it alone
//! ([`transmit`]) or interleave it with a receiver (`flow::one_thread`).

use std::io;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::clock::{now_ns, thread_cpu_ns};
use super::flow::{drain, pause, Shared, TxPlan, TxResult, POLL};
use super::frame::Template;
use super::rate::TokenBucket;
use crate::wire::Endpoint;

/// Drain the tx port's own receive queue every this many send batches.
const DRAIN_EVERY: u64 = 16;

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStep {
    /// Sent this many frames (the whole batch).
    Sent(usize),
    /// The wire took less than a batch: wait until it is writable.
    Full,
    /// The rate limit: nothing may go for this many nanoseconds.
    Wait(u64),
    /// The count or the time is up.
    Done,
}

pub struct Sender<'a> {
    t: &'a Template,
    plan: &'a TxPlan,
    warm_at: u64,
    end_at: Option<u64>,
    stall: u64,
    frames: Vec<Vec<u8>>,
    bucket: Option<TokenBucket>,
    r: TxResult,
    seq: u64,
    warm: Option<u64>,
    last_progress: u64,
    batches: u64,
}

impl<'a> Sender<'a> {
    pub fn new(t: &'a Template, plan: &'a TxPlan) -> Self {
        let start = now_ns();
        let warm_at = start + plan.warmup.as_nanos() as u64;
        Self {
            t,
            plan,
            warm_at,
            end_at: plan
                .count
                .is_none()
                .then(|| warm_at + plan.duration.as_nanos() as u64),
            stall: plan.stall.as_nanos() as u64,
            frames: vec![t.bytes().to_vec(); plan.batch],
            bucket: (plan.rate > 0).then(|| TokenBucket::for_rate(plan.rate, plan.batch, start)),
            r: TxResult::default(),
            seq: 0,
            warm: None,
            last_progress: start,
            batches: 0,
        }
    }

    /// How long a wait for the wire may last: until the end of the run, and
    /// never more than [`POLL`].
    pub fn wait_cap(&self) -> Duration {
        self.end_at.map_or(POLL, |e| {
            Duration::from_nanos(e.saturating_sub(now_ns())).min(POLL)
        })
    }

    pub fn step(&mut self, ep: &mut Endpoint, shared: &Shared) -> io::Result<TxStep> {
        let now = now_ns();
        if self.warm.is_none() && now >= self.warm_at {
            self.warm = Some(self.seq);
            self.r.warm_ns = now;
            // Release: a receiver that sees a frame numbered >= this sees this too.
            shared.warm_seq.store(self.seq, Release);
        }
        if self.end_at.is_some_and(|e| now >= e) {
            return Ok(TxStep::Done);
        }
        let mut want = self.plan.batch as u64;
        if let (Some(c), Some(w)) = (self.plan.count, self.warm) {
            let done = self.seq - w;
            if done >= c {
                return Ok(TxStep::Done);
            }
            want = want.min(c - done);
        }
        if let Some(b) = &mut self.bucket {
            let n = b.take(now, want);
            if n == 0 {
                return Ok(TxStep::Wait(b.wait_ns(now)));
            }
            want = n;
        }
        let want = want as usize;
        for (i, f) in self.frames[..want].iter_mut().enumerate() {
            self.t.stamp(f, self.seq + i as u64, now);
        }
        let n = ep.send_batch(&self.frames[..want])?;
        if n > 0 {
            self.seq += n as u64;
            shared.sent.store(self.seq, Relaxed);
            self.last_progress = now;
        }
        self.batches += 1;
        if self.batches.is_multiple_of(DRAIN_EVERY) {
            self.r.returned += drain(ep, self.t.run())?;
        }
        if n == want {
            return Ok(TxStep::Sent(n));
        }
        if let Some(b) = &mut self.bucket {
            b.refund((want - n) as u64);
        }
        if self.plan.count.is_some() && now - self.last_progress > self.stall {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{}: the wire took nothing for {:.1} s (is the peer reading?)",
                    ep.spec(),
                    self.plan.stall.as_secs_f64()
                ),
            ));
        }
        Ok(TxStep::Full)
    }

    /// How long the wire may take nothing before the run fails.
    pub fn stall(&self) -> Duration {
        self.plan.stall
    }

    /// Flush (waiting up to `flush_within`; `None`: the caller flushed or
    /// gave up), drain, tell the receiver where the run ended.
    pub fn finish(
        mut self,
        ep: &mut Endpoint,
        shared: &Shared,
        outcome: io::Result<()>,
        flush_within: Option<Duration>,
    ) -> io::Result<TxResult> {
        // Frames a stream wire buffered go out before the sender calls it done.
        let outcome = match flush_within {
            Some(t) => outcome.and_then(|()| ep.flush(t)),
            None => outcome,
        };
        let r = &mut self.r;
        r.end_ns = now_ns();
        if self.warm.is_none() {
            // Ended (stopped) inside the warm-up: nothing was measured.
            r.warm_ns = r.end_ns;
            shared.warm_seq.store(self.seq, Release);
        }
        r.warm_seq = self.warm.unwrap_or(self.seq);
        r.end_seq = self.seq;
        r.returned += drain(ep, self.t.run()).unwrap_or(0);
        shared.end_seq.store(self.seq, Release);
        shared.tx_done_ns.store(r.end_ns.max(1), Release);
        if outcome.is_err() {
            shared.stop.store(true, Relaxed);
        }
        outcome.map(|()| self.r)
    }
}

/// Send stamped frames until the count or the time is up (or `stop`), on
/// this thread.
pub fn transmit(
    ep: &mut Endpoint,
    t: &Template,
    plan: &TxPlan,
    shared: &Shared,
) -> io::Result<TxResult> {
    let cpu0 = thread_cpu_ns();
    let mut s = Sender::new(t, plan);
    let outcome = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        match s.step(ep, shared) {
            Ok(TxStep::Sent(_)) => {}
            Ok(TxStep::Full) => {
                if let Err(e) = ep.wait_writable(s.wait_cap()) {
                    break Err(e);
                }
            }
            Ok(TxStep::Wait(ns)) => pause(ns),
            Ok(TxStep::Done) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let stall = s.stall();
    let mut r = s.finish(ep, shared, outcome, Some(stall))?;
    r.cpu_ns = thread_cpu_ns() - cpu0;
    Ok(r)
}

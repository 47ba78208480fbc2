//! Token bucket for `--rate`: frames are sent in bursts of at most a batch,
//! and a burst is never more than about 1 ms of the rate, so a slow rate is
//! spread out rather than sent as a few big clumps.
//!
//! Time is passed in (nanoseconds), so the logic is tested without clocks.

/// Credit is kept in frame-nanoseconds (frames x 1e9) to stay in integers.
const NS: u128 = 1_000_000_000;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    credit: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// `rate` frames per second (> 0), bursts of at most `burst` frames.
    pub fn new(rate: u64, burst: u64, now_ns: u64) -> Self {
        assert!(rate > 0, "rate 0 means unlimited: no bucket");
        let burst = burst.max(1);
        Self {
            rate,
            burst,
            credit: burst as u128 * NS,
            last_ns: now_ns,
        }
    }

    /// The bucket for `rate` when sending batches of up to `batch`.
    pub fn for_rate(rate: u64, batch: usize, now_ns: u64) -> Self {
        let per_ms = (rate / 1000).max(1);
        Self::new(rate, per_ms.min(batch as u64), now_ns)
    }

    fn refill(&mut self, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.last_ns) as u128;
        self.last_ns = self.last_ns.max(now_ns);
        self.credit = (self.credit + elapsed * self.rate as u128).min(self.burst as u128 * NS);
    }

    /// Take up to `want` frames' worth at `now_ns`; returns how many.
    pub fn take(&mut self, now_ns: u64, want: u64) -> u64 {
        self.refill(now_ns);
        let n = ((self.credit / NS) as u64).min(want);
        self.credit -= n as u128 * NS;
        n
    }

    /// Give back frames taken but not sent (the wire was full).
    pub fn refund(&mut self, n: u64) {
        self.credit = (self.credit + n as u128 * NS).min(self.burst as u128 * NS);
    }

    /// Nanoseconds from `now_ns` until one frame's worth is there.
    pub fn wait_ns(&self, now_ns: u64) -> u64 {
        let elapsed = now_ns.saturating_sub(self.last_ns) as u128;
        let have = self.credit + elapsed * self.rate as u128;
        if have >= NS {
            0
        } else {
            ((NS - have).div_ceil(self.rate as u128)) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive the bucket like the tx loop does, with a simulated clock that
    /// jumps by `step` ns (the loop's own cost) or to the next token.
    fn simulate(rate: u64, batch: usize, step: u64, secs: u64) -> (u64, u64) {
        let mut now = 1_000;
        let mut b = TokenBucket::for_rate(rate, batch, now);
        let end = now + secs * 1_000_000_000;
        let (mut sent, mut biggest) = (0, 0);
        while now < end {
            let n = b.take(now, batch as u64);
            biggest = biggest.max(n);
            sent += n;
            now += if n == 0 { b.wait_ns(now).max(1) } else { step };
        }
        (sent, biggest)
    }

    #[test]
    fn rate_is_kept_within_a_burst() {
        for (rate, batch, step) in [
            (1_000, 64, 5_000),
            (100_000, 32, 700),
            (450_000, 64, 3_000),
            (3, 64, 10),
        ] {
            let (sent, biggest) = simulate(rate, batch, step, 2);
            let want = 2 * rate;
            let burst = (rate / 1000).clamp(1, batch as u64);
            assert!(
                sent >= want && sent <= want + burst,
                "rate {rate}: sent {sent}, want {want}"
            );
            assert!(biggest <= burst, "rate {rate}: burst {biggest} > {burst}");
        }
    }

    #[test]
    fn slow_loop_gets_whole_batches_but_no_more_than_the_rate() {
        // The loop can only run every 1 ms: bursts fill up to the cap.
        let (sent, biggest) = simulate(1_000_000, 64, 1_000_000, 1);
        assert_eq!(biggest, 64);
        assert!((64_000 - 64..=1_000_000).contains(&sent), "{sent}");
    }

    #[test]
    fn refund_and_wait() {
        let mut b = TokenBucket::new(1_000, 4, 0);
        assert_eq!(b.take(0, 10), 4);
        assert_eq!(b.take(0, 1), 0);
        assert_eq!(b.wait_ns(0), 1_000_000);
        assert_eq!(b.wait_ns(400_000), 600_000);
        b.refund(2);
        assert_eq!(b.wait_ns(0), 0);
        assert_eq!(b.take(0, 10), 2);
        // Credit never exceeds the burst, however long the pause.
        assert_eq!(b.take(10_000_000_000, 100), 4);
        // A clock that steps back (it shouldn't) does not mint credit.
        assert_eq!(b.take(5_000_000_000, 100), 0);
    }
}

//! Counting without allocating: the round-trip histogram, the sequence
//! checker, the token bucket and the rate printer.

use core::fmt;

/// Values below this are counted exactly; above, 16 buckets per power of
/// two (each within 1/16, 6%, of the values it holds).
const EXACT: u64 = 16;
const SUB_BITS: u32 = 4;
const BUCKETS: usize = EXACT as usize + (64 - SUB_BITS as usize) * (1 << SUB_BITS);

/// A log-linear histogram of nanoseconds (round-trip times): fixed size,
/// one increment per value.
#[derive(Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    n: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("n", &self.n)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            n: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let m = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT as usize + ((e - SUB_BITS) as usize) * (1 << SUB_BITS) + m as usize
}

/// The smallest and largest value bucket `b` holds.
fn bounds(b: usize) -> (u64, u64) {
    if b < EXACT as usize {
        return (b as u64, b as u64);
    }
    let k = b - EXACT as usize;
    let shift = (k >> SUB_BITS) as u32;
    let m = (k & ((1 << SUB_BITS) - 1)) as u64;
    let lo = ((1 << SUB_BITS) + m) << shift;
    (lo, lo + ((1u64 << shift) - 1))
}

impl Histogram {
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.n += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn min(&self) -> Option<u64> {
        (self.n > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<u64> {
        (self.n > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<u64> {
        (self.n > 0).then(|| (self.sum / u128::from(self.n)) as u64)
    }

    /// The `p`th percentile (`p` in 0..=100): the middle of the bucket of
    /// the value at rank ceil(p% of n), kept within [min, max]; the first
    /// and last ranks are the exact min and max.
    pub fn percentile(&self, p: u32) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = (u128::from(self.n) * u128::from(p.min(100)))
            .div_ceil(100)
            .max(1) as u64;
        if rank >= self.n {
            return Some(self.max);
        }
        if rank == 1 {
            return Some(self.min);
        }
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(b);
                return Some((lo + (hi - lo) / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// Sequence window: how far back a late frame is still told apart from a
/// duplicate.
pub const WINDOW: u64 = 1024;

/// rxseq's checker. The first frame sets the start; a gap counts its
/// frames lost; a frame from before the newest one is a duplicate if it
/// was seen (within the window), otherwise reordered, and no longer lost.
/// Sequence numbers are 32 bits on the wire and unwrapped here.
#[derive(Clone, Debug, Default)]
pub struct SeqCheck {
    started: bool,
    first: u64,
    /// The next sequence number expected (newest seen + 1).
    next: u64,
    seen: [u64; (WINDOW / 64) as usize],
    pub lost: u64,
    pub dup: u64,
    pub reordered: u64,
}

impl SeqCheck {
    fn bit(&mut self, s: u64) -> (&mut u64, u64) {
        let i = (s % WINDOW) as usize;
        (&mut self.seen[i / 64], 1 << (i % 64))
    }

    /// Sequence numbers covered so far: from the first to the newest.
    pub fn span(&self) -> u64 {
        self.next - self.first
    }

    #[inline]
    pub fn see(&mut self, wire: u32) {
        if !self.started {
            self.started = true;
            self.first = u64::from(wire);
            self.next = self.first;
        }
        let d = i64::from(wire.wrapping_sub(self.next as u32) as i32);
        if d >= 0 {
            // In order (d == 0) or ahead: the gap is lost, until it shows up.
            let s = self.next + d as u64;
            if d as u64 + 1 >= WINDOW {
                self.seen = [0; (WINDOW / 64) as usize];
            } else {
                for x in self.next..=s {
                    let (w, m) = self.bit(x);
                    *w &= !m;
                }
            }
            let (w, m) = self.bit(s);
            *w |= m;
            self.lost += d as u64;
            self.next = s + 1;
            return;
        }
        let back = d.unsigned_abs();
        if back > WINDOW || back > self.next - self.first {
            // Too old to tell: a late frame.
            self.reordered += 1;
            self.lost = self.lost.saturating_sub(1);
            return;
        }
        let (w, m) = self.bit(self.next - back);
        if *w & m != 0 {
            self.dup += 1;
        } else {
            *w |= m;
            self.reordered += 1;
            self.lost = self.lost.saturating_sub(1);
        }
    }
}

const NS: u64 = 1_000_000_000;

/// `-R`: a token bucket of `burst` frames filled at `rate` frames per
/// second (tokens in frame-nanoseconds; integer arithmetic only).
#[derive(Clone, Debug)]
pub struct Bucket {
    rate: u64,
    cap: u64,
    tokens: u64,
    last: u64,
}

impl Bucket {
    /// Starts with one frame's worth (the first frame goes at once).
    pub fn new(rate: u64, burst: u32, now: u64) -> Self {
        Bucket {
            rate,
            cap: u64::from(burst.max(1)) * NS,
            tokens: NS,
            last: now,
        }
    }

    /// Frames that may go at `now`.
    #[inline]
    pub fn available(&mut self, now: u64) -> u64 {
        if self.rate == 0 {
            return u64::MAX;
        }
        let dt = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        self.tokens = self
            .tokens
            .saturating_add(dt.saturating_mul(self.rate))
            .min(self.cap);
        self.tokens / NS
    }

    #[inline]
    pub fn take(&mut self, n: u64) {
        if self.rate != 0 {
            self.tokens = self.tokens.saturating_sub(n * NS);
        }
    }
}

/// `X.XXX Mpps Y.YYY Gbps` for `frames` and `bytes` over `ns`.
pub fn write_rate(out: &mut dyn fmt::Write, frames: u64, bytes: u64, ns: u64) -> fmt::Result {
    let ns = u128::from(ns.max(1));
    // Thousandths of Mpps (kpps) and of Gbps (Mbps).
    let kpps = u128::from(frames) * u128::from(NS) / ns / 1000;
    let mbps = u128::from(bytes) * 8 * u128::from(NS) / ns / 1_000_000;
    write!(
        out,
        "{}.{:03} Mpps {}.{:03} Gbps",
        kpps / 1000,
        kpps % 1000,
        mbps / 1000,
        mbps % 1000
    )
}

/// `S.MMM s`.
pub fn write_secs(out: &mut dyn fmt::Write, ns: u64) -> fmt::Result {
    write!(out, "{}.{:03} s", ns / NS, ns % NS / 1_000_000)
}

/// Nanoseconds as microseconds, `U.NNN`.
pub fn write_us(out: &mut dyn fmt::Write, ns: u64) -> fmt::Result {
    write!(out, "{}.{:03}", ns / 1000, ns % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for v in (0..5000).chain([1 << 20, (1 << 40) + 12345, u64::MAX]) {
            let (lo, hi) = bounds(bucket(v));
            assert!(lo <= v && v <= hi, "{v} {lo} {hi}");
            assert!(hi - lo <= lo / 16 + 1);
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50), None);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.percentile(50).unwrap();
        let p99 = h.percentile(99).unwrap();
        assert!((470_000..=530_000).contains(&p50), "{p50}");
        assert!((940_000..=1_000_000).contains(&p99), "{p99}");
        assert_eq!(h.percentile(100), Some(1_000_000));
        assert_eq!(h.percentile(0), Some(1000));
        assert_eq!(h.mean(), Some(500_500));
    }

    #[test]
    fn seq_in_order_loss_dup_reorder() {
        let mut s = SeqCheck::default();
        for x in [5u32, 6, 7, 9, 10, 8, 8, 12, 12] {
            s.see(x);
        }
        // 11 lost; 8 late then duplicated; 12 duplicated.
        assert_eq!((s.lost, s.dup, s.reordered), (1, 2, 1));
        assert_eq!(s.span(), 8);
    }

    #[test]
    fn seq_wraps() {
        let mut s = SeqCheck::default();
        for x in [u32::MAX - 1, u32::MAX, 0, 2, 1] {
            s.see(x);
        }
        assert_eq!((s.lost, s.dup, s.reordered), (0, 0, 1));
        assert_eq!(s.span(), 5);
    }

    #[test]
    fn seq_big_gap_and_very_late() {
        let mut s = SeqCheck::default();
        s.see(0);
        s.see(5000);
        assert_eq!(s.lost, 4999);
        s.see(10); // beyond the window: late
        assert_eq!((s.lost, s.reordered), (4998, 1));
        s.see(4990);
        assert_eq!((s.lost, s.reordered, s.dup), (4997, 2, 0));
        s.see(4990);
        assert_eq!(s.dup, 1);
    }

    #[test]
    fn bucket_rate() {
        let mut b = Bucket::new(1000, 10, 0);
        assert_eq!(b.available(0), 1);
        b.take(1);
        assert_eq!(b.available(0), 0);
        assert_eq!(b.available(1_000_000), 1);
        assert_eq!(b.available(5_500_000), 5);
        assert_eq!(b.available(1_000_000_000), 10, "capped at the burst");
        let mut free = Bucket::new(0, 10, 0);
        assert_eq!(free.available(0), u64::MAX);
    }

    #[test]
    fn rates_print() {
        let mut s = alloc::string::String::new();
        write_rate(&mut s, 1_234_000, 1_234_000 * 60, NS).unwrap();
        assert_eq!(s, "1.234 Mpps 0.592 Gbps");
    }
}

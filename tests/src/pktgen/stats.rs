//! Counting what arrives: duplicates and reordering by sequence number, and
//! latency percentiles.

/// Sequence numbers tracked at most this far above the first one (32 MiB
/// of bitmap); frames further out are counted but not checked for dups.
const WINDOW: u64 = 1 << 28;

/// Which of `[base, base + WINDOW)` were seen, plus counters.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    base: u64,
    bits: Vec<u64>,
    /// Distinct frames seen.
    pub unique: u64,
    /// Frames seen again.
    pub dup: u64,
    /// Frames that arrived after a later-sent one.
    pub reorder: u64,
    /// Frames below `base` or beyond the window (not dup-checked).
    pub untracked: u64,
    highest: Option<u64>,
    lowest: Option<u64>,
}

/// What [`SeqTracker::record`] made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    New,
    Dup,
}

impl SeqTracker {
    /// Track sequence numbers from `base` on.
    pub fn new(base: u64) -> Self {
        Self {
            base,
            ..Self::default()
        }
    }

    pub fn record(&mut self, seq: u64) -> Seen {
        if seq < self.base || seq - self.base >= WINDOW {
            self.untracked += 1;
            self.unique += 1;
            self.note_order(seq);
            return Seen::New;
        }
        let i = (seq - self.base) as usize;
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if word >= self.bits.len() {
            // Grow by doubling so a long run costs amortised O(1).
            self.bits.resize((word + 1).max(self.bits.len() * 2), 0);
        }
        if self.bits[word] & bit != 0 {
            self.dup += 1;
            return Seen::Dup;
        }
        self.bits[word] |= bit;
        self.unique += 1;
        self.note_order(seq);
        Seen::New
    }

    fn note_order(&mut self, seq: u64) {
        match self.highest {
            Some(h) if seq < h => self.reorder += 1,
            _ => self.highest = Some(seq),
        }
        self.lowest = Some(self.lowest.map_or(seq, |l| l.min(seq)));
    }

    /// Distinct tracked sequence numbers seen in `[lo, hi)`.
    pub fn count_range(&self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(self.base) - self.base;
        let hi = hi.max(self.base) - self.base;
        let hi = hi.min(self.bits.len() as u64 * 64);
        (lo..hi)
            .filter(|&i| self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0)
            .count() as u64
    }

    /// Lowest and highest sequence number seen.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.lowest?, self.highest?))
    }
}

/// Nearest-rank percentile `p` (0..=100) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Round-trip times in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rtt {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: u64,
}

impl Rtt {
    /// Summarise round trips given in nanoseconds; `None` if there are none.
    pub fn from_ns(mut samples: Vec<u64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let us = |ns: u64| ns as f64 / 1000.0;
        let sum: u128 = samples.iter().map(|&s| s as u128).sum();
        Some(Self {
            min: us(samples[0]),
            mean: sum as f64 / samples.len() as f64 / 1000.0,
            p50: us(percentile(&samples, 50.0)),
            p90: us(percentile(&samples, 90.0)),
            p99: us(percentile(&samples, 99.0)),
            max: us(*samples.last().expect("not empty")),
            samples: samples.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dups_reorder_and_ranges() {
        let mut t = SeqTracker::new(0);
        for s in [0, 1, 2, 5, 3, 3, 4, 200, 199] {
            t.record(s);
        }
        assert_eq!(t.unique, 8);
        assert_eq!(t.dup, 1);
        assert_eq!(t.reorder, 3); // 3 after 5, 4 after 5, 199 after 200
        assert_eq!(t.count_range(0, 6), 6);
        assert_eq!(t.count_range(2, 4), 2);
        assert_eq!(t.count_range(6, 199), 0);
        assert_eq!(t.count_range(0, 1_000_000), 8);
        assert_eq!(t.span(), Some((0, 200)));
    }

    #[test]
    fn base_and_window() {
        let mut t = SeqTracker::new(100);
        assert_eq!(t.record(50), Seen::New);
        assert_eq!(t.record(100 + WINDOW), Seen::New);
        assert_eq!(t.record(100 + WINDOW), Seen::New); // out of window: not dup-checked
        assert_eq!(t.record(101), Seen::New);
        assert_eq!(t.record(101), Seen::Dup);
        assert_eq!(t.untracked, 3);
        assert_eq!(t.count_range(0, u64::MAX), 1);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
        let r = Rtt::from_ns(vec![4000, 1000, 3000, 2000]).unwrap();
        assert_eq!(
            (r.min, r.p50, r.p90, r.max, r.mean),
            (1.0, 2.0, 4.0, 4.0, 2.5)
        );
        assert_eq!(Rtt::from_ns(vec![]), None);
    }
}

//! The default lookup: a learning bridge with a bounded, ageing MAC table.
//!
//! Netmap's VALE keeps 1024 direct-mapped entries: two active addresses
//! that hash alike evict each other on every frame, and entries never age.
//! Here the table is set-associative: `buckets` groups of [`WAYS`] entries,
//! one 64-byte cache line each. An address is looked for in its bucket
//! only; a new address takes an empty or expired way, else evicts the way
//! seen longest ago (counted in [`LearningBridge::evictions`]), unless
//! that way was seen within the hold time: then the newcomer is not
//! learned ([`LearningBridge::refused`]). So up to `WAYS` colliding
//! addresses coexist, the table never grows, a MAC flood cannot push out
//! a station that keeps talking (whose frames would then be flooded to
//! every port), and a lookup touches one cache line.
//!
//! Time: the crate has no clock. The switch passes its clock (ticks of the
//! caller's choosing, e.g. milliseconds, set with
//! [`Switch::set_clock`](super::Switch::set_clock)); an entry not seen for
//! more than `max_age` ticks is ignored and reusable.
//!
//! The bucket index is a keyed multiplicative hash of the address; pass a
//! random seed (the kernel can use RDRAND or the TSC at boot) so that remote
//! senders cannot aim addresses at one bucket.
//!
//! Concurrency: entries are atomics written with relaxed ordering (plain
//! moves on x86). Two forwarders learning the same new address at once may
//! both insert it; lookups take the first match and the other ages out.
//! No lock, no torn entry: address and port share one 64-bit word.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::lookup::{Dest, FrameBatch, FrameMeta, Lookup, MacEntry};
use super::PortId;

/// Entries per bucket.
pub const WAYS: usize = 4;

const MAC_MASK: u64 = 0xffff_ffff_ffff;

/// One cache line: the keys (address | (port + 1) << 48, 0 = empty) and the
/// time each was last seen.
#[repr(C, align(64))]
struct Bucket {
    key: [AtomicU64; WAYS],
    seen: [AtomicU64; WAYS],
}

/// Learning bridge parameters.
#[derive(Clone, Copy, Debug)]
pub struct LearningConfig {
    /// Number of buckets, a power of two (entries = buckets * WAYS).
    pub buckets: usize,
    /// Entries older than this many clock ticks are forgotten.
    pub max_age: u64,
    /// An entry seen within this many ticks is never evicted for a new
    /// address: if its whole bucket is that recent, the new address is
    /// not learned (and its frames' replies are flooded until it is).
    pub hold: u64,
    /// Hash key.
    pub seed: u64,
}

impl Default for LearningConfig {
    /// 4096 entries, 300 s ageing if the clock counts milliseconds (the
    /// usual bridge default).
    fn default() -> Self {
        LearningConfig {
            buckets: 1024,
            max_age: 300_000,
            hold: 1_000,
            seed: 0x5bd1_e995_9e37_79b9,
        }
    }
}

/// A MAC learning bridge.
pub struct LearningBridge {
    buckets: Box<[Bucket]>,
    shift: u32,
    max_age: u64,
    hold: u64,
    seed: u64,
    evictions: AtomicU64,
    refused: AtomicU64,
}

/// The 48-bit address at the start of `b` (which has >= 8 bytes), in
/// little-endian order so that the group bit is bit 0.
#[inline(always)]
fn mac_at(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w) & MAC_MASK
}

fn mac_bytes(m: u64) -> [u8; 6] {
    let b = m.to_le_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5]]
}

impl LearningBridge {
    /// A table as configured. `buckets` is rounded up to a power of two
    /// (at least 1).
    pub fn new(cfg: LearningConfig) -> Self {
        let n = cfg.buckets.max(1).next_power_of_two();
        let buckets = (0..n)
            .map(|_| Bucket {
                key: Default::default(),
                seen: Default::default(),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        LearningBridge {
            buckets,
            shift: 64 - n.trailing_zeros(),
            max_age: cfg.max_age,
            hold: cfg.hold,
            seed: cfg.seed,
            evictions: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Table capacity.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Entries evicted while still fresh (table or bucket full).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Relaxed)
    }

    /// New addresses not learned because every way of their bucket was
    /// seen within the hold time (a MAC flood, or more than [`WAYS`]
    /// active stations colliding).
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    #[inline(always)]
    fn bucket(&self, mac: u64) -> &Bucket {
        let h = (mac ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // `shift` is 64 for a single bucket: checked_shr gives index 0.
        &self.buckets[h.checked_shr(self.shift).unwrap_or(0) as usize]
    }

    #[inline(always)]
    fn fresh(&self, seen: u64, now: u64) -> bool {
        now.saturating_sub(seen) <= self.max_age
    }

    /// Records that `mac` was seen on `port` at `now`.
    #[inline]
    pub fn learn(&self, mac: u64, port: PortId, now: u64) {
        match self.learn_outcome(mac, port, now) {
            Learned::Evicted => {
                self.evictions.fetch_add(1, Relaxed);
            }
            Learned::Refused => {
                self.refused.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }

    /// [`learn`](Self::learn), saying what happened, without counting (the
    /// caller adds evictions and refusals up: the batched lookup once per
    /// batch).
    #[inline]
    fn learn_outcome(&self, mac: u64, port: PortId, now: u64) -> Learned {
        let b = self.bucket(mac);
        let key = mac | ((port as u64 + 1) << 48);
        for w in 0..WAYS {
            let k = b.key[w].load(Relaxed);
            if k != 0 && k & MAC_MASK == mac {
                // Write only what changed: most frames re-learn a known
                // address, and a store would dirty a shared cache line.
                if k != key {
                    b.key[w].store(key, Relaxed);
                }
                if b.seen[w].load(Relaxed) != now {
                    b.seen[w].store(now, Relaxed);
                }
                return Learned::Known;
            }
        }
        let mut victim = 0;
        let mut oldest = u64::MAX;
        for w in 0..WAYS {
            let seen = b.seen[w].load(Relaxed);
            if b.key[w].load(Relaxed) == 0 || !self.fresh(seen, now) {
                victim = w;
                oldest = u64::MAX;
                break;
            }
            if seen < oldest {
                oldest = seen;
                victim = w;
            }
        }
        if oldest != u64::MAX {
            if now.saturating_sub(oldest) < self.hold {
                // Every way is a station heard from just now: a flood of
                // new sources must not push them out (their frames would
                // be flooded). The newcomer waits for a way to cool down.
                return Learned::Refused;
            }
            b.key[victim].store(key, Relaxed);
            b.seen[victim].store(now, Relaxed);
            return Learned::Evicted;
        }
        b.key[victim].store(key, Relaxed);
        b.seen[victim].store(now, Relaxed);
        Learned::Inserted
    }

    /// The port `mac` was last seen on, unless forgotten or aged out.
    #[inline]
    pub fn find(&self, mac: u64, now: u64) -> Option<PortId> {
        let b = self.bucket(mac);
        for w in 0..WAYS {
            let k = b.key[w].load(Relaxed);
            if k != 0 && k & MAC_MASK == mac {
                if !self.fresh(b.seen[w].load(Relaxed), now) {
                    return None;
                }
                return Some(((k >> 48) - 1) as PortId);
            }
        }
        None
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for b in self.buckets.iter() {
            for k in &b.key {
                k.store(0, Relaxed);
            }
        }
    }
}

impl core::fmt::Debug for LearningBridge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LearningBridge")
            .field("capacity", &self.capacity())
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// What [`LearningBridge::learn_outcome`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Learned {
    /// The address was known: its entry was refreshed (port possibly moved).
    Known,
    /// A new entry, in a free (or aged-out) way.
    Inserted,
    /// A new entry, in place of the oldest live one.
    Evicted,
    /// Not learned (every way held by a station within the hold time).
    Refused,
}

impl Lookup for LearningBridge {
    fn name(&self) -> &str {
        "learning"
    }

    #[inline]
    fn lookup(&self, frame: &[u8], meta: &FrameMeta) -> Dest {
        if frame.len() < crate::slot::ETH_HLEN {
            return Dest::Drop; // the switch never asks; other callers might
        }
        let dst = mac_at(frame);
        let src = mac_at(&frame[6..]);
        // Learn unicast sources only: a group address is never a location.
        if src & 1 == 0 && meta.learn {
            self.learn(src, meta.src, meta.now);
        }
        if dst & 1 != 0 {
            return Dest::Flood; // broadcast and multicast
        }
        match self.find(dst, meta.now) {
            Some(p) => Dest::Port(p),
            None => Dest::Flood,
        }
    }

    /// As [`lookup`](Lookup::lookup) frame after frame, with the work a
    /// batch repeats done once: a source equal to the previous frame's
    /// (already learned at this clock) is not learned again, a destination
    /// equal to the previous one reuses its answer (unless a learn since
    /// may have changed it), and evictions and refusals are counted once
    /// per batch. (Touching the buckets of frames a few ahead was measured
    /// and left out: the default table fits the L2 cache, and the touches
    /// cost more than they saved.)
    fn lookup_batch(&self, batch: &FrameBatch<'_>, out: &mut [Dest]) {
        const NONE: u64 = u64::MAX; // not a 48-bit address
        let (port, now) = (batch.src(), batch.now());
        let (mut last_src, mut last_dst, mut last_dest) = (NONE, NONE, Dest::Flood);
        let (mut evicted, mut refused) = (0u64, 0u64);
        for (k, o) in out.iter_mut().enumerate().take(batch.len()) {
            let frame = batch.frame(k);
            if frame.len() < crate::slot::ETH_HLEN {
                *o = Dest::Drop;
                continue;
            }
            let dst = mac_at(frame);
            let src = mac_at(&frame[6..]);
            if src & 1 == 0 && batch.learn(k) && src != last_src {
                match self.learn_outcome(src, port, now) {
                    Learned::Known => last_src = src,
                    Learned::Inserted => {
                        last_src = src;
                        last_dst = NONE; // it may have aged out in between
                    }
                    Learned::Evicted => {
                        evicted += 1;
                        last_src = src;
                        last_dst = NONE; // the eviction may have hit it
                    }
                    Learned::Refused => {
                        // Learned again at its next frame (and counted again),
                        // as frame-by-frame lookups would.
                        refused += 1;
                        last_src = NONE;
                    }
                }
                if src == last_dst {
                    last_dst = NONE; // it may have moved
                }
            }
            *o = if dst & 1 != 0 {
                Dest::Flood
            } else if dst == last_dst {
                last_dest
            } else {
                last_dst = dst;
                last_dest = match self.find(dst, now) {
                    Some(p) => Dest::Port(p),
                    None => Dest::Flood,
                };
                last_dest
            };
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Relaxed);
        }
        if refused > 0 {
            self.refused.fetch_add(refused, Relaxed);
        }
    }

    fn port_detached(&self, port: PortId) {
        let tag = (port as u64 + 1) << 48;
        for b in self.buckets.iter() {
            for key in &b.key {
                let k = key.load(Relaxed);
                if k != 0 && k & !MAC_MASK == tag {
                    key.store(0, Relaxed);
                }
            }
        }
    }

    fn list(&self, now: u64, out: &mut dyn FnMut(MacEntry)) {
        for b in self.buckets.iter() {
            for w in 0..WAYS {
                let k = b.key[w].load(Relaxed);
                let seen = b.seen[w].load(Relaxed);
                if k != 0 && self.fresh(seen, now) {
                    out(MacEntry {
                        mac: mac_bytes(k & MAC_MASK),
                        port: ((k >> 48) - 1) as PortId,
                        age: now.saturating_sub(seen),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{BufferPool, SlotArray};
    use crate::vale::forward::Ft;

    /// The batched lookup decides exactly as `lookup` frame after frame,
    /// and leaves the same table and counters: random batches over few
    /// addresses (repeats, collisions in a tiny table, evictions, refusals
    /// within the hold time, stations moving, broadcast, NO_LEARN).
    #[test]
    fn the_batched_lookup_decides_as_the_per_frame_lookup() {
        let pool = BufferPool::on_heap(80, 256).unwrap();
        let mut slots = SlotArray::new_filled(&pool, 64).unwrap();
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut rand = move || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as u32
        };
        for buckets in [1usize, 2, 16] {
            let cfg = LearningConfig {
                buckets,
                max_age: 20,
                hold: 3,
                seed: 7,
            };
            let (a, b) = (LearningBridge::new(cfg), LearningBridge::new(cfg));
            let mut now = 0u64;
            for _round in 0..300 {
                now += u64::from(rand() % 4);
                let src_port = (rand() % 5) as PortId;
                let n = 1 + rand() as usize % 64;
                let mut ft = alloc::vec::Vec::new();
                for k in 0..n {
                    let f = slots.buf_mut(k).unwrap();
                    let mac = |r: u32| -> [u8; 6] {
                        match r % 10 {
                            0 => [0xff; 6],
                            1 => [0x01, 0, 0x5e, 0, 0, 1],
                            x => [2, 0, 0, 0, 0, (x as u8) * 3 + (r / 10 % 4) as u8],
                        }
                    };
                    f[..6].copy_from_slice(&mac(rand()));
                    f[6..12].copy_from_slice(&mac(rand()));
                    slots.set_len(k, 60).unwrap();
                    ft.push(Ft {
                        slot: k as u32,
                        len: 60,
                        learn: rand() % 8 != 0,
                        ..Ft::default()
                    });
                }
                let batch = FrameBatch {
                    frames: slots.frame_reader(),
                    ft: &ft,
                    src: src_port,
                    ring: 0,
                    now,
                };
                let mut got = alloc::vec![Dest::Drop; n];
                a.lookup_batch(&batch, &mut got);
                let want: Vec<Dest> = (0..n)
                    .map(|k| b.lookup(batch.frame(k), &batch.meta(k)))
                    .collect();
                assert_eq!(got, want, "buckets {buckets} at {now}");
                assert_eq!((a.evictions(), a.refused()), (b.evictions(), b.refused()));
            }
            let (mut la, mut lb) = (Vec::new(), Vec::new());
            a.list(now, &mut |e| la.push(e));
            b.list(now, &mut |e| lb.push(e));
            assert_eq!(la, lb);
        }
    }
}

//! Writers into rx krings: leases (reserve under the lock, fill without
//! it, publish in order, as VALE's `nkr_hwlease`/`nkr_leases`) and in-place
//! writes under the lock (pipes, monitors).

use super::{KringState, Lease, NR_NOSLOT};
use crate::mem::SlotArray;

impl KringState {
    /// Rx: slots writers may still reserve (`[hwlease, hwcur - 1)`).
    #[inline]
    pub fn rx_free(&self) -> u32 {
        let last = if self.nr_hwcur == 0 {
            self.nkr_num_slots - 1
        } else {
            self.nr_hwcur - 1
        };
        self.dist(self.nkr_hwlease, last)
    }

    /// Rx: slots a writer holding the lock may fill in place, starting at
    /// `nr_hwtail`. Zero while a lease is pending, so that in-place writes
    /// can never overtake a lease and publication stays in order.
    #[inline]
    pub fn rx_direct_space(&self) -> u32 {
        if self.nkr_hwlease != self.nr_hwtail {
            0
        } else {
            self.rx_free()
        }
    }

    /// Rx: publishes `n` slots filled in place at `nr_hwtail` (at most
    /// [`rx_direct_space`](Self::rx_direct_space)): `nr_hwtail += n`.
    /// Returns the slots published (the counters are added regardless).
    #[inline]
    pub fn rx_publish_direct(&mut self, n: u32, packets: u64, bytes: u64) -> u32 {
        let n = n.min(self.rx_direct_space());
        self.nr_hwtail = self.add(self.nr_hwtail, n);
        self.nkr_hwlease = self.nr_hwtail;
        self.stats.packets += packets;
        self.stats.bytes += bytes;
        n
    }

    /// Tx: slots handed to the port and not yet consumed (`[hwcur, rhead)`).
    #[inline]
    pub fn tx_pending(&self) -> u32 {
        self.dist(self.nr_hwcur, self.rhead)
    }

    /// Rx: reserves `n` free slots (at most [`rx_free`](Self::rx_free)) for a
    /// writer and moves their buffers into `into[0..n]`, which must be empty
    /// there. The writer fills them without this lock, then calls
    /// [`complete_lease`](Self::complete_lease). Concurrent leases complete
    /// in any order; frames are published in lease order.
    pub fn lease(&mut self, n: u32, into: &mut SlotArray) -> Lease {
        if !self.kring_sane() {
            // A port corrupted the indices: reserve nothing rather than
            // index out of bounds. The next reinit repairs the ring.
            return Lease { start: 0, n: 0 };
        }
        let n = n.min(self.rx_free()).min(into.len() as u32);
        let start = self.nkr_hwlease;
        let _ = self.slots.move_slots(start, into, 0, n, |_, s| s);
        if n > 0 {
            self.leases[start as usize] = NR_NOSLOT;
        }
        self.nkr_hwlease = self.add(start, n);
        Lease { start, n }
    }

    /// Returns a lease's buffers from `from[0..n]` (with the lengths and
    /// flags the writer set) and publishes every completed lease that is no
    /// longer behind a pending one by moving `nr_hwtail`. `packets` and
    /// `bytes` are added to the ring's counters.
    pub fn complete_lease(&mut self, lease: Lease, from: &mut SlotArray, packets: u64, bytes: u64) {
        if lease.n == 0 || !self.kring_sane() {
            return; // a lease's buffers stay with the writer, never lost
        }
        let _ = from.move_slots(0, &mut self.slots, lease.start, lease.n, |_, s| s);
        let i = self.add(lease.start, lease.n);
        self.stats.packets += packets;
        self.stats.bytes += bytes;
        self.leases[lease.start as usize] = i;
        while self.nr_hwtail != self.nkr_hwlease {
            let end = self.leases[self.nr_hwtail as usize];
            if end == NR_NOSLOT {
                break;
            }
            self.leases[self.nr_hwtail as usize] = NR_NOSLOT;
            self.nr_hwtail = end % self.nkr_num_slots;
        }
    }
}

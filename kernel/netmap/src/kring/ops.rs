//! The kring operations other crates use: reading the indices, and moving
//! them only in ways that keep the ring's invariants (see the positions in
//! the [module docs](super)).
//!
//! Two kinds of callers:
//!
//! - **Code playing the application** on a kring it drives without a
//!   [`NetmapRing`](crate::NetmapRing) (the NIC bridge on the NIC's krings,
//!   the tap/tun wire on its own): it moves netmap's `head`/`cur` (the
//!   kring's `rhead`/`rcur`/`rtail`) with [`arrived`](KringState::arrived),
//!   [`release`](KringState::release), [`tx_room`](KringState::tx_room),
//!   [`submit`](KringState::submit) and [`move_to_tx`](KringState::move_to_tx).
//!   These do nothing while a `NetmapRing` is bound to the kring (between
//!   [`attach_ring`](KringState::attach_ring) and
//!   [`detach_ring`](KringState::detach_ring)), so they cannot take a slot
//!   from under an application.
//! - **A port's own sync** (netmap's `nm_sync`, the driver): it moves
//!   `nr_hwcur` and `nr_hwtail` with [`tx_consume`](KringState::tx_consume),
//!   [`tx_reclaim`](KringState::tx_reclaim),
//!   [`tx_complete_all`](KringState::tx_complete_all),
//!   [`rx_take_released`](KringState::rx_take_released) and
//!   [`rx_publish_direct`](KringState::rx_publish_direct).
//!
//! Every operation caps what it is asked to what the ring allows and
//! returns what it did; none panics, none loses a buffer (only
//! [`move_to_tx`](KringState::move_to_tx) moves buffers, by swapping).

use super::KringState;
use crate::slot::NS_MOREFRAG;

/// Result of [`KringState::move_to_tx`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Slots moved.
    pub count: u32,
    /// First tx slot they went to (the tx kring's old `rhead`): pass
    /// `[first, first + count)` to [`Kring::monitor_copy`](super::Kring::monitor_copy).
    pub first: u32,
    /// Frames were left behind for lack of room on the tx kring.
    pub more: bool,
}

impl KringState {
    /// Ring size (netmap's `nkr_num_slots`).
    #[inline]
    pub fn num_slots(&self) -> u32 {
        self.nkr_num_slots
    }

    /// `nr_hwcur`: tx, the next slot the port consumes; rx, the first slot
    /// the port has not taken back from the application.
    #[inline]
    pub fn hwcur(&self) -> u32 {
        self.nr_hwcur
    }

    /// `nr_hwtail`: tx, the first slot not reclaimed; rx, the first slot
    /// not received.
    #[inline]
    pub fn hwtail(&self) -> u32 {
        self.nr_hwtail
    }

    /// `rhead`: the application's `head` as of its last sync.
    #[inline]
    pub fn rhead(&self) -> u32 {
        self.rhead
    }

    /// `rcur`: the application's `cur` as of its last sync.
    #[inline]
    pub fn rcur(&self) -> u32 {
        self.rcur
    }

    /// `rtail`: the `tail` last reported to the application.
    #[inline]
    pub fn rtail(&self) -> u32 {
        self.rtail
    }

    /// `nkr_hwlease`: rx, the end of the slots writers reserved.
    #[inline]
    pub fn hwlease(&self) -> u32 {
        self.nkr_hwlease
    }

    /// Whether a [`NetmapRing`](crate::NetmapRing) is bound to this kring.
    /// The application-side operations do nothing then.
    #[inline]
    pub fn is_bound(&self) -> bool {
        self.bound
    }

    // --- Application side, on an rx kring -------------------------------

    /// Rx, application side: the frames that arrived and were not released,
    /// `[rhead, nr_hwtail)`, as `(first, count)` ("take what arrived").
    /// Read them in `slots`, then [`release`](Self::release) them.
    #[inline]
    pub fn arrived(&self) -> (u32, u32) {
        if !self.kring_sane() {
            return (0, 0);
        }
        (self.rhead, self.dist(self.rhead, self.nr_hwtail))
    }

    /// Rx, application side: releases the first `n` arrived frames (at most
    /// [`arrived`](Self::arrived)), as an application moving `head` and
    /// `cur` past them: `rhead = rcur = rtail += n`. The port takes them
    /// back at its next rxsync ([`rx_take_released`](Self::rx_take_released)).
    /// Returns the slots released; 0 while an application ring is bound.
    pub fn release(&mut self, n: u32) -> u32 {
        if self.bound {
            return 0;
        }
        let n = n.min(self.arrived().1);
        self.rhead = self.add(self.rhead, n);
        self.rcur = self.rhead;
        self.rtail = self.rhead;
        n
    }

    /// Rx: frames in the ring the port has not taken back,
    /// `[nr_hwcur, nr_hwtail)` (received, released or not).
    #[inline]
    pub fn queued(&self) -> u32 {
        if !self.kring_sane() {
            return 0;
        }
        self.dist(self.nr_hwcur, self.nr_hwtail)
    }

    // --- Application side, on a tx kring --------------------------------

    /// Tx, application side: the free slots an application may fill,
    /// `[rhead, nr_hwtail)`, as `(first, count)`.
    #[inline]
    pub fn tx_room(&self) -> (u32, u32) {
        if !self.kring_sane() || !self.within(self.nr_hwcur, self.rhead, self.nr_hwtail) {
            return (0, 0);
        }
        (self.rhead, self.dist(self.rhead, self.nr_hwtail))
    }

    /// Tx, application side: submits the next `n` filled slots (at most
    /// [`tx_room`](Self::tx_room)) to the port, as an application moving
    /// `head` and `cur`: `rhead = rcur += n`, `rtail = nr_hwtail`. The port
    /// sends `[nr_hwcur, rhead)` at its next txsync. Returns the slots
    /// submitted; 0 while an application ring is bound.
    pub fn submit(&mut self, n: u32) -> u32 {
        if self.bound {
            return 0;
        }
        let n = n.min(self.tx_room().1);
        self.rhead = self.add(self.rhead, n);
        self.rcur = self.rhead;
        self.rtail = self.nr_hwtail;
        n
    }

    /// Rx to tx by swap ("move to a transmit ring"): moves up to `max` of
    /// this rx kring's [`queued`](Self::queued) frames into `tx`'s
    /// [`tx_room`](Self::tx_room) by swapping buffers (zero copy: the empty
    /// tx buffers come back here), then releases them on this kring (as
    /// application and port: `nr_hwcur = rhead = rcur = rtail += count`,
    /// so writers may fill them again) and [`submit`](Self::submit)s them
    /// on `tx`. Flags other than `NS_MOREFRAG` are cleared on the way out.
    ///
    /// For a kernel consumer that is both the application and the port of
    /// this rx kring (the NIC bridge). Lock order: the caller locked `tx`
    /// before `self` (tx before rx). Nothing moves while an application ring
    /// is bound to either kring, or if the krings use different pools.
    pub fn move_to_tx(&mut self, tx: &mut KringState, max: u32) -> Moved {
        let first = tx.rhead;
        if !self.kring_sane() || self.bound || tx.bound || self.nr_hwcur != self.rhead {
            return Moved {
                first,
                ..Moved::default()
            };
        }
        let queued = self.queued();
        let m = queued.min(tx.tx_room().1).min(max);
        // One batch swap (pool checked once). Positions are in range.
        if self
            .slots
            .swap_slots(self.nr_hwcur, &mut tx.slots, first, m, |_, to_tx| {
                to_tx.flags &= NS_MOREFRAG;
            })
            .is_err()
        {
            return Moved {
                first,
                ..Moved::default()
            };
        }
        self.nr_hwcur = self.add(self.nr_hwcur, m);
        self.rhead = self.nr_hwcur;
        self.rcur = self.nr_hwcur;
        self.rtail = self.nr_hwcur;
        tx.submit(m);
        Moved {
            count: m,
            first,
            more: m < queued,
        }
    }

    // --- Port side (netmap's nm_sync) ------------------------------------

    /// Tx, port side: the port consumed the next `n` submitted slots (at
    /// most [`tx_pending`](Self::tx_pending)): `nr_hwcur += n`. Returns the
    /// slots consumed.
    pub fn tx_consume(&mut self, n: u32) -> u32 {
        if !self.kring_sane() {
            return 0;
        }
        let n = n.min(self.tx_pending());
        self.nr_hwcur = self.add(self.nr_hwcur, n);
        n
    }

    /// Tx, port side: consumed slots not yet reclaimed beyond `nr_hwtail`
    /// (`[nr_hwtail + 1, nr_hwcur)`; one slot always stays empty).
    #[inline]
    pub fn tx_reclaimable(&self) -> u32 {
        if !self.kring_sane() {
            return 0;
        }
        // `nr_hwcur` may have caught up with `nr_hwtail` (the port consumed
        // all the application had): count from `nr_hwtail + 1`.
        self.dist(self.next(self.nr_hwtail), self.nr_hwcur)
    }

    /// Tx, port side: the port finished the next `n` consumed slots (at
    /// most [`tx_reclaimable`](Self::tx_reclaimable)): `nr_hwtail += n`,
    /// handing them back to the application at its next txsync. Returns
    /// the slots reclaimed.
    pub fn tx_reclaim(&mut self, n: u32) -> u32 {
        let n = n.min(self.tx_reclaimable());
        self.nr_hwtail = self.add(self.nr_hwtail, n);
        n
    }

    /// Tx, port side, for a port that completes at once: consumes every
    /// submitted slot and reclaims every consumed one (`nr_hwcur = rhead`,
    /// `nr_hwtail = nr_hwcur - 1`). Returns the slots consumed.
    pub fn tx_complete_all(&mut self) -> u32 {
        let n = self.tx_consume(u32::MAX);
        self.tx_reclaim(u32::MAX);
        n
    }

    /// Rx, port side: takes back the slots the application released,
    /// `[nr_hwcur, rhead)` (netmap's rxsync `nr_hwcur = head`), as
    /// `(first, count)`; writers may fill them again.
    pub fn rx_take_released(&mut self) -> (u32, u32) {
        if !self.kring_sane() || !self.within(self.nr_hwcur, self.rhead, self.nr_hwtail) {
            return (self.nr_hwcur, 0);
        }
        let first = self.nr_hwcur;
        let n = self.dist(first, self.rhead);
        self.nr_hwcur = self.rhead;
        (first, n)
    }

    /// Fault injection, for tests and fuzzing only: sets `nr_hwcur`,
    /// `nr_hwtail` and `nkr_hwlease` to anything, as a bug in the crate's
    /// own writers could. Every operation must then still not panic nor
    /// lose a buffer, and the next application sync re-initialises the ring.
    #[doc(hidden)]
    pub fn inject_corrupt_indices(&mut self, hwcur: u32, hwtail: u32, hwlease: u32) {
        self.nr_hwcur = hwcur;
        self.nr_hwtail = hwtail;
        self.nkr_hwlease = hwlease;
    }
}

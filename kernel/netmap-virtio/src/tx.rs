//! Transmit: txsync hands `[nr_hwcur, rhead)` to the device and reclaims
//! what it has sent.
//!
//! Kring positions on TX: the device holds the slots `[nr_hwtail + 1,
//! nr_hwcur)` (some may already be done: a device may use buffers in any
//! order); reclaiming moves `nr_hwtail` over the done prefix, which gives
//! those slots back to the application. A slot the driver refuses to send
//! (runt, chain too long for the device) is marked done at once and takes
//! no chain, so it is reclaimed in order with the others; so are the
//! second and later slots of a fragment chain, whose bytes travel in the
//! first slot's buffer.

use alloc::boxed::Box;
use alloc::vec;

use netmap::kring::{ring_add, KringState};
use netmap::slot::{ETH_HLEN, MAX_FRAGS, NS_MOREFRAG};
use virtq::{Virtqueue, VIRTQ_DESC_F_NEXT};

use crate::chains::Chains;
use crate::{BufMap, DeviceError, NicStats, HDR_STRIDE, NET_HDR_LEN};

/// The transmit side of one queue pair.
pub struct TxQueue<'a> {
    vq: Virtqueue<'a>,
    n: u32,
    hdr_phys: u64,
    chains: Chains,
    /// `held[i]`: the device holds slot `i`'s frame (sent, not yet used).
    held: Box<[bool]>,
    /// Dropping the rest of a MOREFRAG chain too long for the device.
    in_frag_chain: bool,
    stats: NicStats,
}

impl<'a> TxQueue<'a> {
    /// Take over `vq` (fresh, `2 * slots` descriptors) for a kring of
    /// `slots` slots. `hdr_phys` is the device address of `slots *`
    /// [`HDR_STRIDE`] zeroed bytes: the per-slot headers, never written
    /// again (no offloads).
    pub fn new(vq: Virtqueue<'a>, slots: u32, hdr_phys: u64) -> Self {
        assert_eq!(
            u32::from(vq.size()),
            crate::queue_size_for(slots),
            "queue/kring size mismatch"
        );
        let mut q = Self {
            vq,
            n: slots,
            hdr_phys,
            chains: Chains::new(slots),
            held: vec![false; slots as usize].into_boxed_slice(),
            in_frag_chain: false,
            stats: NicStats::default(),
        };
        q.write_static_descs();
        // Completions are reaped on the next sync; interrupts only when
        // someone waits for room (see arm).
        q.vq.disable_interrupts();
        q
    }

    /// Chain `c`: its header descriptor (header `c`, zero), chained to its
    /// buffer descriptor (filled in when a slot is sent on it).
    fn write_static_descs(&self) {
        for c in 0..self.n {
            let head = Chains::head(c);
            self.vq.set_desc(
                head,
                self.hdr_phys + HDR_STRIDE * u64::from(c),
                NET_HDR_LEN,
                VIRTQ_DESC_F_NEXT,
                head + 1,
            );
            self.vq.set_desc(head + 1, 0, 0, 0, 0);
        }
    }

    /// Counters, including the queue's kick counts.
    pub fn stats(&self) -> NicStats {
        NicStats {
            ooo_completions: self.chains.out_of_order(),
            ..self.stats.with_queue(self.vq.stats())
        }
    }

    /// The virtqueue, for what the NIC does on it besides syncs (its
    /// watchdog, fault injection, reading its state, a fresh queue on the
    /// same memory after a device reset).
    pub(crate) fn vq(&mut self) -> &mut Virtqueue<'a> {
        &mut self.vq
    }

    /// Slots the device holds.
    pub fn in_flight(&self) -> u32 {
        self.chains.held()
    }

    /// The port's txsync body (kring locked, prologue done): reclaim what
    /// the device sent, then post `[nr_hwcur, rhead)` in one batch.
    /// Returns whether to kick the device.
    ///
    /// A fragment chain (`NS_MOREFRAG`) goes out as one frame: the device
    /// takes one buffer per frame, so the fragments are gathered into the
    /// first slot's buffer behind the first fragment and that buffer is
    /// posted; the other slots take no chain and come back with the first.
    /// Up to the device's limit (one buffer; what a switch delivers to a
    /// NIC always fits); a longer chain is dropped whole and counted once. A
    /// chain that `rhead` cuts waits for its rest (`nr_hwcur` stays at its
    /// first slot), unless it could never fit, which drops it at once.
    pub fn txsync(&mut self, k: &mut KringState, bufs: &BufMap) -> Result<bool, DeviceError> {
        self.reclaim(k)?;
        let limit = bufs.buf_size();
        let (mut i, end) = (k.hwcur(), k.rhead());
        while i != end {
            if self.in_frag_chain {
                // The rest of a chain dropped at its first slot.
                self.in_frag_chain = k.slots.get(i as usize).flags & NS_MOREFRAG != 0;
                i = self.next(i);
                continue;
            }
            // Measure the chain starting at `i` (most frames are one slot).
            let first = k.slots.get(i as usize);
            let (mut frags, mut total, mut last) = (1u32, u32::from(first.len), i);
            let mut complete = first.flags & NS_MOREFRAG == 0;
            while !complete {
                let j = self.next(last);
                if j == end || frags as usize > MAX_FRAGS || total > limit {
                    break;
                }
                let s = k.slots.get(j as usize);
                frags += 1;
                total += u32::from(s.len);
                last = j;
                complete = s.flags & NS_MOREFRAG == 0;
            }
            let too_big = frags as usize > MAX_FRAGS || total > limit;
            if !complete && !too_big && frags + 1 < self.n {
                break; // the rest of the chain comes with a later sync
            }
            if too_big || !complete {
                self.stats.tx_drop_frag += 1;
                k.stats.drop_frag_chain += 1;
                // What is left of it past `last` is skipped as it comes.
                self.in_frag_chain = k.slots.get(last as usize).flags & NS_MOREFRAG != 0;
                i = self.next(last);
                continue;
            }
            let next = self.next(last);
            let phys = bufs.phys(first.buf_idx);
            if total < ETH_HLEN as u32 || phys.is_none() {
                self.stats.tx_drop_short += 1;
                k.stats.drop_short += 1;
                i = next;
                continue;
            }
            // Gather the other fragments behind the first. Cannot fail:
            // every slot holds a buffer and `total` fits one.
            let mut j = i;
            let mut gathered = true;
            while j != last {
                j = self.next(j);
                gathered &= k.slots.append_from(i as usize, j as usize).is_ok();
            }
            if let (Some(phys), true) = (phys, gathered) {
                // Neither can fail: at most n - 1 slots are in flight, so
                // the next chain is free and the avail ring has room.
                if let Some(head) = self.chains.take(i) {
                    self.vq.set_desc_buf(head + 1, phys, total);
                    if self.vq.push(head).is_ok() {
                        self.held[i as usize] = true;
                        k.stats.packets += 1;
                        k.stats.bytes += u64::from(total);
                    } else {
                        self.chains.untake();
                    }
                }
            }
            i = next;
        }
        // nr_hwcur moves to `i`, the first slot not consumed.
        k.tx_consume(k.dist(k.hwcur(), i));
        let kick = self.vq.publish();
        // Slots dropped above are done already; hand them back now.
        self.advance_hwtail(k);
        Ok(kick)
    }

    #[inline]
    fn next(&self, i: u32) -> u32 {
        ring_add(i, 1, self.n)
    }

    /// Take back what the device finished (in any order) and move
    /// `nr_hwtail` over the done prefix.
    pub fn reclaim(&mut self, k: &mut KringState) -> Result<(), DeviceError> {
        let held = &mut self.held;
        // The device only reads TX chains: lengths mean nothing here.
        let reaped = self.chains.reap(&mut self.vq, 0, |slot, _len| {
            held[slot as usize] = false;
            Ok(())
        });
        // What was finished before a bad element is really sent.
        self.advance_hwtail(k);
        reaped.map_err(|e| self.device_error(e))?;
        Ok(())
    }

    fn advance_hwtail(&mut self, k: &mut KringState) {
        // nr_hwtail moves over the done prefix of [nr_hwtail + 1, nr_hwcur).
        while k.tx_reclaimable() > 0 && !self.held[self.next(k.hwtail()) as usize] {
            k.tx_reclaim(1);
        }
    }

    fn device_error(&mut self, e: DeviceError) -> DeviceError {
        self.stats.device_errors += 1;
        e
    }

    /// Ask for an interrupt once everything in flight is sent. Returns
    /// `true` if completions are already waiting (poll instead of sleeping).
    pub fn arm(&mut self) -> bool {
        let n = self.vq.in_flight();
        if n == 0 {
            self.vq.disable_interrupts();
            return false;
        }
        self.vq.enable_interrupts_after(n)
    }

    /// Stop interrupts (the datapath is busy and polls).
    pub fn disarm(&mut self) {
        self.vq.disable_interrupts();
    }

    /// After the device was reset: start `vq` afresh (the next frame on
    /// chain 0); frames in flight are lost (counted) and their slots
    /// handed back.
    pub fn reset(&mut self, vq: Virtqueue<'a>, k: &mut KringState) {
        self.vq = vq;
        self.write_static_descs();
        self.vq.disable_interrupts();
        let lost = self.in_flight();
        self.stats.lost_in_reset += u64::from(lost);
        self.stats.resets += 1;
        self.chains.reset();
        self.held.iter_mut().for_each(|h| *h = false);
        self.in_frag_chain = false;
        self.advance_hwtail(k);
    }
}

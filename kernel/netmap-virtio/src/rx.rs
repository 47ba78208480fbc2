//! Receive: rxsync takes back `[nr_hwcur, rhead)` from the application,
//! re-posts those buffers, and turns used elements into frames at
//! `nr_hwtail`.
//!
//! Kring positions on RX: `[nr_hwtail, posted_end)` are posted, each
//! either still the device's or already filled (a device may use buffers
//! in any order); `[posted_end, nr_hwcur - 1)` are free slots not yet
//! posted (the application just released them); slot `nr_hwcur - 1` stays
//! empty, as in every netmap rx ring. The avail ring is filled in slot
//! order; a filled slot gets its length at once, and `nr_hwtail` moves
//! over the filled prefix, so the application sees frames in ring order.

use alloc::boxed::Box;
use alloc::vec;

use netmap::kring::{ring_add, ring_dist, KringState};
use virtq::{Virtqueue, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};

use crate::chains::Chains;
use crate::{BufMap, DeviceError, NicStats, HDR_STRIDE, NET_HDR_LEN};

/// The receive side of one queue pair.
pub struct RxQueue<'a> {
    vq: Virtqueue<'a>,
    n: u32,
    hdr_phys: u64,
    chains: Chains,
    /// `filling[i]`: the device holds slot `i`'s buffer (posted, not used).
    filling: Box<[bool]>,
    /// One past the last slot posted to the device.
    posted_end: u32,
    stats: NicStats,
}

impl<'a> RxQueue<'a> {
    /// Take over `vq` (fresh, `2 * slots` descriptors) for an rx kring of
    /// `slots` slots; `hdr_phys` is the device address of `slots *`
    /// [`HDR_STRIDE`] bytes the device writes headers into. Call
    /// [`post`](Self::post) to hand the free slots to the device.
    pub fn new(vq: Virtqueue<'a>, slots: u32, hdr_phys: u64) -> Self {
        assert_eq!(
            u32::from(vq.size()),
            crate::queue_size_for(slots),
            "queue/kring size mismatch"
        );
        let q = Self {
            vq,
            n: slots,
            hdr_phys,
            chains: Chains::new(slots),
            filling: vec![false; slots as usize].into_boxed_slice(),
            posted_end: 0,
            stats: NicStats::default(),
        };
        q.write_static_descs();
        q
    }

    /// Chain `c`: its header descriptor (header `c`), chained to its buffer
    /// descriptor (filled in when a slot is posted on it).
    fn write_static_descs(&self) {
        for c in 0..self.n {
            let head = Chains::head(c);
            let hdr = self.hdr_phys + HDR_STRIDE * u64::from(c);
            self.vq.set_desc(
                head,
                hdr,
                NET_HDR_LEN,
                VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
                head + 1,
            );
            self.vq.set_desc(head + 1, 0, 0, VIRTQ_DESC_F_WRITE, 0);
        }
    }

    #[inline]
    fn next(&self, i: u32) -> u32 {
        ring_add(i, 1, self.n)
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

    /// Slots posted and not yet delivered (`[nr_hwtail, posted_end)`):
    /// the device's, or filled and waiting behind an older one.
    pub fn posted(&self, k: &KringState) -> u32 {
        ring_dist(k.hwtail(), self.posted_end, self.n)
    }

    /// Post every free slot (`[posted_end, nr_hwcur - 1)`), each with the
    /// buffer it holds now (the application may have swapped it).
    /// Returns whether to kick.
    pub fn post(&mut self, k: &KringState, bufs: &BufMap) -> bool {
        let last = ring_add(k.hwcur(), self.n - 1, self.n);
        let size = bufs.buf_size();
        while self.posted_end != last {
            let i = self.posted_end;
            // Slot arrays hold only pool buffers, so phys() succeeds; were
            // it ever not to, stop posting rather than point the device at
            // an arbitrary address (the slot is retried next sync).
            let Some(phys) = bufs.phys(k.slots.buf_idx(i as usize)) else {
                break;
            };
            let Some(head) = self.chains.take(i) else {
                break;
            };
            self.vq.set_desc_buf(head + 1, phys, size);
            if self.vq.push(head).is_err() {
                self.chains.untake();
                break;
            }
            self.filling[i as usize] = true;
            self.posted_end = self.next(i);
        }
        self.vq.publish()
    }

    /// The port's rxsync body (kring locked, prologue done): release
    /// `[nr_hwcur, rhead)`, re-post, then deliver received frames by
    /// moving `nr_hwtail`. Returns whether to kick.
    pub fn rxsync(&mut self, k: &mut KringState, bufs: &BufMap) -> Result<bool, DeviceError> {
        k.rx_take_released();
        let kick = self.post(k, bufs);
        self.receive(k, bufs)?;
        Ok(kick)
    }

    /// Take what the device filled (in any order: each used element marks
    /// its slot filled, with its length) and deliver the filled prefix by
    /// moving `nr_hwtail`. Returns the frames delivered.
    pub fn receive(&mut self, k: &mut KringState, bufs: &BufMap) -> Result<u32, DeviceError> {
        let max = NET_HDR_LEN + bufs.buf_size();
        let filling = &mut self.filling;
        // A buffer used completely (an IN_ORDER batch says so of all but
        // its last): header and a full buffer.
        let reaped = self.chains.reap(&mut self.vq, max, |slot, len| {
            if !(NET_HDR_LEN..=max).contains(&len) {
                return Err(DeviceError::BadUsedLen(len));
            }
            let i = slot as usize;
            // len - NET_HDR_LEN <= buf_size <= u16::MAX, checked above.
            let _ = k.slots.set_len(i, (len - NET_HDR_LEN) as u16);
            k.slots.set_flags(i, 0);
            filling[i] = false;
            Ok(())
        });
        // Frames filled before a bad element are good: deliver them.
        let got = self.deliver(k);
        reaped.map_err(|e| self.device_error(e))?;
        Ok(got)
    }

    /// Move `nr_hwtail` over the filled prefix of `[nr_hwtail, posted_end)`.
    fn deliver(&mut self, k: &mut KringState) -> u32 {
        let mut got = 0;
        while k.hwtail() != self.posted_end && !self.filling[k.hwtail() as usize] {
            let len = k.slots.get(k.hwtail() as usize).len;
            // nr_hwtail += 1 (and nkr_hwlease with it: the NIC takes no
            // leases). Cannot refuse: posted slots are below nr_hwcur - 1.
            if k.rx_publish_direct(1, 1, u64::from(len)) == 0 {
                break;
            }
            got += 1;
        }
        got
    }

    fn device_error(&mut self, e: DeviceError) -> DeviceError {
        self.stats.device_errors += 1;
        e
    }

    /// Ask for an interrupt on the next frame. Returns `true` if frames are
    /// already waiting (poll instead of sleeping).
    pub fn arm(&mut self) -> bool {
        self.vq.enable_interrupts()
    }

    /// Stop interrupts (the datapath is busy and polls).
    pub fn disarm(&mut self) {
        self.vq.disable_interrupts();
    }

    /// After a re-initialisation failed: nothing is the device's, so
    /// nothing is posted (the next [`reset`](Self::reset) then counts no
    /// frame lost that was never received).
    pub fn abandon(&mut self, k: &KringState) {
        self.chains.reset();
        self.filling.iter_mut().for_each(|f| *f = false);
        self.posted_end = k.hwtail();
    }

    /// After the device was reset: start `vq` afresh and re-post from
    /// `nr_hwtail` on chain 0. Frames the device held, and frames filled
    /// but waiting behind one it held, are lost (counted); the slots keep
    /// their buffers. Returns whether to kick.
    pub fn reset(&mut self, vq: Virtqueue<'a>, k: &mut KringState, bufs: &BufMap) -> bool {
        self.stats.lost_in_reset += u64::from(self.posted(k));
        self.stats.resets += 1;
        self.vq = vq;
        self.write_static_descs();
        self.chains.reset();
        self.filling.iter_mut().for_each(|f| *f = false);
        self.posted_end = k.hwtail();
        self.post(k, bufs)
    }
}

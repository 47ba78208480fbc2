//! Receive: rxsync takes back `[nr_hwcur, rhead)` from the application,
//! re-posts those buffers, and turns used elements into frames at
//! `nr_hwtail`.
//!
//! Kring positions on RX: the device holds `[nr_hwtail, posted_end)`;
//! `[posted_end, nr_hwcur - 1)` are free slots not yet posted (the
//! application just released them); slot `nr_hwcur - 1` stays empty, as in
//! every netmap rx ring. The avail ring is filled in slot order, and
//! frames must come back in that order.

use netmap::kring::KringState;
use virtq::{Virtqueue, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};

use crate::{head_of, BufMap, DeviceError, NicStats, HDR_STRIDE, NET_HDR_LEN};

/// The receive side of one queue pair.
pub struct RxQueue<'a> {
    vq: Virtqueue<'a>,
    n: u32,
    hdr_phys: u64,
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
            posted_end: 0,
            stats: NicStats::default(),
        };
        q.write_static_descs();
        q
    }

    fn write_static_descs(&self) {
        for i in 0..self.n {
            let head = head_of(i);
            let hdr = self.hdr_phys + HDR_STRIDE * u64::from(i);
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
        if i + 1 == self.n {
            0
        } else {
            i + 1
        }
    }

    /// Counters, including the queue's kick counts.
    pub fn stats(&self) -> NicStats {
        self.stats.with_queue(self.vq.stats())
    }

    /// The virtqueue, for what the NIC does on it besides syncs (its
    /// watchdog, fault injection, reading its state, a fresh queue on the
    /// same memory after a device reset).
    pub(crate) fn vq(&mut self) -> &mut Virtqueue<'a> {
        &mut self.vq
    }

    /// Slots the device holds.
    pub fn posted(&self, k: &KringState) -> u32 {
        (self.posted_end + self.n - k.nr_hwtail) % self.n
    }

    /// Post every free slot (`[posted_end, nr_hwcur - 1)`), each with the
    /// buffer it holds now (the application may have swapped it).
    /// Returns whether to kick.
    pub fn post(&mut self, k: &KringState, bufs: &BufMap) -> bool {
        let last = if k.nr_hwcur == 0 {
            self.n - 1
        } else {
            k.nr_hwcur - 1
        };
        let size = bufs.buf_size();
        while self.posted_end != last {
            let i = self.posted_end;
            let head = head_of(i);
            // Slot arrays hold only pool buffers, so phys() succeeds; were
            // it ever not to, stop posting rather than point the device at
            // an arbitrary address (the slot is retried next sync).
            let Some(phys) = bufs.phys(k.slots.buf_idx(i as usize)) else {
                break;
            };
            self.vq.set_desc_buf(head + 1, phys, size);
            if self.vq.push(head).is_err() {
                break;
            }
            self.posted_end = self.next(i);
        }
        self.vq.publish()
    }

    /// The port's rxsync body (kring locked, prologue done): release
    /// `[nr_hwcur, rhead)`, re-post, then deliver received frames by
    /// moving `nr_hwtail`. Returns whether to kick.
    pub fn rxsync(&mut self, k: &mut KringState, bufs: &BufMap) -> Result<bool, DeviceError> {
        k.nr_hwcur = k.rhead;
        let kick = self.post(k, bufs);
        self.receive(k, bufs)?;
        Ok(kick)
    }

    /// Turn used elements into frames at `nr_hwtail`.
    pub fn receive(&mut self, k: &mut KringState, bufs: &BufMap) -> Result<u32, DeviceError> {
        let pending = self
            .vq
            .poll_used()
            .map_err(|_| self.device_error(DeviceError::UsedIndexJump))?;
        let max = NET_HDR_LEN + bufs.buf_size();
        let mut got = 0;
        for _ in 0..pending {
            let Some(e) = self.vq.pop_used() else { break };
            let expected = u32::from(head_of(k.nr_hwtail));
            if e.id != expected {
                let err = if e.id % 2 != 0 || e.id / 2 >= self.n {
                    DeviceError::BadUsedId(e.id)
                } else {
                    DeviceError::OutOfOrder {
                        expected,
                        got: e.id,
                    }
                };
                return Err(self.device_error(err));
            }
            if e.len < NET_HDR_LEN || e.len > max {
                return Err(self.device_error(DeviceError::BadUsedLen(e.len)));
            }
            let len = e.len - NET_HDR_LEN;
            let i = k.nr_hwtail as usize;
            // len <= buf_size <= u16::MAX was checked above.
            let _ = k.slots.set_len(i, len as u16);
            k.slots.set_flags(i, 0);
            k.stats.packets += 1;
            k.stats.bytes += u64::from(len);
            k.nr_hwtail = self.next(k.nr_hwtail);
            got += 1;
        }
        k.nkr_hwlease = k.nr_hwtail;
        Ok(got)
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

    /// After the device was reset: start `vq` afresh and re-post. Frames
    /// the device held are lost (counted); the slots keep their buffers.
    /// Returns whether to kick.
    pub fn reset(&mut self, vq: Virtqueue<'a>, k: &mut KringState, bufs: &BufMap) -> bool {
        self.stats.lost_in_reset += u64::from(self.posted(k));
        self.stats.resets += 1;
        self.vq = vq;
        self.write_static_descs();
        self.posted_end = k.nr_hwtail;
        self.post(k, bufs)
    }
}

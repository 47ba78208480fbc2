//! The switch-facing half shared by tap and tun ports: one tx kring the
//! port writes frames into and forwards from at once, one rx kring the
//! switch fills (the bounded receive queue), and the port's attachment.

use alloc::boxed::Box;
use alloc::sync::Arc;

use netmap::vale::{Attachment, Batch, ForwardScratch};
use netmap::{BufferPool, Dir, Kring, OpenError, Switch};
use spin::Mutex;

use crate::Error;

/// Slots of the tx kring (frames are forwarded as soon as written).
const TX_SLOTS: u32 = 64;

pub(crate) struct Wire {
    pub tx: Box<[Kring]>,
    pub rx: Box<[Kring]>,
    scratch: Mutex<ForwardScratch>,
    link: Mutex<Option<(Arc<Switch>, Attachment)>>,
    pub buf_size: usize,
    /// The largest frame a slot carries: the pool's buffer size, at most
    /// `u16::MAX` (a slot's length is 16 bits).
    pub max_frame: usize,
}

/// The smallest frame a port's buffers must hold: an Ethernet header and
/// IPv4's minimum datagram (68 bytes).
pub(crate) const MIN_FRAME: usize = crate::ETH_HLEN + 68;

impl Wire {
    pub fn new(pool: &Arc<BufferPool>, queue: u32) -> Result<Wire, OpenError> {
        let max_frame = pool.buf_size().min(usize::from(u16::MAX));
        if !(1..=65535).contains(&queue) || max_frame < MIN_FRAME {
            return Err(OpenError::BadConfig);
        }
        Ok(Wire {
            tx: Kring::new_set(pool, Dir::Tx, 1, TX_SLOTS)?,
            rx: Kring::new_set(pool, Dir::Rx, 1, queue + 1)?,
            scratch: Mutex::new(ForwardScratch::new(pool)),
            link: Mutex::new(None),
            buf_size: pool.buf_size(),
            max_frame,
        })
    }

    pub fn link(&self, sw: Arc<Switch>, a: Attachment) {
        *self.link.lock() = Some((sw, a));
    }

    pub fn unlink(&self) {
        *self.link.lock() = None;
    }

    pub fn switch(&self) -> Option<Arc<Switch>> {
        self.link.lock().as_ref().map(|(s, _)| s.clone())
    }

    /// Sends one frame (at most [`max_frame`](Self::max_frame)) into the
    /// switch. `fill` writes the frame into the slot's buffer (cut to
    /// `max_frame`) and returns its length; callers check the length
    /// first (a longer one is refused here as [`Error::TooBig`]).
    pub fn send(&self, fill: impl FnOnce(&mut [u8]) -> usize) -> Result<(), Error> {
        let (sw, a) = self.link.lock().clone().ok_or(Error::NetDown)?;
        let wake = {
            // The wire plays both the application and the port on its tx
            // kring: fill the first free slot, submit it, forward what is
            // pending, and complete it at once.
            let mut sc = self.scratch.lock();
            let mut k = self.tx[0].lock();
            let (i, room) = k.tx_room();
            if room == 0 {
                return Err(Error::Invalid); // never: every send completes
            }
            let len = match k.slots.buf_mut(i as usize) {
                Ok(b) => {
                    let m = b.len().min(self.max_frame);
                    fill(&mut b[..m])
                }
                Err(_) => return Err(Error::Invalid),
            };
            if len > self.max_frame {
                return Err(Error::TooBig);
            }
            let _ = k.slots.set_len(i as usize, len as u16);
            k.slots.set_flags(i as usize, 0);
            k.submit(1); // rhead = rcur += 1
            let st = &mut *k;
            let batch = Batch {
                src: a,
                src_ring: 0,
                slots: &st.slots,
                first: st.hwcur(),
                count: st.tx_pending(),
                max_frame: self.buf_size,
            };
            let res = sw.forward(batch, &mut st.stats, &mut sc);
            // Forwarded or dropped: the slot is free again either way
            // (nr_hwcur = rhead, nr_hwtail = nr_hwcur - 1).
            k.tx_complete_all();
            match res {
                Ok(f) => f.wakeups,
                Err(_) => {
                    k.stats.drop_detached += 1;
                    return Err(Error::NetDown);
                }
            }
        };
        sw.wake(&wake);
        Ok(())
    }

    /// Length of the first queued frame.
    pub fn peek_len(&self) -> Option<usize> {
        let k = self.rx[0].lock();
        let (first, count) = k.arrived();
        (count > 0).then(|| k.slots.get(first as usize).len as usize)
    }

    /// Frames queued.
    pub fn queued(&self) -> usize {
        self.rx[0].lock().queued() as usize
    }

    /// Hands the first queued frame to `f` and releases its slot. The wire
    /// is the application and the port of its rx kring: the slot goes
    /// straight back to the switch's writers.
    pub fn pop<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut k = self.rx[0].lock();
        let (first, count) = k.arrived();
        if count == 0 {
            return None;
        }
        let r = f(k.slots.frame(first as usize).unwrap_or(&[]));
        k.release(1);
        k.rx_take_released();
        Some(r)
    }

    /// Drops every queued frame; returns how many.
    pub fn flush(&self) -> u64 {
        let mut k = self.rx[0].lock();
        let c = k.release(u32::MAX);
        k.rx_take_released();
        u64::from(c)
    }

    /// Frames the switch dropped because the queue was full.
    pub fn queue_drops(&self) -> u64 {
        let k = self.rx[0].lock();
        k.stats.drop_ring_full + k.stats.drop_oversize
    }

    pub fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }
}

//! Netmap pipes: two ports whose rings are cross-connected, `NAME{K` (the
//! master end) and `NAME}K` (the slave end).
//!
//! Tx ring `r` of one end feeds rx ring `r` of the other. A txsync moves each
//! pending slot to the peer by *swapping* it with a free slot of the peer's
//! rx ring: the frame's buffer travels, the sender gets the peer's free
//! buffer back, nothing is copied, and both slots carry `NS_BUF_CHANGED`.
//! When the peer's ring is full the rest stays pending in the sender's ring
//! (back-pressure, no drops), as in netmap. Fragment chains are moved slot
//! by slot and may straddle two syncs; the receiver sees them intact.
//!
//! Locking: the sender's tx kring, then the peer's rx kring. A pipe never
//! takes the two rings of one end together, so the two directions cannot
//! deadlock. The peer is woken after both locks are released, and an rxsync
//! wakes the peer's tx ring, whose sender may be waiting for room.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use crate::error::{OpenError, SyncError};
use crate::kring::{ring_add, Dir, Kring};
use crate::mem::BufferPool;
use crate::port::{Port, PortKind};
use crate::slot::{NS_BUF_CHANGED, NS_MOREFRAG};

/// The rings of one end.
struct End {
    name: String,
    tx: Box<[Kring]>,
    rx: Box<[Kring]>,
}

/// Both ends of a pipe.
pub struct PipePair {
    ends: [End; 2],
    max_frame: usize,
}

/// Which end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeSide {
    /// `NAME{K`
    Master = 0,
    /// `NAME}K`
    Slave = 1,
}

impl PipePair {
    /// A pipe named `base{id` / `base}id` with `rings` rings of `slots`
    /// slots per direction on each end.
    pub fn new(
        pool: &Arc<BufferPool>,
        base: &str,
        id: u32,
        rings: u16,
        slots: u32,
        max_frame: usize,
    ) -> Result<Arc<Self>, OpenError> {
        if rings == 0 {
            return Err(OpenError::BadConfig);
        }
        let end = |c: char| -> Result<End, OpenError> {
            Ok(End {
                name: alloc::format!("{base}{c}{id}"),
                tx: Kring::new_set(pool, Dir::Tx, rings, slots)?,
                rx: Kring::new_set(pool, Dir::Rx, rings, slots)?,
            })
        };
        Ok(Arc::new(PipePair {
            ends: [end('{')?, end('}')?],
            max_frame,
        }))
    }

    /// The port of one end.
    pub fn end(self: &Arc<Self>, side: PipeSide) -> Arc<PipeEnd> {
        Arc::new(PipeEnd {
            pair: self.clone(),
            side: side as usize,
        })
    }
}

/// One end of a pipe, as a port.
pub struct PipeEnd {
    pair: Arc<PipePair>,
    side: usize,
}

impl PipeEnd {
    fn me(&self) -> &End {
        &self.pair.ends[self.side]
    }
    fn peer(&self) -> &End {
        &self.pair.ends[1 - self.side]
    }
}

impl core::fmt::Debug for PipePair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PipePair")
            .field("master", &self.ends[0].name)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for PipeEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PipeEnd")
            .field("name", &self.me().name)
            .finish_non_exhaustive()
    }
}

impl Port for PipeEnd {
    fn name(&self) -> &str {
        &self.me().name
    }

    fn kind(&self) -> PortKind {
        PortKind::Pipe
    }

    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.me().tx,
            Dir::Rx => &self.me().rx,
        }
    }

    fn max_frame(&self) -> usize {
        self.pair.max_frame
    }

    fn txsync(&self, r: usize) -> Result<(), SyncError> {
        let tk = self.me().tx.get(r).ok_or(SyncError::NoSuchRing(r))?;
        let pk = self.peer().rx.get(r).ok_or(SyncError::NoSuchRing(r))?;
        let moved = {
            let mut t = tk.lock();
            let mut p = pk.lock();
            let tn = t.nkr_num_slots;
            let m = t.tx_pending().min(p.rx_direct_space());
            let (i, j) = (t.nr_hwcur, p.nr_hwtail);
            let (mut packets, mut bytes) = (0u64, 0u64);
            let k = &mut *t;
            // Cannot fail: same pool, both starts in range.
            let _ = k.slots.swap_slots(i, &mut p.slots, j, m, |mine, theirs| {
                // `theirs` now carries the frame, `mine` the peer's free buffer.
                packets += (theirs.flags & NS_MOREFRAG == 0) as u64;
                bytes += theirs.len as u64;
                theirs.flags = (theirs.flags & NS_MOREFRAG) | NS_BUF_CHANGED;
                mine.flags = NS_BUF_CHANGED;
                mine.len = 0;
            });
            let i = ring_add(i, m, tn);
            p.rx_publish_direct(m, packets, bytes);
            t.stats.packets += packets;
            t.stats.bytes += bytes;
            t.nr_hwcur = i;
            // Every consumed slot is reusable at once.
            t.nr_hwtail = if i == 0 { tn - 1 } else { i - 1 };
            m
        };
        if moved > 0 {
            pk.wake();
        }
        Ok(())
    }

    fn rxsync(&self, r: usize) -> Result<(), SyncError> {
        let k = self.me().rx.get(r).ok_or(SyncError::NoSuchRing(r))?;
        let released = {
            let mut k = k.lock();
            let released = k.nr_hwcur != k.rhead;
            k.nr_hwcur = k.rhead;
            released
        };
        if released {
            // Room appeared: the peer's sender may be waiting for it.
            if let Some(t) = self.peer().tx.get(r) {
                t.wake();
            }
        }
        Ok(())
    }
}

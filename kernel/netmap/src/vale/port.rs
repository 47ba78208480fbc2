//! VALE ports (`valeN:name`): virtual ports whose application's tx rings
//! feed the switch and whose rx rings the switch fills.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;

use super::{Attachment, Batch, ForwardScratch, Switch, Wakeups};
use crate::error::{OpenError, SyncError};
use crate::kring::{ring_add, Dir, Kring};
use crate::mem::BufferPool;
use crate::padded::CachePadded;
use crate::port::{Port, PortConfig, PortKind};
use crate::slot::NS_MOREFRAG;

/// A virtual port of a VALE switch.
pub struct ValePort {
    name: String,
    switch: Arc<Switch>,
    attachment: Attachment,
    tx: Box<[Kring]>,
    rx: Box<[Kring]>,
    /// One per tx ring; locked only by that ring's txsync (padded: each
    /// ring's sender may be another CPU).
    scratch: Box<[CachePadded<Mutex<ForwardScratch>>]>,
    max_frame: usize,
}

impl ValePort {
    /// Creates `name` (`valeN:port`) and attaches it to `switch`.
    pub fn create(
        pool: &Arc<BufferPool>,
        switch: &Arc<Switch>,
        name: &str,
        cfg: PortConfig,
    ) -> Result<Arc<ValePort>, OpenError> {
        cfg.check()?;
        let mut made = None;
        switch.attach_with(|attachment| {
            let p = Arc::new(ValePort {
                name: name.into(),
                switch: switch.clone(),
                attachment,
                tx: Kring::new_set(pool, Dir::Tx, cfg.tx_rings, cfg.num_slots)?,
                rx: Kring::new_set(pool, Dir::Rx, cfg.rx_rings, cfg.num_slots)?,
                scratch: (0..cfg.tx_rings)
                    .map(|_| CachePadded::new(Mutex::new(ForwardScratch::new(pool))))
                    .collect(),
                max_frame: cfg.max_frame,
            });
            made = Some(p.clone());
            Ok(p as Arc<dyn Port>)
        })?;
        made.ok_or(OpenError::BadConfig)
    }

    /// Its attachment to the switch.
    pub fn attachment(&self) -> Attachment {
        self.attachment
    }

    /// The switch it belongs to.
    pub fn switch(&self) -> &Arc<Switch> {
        &self.switch
    }

    /// Detaches from the switch (idempotent). Frames sent afterwards are
    /// dropped and counted as `drop_detached`.
    pub fn detach(&self) {
        self.switch.detach(self.attachment);
    }
}

impl core::fmt::Debug for ValePort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ValePort")
            .field("name", &self.name)
            .field("id", &self.attachment.id)
            .finish_non_exhaustive()
    }
}

impl Port for ValePort {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PortKind {
        PortKind::Vale
    }

    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }

    fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Forwards every pending slot into the switch, in batches, then
    /// notifies the destinations.
    fn txsync(&self, r: usize) -> Result<(), SyncError> {
        let kring = self.tx.get(r).ok_or(SyncError::NoSuchRing(r))?;
        let mut wake = Wakeups::new(r as u16);
        let mut res = Ok(());
        {
            let mut sc = self.scratch[r].lock();
            let mut g = kring.lock();
            let k = &mut *g;
            let n = k.nkr_num_slots;
            loop {
                let pending = k.tx_pending();
                if pending == 0 {
                    break;
                }
                let batch = Batch {
                    src: self.attachment,
                    src_ring: r as u16,
                    slots: &k.slots,
                    first: k.nr_hwcur,
                    count: pending,
                    max_frame: self.max_frame,
                };
                match self.switch.forward(batch, &mut k.stats, &mut sc) {
                    Ok(f) => {
                        wake.merge(&f.wakeups);
                        if f.consumed == 0 {
                            break;
                        }
                        k.tx_consume(f.consumed);
                    }
                    Err(e) => {
                        // Off the switch: nothing can be delivered.
                        let mut i = k.nr_hwcur;
                        while i != k.rhead {
                            if k.slots.get(i as usize).flags & NS_MOREFRAG == 0 {
                                k.stats.drop_detached += 1;
                            }
                            i = ring_add(i, 1, n);
                        }
                        k.tx_consume(pending);
                        res = Err(e);
                        break;
                    }
                }
            }
            // Forwarded or dropped slots are free at once.
            k.tx_reclaim(u32::MAX);
        }
        self.switch.wake(&wake);
        res
    }

    /// Releases the slots the application is done with; the switch fills
    /// the ring on its own.
    fn rxsync(&self, r: usize) -> Result<(), SyncError> {
        let k = self.rx.get(r).ok_or(SyncError::NoSuchRing(r))?;
        let mut k = k.lock();
        k.nr_hwcur = k.rhead;
        Ok(())
    }
}

//! The kring operations other crates use (issue 11: the protocol behind
//! methods), in any order and with any counts, interleaved with an
//! untrusted application on the same krings (scribbled head/cur/tail and
//! slots, syncs, opening and closing its handle) and with writers leasing
//! slots. Every sequence: no panic, the indices in range, and the pool
//! audit exact after every action (every buffer owned exactly once).
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netmap::{BufferPool, Dir, Handle, Kring, KringState, Port, SlotArray, SyncError};

/// A kernel port whose syncs are the operations under test: how far its
/// txsync consumes and reclaims, and whether its rxsync takes back the
/// released slots, is chosen by the input.
struct Dev {
    tx: Box<[Kring]>,
    rx: Box<[Kring]>,
    /// `(consume, reclaim, take_released)` for the next syncs.
    script: std::sync::Mutex<(u32, u32, bool)>,
}

impl Port for Dev {
    fn name(&self) -> &str {
        "dev0"
    }
    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }
    fn max_frame(&self) -> usize {
        256
    }
    fn txsync(&self, r: usize) -> Result<(), SyncError> {
        let (c, rc, _) = *self.script.lock().unwrap();
        let mut k = self.tx[r].lock();
        k.tx_consume(c);
        k.tx_reclaim(rc);
        Ok(())
    }
    fn rxsync(&self, r: usize) -> Result<(), SyncError> {
        let (_, _, take) = *self.script.lock().unwrap();
        if take {
            self.rx[r].lock().rx_take_released();
        }
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum Act {
    // --- The kernel playing the application / the device --------------
    /// `rx_publish_direct` on kring `k` (the device received `n`).
    Publish {
        k: u8,
        n: u8,
    },
    /// `arrived` then `release(n)`.
    Release {
        k: u8,
        n: u8,
    },
    /// `rx_take_released` (a port's rxsync).
    TakeReleased {
        k: u8,
    },
    /// `tx_room`, write lengths, `submit(n)`.
    Submit {
        k: u8,
        n: u8,
        len: u16,
        flags: u16,
    },
    /// `tx_consume(n)` (a port's txsync).
    Consume {
        k: u8,
        n: u8,
    },
    /// `tx_reclaim(n)`.
    Reclaim {
        k: u8,
        n: u8,
    },
    /// `tx_complete_all`.
    CompleteAll {
        k: u8,
    },
    /// `move_to_tx(max)` from rx kring `from` to tx kring `to`.
    MoveToTx {
        from: u8,
        to: u8,
        max: u8,
    },
    /// A writer leases `n` slots of an rx kring.
    Lease {
        k: u8,
        n: u8,
    },
    /// The writer completes its oldest (or newest) pending lease.
    CompleteLease {
        newest: bool,
        len: u16,
    },
    /// Read-only operations (must not panic).
    Read {
        k: u8,
    },
    // --- The untrusted application ----------------------------------------
    /// Open (or reopen) the handle on the device.
    Open,
    /// Close it (its buffers go back to the krings).
    Close,
    /// Set head/cur/tail to anything.
    Scribble {
        rx: bool,
        head: u32,
        cur: u32,
        tail: u32,
    },
    /// Write anything in a slot of the view.
    Poke {
        rx: bool,
        slot: u8,
        buf_idx: u32,
        len: u16,
        flags: u16,
    },
    /// Honest use: advance head/cur by `n` within the ring's space.
    Advance {
        rx: bool,
        n: u8,
    },
    /// Zero-copy swap between its tx and rx rings.
    SwapBuf {
        i: u8,
        j: u8,
    },
    TxSync,
    RxSync,
    /// How the device's syncs behave from now on.
    Script {
        consume: u8,
        reclaim: u8,
        take: bool,
    },
}

fn sane(k: &KringState) {
    let n = k.num_slots();
    assert!(
        k.hwcur() < n && k.hwtail() < n && k.rhead() < n && k.rcur() < n && k.rtail() < n,
        "{k:?}"
    );
    assert!(k.hwlease() < n);
}

fuzz_target!(|inp: (u8, u8, Vec<Act>)| {
    let (s1, s2, acts) = inp;
    let pool = BufferPool::on_heap(256, 256).unwrap();
    let (n1, n2) = (u32::from(s1 % 15) + 2, u32::from(s2 % 15) + 2);
    let dev = Arc::new(Dev {
        tx: Kring::new_set(&pool, Dir::Tx, 1, n1).unwrap(),
        rx: Kring::new_set(&pool, Dir::Rx, 1, n1).unwrap(),
        script: std::sync::Mutex::new((u32::MAX, u32::MAX, true)),
    });
    // Standalone krings a kernel consumer drives (a bridge's own queue, a
    // second NIC's tx ring).
    let krx = Kring::new(&pool, Dir::Rx, 0, n2).unwrap();
    let ktx = Kring::new(&pool, Dir::Tx, 0, n2).unwrap();
    // krings: 0 dev tx, 1 dev rx, 2 krx, 3 ktx. Rx operations go to rx
    // krings, tx operations to tx krings.
    let kr = |i: u8| -> &Kring {
        match i % 4 {
            0 => &dev.tx[0],
            1 => &dev.rx[0],
            2 => &krx,
            _ => &ktx,
        }
    };
    // Rx operations on the dev rx kring or krx, tx ones on dev tx or ktx.
    let rxk = |i: u8| kr(1 + (i % 2));
    let txk = |i: u8| kr(3 * (i % 2));
    // A writer's leases: (rx kring, the lease until completed, its buffers).
    let mut leases: Vec<(u8, Option<netmap::Lease>, SlotArray)> = Vec::new();
    let mut h: Option<Handle> = None;

    for a in acts.into_iter().take(200) {
        match a {
            Act::Publish { k, n } => {
                let mut g = rxk(k).lock();
                let (start, room) = (g.hwtail(), g.rx_direct_space());
                let n = u32::from(n).min(room);
                for j in 0..n {
                    let i = g.add(start, j) as usize;
                    let _ = g.slots.set_len(i, 60);
                    g.slots.set_flags(i, 0);
                }
                let done = g.rx_publish_direct(n, u64::from(n), 60 * u64::from(n));
                assert!(done <= n);
            }
            Act::Release { k, n } => {
                let mut g = rxk(k).lock();
                let (_, arrived) = g.arrived();
                let bound = g.is_bound();
                let r = g.release(u32::from(n));
                assert!(r <= arrived && (!bound || r == 0));
            }
            Act::TakeReleased { k } => {
                let mut g = rxk(k).lock();
                let (_, c) = g.rx_take_released();
                assert!(c < g.num_slots());
            }
            Act::Submit { k, n, len, flags } => {
                let mut g = txk(k).lock();
                let (first, room) = g.tx_room();
                let n = u32::from(n).min(room);
                for j in 0..n {
                    let i = g.add(first, j) as usize;
                    let _ = g.slots.set_len(i, len % 300);
                    g.slots.set_flags(i, flags);
                }
                let bound = g.is_bound();
                let s = g.submit(n);
                assert!(s <= room && (!bound || s == 0));
            }
            Act::Consume { k, n } => {
                let mut g = txk(k).lock();
                let p = g.tx_pending();
                assert!(g.tx_consume(u32::from(n)) <= p);
            }
            Act::Reclaim { k, n } => {
                let mut g = txk(k).lock();
                let r = g.tx_reclaimable();
                assert!(g.tx_reclaim(u32::from(n)) <= r);
            }
            Act::CompleteAll { k } => {
                txk(k).lock().tx_complete_all();
            }
            Act::MoveToTx { from, to, max } => {
                let (f, t) = (rxk(from), txk(to));
                // Lock order: tx before rx.
                let mut tg = t.lock();
                let mut fg = f.lock();
                let (q, room) = (fg.queued(), tg.tx_room().1);
                let m = fg.move_to_tx(&mut tg, u32::from(max));
                assert!(m.count <= q.min(room).min(u32::from(max)));
            }
            Act::Lease { k, n } => {
                if leases.len() < 32 {
                    let mut w = SlotArray::new_empty(&pool, 16);
                    let l = rxk(k).lock().lease(u32::from(n), &mut w);
                    leases.push((k, Some(l), w));
                }
            }
            Act::CompleteLease { newest, len } => {
                let mut pending = leases.iter_mut().filter(|(_, l, _)| l.is_some());
                let e = if newest {
                    pending.last()
                } else {
                    pending.next()
                };
                if let Some((k, l, w)) = e {
                    let l = l.take().unwrap();
                    for j in 0..l.len() as usize {
                        let _ = w.set_len(j, len % 300);
                    }
                    // Whatever is not taken back stays in `w`, counted below.
                    rxk(*k).lock().complete_lease(l, w, 1, 1);
                }
            }
            Act::Read { k } => {
                let g = kr(k).lock();
                let _ = (
                    g.arrived(),
                    g.queued(),
                    g.tx_room(),
                    g.tx_pending(),
                    g.tx_reclaimable(),
                    g.rx_free(),
                    g.rx_direct_space(),
                    g.slot(g.hwcur()),
                );
            }
            Act::Open => {
                if h.is_none() {
                    h = Some(Handle::new(dev.clone()));
                }
            }
            Act::Close => {
                h = None;
            }
            Act::Scribble {
                rx,
                head,
                cur,
                tail,
            } => {
                if let Some(h) = h.as_mut() {
                    let r = if rx { h.rx_ring(0) } else { h.tx_ring(0) };
                    if let Some(r) = r {
                        r.head = head;
                        r.cur = cur;
                        r.tail = tail;
                    }
                }
            }
            Act::Poke {
                rx,
                slot,
                buf_idx,
                len,
                flags,
            } => {
                if let Some(h) = h.as_mut() {
                    let r = if rx { h.rx_ring(0) } else { h.tx_ring(0) };
                    if let Some(r) = r {
                        // Indices are read-only; out of range is discarded.
                        let _ = buf_idx;
                        let n = r.num_slots() as usize;
                        let s = &mut r.slot[slot as usize % (2 * n)];
                        s.len = len;
                        s.flags = flags;
                    }
                }
            }
            Act::Advance { rx, n } => {
                if let Some(h) = h.as_mut() {
                    let r = if rx { h.rx_ring(0) } else { h.tx_ring(0) };
                    if let Some(r) = r {
                        let n = u32::from(n).min(r.space());
                        r.advance(n);
                    }
                }
            }
            Act::SwapBuf { i, j } => {
                if let Some(h) = h.as_mut() {
                    let (t, r) = h.rings_mut();
                    if let (Some(t), Some(r)) = (t.get_mut(0), r.get_mut(0)) {
                        let _ = t.swap_buf(u32::from(i), r, u32::from(j));
                    }
                }
            }
            Act::TxSync => {
                if let Some(h) = h.as_mut() {
                    let _ = h.txsync(0);
                }
            }
            Act::RxSync => {
                if let Some(h) = h.as_mut() {
                    let _ = h.rxsync(0);
                }
            }
            Act::Script {
                consume,
                reclaim,
                take,
            } => {
                *dev.script.lock().unwrap() = (u32::from(consume), u32::from(reclaim), take);
            }
        }
        for i in 0..4 {
            sane(&kr(i).lock());
        }
        // Exact conservation: every buffer free or owned exactly once.
        let mut owned = netmap::port::kring_bufs(&*dev);
        owned.extend(krx.owned_bufs());
        owned.extend(ktx.owned_bufs());
        if let Some(h) = h.as_ref() {
            owned.extend(h.held_bufs());
        }
        for (_, _, w) in &leases {
            owned.extend(w.bufs());
        }
        pool.audit(owned).expect("buffer conservation");
    }
});

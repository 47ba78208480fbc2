//! Ring sync with arbitrary head/cur/tail and arbitrary slot contents, on
//! every kind of port (VALE, pipe ends, monitors): never a panic, never a
//! lost or duplicated buffer, and the kernel's indices always in range.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netmap::{BufferPool, Dir, Handle, PortConfig, Registry};

#[derive(Arbitrary, Debug)]
enum Act {
    /// Set head/cur/tail of a ring to anything.
    Scribble {
        h: u8,
        rx: bool,
        head: u32,
        cur: u32,
        tail: Option<u32>,
    },
    /// Write anything into a slot of the view.
    Poke {
        h: u8,
        rx: bool,
        slot: u16,
        buf_idx: u32,
        len: u16,
        flags: u16,
    },
    /// Write bytes into a held buffer and hand slots over honestly.
    Fill {
        h: u8,
        n: u8,
        len: u16,
        dst: u8,
        flags: u16,
    },
    /// Consume received slots.
    Consume {
        h: u8,
        n: u8,
    },
    TxSync {
        h: u8,
    },
    RxSync {
        h: u8,
    },
    Swap {
        a: u8,
        b: u8,
        i: u16,
        j: u16,
    },
    Clock {
        t: u32,
    },
    /// Replace a ring's slot array by one of any size (issue 11, defect 1).
    Replace {
        h: u8,
        rx: bool,
        len: u8,
    },
    /// Swap whole rings, within a handle or between two (issue 11,
    /// defect 1): the syncs must refuse them, not index out of range.
    SwapRings {
        a: u8,
        b: u8,
        arx: bool,
        brx: bool,
    },
}

const SLOTS: u32 = 8;
const NAMES: [&str; 7] = [
    "vale0:a",
    "vale0:b",
    "vale1:c",
    "f{1",
    "f}1",
    "vale0:a/rt",
    "vale0:b/z",
];

fuzz_target!(|acts: Vec<Act>| {
    let pool = BufferPool::on_heap(512, 256).unwrap();
    let reg = Registry::with_defaults(
        pool,
        PortConfig {
            num_slots: SLOTS,
            max_frame: 600,
            ..PortConfig::default()
        },
    );
    let mut hs: Vec<Handle> = NAMES.iter().map(|n| reg.open(n).unwrap()).collect();
    let nh = hs.len();
    for a in acts.into_iter().take(256) {
        match a {
            Act::Scribble {
                h,
                rx,
                head,
                cur,
                tail,
            } => {
                let h = &mut hs[h as usize % nh];
                if let Some(r) = if rx { h.rx_ring(0) } else { h.tx_ring(0) } {
                    r.head = head;
                    r.cur = cur;
                    if let Some(t) = tail {
                        r.tail = t;
                    }
                }
            }
            Act::Poke {
                h,
                rx,
                slot,
                buf_idx,
                len,
                flags,
            } => {
                let h = &mut hs[h as usize % nh];
                if let Some(r) = if rx { h.rx_ring(0) } else { h.tx_ring(0) } {
                    // Buffer indices are read-only: only lengths and flags
                    // can be scribbled, also outside the application's part
                    // and past the end (discarded).
                    let _ = buf_idx;
                    let s = &mut r.slot[slot as usize % (2 * SLOTS as usize)];
                    s.len = len;
                    s.flags = flags;
                }
            }
            Act::Fill {
                h,
                n,
                len,
                dst,
                flags,
            } => {
                let h = &mut hs[h as usize % nh];
                if let Some(r) = h.tx_ring(0) {
                    for _ in 0..(n as u32).min(r.space()) {
                        let i = r.head % SLOTS;
                        if let Ok(b) = r.buf_mut(i) {
                            let l = (len as usize).min(b.len());
                            b[..l].fill(dst);
                            if l >= 12 {
                                b[0] = dst & 0x3; // unicast or a group address
                                b[6] = 0;
                            }
                            if let Some(s) = r.slot.get_mut(i as usize) {
                                s.len = l as u16;
                                s.flags = flags;
                            }
                        }
                        r.advance(1);
                    }
                }
            }
            Act::Consume { h, n } => {
                let h = &mut hs[h as usize % nh];
                if let Some(r) = h.rx_ring(0) {
                    let k = (n as u32).min(r.space());
                    r.advance(k);
                }
            }
            Act::TxSync { h } => {
                let _ = hs[h as usize % nh].txsync(0);
            }
            Act::RxSync { h } => {
                let _ = hs[h as usize % nh].rxsync(0);
            }
            Act::Swap { a, b, i, j } => {
                let (a, b) = (a as usize % nh, b as usize % nh);
                let (i, j) = (i as u32 % SLOTS, j as u32 % SLOTS);
                if a == b {
                    let (tx, rx) = hs[a].rings_mut();
                    if let (Some(t), Some(r)) = (tx.get_mut(0), rx.get_mut(0)) {
                        let _ = t.swap_buf(i, r, j);
                    }
                } else {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (l, r) = hs.split_at_mut(hi);
                    if let (Some(t), Some(x)) = (l[lo].tx_ring(0), r[0].rx_ring(0)) {
                        let _ = t.swap_buf(i, x, j);
                    }
                }
            }
            Act::Clock { t } => {
                reg.set_clock(reg.clock() + t as u64);
            }
            Act::Replace { h, rx, len } => {
                // Slot views cannot be built any more; swap them between
                // rings (of one handle, or of two).
                let (a, b) = (h as usize % nh, len as usize % nh);
                if a == b {
                    let (tx, rxs) = hs[a].rings_mut();
                    if let (Some(t), Some(r)) = (tx.get_mut(0), rxs.get_mut(0)) {
                        std::mem::swap(&mut t.slot, &mut r.slot);
                    }
                } else {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (l, r) = hs.split_at_mut(hi);
                    let x = if rx { l[lo].rx_ring(0) } else { l[lo].tx_ring(0) };
                    let y = if rx { r[0].tx_ring(0) } else { r[0].rx_ring(0) };
                    if let (Some(x), Some(y)) = (x, y) {
                        std::mem::swap(&mut x.slot, &mut y.slot);
                    }
                }
            }
            Act::SwapRings { a, b, arx, brx } => {
                let (a, b) = (a as usize % nh, b as usize % nh);
                if a == b {
                    let (tx, rx) = hs[a].rings_mut();
                    if let (Some(t), Some(r)) = (tx.get_mut(0), rx.get_mut(0)) {
                        std::mem::swap(t, r);
                    }
                } else {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (l, r) = hs.split_at_mut(hi);
                    let x = if arx {
                        l[lo].rx_ring(0)
                    } else {
                        l[lo].tx_ring(0)
                    };
                    let y = if brx {
                        r[0].rx_ring(0)
                    } else {
                        r[0].tx_ring(0)
                    };
                    if let (Some(x), Some(y)) = (x, y) {
                        std::mem::swap(x, y);
                    }
                }
            }
        }
        for h in hs.iter() {
            for dir in [Dir::Tx, Dir::Rx] {
                for k in h.port().krings(dir) {
                    let st = k.lock();
                    let n = st.num_slots();
                    assert!(
                        st.hwcur() < n
                            && st.hwtail() < n
                            && st.rhead() < n
                            && st.rtail() < n
                            && st.rcur() < n
                    );
                }
            }
        }
        let refs: Vec<&Handle> = hs.iter().collect();
        reg.audit(&refs).expect("buffer conservation");
    }
    drop(hs);
    reg.audit(&[]).expect("all buffers back after close");
    assert!(reg.switches().is_empty());
});

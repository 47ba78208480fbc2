//! Property tests: random application behaviour — honest, buggy or hostile —
//! never breaks the ring invariants nor loses or duplicates a buffer.

mod common;

use netmap::{Dir, Handle, Kring, NetmapRing, PortConfig, Registry, NS_MOREFRAG};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Act {
    /// Fill `k` slots from head with frames (dst picks a MAC), advance.
    Send {
        h: usize,
        k: u32,
        dst: u8,
        len: u16,
        frag: bool,
    },
    /// Consume `k` received slots.
    Consume {
        h: usize,
        k: u32,
    },
    TxSync {
        h: usize,
    },
    RxSync {
        h: usize,
    },
    /// Write arbitrary head/cur (and maybe tail).
    Scribble {
        h: usize,
        rx: bool,
        head: u32,
        cur: u32,
        tail: Option<u32>,
    },
    /// Write an arbitrary buf_idx/len into a slot of the view.
    Poke {
        h: usize,
        rx: bool,
        slot: u32,
        buf_idx: u32,
        len: u16,
    },
    /// Zero-copy swap between a tx and an rx slot of two handles.
    Swap {
        a: usize,
        b: usize,
        i: u32,
        j: u32,
    },
}

const NH: usize = 6;
const SLOTS: u32 = 16;

fn act() -> impl Strategy<Value = Act> {
    let h = 0..NH;
    prop_oneof![
        4 => (h.clone(), 0..20u32, 0..4u8, 0..2100u16, any::<bool>()).prop_map(|(h, k, dst, len, frag)| Act::Send { h, k, dst, len, frag }),
        3 => (h.clone(), 0..20u32).prop_map(|(h, k)| Act::Consume { h, k }),
        3 => h.clone().prop_map(|h| Act::TxSync { h }),
        3 => h.clone().prop_map(|h| Act::RxSync { h }),
        1 => (h.clone(), any::<bool>(), prop_oneof![0..20u32, any::<u32>()], prop_oneof![0..20u32, any::<u32>()], proptest::option::of(0..20u32))
            .prop_map(|(h, rx, head, cur, tail)| Act::Scribble { h, rx, head, cur, tail }),
        1 => (h.clone(), any::<bool>(), 0..SLOTS, prop_oneof![0..600u32, any::<u32>()], any::<u16>())
            .prop_map(|(h, rx, slot, buf_idx, len)| Act::Poke { h, rx, slot, buf_idx, len }),
        1 => (h.clone(), h, 0..SLOTS, 0..SLOTS).prop_map(|(a, b, i, j)| Act::Swap { a, b, i, j }),
    ]
}

use netmap::kring::ring_dist as dist;

/// The ring invariants of one kring and the application ring bound to it.
fn check_ring(k: &Kring, ring: &NetmapRing, dir: Dir) -> Result<(), TestCaseError> {
    let st = k.lock();
    let n = st.num_slots();
    prop_assert!(
        st.hwcur() < n && st.hwtail() < n && st.rhead() < n && st.rcur() < n && st.rtail() < n
    );
    let app = dist(st.rhead(), st.rtail(), n);
    match dir {
        Dir::Tx => {
            // hwcur <= rhead <= rtail <= hwtail, cyclically.
            prop_assert!(dist(st.hwcur(), st.rhead(), n) + app <= dist(st.hwcur(), st.hwtail(), n));
            prop_assert!(st.hwtail() != st.hwcur(), "a tx ring keeps one slot");
        }
        Dir::Rx => {
            prop_assert_eq!(st.hwlease(), st.hwtail(), "no lease outlives a batch");
            prop_assert_eq!(st.hwcur(), st.rhead());
            prop_assert!(app <= dist(st.rhead(), st.hwtail(), n));
            prop_assert!(dist(st.hwcur(), st.hwtail(), n) < n);
        }
    }
    for i in 0..n {
        let mine = dist(st.rhead(), i, n) < app;
        prop_assert_eq!(ring.buf(i).is_ok(), mine, "slot {} application-held", i);
        prop_assert_eq!(
            st.slots.is_held(i as usize),
            !mine,
            "slot {} kernel-held",
            i
        );
    }
    Ok(())
}

/// Ownership and kring invariants of every ring. They hold at any time,
/// not only after a sync: buffers change hands only inside syncs and swaps.
fn check_all(hs: &mut [Handle]) -> Result<(), TestCaseError> {
    for h in hs.iter_mut() {
        let port = h.port().clone();
        for (r, k) in port.krings(Dir::Tx).iter().enumerate() {
            check_ring(k, h.tx_ring(r).unwrap(), Dir::Tx)?;
        }
        for (r, k) in port.krings(Dir::Rx).iter().enumerate() {
            check_ring(k, h.rx_ring(r).unwrap(), Dir::Rx)?;
        }
    }
    Ok(())
}

fn frame(dst: u8, src: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0xab; len];
    if len >= 12 {
        f[..6].copy_from_slice(&if dst == 3 {
            [0xff; 6]
        } else {
            common::mac(dst)
        });
        f[6..12].copy_from_slice(&common::mac(src));
    }
    f
}

fn run(acts: Vec<Act>) -> Result<(), TestCaseError> {
    let reg = Registry::with_defaults(
        common::pool(2048),
        PortConfig {
            num_slots: SLOTS,
            ..PortConfig::default()
        },
    );
    let names = ["vale0:a", "vale0:b", "vale0:c", "p{1", "p}1", "vale0:a/rt"];
    let mut hs: Vec<Handle> = names.iter().map(|n| reg.open(n).unwrap()).collect();
    let _z = reg.open("vale0:b/z").unwrap();
    for a in acts {
        match a {
            Act::Send {
                h,
                k,
                dst,
                len,
                frag,
            } => {
                let Some(ring) = hs[h].tx_ring(0) else {
                    continue;
                };
                for _ in 0..k.min(ring.space()) {
                    let i = ring.head % SLOTS; // the head may have been scribbled on
                    let f = frame(dst, h as u8, len as usize);
                    let _ = ring.write_frame(i, &f[..f.len().min(2048)]);
                    ring.slot[i as usize].flags = if frag { NS_MOREFRAG } else { 0 };
                    ring.advance(1);
                }
            }
            Act::Consume { h, k } => {
                let Some(ring) = hs[h].rx_ring(0) else {
                    continue;
                };
                let k = k.min(dist(ring.head % SLOTS, ring.tail % SLOTS, SLOTS));
                ring.advance(k);
            }
            Act::TxSync { h } => {
                let _ = hs[h].txsync(0);
            }
            Act::RxSync { h } => {
                let _ = hs[h].rxsync(0);
            }
            Act::Scribble {
                h,
                rx,
                head,
                cur,
                tail,
            } => {
                let ring = if rx {
                    hs[h].rx_ring(0)
                } else {
                    hs[h].tx_ring(0)
                };
                if let Some(ring) = ring {
                    ring.head = head;
                    ring.cur = cur;
                    if let Some(t) = tail {
                        ring.tail = t;
                    }
                }
            }
            Act::Poke {
                h,
                rx,
                slot,
                buf_idx,
                len,
            } => {
                let ring = if rx {
                    hs[h].rx_ring(0)
                } else {
                    hs[h].tx_ring(0)
                };
                if let Some(ring) = ring {
                    let _ = buf_idx; // read-only now: only the length can be forged
                    ring.slot[slot as usize].len = len;
                }
            }
            Act::Swap { a, b, i, j } => {
                if a == b {
                    let (tx, rx) = hs[a].rings_mut();
                    if let (Some(t), Some(r)) = (tx.get_mut(0), rx.get_mut(0)) {
                        let _ = t.swap_buf(i, r, j);
                    }
                } else {
                    let (x, y) = if a < b {
                        let (l, r) = hs.split_at_mut(b);
                        (&mut l[a], &mut r[0])
                    } else {
                        let (l, r) = hs.split_at_mut(a);
                        (&mut r[0], &mut l[b])
                    };
                    if let (Some(t), Some(r)) = (x.tx_ring(0), y.rx_ring(0)) {
                        let _ = t.swap_buf(i, r, j);
                    }
                }
            }
        }
        // Conservation holds at every step, whatever the application did.
        let refs: Vec<&Handle> = hs.iter().chain(std::iter::once(&_z)).collect();
        prop_assert_eq!(reg.audit(&refs), Ok(()));
        check_all(&mut hs)?;
    }
    // After a clean sync of every ring, the full invariants hold.
    for h in hs.iter_mut() {
        let _ = h.txsync(0);
        let _ = h.rxsync(0);
    }
    for h in hs.iter_mut() {
        let port = h.port().clone();
        for (dir, k) in [
            (Dir::Tx, port.krings(Dir::Tx).first()),
            (Dir::Rx, port.krings(Dir::Rx).first()),
        ] {
            let Some(k) = k else { continue };
            let ring = match dir {
                Dir::Tx => h.tx_ring(0).unwrap(),
                Dir::Rx => h.rx_ring(0).unwrap(),
            };
            // A scribbled head/cur makes the final sync reinit instead, which
            // also restores the invariants.
            prop_assert_eq!(ring.tail, k.lock().rtail());
            check_ring(k, ring, dir)?;
        }
    }
    let refs: Vec<&Handle> = hs.iter().chain(std::iter::once(&_z)).collect();
    prop_assert_eq!(reg.audit(&refs), Ok(()));
    drop(refs);
    drop(_z);
    drop(hs);
    prop_assert_eq!(reg.audit(&[]), Ok(()));
    prop_assert!(reg.switches().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_applications_keep_rings_and_buffers_sound(acts in proptest::collection::vec(act(), 1..80)) {
        run(acts)?;
    }
}

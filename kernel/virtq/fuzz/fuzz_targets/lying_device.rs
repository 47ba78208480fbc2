//! The virtqueue driver against a device that lies about the used ring.
//!
//! A netmap-virtio `TxQueue` or `RxQueue` (the driver: descriptor chains
//! handed out in ring order, used elements taken back in any order through
//! `virtq::Virtqueue`) runs against `virtq::sim::SimDevice`, and the fuzzer
//! decides everything the device does: take available chains, complete
//! held chains honestly (in any order; under VIRTIO_F_IN_ORDER in order,
//! one element per batch), write used elements with any id and length
//! (ids never handed out, odd, out of range, already used: duplicates;
//! lengths past the buffer or under the header), move the used index
//! anywhere (backwards, past the queue size), publish or not; interleaved
//! with the application's sends / releases and the driver's syncs. On a
//! `DeviceError` the driver is reset, as the NIC does.
//!
//! Checked, besides "no panic" (and no overflow: debug assertions are on):
//! - kring indices always in range; TX `nr_hwtail` never passes
//!   `nr_hwcur`, RX `nr_hwtail` never passes what was posted, a delivered
//!   RX length never exceeds the buffer;
//! - an honest device is never reported: while every used element since
//!   the last reset named a chain the device held (and, under IN_ORDER,
//!   the oldest), syncs return `Ok`, and once all is reaped the driver
//!   holds exactly the chains the device holds (TX `in_flight`): nothing
//!   handed back twice, nothing kept that was finished;
//! - every lie is reported: the first element in the published window
//!   naming a chain the device does not hold (never posted, already used,
//!   odd, out of range) is `BadUsedId(id)`, an RX length outside
//!   `NET_HDR_LEN..=NET_HDR_LEN + buffer` is `BadUsedLen(len)`, a used
//!   index past what the device holds is `UsedIndexJump`, and the sync
//!   fails with exactly that error;
//! - after a reset the driver holds nothing (TX: every slot in flight is
//!   back, `nr_hwtail` just behind `nr_hwcur`).
#![no_main]

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netmap::{BufferPool, Dir, Kring, NS_MOREFRAG};
use netmap_virtio::{queue_size_for, BufMap, DeviceError, RxQueue, TxQueue, NET_HDR_LEN};
use virtq::mem::words_for;
use virtq::sim::SimDevice;
use virtq::{QueueLayout, QueueMem, Virtqueue};

const BASE: u64 = 0x4000_0000;
const HDRS: u64 = 0x1000;
const BUF: usize = 2048;

#[derive(Arbitrary, Debug)]
enum Act {
    /// TX: the application queues frames of these lengths (MOREFRAG on
    /// odd flags) and calls txsync. RX: it releases this many frames and
    /// calls rxsync.
    App {
        lens: Vec<(u16, u8)>,
    },
    /// The driver reaps (TX reclaim / RX receive) without the application.
    Reap,
    /// The device takes every available chain.
    Pop,
    /// The device finishes the held chain `which` (any order; under
    /// IN_ORDER the oldest `count` as one batch) with length `len`.
    Honest {
        which: u8,
        count: u8,
        len: u16,
    },
    /// The device writes a used element naming anything.
    Lie {
        id: Id,
        len: u32,
    },
    /// The device publishes what it wrote.
    Publish,
    /// The device writes the used index: past what it holds (a lie the
    /// driver must see), or anywhere.
    Jump {
        past: bool,
        by: u16,
    },
    /// The driver's interrupt calls.
    Arm,
    Disarm,
}

#[derive(Arbitrary, Debug)]
enum Id {
    Any(u32),
    /// Head descriptor of chain `c` (odd: the chain's second descriptor).
    Chain {
        c: u8,
        odd: bool,
    },
    /// A chain it finished before (a duplicate unless it got it again).
    Done(u8),
    /// One it holds (with the length of the element).
    Held(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    rx: bool,
    slots_log2: u8,
    event_idx: bool,
    in_order: bool,
    acts: Vec<Act>,
}

/// What the device model knows, and what the driver must conclude.
#[derive(Default)]
struct Model {
    /// Chains the device took and has not finished, oldest first.
    held: VecDeque<u16>,
    /// Chains the driver holds, as far as published elements tell it:
    /// posted (all of them taken: the device takes every available chain
    /// before it writes or publishes) and not named by a published element.
    drv_held: VecDeque<u16>,
    /// Chains it finished (for duplicates).
    done: Vec<u16>,
    /// Elements written, not published.
    written: Vec<Elem>,
    /// Elements published, not reaped: (positions, verdict), judged at
    /// publication against what the driver holds then.
    window: Vec<(u16, Verdict)>,
    /// A jump past what the device holds was published.
    jumped: bool,
    /// The device's used index: written, published.
    shadow: u16,
    published: u16,
    /// Something the model does not predict happened (an arbitrary used
    /// index, an out-of-order element under IN_ORDER); exact checks are
    /// off until the next reset.
    unsure: bool,
}

/// A used element as the device wrote it.
enum Elem {
    Single {
        id: u32,
        len: u32,
    },
    /// IN_ORDER: one element for the oldest chains, `ids` in order.
    Batch {
        ids: Vec<u16>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Honest,
    Lie(DeviceError),
    Unsure,
}

fn next(i: u32, n: u32) -> u32 {
    (i + 1) % n
}

enum Driver<'a> {
    Tx(TxQueue<'a>),
    Rx(RxQueue<'a>),
}

fuzz_target!(|inp: Input| {
    let n: u32 = 1 << (inp.slots_log2 % 4 + 2); // 4..=32 slots
    let pool = BufferPool::on_heap(2 * n + 16, BUF).unwrap();
    let bufs = BufMap::new(pool.clone(), BASE);
    let layout = QueueLayout::new(queue_size_for(n)).unwrap();
    let words: Vec<AtomicU64> = words_for(layout);
    let mem = QueueMem::from_words(&words, layout).unwrap();
    let (ev, io) = (inp.event_idx, inp.in_order);
    let vq = move || Virtqueue::new(mem, ev).with_in_order(io);
    let dir = if inp.rx { Dir::Rx } else { Dir::Tx };
    let kring = Kring::new(&pool, dir, 0, n).unwrap();
    let mut k = kring.lock();
    let mut drv = if inp.rx {
        let mut rx = RxQueue::new(vq(), n, HDRS);
        rx.post(&k, &bufs);
        Driver::Rx(rx)
    } else {
        Driver::Tx(TxQueue::new(vq(), n, HDRS))
    };
    let mut dev = SimDevice::new(mem, ev);
    let mut m = Model::default();
    let max_len = NET_HDR_LEN + BUF as u32;
    let chains = n as u16; // queue of 2n descriptors, chain c = 2c -> 2c+1

    for act in inp.acts.iter().take(200) {
        // txsync reaps before it posts; rxsync posts before it reaps.
        let avail_before = dev.avail_pending();
        let result: Option<Result<(), DeviceError>> = match act {
            Act::App { lens } => Some(match &mut drv {
                Driver::Tx(tx) => {
                    for &(len, flags) in lens.iter().take(n as usize) {
                        let (i, room) = k.tx_room();
                        if room == 0 {
                            break;
                        }
                        let i = i as usize;
                        let _ = k.slots.set_len(i, len % (BUF as u16 + 100));
                        k.slots
                            .set_flags(i, if flags & 1 == 1 { NS_MOREFRAG } else { 0 });
                        k.submit(1);
                    }
                    tx.txsync(&mut k, &bufs).map(|_| ())
                }
                Driver::Rx(rx) => {
                    // rxsync posts before it reaps: chains posted after a
                    // jump may cover it.
                    m.unsure |= m.jumped;
                    k.release(lens.len().min(n as usize) as u32);
                    rx.rxsync(&mut k, &bufs).map(|_| ())
                }
            }),
            Act::Reap => Some(match &mut drv {
                Driver::Tx(tx) => tx.reclaim(&mut k),
                Driver::Rx(rx) => rx.receive(&mut k, &bufs).map(|_| ()),
            }),
            Act::Pop => {
                pop_all(&mut dev, &mut m, chains);
                None
            }
            Act::Honest { which, count, len } => {
                // A device writes used elements for chains it took: it
                // takes everything first, so "held" is the driver's view.
                pop_all(&mut dev, &mut m, chains);
                if !m.held.is_empty() {
                    let len = if inp.rx {
                        NET_HDR_LEN + u32::from(*len) % (BUF as u32 + 1)
                    } else {
                        u32::from(*len)
                    };
                    if io {
                        let count = (*count as usize % m.held.len()) + 1;
                        let batch: Vec<u16> = m.held.drain(..count).collect();
                        let last = *batch.last().unwrap();
                        dev.push_used_batch(u32::from(last), len, count as u16);
                        m.shadow = m.shadow.wrapping_add(count as u16);
                        m.done.extend(&batch);
                        m.written.push(Elem::Batch { ids: batch });
                    } else {
                        let h = m.held.remove(*which as usize % m.held.len()).unwrap();
                        dev.push_used(u32::from(h), len);
                        m.shadow = m.shadow.wrapping_add(1);
                        m.done.push(h);
                        m.written.push(Elem::Single {
                            id: u32::from(h),
                            len,
                        });
                    }
                }
                None
            }
            Act::Lie { id, len } => {
                pop_all(&mut dev, &mut m, chains);
                let id = match id {
                    Id::Any(x) => *x,
                    Id::Chain { c, odd } => {
                        2 * u32::from(*c) % (4 * u32::from(chains)) + u32::from(*odd)
                    }
                    Id::Done(i) if !m.done.is_empty() => {
                        u32::from(m.done[*i as usize % m.done.len()])
                    }
                    Id::Held(i) if !m.held.is_empty() => {
                        u32::from(m.held[*i as usize % m.held.len()])
                    }
                    _ => 1,
                };
                if let Some(at) = m.held.iter().position(|&h| u32::from(h) == id) {
                    let h = m.held.remove(at).unwrap();
                    m.done.push(h);
                }
                dev.push_used(id, *len);
                m.shadow = m.shadow.wrapping_add(1);
                m.written.push(Elem::Single { id, len: *len });
                None
            }
            Act::Publish => {
                pop_all(&mut dev, &mut m, chains);
                dev.publish_used();
                m.published = m.shadow;
                // Judge each element as the driver will, in order.
                for e in std::mem::take(&mut m.written) {
                    let positions = match &e {
                        Elem::Batch { ids } => ids.len() as u16,
                        Elem::Single { .. } => 1,
                    };
                    let judged = match e {
                        Elem::Single { id, len } => {
                            match m.drv_held.iter().position(|&h| u32::from(h) == id) {
                                None => Verdict::Lie(DeviceError::BadUsedId(id)),
                                // Under IN_ORDER: a batch up to it, if the
                                // index covers it; not predicted.
                                Some(at) if io && at != 0 => Verdict::Unsure,
                                Some(at) => {
                                    m.drv_held.remove(at);
                                    if inp.rx && !(NET_HDR_LEN..=max_len).contains(&len) {
                                        Verdict::Lie(DeviceError::BadUsedLen(len))
                                    } else {
                                        Verdict::Honest
                                    }
                                }
                            }
                        }
                        Elem::Batch { ids } => {
                            if m.drv_held.iter().take(ids.len()).eq(ids.iter()) {
                                m.drv_held.drain(..ids.len());
                                Verdict::Honest
                            } else {
                                Verdict::Unsure
                            }
                        }
                    };
                    m.unsure |= judged == Verdict::Unsure;
                    m.window.push((positions, judged));
                }
                None
            }
            Act::Jump { past, by } => {
                let quiet = m.window.is_empty() && m.written.is_empty() && !m.unsure;
                let idx = if *past && quiet {
                    // Every position so far reaped: the driver's queue
                    // holds the device's chains and the ones not taken.
                    let in_flight = m.drv_held.len() as u16 + dev.avail_pending();
                    if let Driver::Tx(tx) = &drv {
                        assert_eq!(u32::from(in_flight), tx.in_flight());
                    }
                    m.jumped = true;
                    m.published
                        .wrapping_add(in_flight)
                        .wrapping_add(1 + by % (u16::MAX - chains - 1))
                } else {
                    m.unsure = true;
                    m.published.wrapping_add(*by)
                };
                dev.force_used_idx(idx);
                m.shadow = idx;
                m.published = idx;
                m.written.clear();
                None
            }
            Act::Arm => {
                let _ = match &mut drv {
                    Driver::Tx(tx) => tx.arm(),
                    Driver::Rx(rx) => rx.arm(),
                };
                None
            }
            Act::Disarm => {
                match &mut drv {
                    Driver::Tx(tx) => tx.disarm(),
                    Driver::Rx(rx) => rx.disarm(),
                }
                None
            }
        };

        // More elements written than the used ring holds overwrite ones
        // the driver has not read: a lie it cannot see.
        let outstanding: usize = m.window.iter().map(|w| w.0 as usize).sum::<usize>()
            + m.written
                .iter()
                .map(|e| match e {
                    Elem::Batch { ids } => ids.len(),
                    Elem::Single { .. } => 1,
                })
                .sum::<usize>();
        if outstanding > 2 * n as usize {
            m.unsure = true;
        }

        if debug() {
            let inf = match &drv {
                Driver::Tx(tx) => tx.in_flight(),
                Driver::Rx(_) => 0,
            };
            eprintln!(
                "{act:?} -> {result:?}: drv in_flight {inf}, dev held {:?}, drv_held {:?}, avail {}, window {:?}, unsure {}",
                m.held, m.drv_held, dev.avail_pending(), m.window, m.unsure
            );
        }
        // Indices in range, always.
        assert!(k.hwcur() < n && k.hwtail() < n && k.rhead() < n);
        if let Driver::Rx(rx) = &drv {
            assert!(rx.posted(&k) < n);
            let mut i = k.rhead();
            while i != k.hwtail() {
                assert!(k.slots.get(i as usize).len as usize <= BUF);
                i = next(i, n);
            }
        }

        let Some(result) = result else { continue };
        let window = std::mem::take(&mut m.window);
        // rxsync posts before it reaps: a chain it posts again may make a
        // published id that was a lie true (the driver cannot tell).
        let reposted = inp.rx && matches!(act, Act::App { .. });
        let exact = !m.unsure
            && !window.iter().any(|w| {
                w.1 == Verdict::Unsure
                    || (reposted && matches!(w.1, Verdict::Lie(DeviceError::BadUsedId(_))))
            });
        // Once a result is not predicted, neither is the driver's state
        // after it: exact checks stand down until the next reset.
        m.unsure |= !exact;
        if exact {
            let first_lie = window.iter().find_map(|w| match w.1 {
                Verdict::Lie(e) => Some(e),
                _ => None,
            });
            // The driver's queue holds what the device holds, what it has
            // not taken yet and what its elements (written, published)
            // finished: a window of more used positions than that is an
            // index jump, whatever the elements say.
            let avail = match (&drv, act) {
                (Driver::Tx(_), Act::App { .. }) => avail_before,
                _ => dev.avail_pending(),
            };
            let in_flight =
                m.drv_held.len() + avail as usize + window.iter().map(chains_of).sum::<usize>();
            let pending: usize = window.iter().map(|w| w.0 as usize).sum();
            let want = if m.jumped || pending > in_flight {
                Err(DeviceError::UsedIndexJump)
            } else {
                first_lie.map_or(Ok(()), Err)
            };
            assert_eq!(result, want, "window {window:?}");
            if result.is_ok() {
                if let Driver::Tx(tx) = &drv {
                    assert_eq!(
                        tx.in_flight() as usize,
                        m.drv_held.len() + dev.avail_pending() as usize,
                        "the driver's chains are not the device's"
                    );
                }
            }
        }
        if result.is_err() {
            // The NIC resets the device and starts the queue afresh.
            match &mut drv {
                Driver::Tx(tx) => {
                    tx.reset(vq(), &mut k);
                    assert_eq!(tx.in_flight(), 0);
                    assert_eq!(next(k.hwtail(), n), k.hwcur(), "slots kept after reset");
                }
                Driver::Rx(rx) => {
                    rx.reset(vq(), &mut k, &bufs);
                }
            }
            dev = SimDevice::new(mem, ev);
            m = Model::default();
        } else if m.jumped {
            m.jumped = false;
        }
    }
});

/// The chains a used element finished (a lie about an id finishes none).
fn chains_of(w: &(u16, Verdict)) -> usize {
    match w.1 {
        Verdict::Lie(DeviceError::BadUsedId(_)) => 0,
        Verdict::Lie(_) => 1,
        _ => w.0 as usize,
    }
}

/// The device takes every available chain.
fn pop_all(dev: &mut SimDevice<'_>, m: &mut Model, chains: u16) {
    while let Some(h) = dev.pop_avail() {
        assert!(h % 2 == 0 && h / 2 < chains, "avail head {h}");
        if let Some(at) = m.drv_held.iter().position(|&x| x == h) {
            // Once the model is unsure its view of the driver may be stale
            // (an IN_ORDER batch the driver took whole); otherwise a chain
            // the driver still holds must not be handed out again.
            assert!(m.unsure, "chain {h} handed out twice");
            m.drv_held.remove(at);
        }
        if let Some(at) = m.held.iter().position(|&x| x == h) {
            assert!(m.unsure, "chain {h} handed out while the device holds it");
            m.held.remove(at);
        }
        m.held.push_back(h);
        m.drv_held.push_back(h);
    }
}

/// `LYING_DEBUG=1` prints every action, its result and the model.
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LYING_DEBUG").is_some())
}

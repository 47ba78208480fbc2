//! Multi-queue NICs (several queue pairs, one tx/rx kring pair each) on a
//! switch, devices played by virtq's model: every rx kring is forwarded,
//! and a frame that came in on pair `r` leaves the other NIC on pair `r`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use netmap::port::Port;
use netmap::vale::Switch;
use netmap::{BufferPool, Dir};
use virtq::mem::words_for;
use virtq::sim::SimDevice;
use virtq::{QueueLayout, QueueMem, Virtqueue};

use super::*;

const RX_SLOTS: u32 = 16;
const TX_SLOTS: u32 = 8;
const PAIRS: usize = 2;

/// Kicks per virtqueue index.
#[derive(Default)]
struct Bell([AtomicUsize; 2 * PAIRS]);
impl Doorbell for Arc<Bell> {
    fn kick(&self, queue: u16) {
        self.0[queue as usize].fetch_add(1, Ordering::Relaxed);
    }
}

struct Nic {
    port: Arc<VirtioNic>,
    /// Per pair: (rx device, tx device).
    dev: Vec<(SimDevice<'static>, SimDevice<'static>)>,
    bell: Arc<Bell>,
}

fn leak_mem(slots: u32) -> QueueMem<'static> {
    let layout = QueueLayout::new(queue_size_for(slots)).unwrap();
    let words: &'static [AtomicU64] = Box::leak(words_for(layout).into_boxed_slice());
    QueueMem::from_words(words, layout).unwrap()
}

fn nic(pool: &Arc<BufferPool>, name: &str) -> Nic {
    let bufs = BufMap::new(pool.clone(), 0x1000_0000);
    let bell = Arc::new(Bell::default());
    let mut pairs = Vec::new();
    let mut dev = Vec::new();
    for _ in 0..PAIRS {
        let (rm, tm) = (leak_mem(RX_SLOTS), leak_mem(TX_SLOTS));
        pairs.push((
            RxQueue::new(Virtqueue::new(rm, true), RX_SLOTS, 0x100),
            TxQueue::new(Virtqueue::new(tm, true), TX_SLOTS, 0x200),
        ));
        dev.push((SimDevice::new(rm, true), SimDevice::new(tm, true)));
    }
    let port = Arc::new(
        VirtioNic::new_pairs(
            name,
            [2, 0, 0, 0, 0, 9],
            bufs,
            pairs,
            RX_SLOTS,
            TX_SLOTS,
            Box::new(bell.clone()),
        )
        .unwrap(),
    );
    Nic { port, dev, bell }
}

fn frame(src: u8, seq: u8, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&[0x52, 0x54, 0, 0, 0, src]);
    f.extend_from_slice(&[0x88, 0xb5]);
    while f.len() < len {
        f.push(seq.wrapping_add(f.len() as u8));
    }
    f
}

impl Nic {
    /// The device delivers `f` on pair `p`'s receive queue.
    fn inject(&mut self, p: usize, f: &[u8]) {
        let rx = &mut self.dev[p].0;
        let head = rx.pop_avail().expect("a posted rx buffer");
        let slot = u32::from(head) / 2;
        let kring = &self.port.krings(Dir::Rx)[p];
        kring.lock().slots.buf_mut(slot as usize).unwrap()[..f.len()].copy_from_slice(f);
        rx.push_used(u32::from(head), NET_HDR_LEN + f.len() as u32);
        rx.publish_used();
    }

    /// What pair `p`'s transmit queue was asked to send, in order.
    fn drain_wire(&mut self, p: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let tx = &mut self.dev[p].1;
        while let Some(head) = tx.pop_avail() {
            let slot = u32::from(head) / 2;
            let (_, len, _, _) = tx.desc(head + 1);
            let k = self.port.krings(Dir::Tx)[p].lock();
            out.push(k.slots.buf(slot as usize).unwrap()[..len as usize].to_vec());
            drop(k);
            tx.push_used(u32::from(head), 0);
        }
        tx.publish_used();
        out
    }
}

#[test]
fn a_port_has_a_kring_pair_per_queue_pair_and_posts_every_rx_queue() {
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let n = nic(&pool, "virtio0");
    assert_eq!(n.port.pairs(), PAIRS);
    assert_eq!(n.port.krings(Dir::Rx).len(), PAIRS);
    assert_eq!(n.port.krings(Dir::Tx).len(), PAIRS);
    for p in 0..PAIRS {
        assert_eq!(n.dev[p].0.avail_pending() as u32, RX_SLOTS - 1);
        assert_eq!(n.bell.0[rx_queue(p) as usize].load(Ordering::Relaxed), 1);
    }
    assert_eq!((rx_queue(1), tx_queue(1)), (2, 3));
}

#[test]
fn every_rx_kring_is_forwarded_and_leaves_on_the_same_pair() {
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let free = pool.free_count();
    let sw = Switch::new("vale0");
    let (mut a, mut b) = (nic(&pool, "virtio0"), nic(&pool, "virtio1"));
    let ba = Bridge::attach(&sw, a.port.clone(), "vale0:virtio0").unwrap();
    let bb = Bridge::attach(&sw, b.port.clone(), "vale0:virtio1").unwrap();
    assert_eq!(
        ba.krings(Dir::Rx).len(),
        PAIRS,
        "one bridge ring per NIC tx kring"
    );
    let on0: Vec<Vec<u8>> = (0..5).map(|i| frame(1, i, 60 + 100 * i as usize)).collect();
    let on1: Vec<Vec<u8>> = (0..7)
        .map(|i| frame(2, 50 + i, 64 + 90 * i as usize))
        .collect();
    for f in &on0 {
        a.inject(0, f);
    }
    for f in &on1 {
        a.inject(1, f);
    }
    assert_eq!(ba.poll().unwrap(), 12);
    assert_eq!(b.drain_wire(0), on0, "pair 0 in, pair 0 out");
    assert_eq!(b.drain_wire(1), on1, "pair 1 in, pair 1 out");
    assert!(b.bell.0[tx_queue(1) as usize].load(Ordering::Relaxed) >= 1);
    // Per pair counters, and the port's the sum of them.
    assert_eq!(a.port.pair_counters(0).rx.packets, 5);
    assert_eq!(a.port.pair_counters(1).rx.packets, 7);
    assert_eq!(b.port.pair_counters(1).tx.packets, 7);
    assert_eq!(a.port.counters().rx.packets, 12);
    assert_eq!(ba.counters().tx.packets, 12);
    // Reclaim, detach, drop: every buffer back in the pool.
    bb.poll().unwrap();
    ba.detach();
    bb.detach();
    drop((ba, bb, a, b, sw));
    assert_eq!(pool.free_count(), free);
}

#[test]
fn a_multi_queue_nic_shares_the_bridge_slots_of_one_queue() {
    assert_eq!(bridge_slots(1), BRIDGE_SLOTS);
    assert_eq!(bridge_slots(2), BRIDGE_SLOTS / 2);
    assert_eq!(bridge_slots(4), MIN_BRIDGE_SLOTS);
    assert_eq!(bridge_slots(8), MIN_BRIDGE_SLOTS);
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let sw = Switch::new("vale0");
    let a = nic(&pool, "virtio0");
    let free = pool.free_count();
    let ba = Bridge::attach(&sw, a.port.clone(), "vale0:virtio0").unwrap();
    for k in ba.krings(Dir::Rx) {
        assert_eq!(k.num_slots(), BRIDGE_SLOTS / PAIRS as u32);
    }
    // What the bridge took from the pool: one buffer per slot of its rings.
    assert_eq!(free - pool.free_count(), BRIDGE_SLOTS as usize);
}

/// Two CPUs reset one NIC at once: one does it, the other returns at once
/// without touching the queues (it would reset them under the first's feet).
#[test]
fn a_second_reset_while_one_runs_does_nothing() {
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let a = nic(&pool, "virtio0");
    a.port.request_reset();
    let inner = core::cell::Cell::new(None);
    let back = a.port.reset(
        0,
        || inner.set(Some(a.port.reset(0, || panic!("second stop"), || true))),
        || true,
    );
    assert!(back, "the first reset brings the NIC back");
    assert_eq!(inner.get(), Some(false), "the second returns at once");
    assert!(!a.port.needs_reset());
    // Once the first finished, a reset runs again.
    a.port.request_reset();
    assert!(a.port.reset(0, || {}, || true));
}

#[test]
fn a_reset_starts_every_pair_over() {
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let mut a = nic(&pool, "virtio0");
    a.port.request_reset();
    assert!(a.port.reset(0, || {}, || true));
    // The device sees fresh rings: every rx queue posted again.
    for (rx, _) in a.dev.iter_mut() {
        *rx = SimDevice::new(rx.mem(), true);
        assert_eq!(rx.avail_pending() as u32, RX_SLOTS - 1);
    }
    assert!(!a.port.needs_reset());
}

/// Issue 13: two threads (standing for two CPUs, each owning one queue
/// pair) forward from rx kring 0 and rx kring 1 of one NIC at the same
/// time, each also flushing its pair of the other NIC (the switch's
/// notify) and playing that pair's devices. The source rings share no
/// lock in the bridge (per-ring scratch and counters), and the counts are
/// exact: every frame crosses byte for byte and in order on its own pair,
/// each ring's counters and their sum say so, and no buffer is lost.
#[test]
fn two_threads_forward_from_two_rx_rings_at_once() {
    extern crate std;
    const ROUNDS: usize = 400;
    const PER_ROUND: usize = 4;
    let pool = BufferPool::on_heap(12288, 2048).unwrap();
    let free = pool.free_count();
    let sw = Switch::new("vale0");
    let (a, b) = (nic(&pool, "virtio0"), nic(&pool, "virtio1"));
    let ba = Bridge::attach(&sw, a.port.clone(), "vale0:virtio0").unwrap();
    let bb = Bridge::attach(&sw, b.port.clone(), "vale0:virtio1").unwrap();
    let Nic {
        port: ap,
        dev: adev,
        ..
    } = a;
    let Nic {
        port: bp,
        dev: bdev,
        ..
    } = b;
    let mut threads = Vec::new();
    for (p, ((arx, _), (_, btx))) in adev.into_iter().zip(bdev).enumerate() {
        let (ap, bp, ba, bb) = (ap.clone(), bp.clone(), ba.clone(), bb.clone());
        threads.push(std::thread::spawn(move || {
            let (mut arx, mut btx) = (arx, btx);
            let mut sent = Vec::new();
            let mut wire = Vec::new();
            let drain = |btx: &mut SimDevice<'static>, wire: &mut Vec<Vec<u8>>| {
                while let Some(head) = btx.pop_avail() {
                    let slot = u32::from(head) / 2;
                    let (_, len, _, _) = btx.desc(head + 1);
                    let k = bp.krings(Dir::Tx)[p].lock();
                    wire.push(k.slots.buf(slot as usize).unwrap()[..len as usize].to_vec());
                    drop(k);
                    btx.push_used(u32::from(head), 0);
                }
                btx.publish_used();
            };
            for round in 0..ROUNDS {
                for i in 0..PER_ROUND {
                    let seq = (round * PER_ROUND + i) as u8;
                    let f = frame(p as u8 + 1, seq, 60 + (round * 7 + i * 13) % 1400);
                    let head = arx.pop_avail().expect("a posted rx buffer");
                    let slot = u32::from(head) / 2;
                    let kring = &ap.krings(Dir::Rx)[p];
                    kring.lock().slots.buf_mut(slot as usize).unwrap()[..f.len()]
                        .copy_from_slice(&f);
                    arx.push_used(u32::from(head), NET_HDR_LEN + f.len() as u32);
                    sent.push(f);
                }
                arx.publish_used();
                assert_eq!(ba.forward_ring(p).unwrap(), PER_ROUND as u32);
                drain(&mut btx, &mut wire);
            }
            for _ in 0..4 {
                bb.flush_ring(p).unwrap();
                drain(&mut btx, &mut wire);
            }
            (sent, wire)
        }));
    }
    for (p, t) in threads.into_iter().enumerate() {
        let (sent, wire) = t.join().unwrap();
        assert_eq!(sent.len(), ROUNDS * PER_ROUND);
        assert!(wire == sent, "pair {p}: what left is what came in");
        assert_eq!(ap.pair_counters(p).rx.packets, (ROUNDS * PER_ROUND) as u64);
        assert_eq!(bp.pair_counters(p).tx.packets, (ROUNDS * PER_ROUND) as u64);
    }
    let c = ba.counters().tx;
    assert_eq!(c.packets, (2 * ROUNDS * PER_ROUND) as u64);
    assert_eq!((c.drop_no_dest, c.drop_detached, c.drop_short), (0, 0, 0));
    assert_eq!(bb.counters().rx.packets, (2 * ROUNDS * PER_ROUND) as u64);
    assert_eq!(bb.counters().rx.drop_ring_full, 0);
    bb.flush_to_hw().unwrap();
    ba.detach();
    bb.detach();
    drop((ba, bb, ap, bp, sw));
    assert_eq!(pool.free_count(), free);
}

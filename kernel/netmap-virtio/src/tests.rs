//! The NIC queues against virtq's device model, including a device that
//! lies.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::AtomicU64;

use netmap::kring::ring_add;
use netmap::{BufferPool, Dir, Kring, SlotArray, NS_MOREFRAG};
use virtq::mem::words_for;
use virtq::sim::SimDevice;
use virtq::{QueueLayout, QueueMem, Virtqueue};

use super::*;

const BASE: u64 = 0x4000_0000;
const HDRS: u64 = 0x1000;

/// A pool and queue memory for a kring of `slots` slots. The memory is
/// leaked so queues and device models can borrow it for `'static`.
struct Rig {
    pool: Arc<BufferPool>,
    bufs: BufMap,
    mem: QueueMem<'static>,
}

fn rig(slots: u32) -> Rig {
    let pool = BufferPool::on_heap(4 * slots + 16, 2048).unwrap();
    let layout = QueueLayout::new(queue_size_for(slots)).unwrap();
    let words: &'static [AtomicU64] = alloc::boxed::Box::leak(words_for(layout).into_boxed_slice());
    let mem = QueueMem::from_words(words, layout).unwrap();
    Rig {
        bufs: BufMap::new(pool.clone(), BASE),
        pool,
        mem,
    }
}

/// A tx kring of `n` slots on a fresh queue, and the device on its memory.
fn tx_rig(n: u32, event_idx: bool) -> (Rig, Kring, TxQueue<'static>, SimDevice<'static>) {
    let r = rig(n);
    let kring = Kring::new(&r.pool, Dir::Tx, 0, n).unwrap();
    let tx = TxQueue::new(Virtqueue::new(r.mem, event_idx), n, HDRS);
    let dev = SimDevice::new(r.mem, event_idx);
    (r, kring, tx, dev)
}

/// An rx kring of `n` slots on a fresh queue, and the device on its memory.
fn rx_rig(n: u32) -> (Rig, Kring, RxQueue<'static>, SimDevice<'static>) {
    rx_rig_with(n, false)
}

/// Same, with VIRTIO_F_IN_ORDER negotiated or not.
fn rx_rig_with(n: u32, in_order: bool) -> (Rig, Kring, RxQueue<'static>, SimDevice<'static>) {
    let r = rig(n);
    let kring = Kring::new(&r.pool, Dir::Rx, 0, n).unwrap();
    let vq = Virtqueue::new(r.mem, true).with_in_order(in_order);
    let rx = RxQueue::new(vq, n, HDRS);
    let dev = SimDevice::new(r.mem, true);
    (r, kring, rx, dev)
}

/// A tx rig with VIRTIO_F_IN_ORDER negotiated.
fn tx_rig_in_order(n: u32) -> (Rig, Kring, TxQueue<'static>, SimDevice<'static>) {
    let r = rig(n);
    let kring = Kring::new(&r.pool, Dir::Tx, 0, n).unwrap();
    let tx = TxQueue::new(Virtqueue::new(r.mem, true).with_in_order(true), n, HDRS);
    let dev = SimDevice::new(r.mem, true);
    (r, kring, tx, dev)
}

impl Rig {
    fn mem(&self) -> QueueMem<'static> {
        self.mem
    }
    fn phys_of(&self, k: &netmap::KringState, slot: u32) -> u64 {
        self.bufs.phys(k.slots.buf_idx(slot as usize)).unwrap()
    }
}

// ---- TX ----

/// The application queues `lens` at `rhead` (as a prologue would leave it).
fn app_send(k: &mut netmap::KringState, n: u32, lens: &[u16]) {
    for &len in lens {
        let (i, room) = k.tx_room();
        assert!(room > 0 && k.num_slots() == n);
        k.slots.set_len(i as usize, len).unwrap();
        k.slots.set_flags(i as usize, 0);
        k.submit(1);
    }
}

#[test]
fn tx_posts_a_batch_with_one_kick_and_points_at_the_slot_buffers() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60, 1514, 100]);
    assert!(tx.txsync(&mut k, &r.bufs).unwrap(), "first publish kicks");
    assert_eq!(tx.stats().kicks, 1);
    assert_eq!(k.hwcur(), 3);
    assert_eq!(k.stats.packets, 3);
    for (slot, len) in [(0u32, 60u32), (1, 1514), (2, 100)] {
        let head = dev.pop_avail().unwrap();
        assert_eq!(u32::from(head), 2 * slot);
        let (hdr, hlen, hflags, hnext) = dev.desc(head);
        assert_eq!(
            (hdr, hlen, hnext),
            (HDRS + 16 * u64::from(slot), NET_HDR_LEN, head + 1)
        );
        assert_eq!(hflags, virtq::VIRTQ_DESC_F_NEXT);
        let (addr, blen, bflags, _) = dev.desc(head + 1);
        assert_eq!((addr, blen, bflags), (r.phys_of(&k, slot), len, 0));
    }
    assert!(dev.pop_avail().is_none());
}

#[test]
fn tx_reclaims_in_order_and_returns_slots() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 5]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    assert_eq!(k.hwtail(), n - 1, "nothing reclaimed yet");
    // The device finishes slot 1 before slot 0: hwtail must wait for 0.
    let heads: Vec<u16> = (0..5).map(|_| dev.pop_avail().unwrap()).collect();
    dev.push_used(u32::from(heads[1]), 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), n - 1);
    dev.push_used(u32::from(heads[0]), 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 1, "slots 0 and 1 are back");
    assert_eq!(tx.in_flight(), 3);
}

#[test]
fn tx_drops_runts_and_oversized_fragment_chains_without_stalling() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, false);
    let mut k = kring.lock();
    app_send(&mut k, n, &[0, 13, 1000, 1000, 1000, 60]);
    // slots 2..4 are one three-fragment frame of 3000 bytes, more than the
    // 2048 the device takes; slot 5 stands alone.
    k.slots.set_flags(2, NS_MOREFRAG);
    k.slots.set_flags(3, NS_MOREFRAG);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let s = tx.stats();
    assert_eq!((s.tx_drop_short, s.tx_drop_frag), (2, 1));
    assert_eq!((k.stats.drop_short, k.stats.drop_frag_chain), (2, 1));
    // Dropped slots take no chain: slot 5 rides the first one.
    assert_eq!(dev.pop_avail(), Some(0), "only slot 5 reaches the device");
    assert_eq!(dev.desc(1).0, r.phys_of(&k, 5), "with slot 5's buffer");
    assert_eq!(dev.pop_avail(), None);
    assert_eq!(k.hwtail(), 4, "dropped slots 0..5 are handed back at once");
    dev.push_used(0, 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 5);
}

/// Issue 11, defect 9: a fragment chain (`NS_MOREFRAG`) that fits the
/// device's limit goes out as one frame: its fragments are gathered into
/// the first slot's buffer behind the first fragment, and the other slots
/// take no chain (they come back with the first). A chain cut by `rhead`
/// waits for its rest.
#[test]
fn tx_sends_a_fragment_chain_as_one_frame() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    for (i, fill) in [(0usize, 0xa1u8), (1, 0xb2), (2, 0xc3)] {
        k.slots.buf_mut(i).unwrap().fill(fill);
    }
    // 60 + 40 bytes in slots 0 and 1, but slot 1 is not handed over yet.
    app_send(&mut k, n, &[60]);
    k.slots.set_flags(0, NS_MOREFRAG);
    tx.txsync(&mut k, &r.bufs).unwrap();
    assert_eq!(k.hwcur(), 0, "an incomplete chain waits");
    assert_eq!(dev.pop_avail(), None);
    app_send(&mut k, n, &[40, 64]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    assert_eq!(k.hwcur(), 3);
    let s = tx.stats();
    assert_eq!((s.tx_drop_frag, k.stats.drop_frag_chain), (0, 0));
    assert_eq!((k.stats.packets, k.stats.bytes), (2, 164));
    assert_eq!(dev.pop_avail(), Some(0), "the chain rides chain 0");
    assert_eq!(dev.desc(1).0, r.phys_of(&k, 0));
    assert_eq!(dev.desc(1).1, 100, "both fragments, one buffer");
    let b = k.slots.buf(0).unwrap();
    assert!(b[..60].iter().all(|&x| x == 0xa1));
    assert!(b[60..100].iter().all(|&x| x == 0xb2));
    assert_eq!(dev.pop_avail(), Some(2), "slot 2 on the next chain");
    assert_eq!(dev.desc(3), (r.phys_of(&k, 2), 64, 0, 0));
    assert_eq!(dev.pop_avail(), None);
    assert_eq!(k.hwtail(), n - 1, "nothing back before the device is done");
    dev.push_used(0, 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 1, "both slots of the chain are back");
    dev.push_used(2, 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 2);
    assert_eq!(tx.in_flight(), 0);
}

#[test]
fn tx_refuses_used_ids_it_did_not_post() {
    for bad in [1u32, 4, 2 * 8, u32::MAX] {
        let n = 8;
        let (r, kring, mut tx, mut dev) = tx_rig(n, true);
        let mut k = kring.lock();
        app_send(&mut k, n, &[60, 60]);
        tx.txsync(&mut k, &r.bufs).unwrap();
        dev.push_used(bad, 0);
        dev.publish_used();
        assert_eq!(tx.reclaim(&mut k), Err(DeviceError::BadUsedId(bad)));
        assert_eq!(tx.stats().device_errors, 1);
        assert_eq!(k.hwtail(), n - 1, "nothing reclaimed on a lie");
    }
}

#[test]
fn tx_reset_hands_back_everything_in_flight() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 4]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    dev.force_used_idx(40);
    assert_eq!(tx.reclaim(&mut k), Err(DeviceError::UsedIndexJump));
    tx.reset(Virtqueue::new(r.mem(), true), &mut k);
    assert_eq!(tx.stats().lost_in_reset, 4);
    assert_eq!(k.hwtail(), 3, "all of [hwtail+1, hwcur) is back");
    // And it works afterwards, from the queue's first chain (the device
    // starts over), with slot 4's buffer.
    let mut dev = SimDevice::new(r.mem(), true);
    app_send(&mut k, n, &[60]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    assert_eq!(dev.pop_avail(), Some(0));
    assert_eq!(dev.desc(1).0, r.phys_of(&k, 4));
}

#[test]
fn tx_keeps_flowing_for_many_ring_wraps() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    let mut sent = 0u32;
    for round in 0..(50 * n) {
        // The application fills whatever it owns: [rhead, hwtail).
        let room = k.tx_room().1;
        let burst = room.min(1 + round % 5);
        app_send(&mut k, n, &alloc::vec![64; burst as usize]);
        tx.txsync(&mut k, &r.bufs).unwrap();
        while let Some(h) = dev.pop_avail() {
            dev.push_used(u32::from(h), 0);
            sent += 1;
        }
        dev.publish_used();
    }
    tx.reclaim(&mut k).unwrap();
    assert!(sent > 20 * n, "sent only {sent}");
    assert_eq!(tx.in_flight(), 0);
    assert_eq!(
        ring_add(k.hwtail(), 1, n),
        k.hwcur(),
        "idle ring offers all but one slot"
    );
}

// ---- RX ----

#[test]
fn rx_posts_all_but_one_slot_with_their_buffers() {
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let k = kring.lock();
    assert!(rx.post(&k, &r.bufs));
    assert_eq!(rx.posted(&k), n - 1);
    for slot in 0..n - 1 {
        let head = dev.pop_avail().unwrap();
        assert_eq!(u32::from(head), 2 * slot);
        let (_, hlen, hflags, _) = dev.desc(head);
        assert_eq!(hlen, NET_HDR_LEN);
        assert_eq!(hflags, virtq::VIRTQ_DESC_F_WRITE | virtq::VIRTQ_DESC_F_NEXT);
        let (addr, len, flags, _) = dev.desc(head + 1);
        assert_eq!(
            (addr, len, flags),
            (r.phys_of(&k, slot), 2048, virtq::VIRTQ_DESC_F_WRITE)
        );
    }
    assert!(dev.pop_avail().is_none());
}

#[test]
fn rx_delivers_frames_in_order_with_their_lengths() {
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    for len in [60u32, 1514, 14] {
        let h = dev.pop_avail().unwrap();
        dev.push_used(u32::from(h), NET_HDR_LEN + len);
    }
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(3));
    assert_eq!(k.hwtail(), 3);
    assert_eq!(
        [k.slots.get(0).len, k.slots.get(1).len, k.slots.get(2).len],
        [60, 1514, 14]
    );
    assert_eq!((k.stats.packets, k.stats.bytes), (3, 60 + 1514 + 14));
}

#[test]
fn rx_rejects_bad_ids_and_lengths() {
    // (Out of order is not among them: see the tests below.)
    let cases: [(u32, u32, DeviceError); 6] = [
        (1, 72, DeviceError::BadUsedId(1)),
        (2 * 8, 72, DeviceError::BadUsedId(16)),
        (u32::MAX, 72, DeviceError::BadUsedId(u32::MAX)),
        (2 * 7, 72, DeviceError::BadUsedId(14)),
        (0, 11, DeviceError::BadUsedLen(11)),
        (
            0,
            NET_HDR_LEN + 2049,
            DeviceError::BadUsedLen(NET_HDR_LEN + 2049),
        ),
    ];
    for (id, len, want) in cases {
        let n = 8;
        let (r, kring, mut rx, mut dev) = rx_rig(n);
        let mut k = kring.lock();
        rx.post(&k, &r.bufs);
        dev.pop_avail();
        dev.push_used(id, len);
        dev.publish_used();
        assert_eq!(rx.receive(&mut k, &r.bufs), Err(want));
        assert_eq!(k.hwtail(), 0, "nothing delivered from a lie");
        assert_eq!(rx.stats().device_errors, 1);
        // Reset recovers: everything re-posted, nothing lost from the kring.
        let before: Vec<u32> = k.slots.bufs().collect();
        rx.reset(Virtqueue::new(r.mem(), true), &mut k, &r.bufs);
        let mut dev = SimDevice::new(r.mem(), true);
        assert_eq!(dev.avail_pending(), (n - 1) as u16);
        assert_eq!(k.slots.bufs().collect::<Vec<_>>(), before);
        assert_eq!(rx.stats().resets, 1);
        let h = dev.pop_avail().unwrap();
        dev.push_used(u32::from(h), NET_HDR_LEN + 60);
        dev.publish_used();
        assert_eq!(rx.receive(&mut k, &r.bufs), Ok(1));
    }
}

#[test]
fn rx_reposts_a_buffer_the_application_swapped_in() {
    let n = 4;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs); // slots 0, 1, 2; slot 3 is the empty one
    for _ in 0..2 {
        let h = dev.pop_avail().unwrap();
        dev.push_used(u32::from(h), NET_HDR_LEN + 60);
    }
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(2));
    // The application keeps slot 0's buffer (zero-copy forwarding) and
    // puts another one in its place, then releases slots 0 and 1.
    let arrived_in = k.slots.buf_idx(0);
    let mut spare = SlotArray::new_filled(&r.pool, 1).unwrap();
    k.slots.swap(0, &mut spare, 0).unwrap();
    let swapped_in = k.slots.buf_idx(0);
    assert_ne!(arrived_in, swapped_in);
    k.release(2);
    rx.rxsync(&mut k, &r.bufs).unwrap();
    assert_eq!(dev.pop_avail(), Some(4), "slot 2, posted at start");
    assert_eq!(
        dev.pop_avail(),
        Some(6),
        "slot 3, free once slot 0 was released"
    );
    assert_eq!(dev.pop_avail(), Some(0), "slot 0, with its new buffer");
    assert_eq!(dev.pop_avail(), None, "slot 1 is now the empty one");
    assert_eq!(dev.desc(1).0, r.bufs.phys(swapped_in).unwrap());
}

#[test]
fn rx_never_stalls_after_the_ring_wraps() {
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    let mut received = 0u32;
    for round in 0..(40 * n) {
        // Device fills up to 3 buffers per round.
        for _ in 0..(1 + round % 3) {
            if let Some(h) = dev.pop_avail() {
                dev.push_used(u32::from(h), NET_HDR_LEN + 60);
            }
        }
        dev.publish_used();
        rx.receive(&mut k, &r.bufs).unwrap();
        // The application consumes everything and releases it.
        received += k.release(u32::MAX);
        rx.rxsync(&mut k, &r.bufs).unwrap();
        assert_eq!(rx.posted(&k), n - 1, "every released buffer is re-posted");
    }
    assert!(received > 20 * n, "received only {received}");
}

// ---- Completions in any order (virtio 1.2, 2.7.8: a device need not use
// buffers in the order they were made available) ----

/// A small deterministic generator for completion orders.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % bound as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.next(i + 1));
        }
    }
}

#[test]
fn rx_accepts_completions_out_of_order_and_delivers_in_ring_order() {
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    let heads: Vec<u16> = (0..5).map(|_| dev.pop_avail().unwrap()).collect();
    let len_of = |slot: usize| 60 + 100 * slot as u32;
    // Slot 2 first: done, but slot 0 is still the device's, so nothing is
    // delivered yet.
    dev.push_used(u32::from(heads[2]), NET_HDR_LEN + len_of(2));
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(0));
    assert_eq!(k.hwtail(), 0, "slot 0 not received yet");
    // Then 0 (delivers 0), 4, 1 (delivers 1 and 2), 3 (delivers 3 and 4).
    for s in [0usize, 4, 1, 3] {
        dev.push_used(u32::from(heads[s]), NET_HDR_LEN + len_of(s));
    }
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(5));
    assert_eq!(k.hwtail(), 5);
    for s in 0..5 {
        assert_eq!(u32::from(k.slots.get(s).len), len_of(s), "slot {s}");
    }
    assert_eq!(k.stats.packets, 5);
    assert_eq!(k.stats.bytes, (0..5).map(|s| u64::from(len_of(s))).sum());
    let st = rx.stats();
    assert_eq!((st.device_errors, st.resets), (0, 0));
    // 2 (before 0), 4 (before 1 and 3), 1 is the oldest then: in order.
    assert_eq!(st.ooo_completions, 2);
}

#[test]
fn rx_out_of_order_for_many_ring_wraps_keeps_every_frame_in_order() {
    let n = 16;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    let mut rng = Lcg(7);
    // A frame's length names the buffer the device wrote it into, so each
    // delivered slot can be checked to carry its own frame.
    let len_for = |addr: u64| 60 + ((addr - BASE) / 2048 % 1000) as u32;
    let mut held: Vec<u16> = Vec::new();
    let (mut sent, mut got) = (0u32, 0u32);
    for round in 0..300u32 {
        while let Some(h) = dev.pop_avail() {
            held.push(h);
        }
        rng.shuffle(&mut held);
        let take = rng.next(held.len() + 1);
        for h in held.drain(..take) {
            let addr = dev.desc(h + 1).0;
            dev.push_used(u32::from(h), NET_HDR_LEN + len_for(addr));
            sent += 1;
        }
        dev.publish_used();
        let before = k.hwtail();
        rx.receive(&mut k, &r.bufs).unwrap();
        let mut i = before;
        while i != k.hwtail() {
            let want = len_for(r.phys_of(&k, i));
            assert_eq!(
                u32::from(k.slots.get(i as usize).len),
                want,
                "round {round}: slot {i}"
            );
            got += 1;
            i = ring_add(i, 1, n);
        }
        // The application consumes and releases everything.
        k.release(u32::MAX);
        rx.rxsync(&mut k, &r.bufs).unwrap();
    }
    assert!(got > 10 * n, "received only {got}");
    assert_eq!(k.stats.packets, u64::from(got));
    assert!(sent >= got);
    let st = rx.stats();
    assert_eq!((st.device_errors, st.resets), (0, 0));
    assert!(st.ooo_completions > 0);
}

#[test]
fn rx_refuses_a_chain_completed_twice() {
    // Twice while waiting behind an earlier slot, and twice after delivery.
    for (first, again) in [(1usize, 1usize), (0, 0)] {
        let n = 8;
        let (r, kring, mut rx, mut dev) = rx_rig(n);
        let mut k = kring.lock();
        rx.post(&k, &r.bufs);
        let heads: Vec<u16> = (0..3).map(|_| dev.pop_avail().unwrap()).collect();
        dev.push_used(u32::from(heads[first]), NET_HDR_LEN + 60);
        dev.publish_used();
        rx.receive(&mut k, &r.bufs).unwrap();
        dev.push_used(u32::from(heads[again]), NET_HDR_LEN + 60);
        dev.publish_used();
        assert_eq!(
            rx.receive(&mut k, &r.bufs),
            Err(DeviceError::BadUsedId(u32::from(heads[again])))
        );
        assert_eq!(rx.stats().device_errors, 1);
    }
}

#[test]
fn rx_refuses_a_chain_it_did_not_post() {
    // Slot 7 is the ring's empty slot: never posted.
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig(n);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    dev.push_used(14, NET_HDR_LEN + 60);
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Err(DeviceError::BadUsedId(14)));
    assert_eq!(k.hwtail(), 0);
}

#[test]
fn tx_accepts_completions_in_any_order_and_reclaims_the_done_prefix() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 6]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = (0..6).map(|_| dev.pop_avail().unwrap()).collect();
    let mut expect_tail = n - 1;
    for (s, tail_after) in [
        (3usize, None),
        (5, None),
        (0, Some(0)),
        (2, None),
        (1, Some(3)),
    ] {
        dev.push_used(u32::from(heads[s]), 0);
        dev.publish_used();
        tx.reclaim(&mut k).unwrap();
        if let Some(t) = tail_after {
            expect_tail = t;
        }
        assert_eq!(k.hwtail(), expect_tail, "after slot {s}");
    }
    assert_eq!(tx.in_flight(), 1, "slot 4 still out");
    dev.push_used(u32::from(heads[4]), 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 5, "everything back");
    let st = tx.stats();
    assert_eq!((st.device_errors, st.resets), (0, 0));
    // 3 and 5 before 0, 2 before 1: out of order; 0, 1, 4 were the oldest.
    assert_eq!(st.ooo_completions, 3);
}

#[test]
fn tx_refuses_a_chain_completed_twice() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 3]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = (0..3).map(|_| dev.pop_avail().unwrap()).collect();
    dev.push_used(u32::from(heads[1]), 0);
    dev.push_used(u32::from(heads[1]), 0);
    dev.publish_used();
    assert_eq!(
        tx.reclaim(&mut k),
        Err(DeviceError::BadUsedId(u32::from(heads[1])))
    );
    assert_eq!(tx.stats().device_errors, 1);
}

#[test]
fn tx_out_of_order_for_many_ring_wraps_never_loses_a_slot() {
    let n = 16;
    let (r, kring, mut tx, mut dev) = tx_rig(n, true);
    let mut k = kring.lock();
    let mut rng = Lcg(11);
    let mut held: Vec<u16> = Vec::new();
    let mut sent = 0u32;
    for round in 0..400u32 {
        let room = k.tx_room().1;
        let burst = room.min(1 + round % 7);
        app_send(&mut k, n, &alloc::vec![64; burst as usize]);
        tx.txsync(&mut k, &r.bufs).unwrap();
        while let Some(h) = dev.pop_avail() {
            held.push(h);
        }
        rng.shuffle(&mut held);
        let take = rng.next(held.len() + 1);
        for h in held.drain(..take) {
            dev.push_used(u32::from(h), 0);
            sent += 1;
        }
        dev.publish_used();
    }
    for h in held.drain(..) {
        dev.push_used(u32::from(h), 0);
        sent += 1;
    }
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert!(sent > 20 * n, "sent only {sent}");
    assert_eq!(tx.in_flight(), 0);
    assert_eq!(ring_add(k.hwtail(), 1, n), k.hwcur(), "every slot is back");
    assert_eq!(k.stats.packets, u64::from(sent));
    assert!(tx.stats().ooo_completions > 0);
}

// ---- VIRTIO_F_IN_ORDER (virtio 1.2, 2.7.9) ----

#[test]
fn rx_in_order_batch_delivers_every_frame_of_the_batch() {
    let n = 8;
    let (r, kring, mut rx, mut dev) = rx_rig_with(n, true);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    let heads: Vec<u16> = (0..5).map(|_| dev.pop_avail().unwrap()).collect();
    // One element for chains 0..=3: the last one's id and length; the
    // three before it are "used completely" (a full buffer each).
    dev.push_used_batch(u32::from(heads[3]), NET_HDR_LEN + 100, 4);
    dev.push_used(u32::from(heads[4]), NET_HDR_LEN + 60);
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(5));
    assert_eq!(k.hwtail(), 5);
    let lens: Vec<u16> = (0..5).map(|i| k.slots.get(i).len).collect();
    assert_eq!(lens, [2048, 2048, 2048, 100, 60]);
    let st = rx.stats();
    assert_eq!((st.device_errors, st.ooo_completions), (0, 0));
    // And again past the ring's end: release all, batch across the wrap.
    k.release(u32::MAX);
    rx.rxsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = core::iter::from_fn(|| dev.pop_avail()).collect();
    assert_eq!(
        heads,
        [10, 12, 14, 0, 2, 4, 6],
        "chains 5..=7, 0..=3: ring order"
    );
    // Slots 5, 6, 7, 0 implied, slot 1 named.
    dev.push_used_batch(u32::from(heads[4]), NET_HDR_LEN + 70, 5);
    dev.publish_used();
    assert_eq!(rx.receive(&mut k, &r.bufs), Ok(5));
    assert_eq!(k.hwtail(), 2);
    assert_eq!(k.slots.get(1).len, 70);
    assert_eq!(k.stats.packets, 10);
}

#[test]
fn tx_in_order_batch_reclaims_the_whole_batch() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig_in_order(n);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 5]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = (0..5).map(|_| dev.pop_avail().unwrap()).collect();
    dev.push_used_batch(u32::from(heads[2]), 0, 3);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 2, "slots 0..=2 back");
    assert_eq!(tx.in_flight(), 2);
    dev.push_used(u32::from(heads[3]), 0);
    dev.push_used(u32::from(heads[4]), 0);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 4);
    assert_eq!(tx.in_flight(), 0);
    let st = tx.stats();
    assert_eq!((st.device_errors, st.ooo_completions), (0, 0));
}

#[test]
fn an_in_order_batch_longer_than_the_used_index_is_a_device_error() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig_in_order(n);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60; 5]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = (0..5).map(|_| dev.pop_avail().unwrap()).collect();
    // Names chain 3 (a batch of four) but moves the index by two.
    dev.push_used_batch(u32::from(heads[3]), 0, 2);
    dev.publish_used();
    assert_eq!(
        tx.reclaim(&mut k),
        Err(DeviceError::BadUsedId(u32::from(heads[3])))
    );
    assert_eq!(k.hwtail(), n - 1, "nothing reclaimed on a lie");
    assert_eq!(tx.stats().device_errors, 1);
}

/// Under IN_ORDER the driver must make descriptors available in ring
/// order from descriptor 0 (2.7.5): a TX slot it refuses to send must not
/// leave a hole, and after a reset it starts over from descriptor 0.
#[test]
fn in_order_chains_are_used_in_ring_order_across_drops_and_a_reset() {
    let n = 8;
    let (r, kring, mut tx, mut dev) = tx_rig_in_order(n);
    let mut k = kring.lock();
    app_send(&mut k, n, &[60, 0, 60, 13, 60]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = core::iter::from_fn(|| dev.pop_avail()).collect();
    assert_eq!(heads, [0, 2, 4], "slots 0, 2, 4 on chains 0, 1, 2");
    for (c, slot) in [(0u16, 0u32), (1, 2), (2, 4)] {
        let (addr, len, flags, _) = dev.desc(2 * c + 1);
        assert_eq!((addr, len, flags), (r.phys_of(&k, slot), 60, 0));
        let (_, _, hflags, hnext) = dev.desc(2 * c);
        assert_eq!((hflags, hnext), (virtq::VIRTQ_DESC_F_NEXT, 2 * c + 1));
    }
    dev.push_used_batch(4, 0, 3);
    dev.publish_used();
    tx.reclaim(&mut k).unwrap();
    assert_eq!(k.hwtail(), 4);
    // A reset: the device starts over, and so do the chains.
    app_send(&mut k, n, &[60, 60]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let vq = Virtqueue::new(r.mem(), true).with_in_order(true);
    tx.reset(vq, &mut k);
    let mut dev = SimDevice::new(r.mem(), true);
    app_send(&mut k, n, &[60, 60]);
    tx.txsync(&mut k, &r.bufs).unwrap();
    let heads: Vec<u16> = core::iter::from_fn(|| dev.pop_avail()).collect();
    assert_eq!(heads, [0, 2]);
    assert_eq!(dev.desc(1).0, r.phys_of(&k, 7));
    assert_eq!(dev.desc(3).0, r.phys_of(&k, 0));
}

#[test]
fn rx_in_order_for_many_ring_wraps_with_random_batches() {
    let n = 16;
    let (r, kring, mut rx, mut dev) = rx_rig_with(n, true);
    let mut k = kring.lock();
    rx.post(&k, &r.bufs);
    let mut rng = Lcg(3);
    let mut held: alloc::collections::VecDeque<u16> = alloc::collections::VecDeque::new();
    let mut got = 0u32;
    for _ in 0..300 {
        while let Some(h) = dev.pop_avail() {
            held.push_back(h);
        }
        // The device uses a prefix of what it holds, in order, reported
        // as batches of random sizes (a batch of one is a plain element).
        let mut used = rng.next(held.len() + 1);
        while used > 0 {
            let batch = 1 + rng.next(used);
            let last = held[batch - 1];
            dev.push_used_batch(u32::from(last), NET_HDR_LEN + 60, batch as u16);
            held.drain(..batch);
            used -= batch;
        }
        dev.publish_used();
        got += rx.receive(&mut k, &r.bufs).unwrap();
        k.release(u32::MAX);
        rx.rxsync(&mut k, &r.bufs).unwrap();
        assert_eq!(rx.posted(&k), n - 1, "everything released is re-posted");
    }
    assert!(got > 10 * n, "received only {got}");
    assert_eq!(rx.stats().device_errors, 0);
}

// ---- Queue sizes ----

#[test]
fn queue_size_takes_what_the_device_allows() {
    // vhost-user allows 1024-entry TX queues; QEMU's tap and socket
    // backends cap TX at 256.
    assert_eq!(queue_size(1024, 1024), Some(1024));
    assert_eq!(queue_size(1024, 256), Some(256));
    assert_eq!(queue_size(1024, 32768), Some(1024));
    assert_eq!(queue_size(1024, 1000), Some(512), "a power of two");
    assert_eq!(queue_size(1024, 2), None, "too small for two slots");
    assert_eq!(queue_size(1024, 0), None, "no such queue");
    assert_eq!(slots_for(1024), 512);
    assert_eq!(slots_for(256), 128);
}

struct NoBell;
impl Doorbell for NoBell {
    fn kick(&self, _queue: u16) {}
}

/// A NIC on a 1024-entry TX queue has a 512-slot tx kring, and all 511
/// slots an application may fill go out in one sync and come back in any
/// order.
#[test]
fn a_1024_entry_tx_queue_gives_a_512_slot_kring() {
    let tx_size = queue_size(1024, 1024).unwrap();
    let tx_slots = slots_for(tx_size);
    let rx_slots = 8;
    let pool = BufferPool::on_heap(2 * tx_slots + 4 * rx_slots + 16, 2048).unwrap();
    let leak = |slots: u32| {
        let layout = QueueLayout::new(queue_size_for(slots)).unwrap();
        let words: &'static [AtomicU64] =
            alloc::boxed::Box::leak(words_for(layout).into_boxed_slice());
        QueueMem::from_words(words, layout).unwrap()
    };
    let (rm, tm) = (leak(rx_slots), leak(tx_slots));
    let (rq, tq) = (Virtqueue::new(rm, true), Virtqueue::new(tm, true));
    assert_eq!(tq.size(), 1024);
    let nic = VirtioNic::new(
        "virtio9",
        [2, 0, 0, 0, 0, 9],
        BufMap::new(pool.clone(), BASE),
        RxQueue::new(rq, rx_slots, HDRS),
        rx_slots,
        TxQueue::new(tq, tx_slots, HDRS),
        tx_slots,
        alloc::boxed::Box::new(NoBell),
    )
    .unwrap();
    use netmap::port::Port;
    let kring = &nic.krings(Dir::Tx)[0];
    assert_eq!(kring.num_slots(), 512);
    {
        let mut k = kring.lock();
        app_send(&mut k, 512, &alloc::vec![60; 511]);
    }
    nic.txsync(0).unwrap();
    let mut dev = SimDevice::new(tm, true);
    let mut heads: Vec<u16> = core::iter::from_fn(|| dev.pop_avail()).collect();
    assert_eq!(heads.len(), 511, "a full ring in flight");
    Lcg(5).shuffle(&mut heads);
    for h in heads {
        dev.push_used(u32::from(h), 0);
    }
    dev.publish_used();
    nic.tx_reclaim().unwrap();
    let k = kring.lock();
    assert_eq!(
        ring_add(k.hwtail(), 1, 512),
        k.hwcur(),
        "every slot is back"
    );
    assert_eq!(k.stats.packets, 511);
    drop(k);
    let st = nic.nic_stats();
    assert_eq!((st.device_errors, st.resets), (0, 0));
}

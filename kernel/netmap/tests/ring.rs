//! The txsync/rxsync protocol: prologue rules, re-initialisation, buffer
//! ownership, as seen by an application.

mod common;

use common::{audit, pool, SinkPort};
use netmap::{Dir, Handle, Port, SyncError, NS_BUF_CHANGED, NS_MOREFRAG};
use std::sync::Arc;

const N: u32 = 8;

fn setup() -> (Arc<netmap::BufferPool>, Arc<SinkPort>, Handle) {
    let p = pool(64);
    let port = SinkPort::new(&p, 1, N);
    let h = Handle::new(port.clone());
    (p, port, h)
}

fn tx_state(port: &SinkPort) -> (u32, u32, u32, u32, u32) {
    let k = port.krings(Dir::Tx)[0].lock();
    (k.hwcur(), k.hwtail(), k.rhead(), k.rcur(), k.rtail())
}

#[test]
fn tx_ring_starts_with_all_but_one_slot() {
    let (p, port, mut h) = setup();
    let r = h.tx_ring(0).unwrap();
    assert_eq!((r.head, r.cur, r.tail), (0, 0, N - 1));
    assert_eq!(r.space(), N - 1);
    for i in 0..N - 1 {
        assert!(r.buf(i).is_ok(), "slot {i} is the application's");
        assert!(p.is_valid(r.slot[i as usize].buf_idx()));
    }
    assert!(r.buf(N - 1).is_err(), "slot at tail is the kernel's");
    let rx = h.rx_ring(0).unwrap();
    assert_eq!((rx.head, rx.cur, rx.tail), (0, 0, 0));
    assert!(rx.buf(0).is_err());
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn txsync_sends_and_reclaims() {
    let (p, port, mut h) = setup();
    let frames: Vec<_> = (0..5)
        .map(|i| common::frame(common::BCAST, common::mac(1), 60 + i, i as u8))
        .collect();
    assert_eq!(common::send(&mut h, 0, &frames), 5);
    assert_eq!(*port.sent.lock().unwrap(), frames);
    let r = h.tx_ring(0).unwrap();
    assert_eq!((r.head, r.cur), (5, 5));
    assert_eq!(r.tail, 4, "everything reclaimed: tail = hwcur - 1");
    assert_eq!(r.space(), N - 1);
    assert_eq!(tx_state(&port), (5, 4, 5, 5, 4));
    // Wrap around the ring a few times.
    for _ in 0..5 {
        assert_eq!(common::send(&mut h, 0, &frames), 5);
    }
    assert_eq!(port.sent.lock().unwrap().len(), 30);
    assert_eq!(port.counters().tx.packets, 30);
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn rxsync_reports_and_releases() {
    let (p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    assert_eq!(port.inject(0, &[&f, &f, &f]), 3);
    h.rxsync(0).unwrap();
    let r = h.rx_ring(0).unwrap();
    assert_eq!((r.head, r.tail), (0, 3));
    assert_eq!(r.frame(1).unwrap(), &f[..]);
    // Only N - 1 slots can be full at once.
    assert_eq!(port.inject(0, &[&f; 8]), 4);
    assert_eq!(port.inject(0, &[&f]), 0, "ring full");
    assert_eq!(common::recv(&mut h, 0).len(), 7);
    assert_eq!(port.inject(0, &[&f; 8]), 7, "released slots are free again");
    audit(&p, &[&*port], &[&h]);
}

/// netmap's picture of tx head positions: with `rhead <= rtail`, heads in
/// `[rhead, rtail]` are valid; with `rtail < rhead` (wrapped), heads in
/// `[rhead, n) ∪ [0, rtail]` are.
#[test]
fn tx_prologue_rules() {
    let (_p, port, mut h) = setup();
    // Make the ring wrap: hwcur = rhead = 5, rtail = 4.
    common::send(
        &mut h,
        0,
        &vec![common::frame(common::BCAST, common::mac(1), 60, 0); 5],
    );
    assert_eq!(tx_state(&port), (5, 4, 5, 5, 4));
    let k = port.krings(Dir::Tx)[0].lock();
    // (head, cur, valid)
    let cases = [
        (5, 5, true), // no change
        (7, 0, true), // cur wraps
        (0, 4, true), // head wraps, cur at tail
        (4, 4, true), // head == tail: everything handed over
        (2, 3, true),
        (4, 5, false), // cur past tail
        (3, 2, false), // cur behind head
        (6, 5, false), // cur behind head across the wrap
        (8, 8, false), // out of range
        (5, 9, false), // cur out of range (stricter than netmap)
        (u32::MAX, 0, false),
    ];
    for (head, cur, valid) in cases {
        assert_eq!(k.txsync_check(head, cur), valid, "head {head} cur {cur}");
    }
    drop(k);
    // Non-wrapped: rhead = 0, rtail = 7 on a fresh port.
    let (_p, port, _h) = setup();
    let k = port.krings(Dir::Tx)[0].lock();
    for (head, cur, valid) in [
        (0, 0, true),
        (7, 7, true),
        (3, 5, true),
        (5, 3, false),
        (0, 8, false),
    ] {
        assert_eq!(k.txsync_check(head, cur), valid, "head {head} cur {cur}");
    }
}

#[test]
fn rx_prologue_rules() {
    let (_p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    port.inject(0, &[&f; 6]);
    common::recv(&mut h, 0); // hwcur = 6
    port.inject(0, &[&f; 4]); // hwtail = 2 (wrapped), not yet reported
    let k = port.krings(Dir::Rx)[0].lock();
    assert_eq!((k.hwcur(), k.hwtail(), k.rtail()), (6, 2, 6));
    for (head, cur, valid) in [
        (6, 6, true),
        (6, 2, true),
        (0, 1, true), // releases frames not yet reported (netmap allows it)
        (2, 2, true),
        (3, 3, false), // past hwtail
        (5, 6, false), // behind hwcur
        (7, 6, false), // cur behind head
        (6, 8, false),
    ] {
        assert_eq!(k.rxsync_check(head, cur), valid, "head {head} cur {cur}");
    }
}

#[test]
fn bad_head_reinitialises_the_ring() {
    let (p, port, mut h) = setup();
    common::send(
        &mut h,
        0,
        &vec![common::frame(common::BCAST, common::mac(1), 60, 0); 3],
    );
    let r = h.tx_ring(0).unwrap();
    let before: Vec<_> = r.slot.iter().map(|s| s.buf_idx()).collect();
    r.head = 2; // behind hwcur = 3
    r.cur = 6;
    r.tail = 1;
    r.slot[5].len = 60000; // and some garbage in the slots
    r.slot[2].len = 1234; // outside the application's part: discarded
    assert_eq!(h.txsync(0), Err(SyncError::RingReinit { head: 2, cur: 6 }));
    let r = h.tx_ring(0).unwrap();
    assert_eq!((r.head, r.cur, r.tail), (3, 3, 2));
    let after: Vec<_> = r.slot.iter().map(|s| s.buf_idx()).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            *b == 0 || b == a,
            "slot {i}: the buffers stay where they were"
        );
    }
    assert_eq!(r.slot[5].len, 0);
    assert_eq!(
        r.slot[2].len, 0,
        "the write outside the ring's part was discarded"
    );
    let c = port.counters().tx;
    assert_eq!((c.ring_reinit, c.bad_buf_idx, c.bad_len), (1, 0, 1));
    assert_eq!(
        port.sent.lock().unwrap().len(),
        3,
        "nothing sent by the bad sync"
    );
    audit(&p, &[&*port], &[&h]);
    // The ring works again.
    assert_eq!(
        common::send(
            &mut h,
            0,
            &[common::frame(common::BCAST, common::mac(1), 60, 0)]
        ),
        1
    );
    assert_eq!(port.sent.lock().unwrap().len(), 4);
}

#[test]
fn bad_cur_and_out_of_range_values_reinitialise_too() {
    for (head, cur) in [(0, 9), (9, 0), (u32::MAX, u32::MAX), (3, 1)] {
        let (p, port, mut h) = setup();
        let r = h.rx_ring(0).unwrap();
        r.head = head;
        r.cur = cur;
        assert!(
            matches!(h.rxsync(0), Err(SyncError::RingReinit { .. })),
            "{head} {cur}"
        );
        let r = h.rx_ring(0).unwrap();
        assert_eq!((r.head, r.cur, r.tail), (0, 0, 0));
        assert_eq!(port.counters().rx.ring_reinit, 1);
        audit(&p, &[&*port], &[&h]);
    }
}

#[test]
fn rx_reinit_keeps_received_frames() {
    let (p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    port.inject(0, &[&f; 3]);
    h.rxsync(0).unwrap();
    let r = h.rx_ring(0).unwrap();
    r.head = 5;
    port.inject(0, &[&f; 2]);
    assert!(h.rxsync(0).is_err());
    let r = h.rx_ring(0).unwrap();
    assert_eq!(r.head, 0, "frames not released are still there");
    assert_eq!(
        r.tail, 5,
        "and, as in netmap, the sync still reported new ones"
    );
    assert_eq!(r.frame(4).unwrap(), &f[..]);
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn written_buf_idx_is_never_trusted() {
    let (p, port, mut h) = setup();
    let r = h.tx_ring(0).unwrap();
    let real0 = r.slot[0].buf_idx();
    let real1 = r.slot[1].buf_idx();
    r.write_frame(0, &common::frame(common::BCAST, common::mac(1), 60, 1))
        .unwrap();
    r.write_frame(1, &common::frame(common::BCAST, common::mac(1), 60, 2))
        .unwrap();
    // A buffer index cannot be written any more (`AppSlot::buf_idx` is
    // read-only): the slot can only be handed back with what it holds.
    assert_eq!(port.krings(Dir::Tx)[0].lock().slots.buf_idx(0), 0);
    assert_ne!(real0, real1);
    r.slot[0].flags = NS_BUF_CHANGED;
    r.advance(2);
    h.txsync(0).unwrap();
    let sent = port.sent.lock().unwrap().clone();
    assert_eq!(sent[0][14], 1, "the buffer the slot held was sent");
    assert_eq!(sent[1][14], 2);
    assert_eq!(port.counters().tx.bad_buf_idx, 0);
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn swap_buf_moves_ownership_zero_copy() {
    let (p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 80, 5);
    port.inject(0, &[&f]);
    h.rxsync(0).unwrap();
    let (tx, rx) = h.rings_mut();
    let (tx, rx) = (&mut tx[0], &mut rx[0]);
    let rx_buf = rx.slot[0].buf_idx();
    let tx_buf = tx.slot[0].buf_idx();
    tx.swap_buf(0, rx, 0).unwrap();
    assert_eq!(tx.slot[0].buf_idx(), rx_buf);
    assert_eq!(rx.slot[0].buf_idx(), tx_buf);
    assert_eq!(tx.slot[0].len, 80);
    assert!(tx.slot[0].flags & NS_BUF_CHANGED != 0 && rx.slot[0].flags & NS_BUF_CHANGED != 0);
    assert_eq!(tx.frame(0).unwrap(), &f[..]);
    assert!(tx.swap_buf(7, rx, 0).is_err(), "slot 7 is the kernel's");
    assert!(tx.swap_within(0, 7).is_err());
    tx.swap_within(0, 1).unwrap();
    tx.swap_within(1, 0).unwrap();
    tx.advance(1);
    rx.advance(1);
    h.txsync(0).unwrap();
    h.rxsync(0).unwrap();
    assert_eq!(port.sent.lock().unwrap()[0], f, "forwarded without a copy");
    assert_eq!(port.counters().tx.bad_buf_idx, 0);
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn kernel_owns_tail_and_len_is_bounded() {
    let (p, port, mut h) = setup();
    let r = h.tx_ring(0).unwrap();
    r.tail = 2; // a lie: the application does not own tail
    r.slot[0].len = 4000;
    r.slot[0].flags = 0xff00 | NS_MOREFRAG;
    r.slot[1].len = 20;
    r.advance(2);
    h.txsync(0).unwrap();
    let c = port.counters().tx;
    assert_eq!(c.bad_len, 1);
    assert_eq!(
        h.tx_ring(0).unwrap().tail,
        1,
        "tail recomputed by the kernel"
    );
    let sent = port.sent.lock().unwrap();
    assert_eq!(sent[0].len(), 0, "oversized len became 0");
    drop(sent);
    audit(&p, &[&*port], &[&h]);
}

#[test]
fn closing_a_handle_returns_every_buffer() {
    let (p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    port.inject(0, &[&f; 3]);
    h.rxsync(0).unwrap();
    let (tx, rx) = h.rings_mut();
    tx[0].swap_buf(2, &mut rx[0], 1).unwrap();
    drop(h);
    audit(&p, &[&*port], &[]);
    let before = p.free_count();
    drop(port);
    assert_eq!(p.free_count(), before + 2 * N as usize);
    p.audit([]).unwrap();
}

#[test]
fn sync_on_missing_ring() {
    let (_p, _port, mut h) = setup();
    assert_eq!(h.txsync(1), Err(SyncError::NoSuchRing(1)));
    assert_eq!(h.rxsync(7), Err(SyncError::NoSuchRing(7)));
}

/// Issue 11, defect 1: an application may swap the slot views of two rings
/// (it can no longer build one) or swap whole rings; a ring whose slots are
/// not its kring's is an error, never a panic, and no buffer is lost.
#[test]
fn a_replaced_slot_array_is_an_error_not_a_panic() {
    let (p, port, mut h) = setup();
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    port.inject(0, &[&f; 3]);
    let r = h.tx_ring(0).unwrap();
    r.write_frame(0, &f).unwrap();
    r.advance(1);
    let (tx, rx) = h.rings_mut();
    std::mem::swap(&mut tx[0].slot, &mut rx[0].slot);
    assert_eq!(h.txsync(0), Err(SyncError::WrongRing(0)));
    assert_eq!(h.rxsync(0), Err(SyncError::WrongRing(0)));
    // The ring's own methods refuse slots past the end.
    let r = h.tx_ring(0).unwrap();
    assert!(r.write_frame(N + 5, &f).is_err());
    assert!(r.swap_within(1, N + 6).is_err());
    r.slot[N as usize + 3].len = 7; // discarded, no panic
    assert_eq!(r.slot[N as usize + 3].len, 0);
    let (tx, rx) = h.rings_mut();
    assert!(tx[0].swap_buf(N + 1, &mut rx[0], 0).is_err());
    audit(&p, &[&*port], &[&h]);
    // Putting the views back makes the rings usable again.
    let (tx, rx) = h.rings_mut();
    std::mem::swap(&mut tx[0].slot, &mut rx[0].slot);
    h.txsync(0).unwrap();
    assert_eq!(port.sent.lock().unwrap().len(), 1);
    let (tx, rx) = h.rings_mut();
    std::mem::swap(&mut tx[0].slot, &mut rx[0].slot);
    drop(h);
    audit(&p, &[&*port], &[]);
}

#[test]
fn swapped_rings_are_refused_not_a_panic() {
    let p = pool(256);
    let (a, b) = (SinkPort::new(&p, 1, N), SinkPort::new(&p, 1, 4 * N));
    let (mut ha, mut hb) = (Handle::new(a.clone()), Handle::new(b.clone()));
    let f = common::frame(common::mac(2), common::mac(1), 64, 9);
    b.inject(0, &[&f; 20]);
    hb.rxsync(0).unwrap();
    // Rings of different sizes, between handles and within one.
    std::mem::swap(ha.tx_ring(0).unwrap(), hb.rx_ring(0).unwrap());
    ha.tx_ring(0).unwrap().advance(15);
    assert_eq!(ha.txsync(0), Err(SyncError::WrongRing(0)));
    assert_eq!(ha.rxsync(0), Ok(()));
    assert_eq!(hb.rxsync(0), Err(SyncError::WrongRing(0)));
    let (tx, rx) = hb.rings_mut();
    std::mem::swap(&mut tx[0], &mut rx[0]);
    assert_eq!(hb.txsync(0), Err(SyncError::WrongRing(0)));
    assert_eq!(hb.rxsync(0), Err(SyncError::WrongRing(0)));
    audit(&p, &[&*a, &*b], &[&ha, &hb]);
    // Swapped back, everything works again.
    let (tx, rx) = hb.rings_mut();
    std::mem::swap(&mut tx[0], &mut rx[0]);
    std::mem::swap(ha.tx_ring(0).unwrap(), hb.rx_ring(0).unwrap());
    hb.rxsync(0).unwrap();
    ha.txsync(0).unwrap();
    audit(&p, &[&*a, &*b], &[&ha, &hb]);
    // Closed while swapped: no panic, no buffer lost.
    std::mem::swap(ha.tx_ring(0).unwrap(), hb.rx_ring(0).unwrap());
    drop(ha);
    drop(hb);
    audit(&p, &[&*a, &*b], &[]);
}

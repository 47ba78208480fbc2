//! Kring mechanics below the application: leases (VALE's out-of-lock
//! copies), in-place writers, geometry limits.

mod common;

use netmap::{Dir, Kring, PoolError, SlotArray, NS_MOREFRAG};

#[test]
fn geometry_limits() {
    let p = common::pool(64);
    assert_eq!(
        Kring::new(&p, Dir::Rx, 0, 1).unwrap_err(),
        PoolError::SlotOutOfRange(1)
    );
    assert_eq!(
        Kring::new(&p, Dir::Rx, 0, 65537).unwrap_err(),
        PoolError::SlotOutOfRange(65537)
    );
    assert_eq!(
        Kring::new(&p, Dir::Rx, 0, 100).unwrap_err(),
        PoolError::Exhausted
    );
    assert_eq!(p.free_count(), 62, "a failed creation returns what it took");
    let k = Kring::new(&p, Dir::Tx, 3, 2).unwrap();
    assert_eq!((k.id(), k.dir(), k.num_slots()), (3, Dir::Tx, 2));
    let st = k.lock();
    assert_eq!(
        (st.hwcur(), st.hwtail(), st.rtail()),
        (0, 1, 1),
        "a 2-slot tx ring offers one slot"
    );
}

#[test]
fn leases_publish_in_order_whatever_order_they_complete() {
    let p = common::pool(64);
    let k = Kring::new(&p, Dir::Rx, 0, 8).unwrap();
    let mut w1 = SlotArray::new_empty(&p, 8);
    let mut w2 = SlotArray::new_empty(&p, 8);
    let (l1, l2) = {
        let mut st = k.lock();
        assert_eq!(st.rx_free(), 7);
        let l1 = st.lease(3, &mut w1);
        let l2 = st.lease(10, &mut w2);
        assert_eq!(
            (l1.start(), l1.len(), l2.start(), l2.len()),
            (0, 3, 3, 4),
            "capped at the free slots"
        );
        assert_eq!(st.rx_free(), 0);
        assert_eq!(
            st.rx_direct_space(),
            0,
            "in-place writers wait for pending leases"
        );
        assert!(
            !st.slots.is_held(0) && w1.is_held(0),
            "leased buffers moved to the writer"
        );
        (l1, l2)
    };
    // Writers fill their buffers without the lock.
    for j in 0..4 {
        w2.buf_mut(j).unwrap()[0] = 2;
        w2.set_len(j, 60).unwrap();
    }
    for j in 0..3 {
        w1.buf_mut(j).unwrap()[0] = 1;
        w1.set_len(j, 60).unwrap();
    }
    w1.set_flags(0, NS_MOREFRAG);
    // The second writer finishes first: nothing is published yet.
    k.lock().complete_lease(l2, &mut w2, 4, 240);
    assert_eq!(k.lock().hwtail(), 0);
    k.lock().complete_lease(l1, &mut w1, 2, 180);
    let st = k.lock();
    assert_eq!(st.hwtail(), 7, "both published, in lease order");
    assert_eq!((st.stats.packets, st.stats.bytes), (6, 420));
    assert_eq!(st.slot(0).unwrap().flags, NS_MOREFRAG);
    assert_eq!(st.slots.buf(2).unwrap()[0], 1);
    assert_eq!(st.slots.buf(3).unwrap()[0], 2);
    assert_eq!(st.slot(99), None);
    drop(st);
    p.audit(k.owned_bufs().into_iter().chain(w1.bufs()).chain(w2.bufs()))
        .unwrap();
}

#[test]
fn empty_lease_is_harmless() {
    let p = common::pool(64);
    let k = Kring::new(&p, Dir::Rx, 0, 4).unwrap();
    let mut w = SlotArray::new_empty(&p, 4);
    let mut st = k.lock();
    let l = st.lease(0, &mut w);
    assert!(l.is_empty());
    assert_eq!(l.start(), 0);
    st.complete_lease(l, &mut w, 0, 0);
    assert_eq!((st.hwtail(), st.hwlease()), (0, 0));
    assert_eq!(st.rx_direct_space(), 3);
    st.rx_publish_direct(10, 1, 1);
    assert_eq!(st.hwtail(), 3, "capped at the free space");
}

#[test]
fn notifications_count() {
    let p = common::pool(16);
    let k = Kring::new(&p, Dir::Rx, 0, 4).unwrap();
    assert_eq!(k.notifications(), 0);
    k.wake();
    k.wake();
    assert_eq!(k.notifications(), 2);
}

#[test]
fn corrupted_indices_never_panic_or_lose_buffers() {
    // A bug in the crate's own writers could leave any index.
    let p = common::pool(64);
    let k = Kring::new(&p, Dir::Rx, 0, 8).unwrap();
    let mut w = SlotArray::new_empty(&p, 8);
    {
        let mut st = k.lock();
        st.inject_corrupt_indices(1000, u32::MAX, 77);
        let l = st.lease(4, &mut w);
        assert!(l.is_empty(), "nothing reserved on a corrupted ring");
        st.complete_lease(l, &mut w, 1, 1);
        let _ = (st.rx_free(), st.rx_direct_space(), st.tx_pending());
        st.rx_publish_direct(3, 0, 0);
        // The operations other crates use refuse too.
        assert_eq!(st.arrived().1, 0);
        assert_eq!(st.release(5), 0);
        assert_eq!(st.queued(), 0);
        assert_eq!(st.tx_room().1, 0);
        assert_eq!(st.submit(5), 0);
        assert_eq!(st.tx_consume(5), 0);
        assert_eq!(st.tx_reclaim(5), 0);
        assert_eq!(st.tx_complete_all(), 0);
        assert_eq!(st.rx_take_released().1, 0);
        let t = Kring::new(&p, Dir::Tx, 0, 8).unwrap();
        assert_eq!(st.move_to_tx(&mut t.lock(), 8).count, 0);
        drop(t);
    }
    p.audit(k.owned_bufs().into_iter().chain(w.bufs())).unwrap();
    // An application syncing a corrupted ring gets it re-initialised.
    let port = common::SinkPort::new(&p, 1, 4);
    let mut h = netmap::Handle::new(port.clone());
    port.rx[0].lock().inject_corrupt_indices(0, 999, 0);
    assert!(matches!(
        h.rxsync(0),
        Err(netmap::SyncError::RingReinit { .. })
    ));
    let r = h.rx_ring(0).unwrap();
    assert!(r.head < 4 && r.tail < 4);
    let mut owned = netmap::port::kring_bufs(&*port);
    owned.extend(h.held_bufs());
    owned.extend(k.owned_bufs());
    owned.extend(w.bufs());
    p.audit(owned).unwrap();
}

#[test]
fn the_operations_other_crates_use_keep_the_ring_invariants() {
    let p = common::pool(64);
    // Rx: a device publishes 3, the consumer takes what arrived, releases
    // 2 (asking for more is capped), the port takes them back.
    let rx = Kring::new(&p, Dir::Rx, 0, 8).unwrap();
    let tx = Kring::new(&p, Dir::Tx, 0, 4).unwrap();
    {
        let mut r = rx.lock();
        for j in 0..3 {
            r.slots.set_len(j, 60 + j as u16).unwrap();
        }
        assert_eq!(r.rx_publish_direct(3, 3, 180), 3);
        assert_eq!(r.arrived(), (0, 3));
        assert_eq!(r.release(2), 2);
        assert_eq!((r.rhead(), r.rcur(), r.rtail(), r.hwcur()), (2, 2, 2, 0));
        assert_eq!(r.queued(), 3, "released but not taken back");
        assert_eq!(r.rx_take_released(), (0, 2));
        assert_eq!((r.queued(), r.arrived()), (1, (2, 1)));
        assert_eq!(r.release(99), 1, "capped at what arrived");
        r.rx_take_released();
        assert_eq!(r.rx_publish_direct(99, 0, 0), 7, "all but one slot");
        // Rx to tx by swap: capped by the tx ring's room (3 of 4 slots).
        let mut t = tx.lock();
        assert_eq!(t.tx_room(), (0, 3));
        let m = r.move_to_tx(&mut t, u32::MAX);
        assert_eq!((m.count, m.first, m.more), (3, 0, true));
        assert_eq!((t.rhead(), t.tx_pending(), t.tx_room().1), (3, 3, 0));
        assert_eq!((r.hwcur(), r.queued()), (6, 4));
        assert_eq!(t.slot(0).unwrap().len, 0, "slot 3 (never filled) moved");
        // Tx, port side: consume 2, reclaim them; complete the rest.
        assert_eq!(t.tx_consume(2), 2);
        assert_eq!(t.tx_reclaimable(), 2);
        assert_eq!(t.tx_reclaim(5), 2);
        assert_eq!(t.tx_room(), (3, 2));
        assert_eq!(t.submit(9), 2, "capped at the room");
        assert_eq!(t.tx_complete_all(), 3);
        assert_eq!((t.hwcur(), t.hwtail(), t.tx_room().1), (1, 0, 3));
    }
    p.audit(rx.owned_bufs().into_iter().chain(tx.owned_bufs()))
        .unwrap();
    // While an application ring is bound, the application-side operations
    // do nothing.
    let port = common::SinkPort::new(&p, 1, 4);
    let mut h = netmap::Handle::new(port.clone());
    port.inject(0, &[common::frame(common::mac(2), common::mac(1), 60, 0)]);
    h.rxsync(0).unwrap();
    {
        let mut r = port.rx[0].lock();
        assert!(r.is_bound());
        assert_eq!(r.release(1), 0);
        let mut t = port.tx[0].lock();
        assert_eq!(t.submit(1), 0);
        drop(t);
    }
    drop(h);
    assert!(!port.rx[0].lock().is_bound());
    assert_eq!(port.rx[0].lock().release(1), 1, "unbound again");
}

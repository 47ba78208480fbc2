//! The VALE switch: learning, flooding, ageing, drops, isolation, the patch
//! lookup, and detach under traffic.

mod common;

use common::{audit, frame, mac, pool, recv, send, BCAST};
use netmap::vale::{
    Dest, FrameMeta, LearningBridge, LearningConfig, Lookup, PatchPanel, MAX_PORTS,
};
use netmap::{
    BufferPool, Dir, Handle, Port, PortConfig, Switch, SyncError, ValePort, NS_MOREFRAG,
    NS_NO_LEARN,
};
use std::sync::Arc;

fn cfg(slots: u32) -> PortConfig {
    PortConfig {
        num_slots: slots,
        ..PortConfig::default()
    }
}

fn open(p: &Arc<BufferPool>, sw: &Arc<Switch>, name: &str, slots: u32) -> (Arc<ValePort>, Handle) {
    let port = ValePort::create(p, sw, name, cfg(slots)).unwrap();
    let h = Handle::new(port.clone());
    (port, h)
}

fn ports_of<'a>(hs: &'a [&'a Handle]) -> Vec<&'a dyn Port> {
    hs.iter().map(|h| &**h.port()).collect()
}

fn check(p: &BufferPool, hs: &[&Handle]) {
    audit(p, &ports_of(hs), hs);
}

#[test]
fn learns_and_unicasts() {
    let p = pool(1024);
    let sw = Switch::new("vale0");
    let (_, mut a) = open(&p, &sw, "vale0:a", 64);
    let (_, mut b) = open(&p, &sw, "vale0:b", 64);
    let (_, mut c) = open(&p, &sw, "vale0:c", 64);
    // Unknown destination: flooded to everybody but the sender.
    let ab = frame(mac(2), mac(1), 60, 1);
    send(&mut a, 0, std::slice::from_ref(&ab));
    assert_eq!(recv(&mut b, 0), vec![ab.clone()]);
    assert_eq!(recv(&mut c, 0), vec![ab.clone()]);
    assert!(recv(&mut a, 0).is_empty(), "never back to the source");
    // B answers: A's address was learned, so only A gets it.
    let ba = frame(mac(1), mac(2), 60, 2);
    send(&mut b, 0, std::slice::from_ref(&ba));
    assert_eq!(recv(&mut a, 0), vec![ba]);
    assert!(recv(&mut c, 0).is_empty());
    // Now both are known.
    send(&mut a, 0, std::slice::from_ref(&ab));
    assert_eq!(recv(&mut b, 0), vec![ab]);
    assert!(recv(&mut c, 0).is_empty());
    let table = sw.mac_table();
    assert_eq!(table.len(), 2);
    assert_eq!((table[0].mac, table[0].port), (mac(1), 0));
    assert_eq!((table[1].mac, table[1].port), (mac(2), 1));
    // A station that moves is re-learned on its new port.
    send(&mut c, 0, &[frame(BCAST, mac(1), 60, 3)]);
    assert_eq!(sw.mac_table()[0].port, 2);
    check(&p, &[&a, &b, &c]);
}

#[test]
fn broadcast_and_multicast_flood() {
    let p = pool(4096);
    let sw = Switch::new("vale0");
    let mut hs: Vec<_> = (0..5)
        .map(|i| open(&p, &sw, &format!("vale0:p{i}"), 64).1)
        .collect();
    let multicast = [0x01, 0x00, 0x5e, 0, 0, 1];
    send(
        &mut hs[0],
        0,
        &[frame(BCAST, mac(1), 60, 1), frame(multicast, mac(1), 60, 2)],
    );
    for h in &mut hs[1..] {
        let got = recv(h, 0);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1][14], 2, "order preserved");
    }
    assert!(recv(&mut hs[0], 0).is_empty());
    // Group source addresses are not learned.
    send(&mut hs[1], 0, &[frame(BCAST, multicast, 60, 1)]);
    assert!(sw.mac_table().iter().all(|e| e.mac != multicast));
    let refs: Vec<&Handle> = hs.iter().collect();
    check(&p, &refs);
}

#[test]
fn entries_age_out() {
    let p = pool(1024);
    let sw = Switch::with_lookup(
        "vale0",
        Box::new(LearningBridge::new(LearningConfig {
            max_age: 100,
            ..Default::default()
        })),
    );
    let (_, mut a) = open(&p, &sw, "vale0:a", 64);
    let (_, mut b) = open(&p, &sw, "vale0:b", 64);
    let (_, mut c) = open(&p, &sw, "vale0:c", 64);
    sw.set_clock(1000);
    send(&mut b, 0, &[frame(BCAST, mac(2), 60, 0)]);
    recv(&mut a, 0);
    recv(&mut c, 0);
    sw.set_clock(1100);
    send(&mut a, 0, &[frame(mac(2), mac(1), 60, 0)]);
    assert!(recv(&mut c, 0).is_empty(), "fresh entry: unicast");
    assert_eq!(
        sw.mac_table().iter().find(|e| e.mac == mac(2)).unwrap().age,
        100
    );
    sw.set_clock(1101);
    send(&mut a, 0, &[frame(mac(2), mac(1), 60, 0)]);
    assert_eq!(recv(&mut c, 0).len(), 1, "aged out: flooded again");
    assert_eq!(recv(&mut b, 0).len(), 2);
    assert!(
        sw.mac_table().iter().all(|e| e.mac != mac(2)),
        "listing hides aged entries"
    );
    check(&p, &[&a, &b, &c]);
}

#[test]
fn colliding_addresses_coexist_and_evict_the_oldest() {
    // One bucket: every address collides.
    let t = LearningBridge::new(LearningConfig {
        buckets: 1,
        max_age: 1000,
        hold: 0,
        seed: 7,
    });
    assert_eq!(t.capacity(), 4);
    for m in 1..=4u64 {
        t.learn(m << 8, m as u8, m);
    }
    for m in 1..=4u64 {
        assert_eq!(
            t.find(m << 8, 10),
            Some(m as u8),
            "direct mapping would keep only one"
        );
    }
    assert_eq!(t.evictions(), 0);
    t.learn(1 << 8, 1, 20); // refresh the first: now the second is oldest
    t.learn(5 << 8, 5, 21);
    assert_eq!(t.evictions(), 1);
    assert_eq!(t.find(2 << 8, 21), None, "least recently seen was evicted");
    assert_eq!(t.find(1 << 8, 21), Some(1));
    assert_eq!(t.find(5 << 8, 21), Some(5));
    // Expired entries are reused without counting an eviction.
    t.learn(6 << 8, 6, 5000);
    assert_eq!(t.evictions(), 1);
    assert_eq!(t.find(6 << 8, 5000), Some(6));
    // The lookup never reads past a short frame.
    let meta = FrameMeta {
        src: 0,
        ring: 0,
        len: 3,
        now: 0,
        learn: true,
    };
    assert_eq!(t.lookup(&[1, 2, 3], &meta), Dest::Drop);
}

/// A MAC flood (a new source address every frame) must not push out a
/// station that is still talking: frames for it would be flooded to every
/// port. Found by `cargo xtask soak`: at 1 Mpps of new sources a station
/// refreshing every 20 ms lost its entry within milliseconds.
#[test]
fn a_mac_flood_never_evicts_a_station_that_keeps_talking() {
    let t = LearningBridge::new(LearningConfig::default());
    let station = 0x0200_0000_0b0b_u64;
    t.learn(station, 1, 0);
    let mut now = 0;
    for i in 0..200_000u64 {
        // 1000 new sources a tick (1 Mpps on a millisecond clock), the
        // station every 20 ticks.
        if i % 1000 == 0 {
            now += 1;
            if now % 20 == 0 {
                t.learn(station, 1, now);
            }
        }
        t.learn(0x06f1_0000_0000 | i, 2, now);
        assert_eq!(
            t.find(station, now),
            Some(1),
            "evicted after {i} flood sources"
        );
    }
    // The flood still learns where there is room: expired and empty ways.
    let mut entries = 0;
    t.list(now, &mut |_| entries += 1);
    assert!(entries > 1 && entries <= t.capacity(), "{entries}");
    // Once the flood stops and its entries age past the hold time, new
    // addresses are learned again.
    let later = now + LearningConfig::default().hold + 1;
    t.learn(0x0200_0000_0c0c, 3, later);
    assert_eq!(t.find(0x0200_0000_0c0c, later), Some(3));
}

#[test]
fn full_destination_drops_and_never_blocks() {
    let p = pool(1024);
    let sw = Switch::new("vale0");
    let (_, mut a) = open(&p, &sw, "vale0:a", 64);
    let (bp, mut b) = open(&p, &sw, "vale0:b", 8);
    let fs: Vec<_> = (0..20).map(|i| frame(mac(2), mac(1), 60, i)).collect();
    assert_eq!(send(&mut a, 0, &fs), 20);
    assert_eq!(
        a.port().krings(Dir::Tx)[0].lock().tx_pending(),
        0,
        "all consumed"
    );
    let c = bp.counters();
    assert_eq!(c.rx.packets, 7, "a ring holds n - 1 frames");
    assert_eq!(c.rx.drop_ring_full, 13);
    let got = recv(&mut b, 0);
    assert_eq!(got, fs[..7].to_vec(), "the first frames, in order");
    assert_eq!(a.port().counters().tx.packets, 20);
    check(&p, &[&a, &b]);
}

#[test]
fn bad_lengths_are_dropped_and_counted() {
    let p = pool(1024);
    let sw = Switch::new("vale0");
    let (ap, mut a) = open(&p, &sw, "vale0:a", 64);
    let small = ValePort::create(
        &p,
        &sw,
        "vale0:small",
        PortConfig {
            max_frame: 100,
            ..cfg(64)
        },
    )
    .unwrap();
    let mut s = Handle::new(small.clone());
    let (_, mut b) = open(&p, &sw, "vale0:b", 64);
    let fs = vec![
        frame(BCAST, mac(1), 13, 0),  // runt
        vec![],                       // empty
        frame(BCAST, mac(1), 14, 0),  // bare header: fine
        frame(BCAST, mac(1), 200, 0), // too big for `small` only
    ];
    send(&mut a, 0, &fs);
    let c = ap.counters().tx;
    assert_eq!((c.drop_short, c.packets), (2, 2));
    assert_eq!(recv(&mut b, 0).len(), 2);
    assert_eq!(recv(&mut s, 0).len(), 1);
    assert_eq!(small.counters().rx.drop_oversize, 1);
    // Over the sender's own limit (default 9216) with a fragment chain.
    let t = a.tx_ring(0).unwrap();
    let h = t.head;
    for k in 0..5 {
        let i = (h + k) % 64;
        t.write_frame(i, &frame(BCAST, mac(1), 2000, 0)).unwrap();
        t.slot[i as usize].flags = if k < 4 { NS_MOREFRAG } else { 0 };
    }
    t.advance(5);
    a.txsync(0).unwrap();
    assert_eq!(ap.counters().tx.drop_oversize, 1);
    check(&p, &[&a, &b, &s]);
}

#[test]
fn fragment_chains() {
    let p = pool(2048);
    let sw = Switch::new("vale0");
    let (ap, mut a) = open(&p, &sw, "vale0:a", 256);
    let (_, mut b) = open(&p, &sw, "vale0:b", 256);
    let write_chain = |h: &mut Handle, frags: u32, last_more: bool| {
        let t = h.tx_ring(0).unwrap();
        let start = t.head;
        for k in 0..frags {
            let i = (start + k) % t.num_slots();
            let f = if k == 0 {
                frame(BCAST, mac(1), 100, 9)
            } else {
                vec![k as u8; 100]
            };
            t.write_frame(i, &f).unwrap();
            t.slot[i as usize].flags = if k + 1 < frags || last_more {
                NS_MOREFRAG
            } else {
                0
            };
        }
        t.advance(frags);
    };
    // A 3-fragment frame arrives as 3 chained slots.
    write_chain(&mut a, 3, false);
    a.txsync(0).unwrap();
    b.rxsync(0).unwrap();
    let r = b.rx_ring(0).unwrap();
    assert_eq!(r.tail, 3);
    assert_eq!(
        [r.slot[0].flags, r.slot[1].flags, r.slot[2].flags],
        [NS_MOREFRAG, NS_MOREFRAG, 0]
    );
    assert_eq!(r.frame(2).unwrap(), &[2u8; 100][..]);
    r.advance(3);
    b.rxsync(0).unwrap();
    // An incomplete chain waits for its end.
    write_chain(&mut a, 2, true);
    a.txsync(0).unwrap();
    assert_eq!(a.port().krings(Dir::Tx)[0].lock().tx_pending(), 2);
    write_chain(&mut a, 1, false);
    a.txsync(0).unwrap();
    assert_eq!(recv(&mut b, 0).len(), 3, "three slots of one frame");
    // Over the bound: 65 fragments, dropped whole.
    write_chain(&mut a, 65, false);
    a.txsync(0).unwrap();
    assert_eq!(ap.counters().tx.drop_frag_chain, 1);
    assert!(recv(&mut b, 0).is_empty());
    // Over the bound and not finished yet: the rest is dropped as it comes.
    write_chain(&mut a, 70, true);
    a.txsync(0).unwrap();
    write_chain(&mut a, 2, false);
    write_chain(&mut a, 1, false);
    a.txsync(0).unwrap();
    assert_eq!(ap.counters().tx.drop_frag_chain, 2);
    assert_eq!(recv(&mut b, 0).len(), 1, "the next frame goes through");
    assert_eq!(a.port().counters().tx.packets, 3);
    check(&p, &[&a, &b]);
}

#[test]
fn no_hairpin_and_no_learn() {
    let p = pool(1024);
    let sw = Switch::new("vale0");
    let (ap, mut a) = open(&p, &sw, "vale0:a", 64);
    let (_, mut b) = open(&p, &sw, "vale0:b", 64);
    send(&mut a, 0, &[frame(BCAST, mac(1), 60, 0)]);
    send(&mut a, 0, &[frame(mac(1), mac(3), 60, 0)]);
    assert_eq!(
        ap.counters().tx.drop_no_dest,
        1,
        "to a station on the source port"
    );
    assert_eq!(recv(&mut b, 0).len(), 1);
    let t = b.tx_ring(0).unwrap();
    let h = t.head;
    t.write_frame(h, &frame(BCAST, mac(9), 60, 0)).unwrap();
    t.slot[h as usize].flags = NS_NO_LEARN;
    t.advance(1);
    b.txsync(0).unwrap();
    assert!(sw.mac_table().iter().all(|e| e.mac != mac(9)));
    check(&p, &[&a, &b]);
}

#[test]
fn switches_are_isolated() {
    let p = pool(2048);
    let s0 = Switch::new("vale0");
    let s1 = Switch::new("vale1");
    let (_, mut a0) = open(&p, &s0, "vale0:a", 64);
    let (_, mut b0) = open(&p, &s0, "vale0:b", 64);
    let (_, mut a1) = open(&p, &s1, "vale1:a", 64);
    let (_, mut b1) = open(&p, &s1, "vale1:b", 64);
    send(&mut a0, 0, &[frame(BCAST, mac(1), 60, 0)]);
    assert_eq!(recv(&mut b0, 0).len(), 1);
    assert!(recv(&mut a1, 0).is_empty() && recv(&mut b1, 0).is_empty());
    assert!(s1.mac_table().is_empty());
    assert_eq!(s0.mac_table().len(), 1);
    check(&p, &[&a0, &b0, &a1, &b1]);
}

#[test]
fn patch_panel_lookup() {
    let p = pool(2048);
    let sw = Switch::new("vale0");
    let (a, mut ha) = open(&p, &sw, "vale0:a", 64);
    let (b, mut hb) = open(&p, &sw, "vale0:b", 64);
    let (c, mut hc) = open(&p, &sw, "vale0:c", 64);
    sw.set_lookup(Box::new(
        PatchPanel::new().connect(a.attachment().id, c.attachment().id),
    ));
    assert_eq!(sw.lookup_name(), "patch");
    send(
        &mut ha,
        0,
        &[frame(BCAST, mac(1), 60, 1), frame(mac(2), mac(1), 60, 2)],
    );
    assert_eq!(recv(&mut hc, 0).len(), 2, "everything from a goes to c");
    assert!(recv(&mut hb, 0).is_empty());
    send(&mut hc, 0, &[frame(mac(7), mac(3), 60, 1)]);
    assert_eq!(recv(&mut ha, 0).len(), 1, "and back");
    send(&mut hb, 0, &[frame(BCAST, mac(2), 60, 1)]);
    assert_eq!(b.counters().tx.drop_no_dest, 1, "b is not wired");
    assert!(sw.mac_table().is_empty(), "the patch panel learns nothing");
    check(&p, &[&ha, &hb, &hc]);
}

#[test]
fn batches_larger_than_the_batch_limit() {
    let p = pool(8192 + 64);
    let sw = Switch::new("vale0");
    let (_, mut a) = open(&p, &sw, "vale0:a", 2048);
    let (_, mut b) = open(&p, &sw, "vale0:b", 2048);
    let fs: Vec<_> = (0..1500u32)
        .map(|i| frame(BCAST, mac(1), 60 + (i % 7) as usize, i as u8))
        .collect();
    assert_eq!(send(&mut a, 0, &fs), 1500);
    assert_eq!(recv(&mut b, 0), fs);
    check(&p, &[&a, &b]);
}

#[test]
fn port_table_limits_and_reuse() {
    let p = pool(254 * 2 * 4 + 64);
    let sw = Switch::new("vale0");
    let ports: Vec<_> = (0..MAX_PORTS)
        .map(|i| ValePort::create(&p, &sw, &format!("vale0:{i}"), cfg(4)).unwrap())
        .collect();
    assert_eq!(sw.num_ports(), 254);
    assert_eq!(
        ValePort::create(&p, &sw, "vale0:x", cfg(4)).unwrap_err(),
        netmap::OpenError::SwitchFull
    );
    ports[10].detach();
    let again = ValePort::create(&p, &sw, "vale0:x", cfg(4)).unwrap();
    assert_eq!(again.attachment().id, 10, "the free number is reused");
    assert_ne!(
        again.attachment(),
        ports[10].attachment(),
        "but not the attachment"
    );
    assert!(!sw.is_attached(ports[10].attachment()));
    for port in &ports {
        port.detach();
    }
    again.detach();
    assert_eq!(sw.num_ports(), 0);
    drop(ports);
    drop(again);
    p.audit([]).unwrap();
}

#[test]
fn detached_sender_drops_and_stale_entries_are_purged() {
    let p = pool(1024);
    let sw = Switch::new("vale0");
    let (ap, mut a) = open(&p, &sw, "vale0:a", 64);
    let (bp, mut b) = open(&p, &sw, "vale0:b", 64);
    let (_, mut c) = open(&p, &sw, "vale0:c", 64);
    send(&mut b, 0, &[frame(BCAST, mac(2), 60, 0)]);
    recv(&mut a, 0);
    recv(&mut c, 0);
    bp.detach();
    assert!(
        sw.mac_table().is_empty(),
        "entries of a detached port are forgotten"
    );
    let t = b.tx_ring(0).unwrap();
    let h = t.head;
    t.write_frame(h, &frame(BCAST, mac(2), 60, 0)).unwrap();
    t.advance(1);
    assert_eq!(b.txsync(0), Err(SyncError::Detached));
    assert_eq!(bp.counters().tx.drop_detached, 1);
    // A new port reusing b's number does not receive what was meant for b.
    let (_, mut d) = open(&p, &sw, "vale0:d", 64);
    send(&mut a, 0, &[frame(mac(2), mac(1), 60, 0)]);
    assert_eq!(recv(&mut c, 0).len(), 1, "unknown again: flooded");
    assert_eq!(recv(&mut d, 0).len(), 1);
    assert_eq!(ap.counters().tx.packets, 1);
    check(&p, &[&a, &b, &c, &d]);
}

#[test]
fn detach_while_traffic_flows() {
    let p = pool(16384);
    let sw = Switch::new("vale0");
    let (_, mut a) = open(&p, &sw, "vale0:a", 256);
    let (_, mut b) = open(&p, &sw, "vale0:b", 256);
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    // Sender: unicast to b and floods, as fast as it can.
    let sender = {
        let stop = stop.clone();
        let progress = progress.clone();
        std::thread::spawn(move || {
            let fs: Vec<_> = (0..64)
                .map(|i| {
                    if i % 3 == 0 {
                        frame(BCAST, mac(1), 60, i)
                    } else {
                        frame(mac(2), mac(1), 60, i)
                    }
                })
                .collect();
            let mut rounds = 0u64;
            while !stop.load(Relaxed) || rounds < 50 {
                send(&mut a, 0, &fs);
                rounds += 1;
                progress.store(rounds, Relaxed);
            }
            (a, rounds)
        })
    };
    // b teaches its address, then ports come and go while frames fly.
    send(&mut b, 0, &[frame(BCAST, mac(2), 60, 0)]);
    let mut received = 0;
    for round in 0..200 {
        // Let the sender run between port changes (bounded wait).
        let seen = progress.load(Relaxed);
        for _ in 0..100_000 {
            if progress.load(Relaxed) > seen {
                break;
            }
            std::thread::yield_now();
        }
        let (cp, mut c) = open(&p, &sw, &format!("vale0:c{round}"), 64);
        received += recv(&mut c, 0).len();
        received += recv(&mut b, 0).len();
        if round % 2 == 0 {
            cp.detach(); // detach with the handle still open...
            drop(c);
        } else {
            drop(c); // ...or after closing it
            cp.detach();
        }
        drop(cp);
    }
    stop.store(true, Relaxed);
    let (a, rounds) = sender.join().unwrap();
    assert!(rounds >= 50);
    assert!(received > 0, "traffic did flow");
    assert_eq!(sw.num_ports(), 2);
    let c = a.port().counters().tx;
    assert_eq!(
        c.packets,
        rounds * 64 - c.drops(),
        "every frame accounted for"
    );
    check(&p, &[&a, &b]);
    drop(a);
    drop(b);
}

#[test]
fn ring_r_feeds_ring_r_mod_m() {
    let p = pool(4096);
    let sw = Switch::new("vale0");
    let multi = PortConfig {
        tx_rings: 3,
        rx_rings: 3,
        ..cfg(32)
    };
    let a = ValePort::create(&p, &sw, "vale0:a", multi).unwrap();
    let b = ValePort::create(
        &p,
        &sw,
        "vale0:b",
        PortConfig {
            rx_rings: 2,
            ..multi
        },
    )
    .unwrap();
    let mut ha = Handle::new(a.clone());
    let mut hb = Handle::new(b.clone());
    for r in 0..3 {
        send(&mut ha, r, &[frame(BCAST, mac(1), 60, r as u8)]);
    }
    assert_eq!(
        recv(&mut hb, 0).iter().map(|f| f[14]).collect::<Vec<_>>(),
        vec![0, 2],
        "rings 0 and 2 -> 0"
    );
    assert_eq!(
        recv(&mut hb, 1).iter().map(|f| f[14]).collect::<Vec<_>>(),
        vec![1],
        "ring 1 -> 1"
    );
    assert_eq!(b.krings(Dir::Rx)[1].notifications(), 1);
    check(&p, &[&ha, &hb]);
}

/// Two senders on two threads forward into one destination ring at once:
/// leases interleave, copies run in parallel without the ring lock, and
/// publication stays in lease order. Every frame is delivered or counted,
/// each sender's frames arrive in order, and no buffer is lost.
#[test]
fn concurrent_senders_share_a_destination() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    const N: u32 = 20_000;
    let p = pool(8192);
    let sw = Switch::new("vale0");
    let (_, mut c) = open(&p, &sw, "vale0:c", 512);
    let senders: Vec<_> = (0..2u8)
        .map(|k| {
            let (_, h) = open(&p, &sw, &format!("vale0:s{k}"), 256);
            h
        })
        .collect();
    // c announces itself so that the senders' frames are unicast to it.
    send(&mut c, 0, &[frame(BCAST, mac(3), 60, 0)]);
    let done = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(k, mut h)| {
            std::thread::spawn(move || {
                let mut seq = 0u32;
                while seq < N {
                    let r = h.tx_ring(0).unwrap();
                    let room = r.space().min(N - seq).min(32);
                    for _ in 0..room {
                        let i = r.head;
                        let mut f = frame(mac(3), mac(10 + k as u8), 64, 0);
                        f[14..18].copy_from_slice(&seq.to_be_bytes());
                        r.write_frame(i, &f).unwrap();
                        r.slot[i as usize].flags = 0;
                        r.advance(1);
                        seq += 1;
                    }
                    h.txsync(0).unwrap();
                }
                h
            })
        })
        .collect();
    let mut last = [None::<u32>; 2];
    let mut got = 0u64;
    let finished = |c: &Handle| {
        let st = c.port().counters().rx;
        st.packets + st.drop_ring_full >= 2 * N as u64
    };
    loop {
        c.rxsync(0).unwrap();
        let r = c.rx_ring(0).unwrap();
        while r.head != r.tail {
            let f = r.frame(r.head).unwrap();
            let k = (f[11] - 10) as usize;
            let seq = u32::from_be_bytes(f[14..18].try_into().unwrap());
            if let Some(prev) = last[k] {
                assert!(seq > prev, "sender {k}: {seq} after {prev}");
            }
            last[k] = Some(seq);
            got += 1;
            r.advance(1);
        }
        if finished(&c) && done.load(Relaxed) {
            break;
        }
        if threads.iter().all(|t| t.is_finished()) {
            done.store(true, Relaxed);
        }
        std::thread::yield_now();
    }
    let hs: Vec<Handle> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let st = c.port().counters().rx;
    assert_eq!(
        st.packets + st.drop_ring_full,
        2 * N as u64,
        "every frame delivered or counted"
    );
    c.rxsync(0).unwrap();
    assert_eq!(got + (c.rx_ring(0).unwrap().space() as u64), st.packets);
    assert!(got > 0);
    check(&p, &[&c, &hs[0], &hs[1]]);
}

/// Each destination gets its unicast frames and every flooded one, in
/// batch order, whether the batch goes to few destinations (found by
/// scanning the batch) or to many (per-destination lists), mixed with
/// floods or not.
#[test]
fn few_or_many_destinations_keep_batch_order() {
    for (dests, flood_every) in [(2usize, 0usize), (2, 3), (4, 1), (6, 0), (6, 3), (6, 1)] {
        let p = pool(4096);
        let sw = Switch::new("vale0");
        let (_, mut a) = open(&p, &sw, "vale0:a", 256);
        let mut rx: Vec<Handle> = (0..dests)
            .map(|i| open(&p, &sw, &format!("vale0:r{i}"), 256).1)
            .collect();
        // Every receiver announces itself (learned), then drains.
        for (i, h) in rx.iter_mut().enumerate() {
            send(h, 0, &[frame(BCAST, mac(10 + i as u8), 60, 0)]);
        }
        recv(&mut a, 0);
        for h in rx.iter_mut() {
            recv(h, 0);
        }
        let mut batch = Vec::new();
        let mut want: Vec<Vec<Vec<u8>>> = vec![Vec::new(); dests];
        for k in 0..120usize {
            let f = if flood_every > 0 && k % (flood_every + 1) == 0 {
                frame(BCAST, mac(1), 60 + k % 7, k as u8)
            } else {
                frame(mac(10 + (k % dests) as u8), mac(1), 60 + k % 7, k as u8)
            };
            for (i, w) in want.iter_mut().enumerate() {
                if f[..6] == BCAST || f[5] == 10 + i as u8 {
                    w.push(f.clone());
                }
            }
            batch.push(f);
        }
        assert_eq!(send(&mut a, 0, &batch), batch.len());
        for (i, h) in rx.iter_mut().enumerate() {
            assert_eq!(
                recv(h, 0),
                want[i],
                "{dests} destinations, flood {flood_every}: r{i}"
            );
        }
        let mut all: Vec<&Handle> = vec![&a];
        all.extend(rx.iter());
        check(&p, &all);
    }
}

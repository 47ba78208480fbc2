//! Monitor semantics: copy monitors (/t, /r, /rt) and the zero-copy
//! monitor (/z).

mod common;

use common::{frame, mac, pool, recv, send, BCAST};
use netmap::{Dir, PortConfig, Registry, NS_BUF_CHANGED};

fn registry() -> Registry {
    Registry::with_defaults(
        pool(8192),
        PortConfig {
            num_slots: 16,
            ..PortConfig::default()
        },
    )
}

#[test]
fn copy_monitors_see_each_direction() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut t = reg.open("vale0:a/t").unwrap();
    let mut r = reg.open("vale0:a/r").unwrap();
    let mut rt = reg.open("vale0:a/rt").unwrap();
    let out = frame(BCAST, mac(1), 70, 1);
    let inp = frame(mac(1), mac(2), 80, 2);
    send(&mut a, 0, std::slice::from_ref(&out));
    send(&mut b, 0, std::slice::from_ref(&inp));
    assert_eq!(
        recv(&mut b, 0),
        vec![out.clone()],
        "the monitored traffic is untouched"
    );
    assert_eq!(recv(&mut a, 0), vec![inp.clone()]);
    assert_eq!(recv(&mut t, 0), vec![out.clone()]);
    assert_eq!(recv(&mut r, 0), vec![inp.clone()]);
    assert_eq!(recv(&mut rt, 0), vec![out, inp]);
    assert!(
        t.port().krings(Dir::Rx)[0].notifications() > 0,
        "monitors are woken"
    );
    reg.audit(&[&a, &b, &t, &r, &rt]).unwrap();
}

#[test]
fn a_full_monitor_drops_and_counts_without_slowing_the_port() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut t1 = reg.open("vale0:a/t").unwrap();
    let t2 = reg.open("vale0:a/t").unwrap();
    let fs: Vec<_> = (0..15).map(|i| frame(BCAST, mac(1), 60, i)).collect();
    assert_eq!(send(&mut a, 0, &fs), 15);
    assert_eq!(recv(&mut t1, 0).len(), 15);
    assert_eq!(send(&mut a, 0, &fs[..10]), 10);
    // b's ring holds 15; t1 was emptied; t2 is full since the first batch.
    assert_eq!(recv(&mut t1, 0).len(), 10);
    let c2 = t2.port().counters().rx;
    assert_eq!((c2.packets, c2.drop_monitor), (15, 10));
    assert_eq!(
        a.port().counters().tx.packets,
        25,
        "the sender was not held back"
    );
    assert_eq!(a.port().counters().tx.drop_monitor, 0);
    assert_eq!(recv(&mut b, 0).len(), 15);
    reg.audit(&[&a, &b, &t1, &t2]).unwrap();
}

#[test]
fn zero_copy_monitor_takes_the_buffers() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut z = reg.open("vale0:a/z").unwrap();
    let out = frame(BCAST, mac(1), 90, 3);
    let sent_buf = a.tx_ring(0).unwrap().slot[0].buf_idx();
    send(&mut a, 0, std::slice::from_ref(&out));
    send(&mut a, 0, &[frame(BCAST, mac(1), 60, 4)]);
    z.rxsync(0).unwrap();
    let zr = z.rx_ring(0).unwrap();
    assert_eq!(zr.tail, 2, "each frame as soon as its sync reclaims it");
    assert_eq!(
        zr.slot[0].buf_idx(),
        sent_buf,
        "the sender's buffer itself, no copy"
    );
    assert_eq!(zr.frame(0).unwrap(), &out[..]);
    let ar = a.tx_ring(0).unwrap();
    assert_ne!(ar.slot[0].buf_idx(), sent_buf);
    assert!(
        ar.slot[0].flags & NS_BUF_CHANGED != 0,
        "sender told its buffer changed"
    );
    assert_eq!(zr.frame(1).unwrap().len(), 60);
    zr.advance(2);
    z.rxsync(0).unwrap();
    // Rx side: frames the application released.
    assert_eq!(recv(&mut b, 0).len(), 2);
    send(&mut b, 0, &[frame(mac(1), mac(2), 66, 5)]);
    a.rxsync(0).unwrap();
    let rx_buf = a.rx_ring(0).unwrap().slot[0].buf_idx();
    assert!(
        recv(&mut z, 0).is_empty(),
        "not before the application releases it"
    );
    a.rx_ring(0).unwrap().advance(1);
    a.rxsync(0).unwrap();
    z.rxsync(0).unwrap();
    let zr = z.rx_ring(0).unwrap();
    assert_eq!(zr.slot[zr.head as usize].buf_idx(), rx_buf);
    assert_eq!(zr.frame(zr.head).unwrap().len(), 66);
    reg.audit(&[&a, &b, &z]).unwrap();
}

/// Issue 11, defect 2: the zero-copy monitor gets every frame the sync
/// reclaimed, up to the new `hwtail` included (netmap's `[old hwtail + 1,
/// new hwtail + 1)`), so nothing waits for the next batch and an idle
/// sender's last frame is not held back for ever.
#[test]
fn zero_copy_monitor_sees_each_sent_frame_at_once() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut z = reg.open("vale0:a/z").unwrap();
    for round in 0..40u8 {
        // Batches of 1 to 3 frames, around the 16-slot ring several times.
        let fs: Vec<_> = (0..1 + round % 3)
            .map(|i| frame(BCAST, mac(1), 60 + i as usize, round))
            .collect();
        assert_eq!(send(&mut a, 0, &fs), fs.len());
        assert_eq!(
            recv(&mut z, 0),
            fs,
            "round {round}: the whole batch at once"
        );
        assert_eq!(recv(&mut b, 0), fs);
    }
    assert_eq!(z.port().counters().rx.drop_monitor, 0);
    reg.audit(&[&a, &b, &z]).unwrap();
}

#[test]
fn closed_monitors_unhook() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let t = reg.open("vale0:a/rt").unwrap();
    let z = reg.open("vale0:a/z").unwrap();
    drop(t);
    drop(z);
    let fs: Vec<_> = (0..40).map(|i| frame(BCAST, mac(1), 60, i)).collect();
    for chunk in fs.chunks(10) {
        send(&mut a, 0, chunk);
        assert_eq!(recv(&mut b, 0).len(), 10);
    }
    assert!(reg.ports().iter().all(|p| !p.contains('/')));
    reg.audit(&[&a, &b]).unwrap();
}

#[test]
fn monitoring_a_pipe_end() {
    let reg = registry();
    let mut m = reg.open("p{1").unwrap();
    let mut s = reg.open("p}1").unwrap();
    let mut t = reg.open("p{1/t").unwrap();
    let f = frame(mac(2), mac(1), 100, 8);
    send(&mut m, 0, std::slice::from_ref(&f));
    assert_eq!(
        recv(&mut t, 0),
        vec![f.clone()],
        "copied before the zero-copy move"
    );
    assert_eq!(recv(&mut s, 0), vec![f]);
    reg.audit(&[&m, &s, &t]).unwrap();
}

/// Sends `frags` slots of 60 bytes chained with `NS_MOREFRAG` (the last
/// one closing the chain only if `last`), then txsyncs.
fn send_chain(h: &mut netmap::Handle, frags: usize, last: bool, fill: u8) {
    let r = h.tx_ring(0).unwrap();
    for k in 0..frags {
        let i = r.head;
        r.write_frame(i, &frame(BCAST, mac(1), 60, fill)).unwrap();
        let more = k + 1 < frags || !last;
        r.slot[i as usize].flags = if more { netmap::NS_MOREFRAG } else { 0 };
        r.advance(1);
    }
    h.txsync(0).unwrap();
}

/// Issue 11, defect 8: a copy monitor drops a chain longer than
/// `MAX_FRAGS` whole, also when it spans two syncs, instead of skipping 65
/// slots and delivering the rest as frames of their own.
#[test]
fn copy_monitors_drop_overlong_chains_whole() {
    let reg = Registry::with_defaults(
        pool(8192),
        PortConfig {
            num_slots: 256,
            ..PortConfig::default()
        },
    );
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut t = reg.open("vale0:a/t").unwrap();
    let ok = frame(BCAST, mac(1), 70, 0xee);
    // 70 fragments in one sync, then a frame.
    send_chain(&mut a, 70, true, 1);
    send(&mut a, 0, std::slice::from_ref(&ok));
    assert_eq!(recv(&mut t, 0), vec![ok.clone()]);
    // 66 fragments, then 4 more closing the chain and a frame.
    send_chain(&mut a, 66, false, 2);
    send_chain(&mut a, 4, true, 3);
    send(&mut a, 0, std::slice::from_ref(&ok));
    assert_eq!(recv(&mut t, 0), vec![ok.clone()]);
    assert_eq!(t.port().counters().rx.drop_monitor, 2);
    assert_eq!(recv(&mut b, 0), vec![ok.clone(), ok]);
    reg.audit(&[&a, &b, &t]).unwrap();
}

/// Issue 11, defect 10: `/r` sees every frame that arrived, also those the
/// application releases without having been told about them (netmap copies
/// at arrival, not at report).
#[test]
fn rx_copy_monitor_sees_frames_released_unseen() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut r = reg.open("vale0:b/r").unwrap();
    let fs: Vec<_> = (0..3)
        .map(|i| frame(BCAST, mac(1), 60 + i, i as u8))
        .collect();
    assert_eq!(send(&mut a, 0, &fs), 3);
    // b never synced since they arrived: it releases them unseen.
    let br = b.rx_ring(0).unwrap();
    assert_eq!(br.tail, 0);
    br.head = 3;
    br.cur = 3;
    b.rxsync(0).unwrap();
    assert_eq!(recv(&mut r, 0), fs);
    // Seen or not, each frame is copied once.
    let gs: Vec<_> = (0..2).map(|i| frame(BCAST, mac(1), 90, 9 + i)).collect();
    send(&mut a, 0, &gs);
    assert_eq!(recv(&mut b, 0), gs);
    assert_eq!(recv(&mut r, 0), gs);
    reg.audit(&[&a, &b, &r]).unwrap();
}

/// Issue 13: two source rings (tx ring 0 and rx ring 0 of one port, both
/// feeding ring 0 of its `/rt` monitor) copy into the one monitor ring from
/// two threads at once, while a third drains it. Copies lease the monitor
/// ring's slots and fill them without its lock, so they overlap: every
/// frame must still arrive whole and in its source's order, a chain's
/// fragments contiguous (never interleaved with the other source's), and
/// the counts exact: `packets` is what the reader got, `packets +
/// drop_monitor` what the sources offered; no buffer lost or doubled.
#[test]
fn two_source_rings_copy_into_one_monitor_ring_concurrently() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const ROUNDS: u32 = 3000;
    const SLOTS: u32 = 64;
    let reg = Registry::with_defaults(
        pool(4096),
        PortConfig {
            num_slots: SLOTS,
            ..PortConfig::default()
        },
    );
    let sink = common::SinkPort::new(reg.pool(), 1, SLOTS);
    reg.register(sink.clone()).unwrap();
    let mut mon = reg.open("sink/rt").unwrap();
    assert_eq!(mon.num_rings(), (0, 1));
    let done = Arc::new(AtomicUsize::new(0));

    // Per round, source `t` offers 3 slots: a frame, then a 2-fragment
    // chain. Byte 0: source, bytes 1..5: round, byte 5: part (0, 1, 2).
    let producer = |t: u8| {
        let sink = sink.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let k = if t == 0 { &sink.tx[0] } else { &sink.rx[0] };
            let mut pos = 0u32;
            for round in 0..ROUNDS {
                let mut st = k.lock();
                for part in 0..3u32 {
                    let i = ((pos + part) % SLOTS) as usize;
                    let b = st.slots.buf_mut(i).unwrap();
                    b[0] = t;
                    b[1..5].copy_from_slice(&round.to_le_bytes());
                    b[5] = part as u8;
                    st.slots.set_len(i, 60 + part as u16).unwrap();
                    st.slots
                        .set_flags(i, if part == 1 { netmap::NS_MOREFRAG } else { 0 });
                }
                let w = k.monitor_copy(&mut st, pos, (pos + 3) % SLOTS);
                drop(st);
                k.wake_monitors(&w);
                pos = (pos + 3) % SLOTS;
                if round % 64 == 0 {
                    std::thread::yield_now();
                }
            }
            done.fetch_add(1, Ordering::Release);
        })
    };
    let p0 = producer(0);
    let p1 = producer(1);

    // The reader: checks every slot as it comes.
    let mut frames = [0u64; 2];
    let mut last = [None::<u32>; 2];
    let mut open_chain: Option<(u8, u32)> = None;
    loop {
        let finished = done.load(Ordering::Acquire) == 2;
        mon.rxsync(0).unwrap();
        let ring = mon.rx_ring(0).unwrap();
        while ring.head != ring.tail {
            let i = ring.head;
            let f = ring.frame(i).unwrap();
            let more = ring.slot[i as usize].flags & netmap::NS_MOREFRAG != 0;
            let (t, round, part) = (f[0], u32::from_le_bytes(f[1..5].try_into().unwrap()), f[5]);
            assert!(t < 2, "a torn or stale slot: {:?}", &f[..6]);
            assert_eq!(f.len(), 60 + part as usize);
            match open_chain.take() {
                Some(c) => {
                    assert_eq!((t, round, part), (c.0, c.1, 2), "chain interleaved");
                    assert!(!more);
                    frames[t as usize] += 1;
                }
                None => {
                    assert!(part < 2, "a chain's tail without its head");
                    if let Some(l) = last[t as usize] {
                        assert!(
                            round > l || (round == l && part == 1),
                            "source {t}: round {round} part {part} after {l}"
                        );
                    }
                    last[t as usize] = Some(round);
                    if part == 1 {
                        assert!(more);
                        open_chain = Some((t, round));
                    } else {
                        assert!(!more);
                        frames[t as usize] += 1;
                    }
                }
            }
            ring.advance(1);
        }
        if finished {
            mon.rxsync(0).unwrap();
            let ring = mon.rx_ring(0).unwrap();
            if ring.head == ring.tail {
                break;
            }
        }
    }
    p0.join().unwrap();
    p1.join().unwrap();
    assert!(open_chain.is_none());
    let c = mon.port().counters().rx;
    assert_eq!(c.packets, frames[0] + frames[1]);
    assert_eq!(c.packets + c.drop_monitor, 2 * 2 * ROUNDS as u64);
    assert!(
        frames[0] > 0 && frames[1] > 0,
        "both sources got through: {frames:?}"
    );
    reg.audit(&[&mon]).unwrap();
}

/// A copy monitor fits whole chains into what its ring has left, in
/// order, within one sync: a chain that does not fit is dropped (counted
/// once), and a shorter frame after it still gets the last free slot.
#[test]
fn a_nearly_full_monitor_skips_a_chain_and_takes_the_frame_after_it() {
    let reg = registry();
    let mut a = reg.open("vale0:a").unwrap();
    let mut b = reg.open("vale0:b").unwrap();
    let mut t = reg.open("vale0:a/t").unwrap();
    let fs: Vec<_> = (0..14).map(|i| frame(BCAST, mac(1), 60, i)).collect();
    assert_eq!(send(&mut a, 0, &fs), 14);
    assert_eq!(recv(&mut b, 0).len(), 14);
    // t holds 14 of its 15 usable slots. One sync: a 2-slot chain, then a
    // frame.
    let ok = frame(BCAST, mac(1), 70, 0xee);
    let r = a.tx_ring(0).unwrap();
    for (k, f) in [
        frame(BCAST, mac(1), 60, 1),
        frame(BCAST, mac(1), 60, 2),
        ok.clone(),
    ]
    .iter()
    .enumerate()
    {
        let i = r.head;
        r.write_frame(i, f).unwrap();
        r.slot[i as usize].flags = if k == 0 { netmap::NS_MOREFRAG } else { 0 };
        r.advance(1);
    }
    a.txsync(0).unwrap();
    let mut want = fs.clone();
    want.push(ok);
    assert_eq!(recv(&mut t, 0), want);
    let c = t.port().counters().rx;
    assert_eq!((c.packets, c.drop_monitor), (15, 1));
    recv(&mut b, 0);
    reg.audit(&[&a, &b, &t]).unwrap();
}

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

//! Pipes: zero-copy slot moves between the two ends.

mod common;

use common::{audit, frame, mac, pool, recv, send};
use netmap::pipe::{PipePair, PipeSide};
use netmap::{Dir, Handle, NS_BUF_CHANGED, NS_MOREFRAG};

fn pair(slots: u32) -> (std::sync::Arc<netmap::BufferPool>, Handle, Handle) {
    let p = pool(256);
    let pair = PipePair::new(&p, "x", 1, 1, slots, 2048).unwrap();
    let m = Handle::new(pair.end(PipeSide::Master));
    let s = Handle::new(pair.end(PipeSide::Slave));
    (p, m, s)
}

#[test]
fn names() {
    let (_p, m, s) = pair(8);
    assert_eq!(m.port().name(), "x{1");
    assert_eq!(s.port().name(), "x}1");
}

#[test]
fn frames_move_without_copy() {
    let (p, mut m, mut s) = pair(8);
    let f = frame(mac(2), mac(1), 100, 3);
    let sent_buf = m.tx_ring(0).unwrap().slot[0].buf_idx();
    assert_eq!(send(&mut m, 0, std::slice::from_ref(&f)), 1);
    s.rxsync(0).unwrap();
    let r = s.rx_ring(0).unwrap();
    assert_eq!(r.tail, 1);
    assert_eq!(
        r.slot[0].buf_idx(),
        sent_buf,
        "the sender's buffer itself arrived"
    );
    assert!(r.slot[0].flags & NS_BUF_CHANGED != 0);
    assert_eq!(r.frame(0).unwrap(), &f[..]);
    let back = m.port().krings(Dir::Tx)[0].lock().slots.get(0);
    assert_ne!(
        back.buf_idx, sent_buf,
        "the sender's slot got the peer's free buffer"
    );
    assert!(back.flags & NS_BUF_CHANGED != 0);
    assert!(
        s.port().krings(Dir::Rx)[0].notifications() > 0,
        "receiver woken"
    );
    audit(&p, &[&**m.port(), &**s.port()], &[&m, &s]);
}

#[test]
fn both_directions_and_wraparound() {
    let (p, mut m, mut s) = pair(8);
    for round in 0..10u8 {
        let a: Vec<_> = (0..5)
            .map(|i| frame(mac(2), mac(1), 60 + i, round))
            .collect();
        assert_eq!(send(&mut m, 0, &a), 5);
        assert_eq!(send(&mut s, 0, &a[..3]), 3);
        assert_eq!(recv(&mut s, 0), a);
        assert_eq!(recv(&mut m, 0), a[..3].to_vec());
    }
    let c = m.port().counters();
    assert_eq!((c.tx.packets, c.rx.packets), (50, 30));
    audit(&p, &[&**m.port(), &**s.port()], &[&m, &s]);
}

#[test]
fn full_peer_applies_back_pressure() {
    let (p, mut m, mut s) = pair(8);
    let fs: Vec<_> = (0..7).map(|i| frame(mac(2), mac(1), 60, i)).collect();
    assert_eq!(
        send(&mut m, 0, &fs),
        7,
        "moved to the peer, whose ring is now full"
    );
    assert_eq!(
        send(&mut m, 0, &fs),
        7,
        "accepted and queued in the sender's ring"
    );
    {
        let k = m.port().krings(Dir::Tx)[0].lock();
        assert_eq!(k.tx_pending(), 7, "seven frames wait for room at the peer");
    }
    assert_eq!(m.tx_ring(0).unwrap().space(), 0);
    assert_eq!(
        send(&mut m, 0, &fs),
        0,
        "no room left in the sender's ring either"
    );
    let wakes = m.port().krings(Dir::Tx)[0].notifications();
    assert_eq!(recv(&mut s, 0), fs);
    assert!(
        m.port().krings(Dir::Tx)[0].notifications() > wakes,
        "the receiver's release woke the sender"
    );
    m.txsync(0).unwrap(); // the retry a woken sender does
    assert_eq!(recv(&mut s, 0), fs);
    assert_eq!(m.tx_ring(0).unwrap().space(), 7);
    assert_eq!(s.port().counters().rx.drops(), 0, "pipes never drop");
    assert_eq!(m.port().counters().tx.packets, 14);
    audit(&p, &[&**m.port(), &**s.port()], &[&m, &s]);
}

#[test]
fn fragment_chains_arrive_intact() {
    let (p, mut m, mut s) = pair(16);
    let t = m.tx_ring(0).unwrap();
    for i in 0..3u32 {
        t.write_frame(i, &[i as u8; 1000]).unwrap();
        t.slot[i as usize].flags = if i < 2 { NS_MOREFRAG } else { 0 };
    }
    t.advance(3);
    m.txsync(0).unwrap();
    s.rxsync(0).unwrap();
    let r = s.rx_ring(0).unwrap();
    assert_eq!(r.tail, 3);
    let flags: Vec<_> = (0..3).map(|i| r.slot[i].flags & NS_MOREFRAG).collect();
    assert_eq!(flags, [NS_MOREFRAG, NS_MOREFRAG, 0]);
    assert_eq!(r.frame(1).unwrap(), &[1u8; 1000][..]);
    assert_eq!(
        s.port().counters().rx.packets,
        1,
        "one packet of three fragments"
    );
    assert_eq!(s.port().counters().rx.bytes, 3000);
    audit(&p, &[&**m.port(), &**s.port()], &[&m, &s]);
}

#[test]
fn closing_one_end_keeps_the_other_working() {
    let (p, mut m, s) = pair(8);
    let port_s = s.port().clone();
    drop(s);
    let fs: Vec<_> = (0..3).map(|i| frame(mac(2), mac(1), 60, i)).collect();
    assert_eq!(send(&mut m, 0, &fs), 3, "frames queue at the closed end");
    let mut s = Handle::new(port_s);
    assert_eq!(recv(&mut s, 0), fs, "and are there when it reopens");
    audit(&p, &[&**m.port(), &**s.port()], &[&m, &s]);
    drop(m);
    drop(s);
}

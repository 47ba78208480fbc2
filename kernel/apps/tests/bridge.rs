//! The bridge between pipes (and a VALE port): both directions byte for
//! byte, buffers swapped (never copied) and every one accounted for after
//! every pass, back-pressure without loss, fragment chains moved whole,
//! several rings per port.

mod common;

use common::{audit, frame, mac, recv, recv_slots, registry, send, send_chain, status, NBUFS};
use netmap::{PortConfig, Registry, NS_MOREFRAG};
use netmap_apps::{App, AppError, APPS};

fn start(args: &[&str], reg: &Registry) -> Result<Box<dyn App>, AppError> {
    let info = APPS.iter().find(|a| a.name == "bridge").unwrap();
    (info.start)(args, reg, 0)
}

fn frames(n: u32, base: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| frame(mac(1), mac(2), base + i, 60 + (i as usize * 7) % 1400))
        .collect()
}

#[test]
fn pipe_to_pipe_both_ways_byte_for_byte_by_swap() {
    let reg = registry();
    let mut app = start(&["-i", "a{0", "-i", "b{0"], &reg).unwrap();
    let mut a = reg.open("a}0").unwrap();
    let mut b = reg.open("b}0").unwrap();
    let (fa, fb) = (frames(300, 0), frames(200, 1000));
    let (mut got_b, mut got_a) = (Vec::new(), Vec::new());
    let (mut sa, mut sb) = (0, 0);
    let (mut sent_idx, mut recv_idx) = (Vec::new(), Vec::new());
    while got_b.len() < fa.len() || got_a.len() < fb.len() {
        // Remember the buffers a's frames leave in.
        if sa < fa.len() {
            let r = a.tx_ring(0).unwrap();
            let (mut i, room) = (r.cur, r.space() as usize);
            for _ in 0..room.min(fa.len() - sa) {
                sent_idx.push(r.slot[i as usize].buf_idx());
                i = r.next(i);
            }
        }
        sa += send(&mut a, &fa[sa..]);
        sb += send(&mut b, &fb[sb..]);
        audit(&reg, &[&a, &b], &[&*app]);
        app.poll(0).unwrap();
        audit(&reg, &[&a, &b], &[&*app]);
        for s in recv_slots(&mut b, 0) {
            recv_idx.push(s.buf_idx);
            got_b.push(s.data);
        }
        got_a.extend(recv(&mut a));
        audit(&reg, &[&a, &b], &[&*app]);
    }
    assert_eq!(got_b, fa);
    assert_eq!(got_a, fb);
    // Zero copy: each frame arrives in the very buffer it was sent in.
    assert_eq!(recv_idx, sent_idx);
    let s = status(&*app);
    assert!(
        s.starts_with("a{0 > b{0 300 frames ") && s.contains(", b{0 > a{0 200 frames "),
        "{s}"
    );
    assert!(s.ends_with(", 0 full"), "{s}");
    drop(app);
    drop((a, b));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn full_destination_holds_frames_back_without_loss() {
    let reg = registry();
    let mut app = start(&["-i", "a{0", "-i", "b{0", "-b", "100"], &reg).unwrap();
    let mut a = reg.open("a}0").unwrap();
    let mut b = reg.open("b}0").unwrap();
    // b reads nothing for a while: its rx ring (1023) fills, then the
    // bridge's tx ring towards it, then the bridge's rx ring from a, then
    // a's own tx ring: a can no longer send.
    let fa = frames(5000, 0);
    let mut sent = 0;
    for _ in 0..200 {
        sent += send(&mut a, &fa[sent..]);
        let before = reg.pool().free_count();
        app.poll(0).unwrap();
        assert_eq!(reg.pool().free_count(), before);
        audit(&reg, &[&a, &b], &[&*app]);
    }
    assert!(sent < fa.len(), "everything fit: {sent}");
    assert!(sent >= 4 * 1023, "{sent}");
    let s = status(&*app);
    assert!(!s.contains(" 0 full,"), "{s}");
    // Batches of at most 100 slots.
    let word = |k: usize| -> u64 { s.split(' ').nth(k).unwrap().parse().unwrap() };
    let (moved, batches) = (word(3), word(8));
    assert!(moved >= 2 * 1023 && batches >= moved / 100, "{s}");
    // b drains: everything comes out, in order, nothing lost.
    let mut got = Vec::new();
    while got.len() < fa.len() {
        sent += send(&mut a, &fa[sent..]);
        app.poll(0).unwrap();
        got.extend(recv(&mut b));
        audit(&reg, &[&a, &b], &[&*app]);
    }
    assert_eq!(got, fa);
    drop(app);
    drop((a, b));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn fragment_chains_move_whole() {
    let reg = registry();
    // A small ring towards b (7 usable slots), so that chains meet a
    // full ring; a larger one from a.
    let ring = |num_slots| PortConfig {
        num_slots,
        ..Default::default()
    };
    let mut a = reg.open_with("a}0", ring(64)).unwrap();
    let mut b = reg.open_with("b}0", ring(8)).unwrap();
    let mut app = start(&["-i", "a{0", "-i", "b{0"], &reg).unwrap();
    let chain = |k: u32, n: u32| -> Vec<Vec<u8>> {
        (0..n)
            .map(|f| frame(mac(1), mac(2), k * 16 + f, 100 + f as usize))
            .collect()
    };
    let sent: Vec<Vec<Vec<u8>>> = (0..60).map(|k| chain(k, 1 + k % 4)).collect();
    let (mut next, mut got) = (0, Vec::new());
    for pass in 0.. {
        while next < sent.len() && send_chain(&mut a, &sent[next]).is_some() {
            next += 1;
        }
        // What the pipe could not deliver yet (the end of a chain) goes
        // at a's next txsync.
        a.txsync(0).unwrap();
        app.poll(0).unwrap();
        audit(&reg, &[&a, &b], &[&*app]);
        // b's rx ring was empty, so the pipe delivered everything the
        // bridge submitted: it never submits part of a chain.
        let mut cur = Vec::new();
        for s in recv_slots(&mut b, 0) {
            cur.push(s.data);
            if s.flags & NS_MOREFRAG == 0 {
                got.push(std::mem::take(&mut cur));
            }
        }
        assert!(cur.is_empty(), "a chain left split at pass {pass}");
        if got.len() == sent.len() {
            break;
        }
        assert!(pass < 1000);
    }
    assert_eq!(got, sent);
    let s = status(&*app);
    assert!(s.starts_with("a{0 > b{0 60 frames "), "{s}");
    assert!(
        !s.contains(" 0 full,"),
        "the destination was never full: {s}"
    );
    drop(app);
    drop((a, b));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn a_chain_longer_than_the_batch_still_moves_whole() {
    let reg = registry();
    let mut app = start(&["-i", "a{0", "-i", "b{0", "-b", "1"], &reg).unwrap();
    let mut a = reg.open("a}0").unwrap();
    let mut b = reg.open("b}0").unwrap();
    let c: Vec<Vec<u8>> = (0..4).map(|f| frame(mac(1), mac(2), f, 200)).collect();
    send_chain(&mut a, &c).unwrap();
    send_chain(&mut a, &c[..1]).unwrap();
    app.poll(0).unwrap();
    let got = recv_slots(&mut b, 0);
    let data: Vec<Vec<u8>> = got.iter().map(|s| s.data.clone()).collect();
    assert_eq!(data, c, "one chain per pass with -b 1");
    let flags: Vec<bool> = got.iter().map(|s| s.flags & NS_MOREFRAG != 0).collect();
    assert_eq!(flags, [true, true, true, false]);
    app.poll(0).unwrap();
    assert_eq!(recv(&mut b), &c[..1]);
    audit(&reg, &[&a, &b], &[&*app]);
}

#[test]
fn chains_that_can_never_move_are_dropped_and_counted() {
    let reg = registry();
    let ring = |num_slots| PortConfig {
        num_slots,
        ..Default::default()
    };
    let mut a = reg.open_with("a}0", ring(8)).unwrap();
    let mut b = reg.open_with("b}0", ring(4)).unwrap();
    let mut app = start(&["-i", "a{0", "-i", "b{0"], &reg).unwrap();
    let f = |k| frame(mac(1), mac(2), k, 80);
    // Longer than the whole tx ring towards b (3 usable slots).
    send_chain(&mut a, &[f(0), f(1), f(2), f(3)]).unwrap();
    send_chain(&mut a, &[f(4)]).unwrap();
    app.poll(0).unwrap();
    audit(&reg, &[&a, &b], &[&*app]);
    assert_eq!(recv(&mut b), [f(4)]);
    // A chain that never ends, filling the bridge's rx ring (7 slots).
    let r = a.tx_ring(0).unwrap();
    for k in 0..7 {
        let i = r.cur;
        r.write_frame(i, &f(10 + k)).unwrap();
        r.slot[i as usize].flags |= NS_MOREFRAG;
        r.advance(1);
    }
    a.txsync(0).unwrap();
    app.poll(0).unwrap();
    audit(&reg, &[&a, &b], &[&*app]);
    send_chain(&mut a, &[f(20)]).unwrap();
    app.poll(0).unwrap();
    assert_eq!(recv(&mut b), [f(20)]);
    let s = status(&*app);
    assert!(
        s.contains(" 2 frames ") && s.contains(", 2 bad chains dropped,"),
        "{s}"
    );
    audit(&reg, &[&a, &b], &[&*app]);
    drop(app);
    drop((a, b));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn several_rings_each_way() {
    let reg = registry();
    let cfg = PortConfig {
        tx_rings: 3,
        rx_rings: 3,
        num_slots: 16,
        ..Default::default()
    };
    let mut a = reg.open_with("a}0", cfg).unwrap();
    let mut b = reg.open_with("b}0", cfg).unwrap();
    let mut app = start(&["-i", "a{0", "-i", "b{0"], &reg).unwrap();
    // 10 frames on each of a's tx rings (they land in the bridge's rx
    // ring of the same number).
    let mut want = Vec::new();
    for ring in 0..3 {
        let r = a.tx_ring(ring).unwrap();
        for k in 0..10 {
            let f = frame(mac(1), mac(2), ring as u32 * 100 + k, 64);
            let i = r.cur;
            r.write_frame(i, &f).unwrap();
            r.advance(1);
            want.push(f);
        }
        a.txsync(ring).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        app.poll(0).unwrap();
        audit(&reg, &[&a, &b], &[&*app]);
        for ring in 0..3 {
            got.extend(recv_slots(&mut b, ring).into_iter().map(|s| s.data));
        }
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
    drop(app);
    drop((a, b));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn vale_port_to_pipe_and_back() {
    let reg = registry();
    let mut app = start(&["-i", "vale0:br", "-i", "p{0"], &reg).unwrap();
    let mut v = reg.open("vale0:h").unwrap();
    let mut p = reg.open("p}0").unwrap();
    // From the switch side (flooded to vale0:br, the bridge's port) ...
    let out: Vec<Vec<u8>> = (0..50).map(|i| frame([0xff; 6], mac(1), i, 60)).collect();
    // ... and back from the pipe, to the station the switch learnt.
    let back: Vec<Vec<u8>> = (0..50).map(|i| frame(mac(1), mac(2), i, 90)).collect();
    let (mut got_p, mut got_v) = (Vec::new(), Vec::new());
    let mut sent = 0;
    for _ in 0..20 {
        sent += send(&mut v, &out[sent..]);
        app.poll(0).unwrap();
        got_p.extend(recv(&mut p));
        audit(&reg, &[&v, &p], &[&*app]);
    }
    assert_eq!(got_p, out);
    let mut sent = 0;
    for _ in 0..20 {
        sent += send(&mut p, &back[sent..]);
        app.poll(0).unwrap();
        got_v.extend(recv(&mut v));
        audit(&reg, &[&v, &p], &[&*app]);
    }
    assert_eq!(got_v, back);
    drop(app);
    drop((v, p));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn bad_arguments_and_ports_are_errors() {
    let reg = registry();
    for args in [
        &[][..],
        &["-i", "a{0"],
        &["-i", "a{0", "-i", "b{0", "-i", "c{0"],
        &["-i", "a{0", "-i"],
        &["-i", "a{0", "-i", "b{0", "-b", "0"],
        &["-i", "a{0", "-i", "b{0", "-b", "x"],
        &["-i", "a{0", "-x", "b{0"],
    ] {
        let e = start(args, &reg).unwrap_err();
        assert_eq!(
            e,
            AppError::Usage("usage: bridge -i PORT -i PORT [-b BATCH]".into()),
            "{args:?}"
        );
    }
    let e = start(&["-i", "a{0", "-i", "nosuch"], &reg).unwrap_err();
    assert!(
        matches!(e, AppError::Open { ref port, .. } if port == "nosuch"),
        "{e:?}"
    );
    // The first port was closed again: it can be opened.
    drop(reg.open("a{0").unwrap());
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

//! The load balancer: its decisions (a flow to one pipe, both directions
//! alike, round robin even, non-IP to pipe 0), then end to end through
//! real pipes with exact counts, drops on a full pipe, chains kept whole,
//! and every buffer accounted for.

mod common;

use common::{audit, frame, mac, recv, recv_slots, registry, send, send_chain, status, NBUFS};
use netmap::{Registry, NS_MOREFRAG};
use netmap_apps::lb::{flow_hash, Mode, Picker};
use netmap_apps::{App, AppError, APPS};

fn start(args: &[&str], reg: &Registry) -> Result<Box<dyn App>, AppError> {
    let info = APPS.iter().find(|a| a.name == "lb").unwrap();
    (info.start)(args, reg, 0)
}

/// An IPv4 frame (with `vlan` tags before it) from `src:sp` to `dst:dp`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, sp: u16, dp: u16, vlan: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&mac(1));
    f.extend_from_slice(&mac(2));
    for _ in 0..vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    }
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 46, 0, 1, 0, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.resize(f.len() + 22, 0);
    f
}

fn flow(k: u32) -> Vec<u8> {
    let b = k.to_be_bytes();
    ipv4(
        [10, 0, b[2], b[3]],
        [10, 1, 0, 1],
        6,
        1024 + k as u16,
        80,
        0,
    )
}

fn picker(mode: Mode, pipes: usize) -> Picker {
    Picker {
        mode,
        pipes,
        next: 0,
        non_ip: 0,
    }
}

#[test]
fn a_flow_and_its_reply_go_to_the_same_pipe() {
    let mut p = picker(Mode::Hash, 4);
    let mut per_pipe = [0; 4];
    for k in 0..4000u32 {
        let b = k.to_be_bytes();
        let (x, y) = ([10, b[1], b[2], b[3]], [192, 168, b[3], 1]);
        for proto in [6, 17] {
            let (sp, dp) = (1000 + k as u16, 53 + (k % 7) as u16);
            let there = p.pick(&ipv4(x, y, proto, sp, dp, 0));
            assert_eq!(p.pick(&ipv4(x, y, proto, sp, dp, 0)), there);
            assert_eq!(p.pick(&ipv4(y, x, proto, dp, sp, 0)), there, "reply");
            assert_eq!(p.pick(&ipv4(x, y, proto, sp, dp, 1)), there, "VLAN");
            assert_eq!(p.pick(&ipv4(y, x, proto, dp, sp, 2)), there, "QinQ");
            per_pipe[there] += 1;
        }
    }
    assert_eq!(p.non_ip, 0);
    // Flows spread: every pipe within 10% of its share (2000).
    assert!(
        per_pipe.iter().all(|&n| (1800..=2200).contains(&n)),
        "{per_pipe:?}"
    );
    // Ports matter for TCP/UDP, not for other protocols.
    let (x, y) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let tcp: std::collections::HashSet<_> = (0..64)
        .map(|sp| flow_hash(&ipv4(x, y, 6, sp, 80, 0)))
        .collect();
    assert!(tcp.len() > 32);
    let icmp = flow_hash(&ipv4(x, y, 1, 0, 0, 0));
    assert_eq!(flow_hash(&ipv4(x, y, 1, 77, 99, 0)), icmp);
    // All fragments of a datagram (offset or more-fragments set) hash on
    // the addresses only, like the first.
    let mut frag = ipv4(x, y, 17, 5000, 53, 0);
    frag[20] = 0x20; // MF
    let mut later = ipv4(x, y, 17, 1, 2, 0);
    later[21] = 0xb9; // offset 185 * 8
    assert_eq!(flow_hash(&frag), flow_hash(&later));
    assert_eq!(flow_hash(&frag), flow_hash(&ipv4(x, y, 17, 0, 0, 0)));
}

#[test]
fn non_ip_goes_to_pipe_0_and_is_counted() {
    let mut p = picker(Mode::Hash, 8);
    let arp = frame(mac(1), mac(2), 1, 60); // ethertype 0x88b5
    let mut v6 = flow(3);
    v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let mut short = flow(3);
    short.truncate(30);
    for f in [&arp, &v6, &short, &Vec::new()] {
        assert_eq!(p.pick(f), 0);
        assert_eq!(flow_hash(f), None);
    }
    assert_eq!(p.non_ip, 4);
}

#[test]
fn round_robin_is_even_and_in_turn() {
    let mut p = picker(Mode::RoundRobin, 3);
    let picks: Vec<usize> = (0..300).map(|k| p.pick(&flow(k % 2))).collect();
    assert_eq!(&picks[..6], [0, 1, 2, 0, 1, 2]);
    for k in 0..3 {
        assert_eq!(picks.iter().filter(|&&x| x == k).count(), 100);
    }
    assert_eq!(p.non_ip, 0);
}

#[test]
fn end_to_end_exact_counts_through_pipes() {
    let reg = common::registry_with(4 * NBUFS);
    let mut app = start(&["-i", "in{0", "-p", "lbp:4"], &reg).unwrap();
    let mut input = reg.open("in}0").unwrap();
    let mut outs: Vec<_> = (0..4)
        .map(|k| reg.open(&format!("lbp}}{k}")).unwrap())
        .collect();
    // 3000 frames of 50 flows, a few non-IP.
    let frames: Vec<Vec<u8>> = (0..3000u32)
        .map(|k| match k % 100 {
            99 => frame(mac(1), mac(2), k, 60),
            _ => flow(k % 50),
        })
        .collect();
    let mut want = picker(Mode::Hash, 4);
    let mut expect: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
    for f in &frames {
        expect[want.pick(f)].push(f.clone());
    }
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
    let mut sent = 0;
    while got.iter().map(Vec::len).sum::<usize>() < frames.len() {
        sent += send(&mut input, &frames[sent..]);
        app.poll(0).unwrap();
        let held: Vec<&netmap::Handle> = outs.iter().chain([&input]).collect();
        audit(&reg, &held, &[&*app]);
        for (k, o) in outs.iter_mut().enumerate() {
            got[k].extend(recv(o));
        }
    }
    assert_eq!(got, expect);
    let s = status(&*app);
    let mut line = format!("in{{0 hash, {} non-ip", want.non_ip);
    for (k, e) in expect.iter().enumerate() {
        let bytes: usize = e.iter().map(Vec::len).sum();
        line += &format!("; lbp{{{k} {} frames {bytes} bytes 0 dropped", e.len());
    }
    assert_eq!(s, line);
    assert_eq!(want.non_ip, 30);
    drop(app);
    drop((input, outs));
    assert_eq!(reg.pool().free_count(), 4 * NBUFS as usize - 2);
}

#[test]
fn a_full_pipe_drops_and_counts_and_chains_stay_whole() {
    let reg = registry();
    // Pipes named after the port: vale0:in{0, vale0:in{1.
    let mut app = start(&["-i", "vale0:in", "-p", "2", "-m", "rr"], &reg).unwrap();
    let mut host = reg.open("vale0:h").unwrap();
    let mut outs = [
        reg.open("vale0:in}0").unwrap(),
        reg.open("vale0:in}1").unwrap(),
    ];
    // Round robin over 2 pipes: 1023 slots in lb's tx ring plus 1023 in
    // the consumer's rx ring each; nobody reads, so of 6000 frames 4092
    // get through and the rest is dropped, half on each pipe.
    let frames: Vec<Vec<u8>> = (0..6000).map(|k| frame([0xff; 6], mac(1), k, 60)).collect();
    let mut sent = 0;
    while sent < frames.len() {
        sent += send(&mut host, &frames[sent..]);
        app.poll(0).unwrap();
        audit(&reg, &[&host, &outs[0], &outs[1]], &[&*app]);
    }
    app.poll(0).unwrap();
    let lb: String = status(&*app);
    assert_eq!(
        lb,
        "vale0:in rr, 0 non-ip; vale0:in{0 2046 frames 122760 bytes 954 dropped; \
         vale0:in{1 2046 frames 122760 bytes 954 dropped"
    );
    for (k, o) in outs.iter_mut().enumerate() {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(recv(o));
            app.poll(0).unwrap();
        }
        let want: Vec<Vec<u8>> = frames
            .iter()
            .skip(k)
            .step_by(2)
            .take(2046)
            .cloned()
            .collect();
        assert_eq!(got, want, "pipe {k}");
    }
    // A chain goes whole to the pipe of its first fragment (round robin:
    // pipe 0 next, after 6000 frames).
    let c: Vec<Vec<u8>> = (0..3).map(|k| frame([0xff; 6], mac(1), k, 100)).collect();
    send_chain(&mut host, &c).unwrap();
    app.poll(0).unwrap();
    let got = recv_slots(&mut outs[0], 0);
    assert_eq!(got.iter().map(|s| s.data.clone()).collect::<Vec<_>>(), c);
    let more: Vec<bool> = got.iter().map(|s| s.flags & NS_MOREFRAG != 0).collect();
    assert_eq!(more, [true, true, false]);
    assert!(recv(&mut outs[1]).is_empty());
    audit(&reg, &[&host, &outs[0], &outs[1]], &[&*app]);
    drop(app);
    drop((host, outs));
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

#[test]
fn bad_arguments_and_ports_are_errors() {
    let reg = registry();
    let usage = AppError::Usage("usage: lb -i PORT -p [NAME:]N [-m hash|rr]".into());
    for args in [
        &[][..],
        &["-i", "in{0"],
        &["-p", "4"],
        &["-i", "in{0", "-p", "0"],
        &["-i", "in{0", "-p", "65"],
        &["-i", "in{0", "-p", "x:y"],
        &["-i", "in{0", "-p", "4", "-m", "random"],
        &["-i", "in{0", "-p"],
    ] {
        assert_eq!(start(args, &reg).unwrap_err(), usage, "{args:?}");
    }
    // A pipe end cannot prefix pipe names; NAME: can.
    let e = start(&["-i", "in{0", "-p", "2"], &reg).unwrap_err();
    assert!(
        matches!(e, AppError::Open { ref port, .. } if port == "in{0{0"),
        "{e:?}"
    );
    let held = reg.open("q{1").unwrap();
    let e = start(&["-i", "in{0", "-p", "q:2"], &reg).unwrap_err();
    assert!(
        matches!(e, AppError::Open { ref port, .. } if port == "q{1"),
        "{e:?}"
    );
    drop(held);
    assert_eq!(reg.pool().free_count(), NBUFS as usize - 2);
}

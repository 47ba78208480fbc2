//! pkt-gen against the datapath: tx to rx through a VALE switch and a
//! pipe with exact counts, a flow mix the switch learns, rxseq's loss,
//! duplicate and reorder detection behind a deliberately bad path,
//! ping/pong round trips, the rate limit on a fake clock, reports, and
//! every bad argument a usage error. Every buffer is accounted for
//! throughout and back in the pool at the end.

mod common;

use common::{audit, recv, registry, send, NBUFS};
use netmap::Registry;
use netmap_apps::pktgen::{frame, PktGen};
use netmap_apps::{App, AppError, APPS};

fn start(args: &[&str], reg: &Registry, now: u64) -> Result<Box<dyn App>, AppError> {
    let info = APPS.iter().find(|a| a.name == "pkt-gen").unwrap();
    (info.start)(args, reg, now)
}

fn line(f: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut s = String::new();
    f(&mut s).unwrap();
    assert!(!s.contains('\n'), "one line: {s:?}");
    s
}

fn status(app: &dyn App) -> String {
    line(|s| app.status(s))
}

fn summary(app: &dyn App) -> String {
    line(|s| app.summary(s))
}

/// Poll `apps` in turn, the clock stepping by `step` ns, until all have
/// finished (at most `passes` passes); returns the time reached.
fn run(reg: &Registry, apps: &mut [&mut Box<dyn App>], step: u64, passes: usize) -> u64 {
    let mut now = 0;
    for pass in 0..passes {
        for a in apps.iter_mut() {
            if !a.finished() {
                a.poll(now).unwrap();
            }
        }
        if pass % 64 == 0 {
            let views: Vec<&dyn App> = apps.iter().map(|a| &***a).collect();
            audit(reg, &[], &views);
        }
        if apps.iter().all(|a| a.finished()) {
            return now;
        }
        now += step;
    }
    panic!(
        "not finished after {passes} passes: {:?}",
        apps.iter().map(|a| status(&***a)).collect::<Vec<_>>()
    );
}

fn all_back(reg: &Registry) {
    assert_eq!(
        reg.pool().free_count(),
        NBUFS as usize - 2,
        "every buffer back"
    );
}

#[test]
fn tx_to_rx_through_the_switch_with_exact_counts() {
    let reg = registry();
    let mut rx = start(
        &["-i", "vale0:b", "-f", "rx", "-n", "100000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    let mut tx = start(
        &["-i", "vale0:a", "-f", "tx", "-n", "100000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    run(&reg, &mut [&mut tx, &mut rx], 1000, 10_000);
    let sw = reg.switch("vale0").unwrap();
    let b = reg.port("vale0:b").unwrap().counters();
    assert_eq!(b.rx.drop_ring_full, 0);
    assert_eq!(b.rx.packets, 100_000);
    assert!(
        status(&*tx).starts_with("vale0:a tx: 100000 frames 6000000 bytes in "),
        "{}",
        status(&*tx)
    );
    let s = summary(&*rx);
    assert!(
        s.starts_with("vale0:b rx: 100000 frames 6000000 bytes in "),
        "{s}"
    );
    assert!(s.contains(" Mpps ") && s.ends_with(" Gbps"), "{s}");
    // Broadcast, learned from: one station.
    assert_eq!(sw.mac_table().len(), 1);
    audit(&reg, &[], &[&*tx, &*rx]);
    drop((tx, rx));
    all_back(&reg);
}

#[test]
fn a_flow_mix_fills_the_learning_table_and_every_frame_is_valid() {
    let reg = registry();
    let mut peer = reg.open("vale1:b").unwrap();
    let mut tx = start(
        &[
            "-i",
            "vale1:a",
            "-n",
            "1200",
            "-l",
            "128",
            "-S",
            "02:00:00:00:10:00-02:00:00:00:10:c7",
            "-s",
            "10.0.0.1-10.0.0.3:1000-1000",
            "-d",
            "10.1.0.1:5000-5001",
            "-T",
            "0",
        ],
        &reg,
        0,
    )
    .unwrap();
    let mut got = Vec::new();
    while !tx.finished() {
        tx.poll(0).unwrap();
        got.extend(recv(&mut peer));
    }
    got.extend(recv(&mut peer));
    assert_eq!(got.len(), 1200);
    let mut flows = std::collections::BTreeSet::new();
    for f in &got {
        assert_eq!(f.len(), 128);
        assert!(frame::is_pktgen(f));
        assert_eq!(frame::ipv4_checksum(&f[14..34]), 0, "valid IPv4 checksum");
        flows.insert((f[6..12].to_vec(), f[26..30].to_vec(), f[36..38].to_vec()));
    }
    // 200 MACs x 3 source IPs x 2 destination ports, the ports fastest.
    assert_eq!(flows.len(), 1200);
    let learned = reg.switch("vale1").unwrap().mac_table().len();
    assert_eq!(learned, 200);
    drop((tx, peer));
    all_back(&reg);
}

#[test]
fn tx_to_rx_through_a_pipe_with_exact_counts() {
    let reg = registry();
    let mut tx = start(
        &["-i", "x{1", "-l", "1514", "-n", "5000", "-b", "64"],
        &reg,
        0,
    )
    .unwrap();
    let mut rx = start(&["-i", "x}1", "-f", "rx", "-n", "5000"], &reg, 0).unwrap();
    run(&reg, &mut [&mut tx, &mut rx], 1000, 10_000);
    assert!(status(&*tx).starts_with("x{1 tx: 5000 frames 7570000 bytes"));
    assert!(status(&*rx).starts_with("x}1 rx: 5000 frames 7570000 bytes"));
    drop((tx, rx));
    all_back(&reg);
}

#[test]
fn a_slow_receiver_holds_the_sender_back_on_a_pipe() {
    let reg = registry();
    let mut tx = start(&["-i", "x{3", "-n", "3000", "-T", "0"], &reg, 0).unwrap();
    // Nobody reads yet: the pipe fills, nothing is lost, tx is not done.
    for _ in 0..10 {
        tx.poll(0).unwrap();
    }
    assert!(!tx.finished());
    let mut rx = start(&["-i", "x}3", "-f", "rx", "-n", "3000"], &reg, 0).unwrap();
    run(&reg, &mut [&mut tx, &mut rx], 1000, 10_000);
    assert!(status(&*rx).starts_with("x}3 rx: 3000 frames"));
    drop((tx, rx));
    all_back(&reg);
}

/// Between `x}M` and `x{N`: forwards what it reads, but drops seq%10 == 5,
/// sends seq%50 == 20 after the next one and seq%100 == 7 twice.
struct BadPath {
    input: netmap::Handle,
    output: netmap::Handle,
    held: Option<Vec<u8>>,
    queue: Vec<Vec<u8>>,
}

impl BadPath {
    fn pass(&mut self) {
        for f in recv(&mut self.input) {
            let s = frame::seq(&f);
            if s % 10 == 5 {
                continue;
            }
            if s % 50 == 20 {
                self.held = Some(f);
                continue;
            }
            if s % 100 == 7 {
                self.queue.push(f.clone());
            }
            self.queue.push(f);
            if let Some(h) = self.held.take() {
                self.queue.push(h);
            }
        }
        let n = send(&mut self.output, &self.queue);
        self.queue.drain(..n);
    }
}

#[test]
fn rxseq_counts_loss_duplicates_and_reordering_behind_a_bad_path() {
    let reg = registry();
    let mut tx = start(
        &["-i", "x{4", "-f", "txseq", "-n", "1000", "-b", "32"],
        &reg,
        0,
    )
    .unwrap();
    let mut rx = start(&["-i", "x}5", "-f", "rxseq", "-n", "1000"], &reg, 0).unwrap();
    let mut path = BadPath {
        input: reg.open("x}4").unwrap(),
        output: reg.open("x{5").unwrap(),
        held: None,
        queue: Vec::new(),
    };
    for _ in 0..1000 {
        tx.poll(0).unwrap();
        path.pass();
        rx.poll(0).unwrap();
        audit(&reg, &[&path.input, &path.output], &[&*tx, &*rx]);
        if rx.finished() {
            break;
        }
    }
    assert!(tx.finished() && rx.finished());
    // 100 dropped, 10 duplicated, 20 late; 1000 - 100 + 10 arrived.
    let s = summary(&*rx);
    assert!(s.starts_with("x}5 rxseq: 910 frames "), "{s}");
    assert!(s.ends_with(", lost 100 dup 10 reordered 20"), "{s}");
    drop((tx, rx, path));
    all_back(&reg);
}

#[test]
fn rxseq_in_order_is_clean() {
    let reg = registry();
    let mut tx = start(
        &["-i", "vale2:a", "-f", "txseq", "-n", "20000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    let mut rx = start(
        &["-i", "vale2:b", "-f", "rxseq", "-n", "20000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    run(&reg, &mut [&mut tx, &mut rx], 1000, 10_000);
    let s = summary(&*rx);
    assert!(s.starts_with("vale2:b rxseq: 20000 frames "), "{s}");
    assert!(s.ends_with("lost 0 dup 0 reordered 0"), "{s}");
}

#[test]
fn ping_pong_round_trips_through_a_pipe_and_the_switch() {
    for (a, b) in [("x{6", "x}6"), ("vale3:a", "vale3:b")] {
        let reg = registry();
        let mut ping = start(&["-i", a, "-f", "ping", "-n", "200", "-T", "0"], &reg, 0).unwrap();
        let mut pong = start(&["-i", b, "-f", "pong", "-T", "0"], &reg, 0).unwrap();
        // Ping at t, pong answers at t, ping reads at the next pass: the
        // round trip is the step, 1000..=1900 ns.
        let mut now = 0;
        for i in 0..10_000u64 {
            ping.poll(now).unwrap();
            pong.poll(now).unwrap();
            if ping.finished() {
                break;
            }
            now += 1000 + (i % 10) * 100;
        }
        assert!(ping.finished(), "{}", status(&*ping));
        let s = summary(&*ping);
        assert!(
            s.starts_with(&format!("{a} ping: 200 frames 12000 bytes in ")),
            "{s}"
        );
        assert!(s.contains(", replies 200 lost 0, rtt us min "), "{s}");
        assert!(status(&*pong).starts_with(&format!("{b} pong: 200 frames")));
        drop(ping);
        // The histogram, seen directly: four in flight, a fixed round trip.
        let mut ping =
            PktGen::start(&["-i", a, "-f", "ping", "-n", "50", "-b", "4"], &reg, 0).unwrap();
        let mut now = 0;
        while !ping.finished() {
            ping.poll(now).unwrap();
            pong.poll(now).unwrap();
            now += 2000;
        }
        let h = ping.rtt();
        assert_eq!(h.count(), 50);
        assert_eq!((h.min(), h.max()), (Some(2000), Some(2000)));
        assert_eq!(h.percentile(50), Some(2000));
        audit(&reg, &[], &[&ping, &*pong]);
        drop((ping, pong));
        all_back(&reg);
    }
}

#[test]
fn a_lost_ping_times_out_and_the_next_goes() {
    let reg = registry();
    let mut ping = start(&["-i", "x{7", "-f", "ping", "-n", "3"], &reg, 0).unwrap();
    let mut peer = reg.open("x}7").unwrap();
    ping.poll(0).unwrap();
    assert_eq!(recv(&mut peer).len(), 1);
    // No answer: nothing more until the timeout.
    assert_eq!(ping.poll(500_000_000).unwrap(), 0);
    assert_eq!(recv(&mut peer).len(), 0);
    assert_eq!(ping.poll(1_000_000_000).unwrap(), 1);
    assert_eq!(ping.poll(2_000_000_000).unwrap(), 1);
    assert!(!ping.finished());
    ping.poll(3_000_000_000).unwrap();
    assert!(ping.finished());
    let s = summary(&*ping);
    assert!(s.contains("replies 0 lost 3"), "{s}");
    drop((ping, peer));
    all_back(&reg);
}

#[test]
fn the_rate_limit_holds_on_a_fake_clock_and_idle_polls_do_nothing() {
    let reg = registry();
    let rate = 100_000u64;
    let mut tx = start(
        &["-i", "x{8", "-R", "100000", "-b", "64", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    let mut rx = start(&["-i", "x}8", "-f", "rx"], &reg, 0).unwrap();
    let step = 100_000; // 100 us: 10 frames
    let mut sent = 0u64;
    for k in 1..=10_000u64 {
        let now = k * step;
        sent += u64::from(tx.poll(now).unwrap());
        assert_eq!(tx.poll(now).unwrap(), 0, "nothing due twice");
        rx.poll(now).unwrap();
        assert!(sent <= rate * now / 1_000_000_000 + 1, "{sent} at {now}");
    }
    // One second.
    assert!((99_000..=100_001).contains(&sent), "{sent}");
    // A pause does not buy more than a batch.
    let later = 10_000 * step + 5_000_000_000;
    assert_eq!(tx.poll(later).unwrap(), 64);
    assert_eq!(tx.poll(later).unwrap(), 0);
    rx.poll(later).unwrap();
    drop((tx, rx));
    all_back(&reg);
}

#[test]
fn reports_come_every_interval_with_the_rate_of_the_interval() {
    let reg = registry();
    let mut tx = start(
        &[
            "-i", "x{9", "-f", "txseq", "-R", "1000000", "-b", "1000", "-T", "100",
        ],
        &reg,
        0,
    )
    .unwrap();
    let mut rx = start(&["-i", "x}9", "-f", "rxseq", "-T", "100"], &reg, 0).unwrap();
    let mut reports = Vec::new();
    let ms = 1_000_000;
    for t in 1..=250u64 {
        let now = t * ms;
        tx.poll(now).unwrap();
        rx.poll(now).unwrap();
        for a in [&mut tx, &mut rx] {
            let mut s = String::new();
            if a.report(now, &mut s).unwrap() {
                reports.push((t, s));
            }
        }
    }
    let r: Vec<_> = reports.iter().map(|(t, _)| *t).collect();
    assert_eq!(r, [100, 100, 200, 200]);
    assert_eq!(
        reports[0].1,
        "pkt-gen x{9 txseq: 1.000 Mpps 0.480 Gbps (total 100000)"
    );
    assert_eq!(
        reports[2].1,
        "pkt-gen x{9 txseq: 1.000 Mpps 0.480 Gbps (total 200000)"
    );
    assert_eq!(
        reports[3].1,
        "pkt-gen x}9 rxseq: 1.000 Mpps 0.480 Gbps (total 200000) lost 0 dup 0 reordered 0"
    );
}

#[test]
fn every_bad_argument_is_one_usage_line() {
    let reg = registry();
    let bad: &[&[&str]] = &[
        &[],
        &["-f", "tx"],
        &["-i"],
        &["vale0:a"],
        &["-i", "vale0:a", "extra"],
        &["-i", "vale0:a", "-x", "1"],
        &["-i", "vale0:a", "-h"],
        &["-i", "vale0:a", "-f", "send"],
        &["-i", "vale0:a", "-l", "59"],
        &["-i", "vale0:a", "-l", "9217"],
        &["-i", "vale0:a", "-l", "big"],
        &["-i", "vale0:a", "-l", "4000"], // more than the 2048-byte buffers
        &["-i", "vale0:a", "-n", "-1"],
        &["-i", "vale0:a", "-n"],
        &["-i", "vale0:a", "-R", "fast"],
        &["-i", "vale0:a", "-b", "0"],
        &["-i", "vale0:a", "-b", "65537"],
        &["-i", "vale0:a", "-s", "10.0.0"],
        &["-i", "vale0:a", "-s", "10.0.0.256"],
        &["-i", "vale0:a", "-s", "10.0.0.2-10.0.0.1"],
        &["-i", "vale0:a", "-d", "10.0.0.1:70000"],
        &["-i", "vale0:a", "-d", "10.0.0.1:9-8"],
        &["-i", "vale0:a", "-d", "10.0.0.1:"],
        &["-i", "vale0:a", "-S", "02:00:00:00:00"],
        &["-i", "vale0:a", "-S", "02:00:00:00:00:0g"],
        &["-i", "vale0:a", "-S", "02:00:00:00:00:02-02:00:00:00:00:01"],
        &["-i", "vale0:a", "-D", "02:00:00:00:00:01+0"],
        &["-i", "vale0:a", "-D", "ff:ff:ff:ff:ff:ff+2"],
        &["-i", "vale0:a", "-T", "1s"],
    ];
    for args in bad {
        match start(args, &reg, 0) {
            Err(AppError::Usage(m)) => {
                assert!(
                    m.starts_with("pkt-gen: ") && !m.contains('\n'),
                    "{args:?}: {m}"
                );
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
    assert!(matches!(
        start(&["-i", "nosuch"], &reg, 0),
        Err(AppError::Open { .. })
    ));
    // Good forms, getopt style included.
    for args in [
        &["-ivale0:a", "-frx", "-l1514"][..],
        &["-i", "vale0:a", "-s", "10.0.0.1:1234-10.0.0.1:1240"][..],
        &[
            "-i",
            "vale0:a",
            "-s",
            "10.0.0.1-10.0.0.9:1-2",
            "-d",
            "10.1.0.1",
        ][..],
        &["-i", "vale0:a", "-S", "02:00:00:00:00:01-02:00:00:00:10:00"][..],
        &[
            "-i",
            "vale0:a",
            "-D",
            "02:00:00:00:00:01+4096",
            "-n",
            "0",
            "-R",
            "0",
        ][..],
    ] {
        if let Err(e) = start(args, &reg, 0) {
            panic!("{args:?}: {e}");
        }
    }
    all_back(&reg);
}

#[test]
fn a_fragment_chain_is_one_frame_and_foreign_frames_are_ignored() {
    let reg = registry();
    let mut rx = start(&["-i", "x}10", "-f", "rxseq", "-T", "0"], &reg, 0).unwrap();
    let mut pong = start(&["-i", "x}11", "-f", "pong", "-T", "0"], &reg, 0).unwrap();
    let mut peers = [reg.open("x{10").unwrap(), reg.open("x{11").unwrap()];
    // A pkt-gen frame in two fragments, then someone else's frame.
    let a = PktGen::start(&["-i", "x{12", "-f", "txseq", "-l", "200"], &reg, 0).unwrap();
    let whole = frame::template(a.args());
    drop(a);
    for p in &mut peers {
        let t = p.tx_ring(0).unwrap();
        let i = t.cur;
        t.write_frame(i, &whole[..120]).unwrap();
        t.slot[i as usize].flags |= netmap::NS_MOREFRAG;
        let j = t.next(i);
        t.write_frame(j, &whole[120..]).unwrap();
        t.advance(2);
        p.txsync(0).unwrap();
        send(p, &[common::frame(common::mac(1), common::mac(2), 7, 60)]);
    }
    rx.poll(0).unwrap();
    pong.poll(0).unwrap();
    let s = status(&*rx);
    assert!(s.starts_with("x}10 rxseq: 1 frames 200 bytes"), "{s}");
    assert!(s.ends_with("lost 0 dup 0 reordered 0, ignored 1"), "{s}");
    let s = status(&*pong);
    assert!(s.starts_with("x}11 pong: 0 frames 0 bytes"), "{s}");
    assert!(s.ends_with(", ignored 2"), "{s}");
    assert!(recv(&mut peers[1]).is_empty());
    audit(&reg, &[&peers[0], &peers[1]], &[&*rx, &*pong]);
    drop((rx, pong, peers));
    all_back(&reg);
}

/// A sink on a monitor (`PORT/r`, rx rings only) sees every frame the
/// monitored port receives; a sender on a monitor is refused.
#[test]
fn rx_on_a_copy_monitor_sees_what_the_port_receives() {
    let reg = registry();
    let mut rx = start(
        &["-i", "vale0:b", "-f", "rx", "-n", "5000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    let mut mon = start(
        &["-i", "vale0:b/r", "-f", "rx", "-n", "5000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    let mut tx = start(
        &["-i", "vale0:a", "-f", "tx", "-n", "5000", "-T", "0"],
        &reg,
        0,
    )
    .unwrap();
    run(&reg, &mut [&mut tx, &mut rx, &mut mon], 1000, 2_000);
    assert!(
        status(&*rx).starts_with("vale0:b rx: 5000 frames"),
        "{}",
        status(&*rx)
    );
    assert!(
        status(&*mon).starts_with("vale0:b/r rx: 5000 frames"),
        "{}",
        status(&*mon)
    );
    assert!(matches!(
        start(&["-i", "vale0:b/r", "-f", "tx"], &reg, 0),
        Err(AppError::Usage(_))
    ));
    audit(&reg, &[], &[&*tx, &*rx, &*mon]);
    drop((tx, rx, mon));
    all_back(&reg);
}

//! pktgen runs over wires a test controls: loopback pairs, a fake switch
//! that drops, duplicates and reorders, a fake reflector, a stream "QEMU",
//! and (root only) a veth pair in a namespace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::*;
use crate::wire::netns::{is_root, NetNs};
use crate::wire::tests::TmpDir;
use crate::wire::{Endpoint, Options, Spec};

fn dgram(bind: std::path::PathBuf, peer: std::path::PathBuf) -> Spec {
    Spec::Dgram { bind, peer }
}

fn txrx_config(tx: Spec, rx: Spec, count: u64) -> Config {
    let mut c = Config::new(Mode::TxRx);
    c.tx = Some(tx);
    c.rx = Some(rx);
    c.count = Some(count);
    c.timeout = Duration::from_millis(300);
    c
}

#[test]
fn txrx_over_a_loopback_pair_counts_every_frame() {
    let d = TmpDir::new("lp");
    // tx binds a, sends to b; rx binds b, sends (the learning frame) to a.
    let (a, b) = d.dgram_pair();
    for (size, udp, one_thread) in [
        (60, false, false),
        (1514, true, false),
        (60, true, true),
        (1514, false, true),
    ] {
        let mut c = txrx_config(a.clone(), b.clone(), 20_000);
        c.size = size;
        c.udp = udp.then(Udp::default);
        c.one_thread = one_thread;
        let r = run(&c).unwrap();
        assert_eq!(
            (r.sent, r.received, r.lost, r.dup, r.reorder, r.other),
            (20_000, 20_000, 0, 0, 0, 0),
            "{r:?}"
        );
        assert_eq!(
            r.tx_port_received, 0,
            "the learning frame is not counted as returned"
        );
        assert!(r.tx_pps > 0.0 && r.rx_pps > 0.0 && r.duration_s > 0.0);
        assert!(r.cpu_s > 0.0 && r.cpu_s == r.tx_cpu_s + r.rx_cpu_s);
        assert_eq!(
            r.rx_cpu_s == 0.0,
            one_thread,
            "one thread books its CPU to the sender"
        );
        assert!(r
            .summary()
            .starts_with(&format!("pktgen txrx: size {size}, sent 20000")));
    }
}

#[test]
fn txrx_warmup_and_duration() {
    let d = TmpDir::new("wu");
    let (a, b) = d.dgram_pair();
    let mut c = txrx_config(a, b, 1);
    c.count = None;
    c.duration = Duration::from_millis(300);
    c.warmup = Duration::from_millis(200);
    c.rate = 20_000;
    let r = run(&c).unwrap();
    // Frames of the warm-up are neither sent nor received in the report.
    assert!(r.sent > 0 && r.sent < 20_000 * 5 / 10 + 64, "{r:?}");
    assert_eq!(r.received, r.sent, "{r:?}");
    assert!(r.duration_s >= 0.29, "{r:?}");
}

/// A two-port "switch" between pktgen's tx and rx wires that misbehaves on
/// purpose: drops every 10th frame, sends seq 5 twice, holds seq 20 back
/// until after 21.
fn bad_switch(d: &TmpDir) -> (Spec, Spec, Arc<AtomicBool>, thread::JoinHandle<u64>) {
    let (in_q, in_h) = (d.path("iq"), d.path("ih"));
    let (out_q, out_h) = (d.path("oq"), d.path("oh"));
    let mut inp =
        Endpoint::open_with(&dgram(in_q.clone(), in_h.clone()), &Options::default()).unwrap();
    let mut out =
        Endpoint::open_with(&dgram(out_q.clone(), out_h.clone()), &Options::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let h = thread::spawn(move || {
        let mut held: Option<Vec<u8>> = None;
        let mut forwarded = 0;
        while !stop2.load(Ordering::Relaxed) {
            let mut batch = Vec::new();
            inp.recv_batch(Duration::from_millis(10), &mut |f| batch.push(f.to_vec()))
                .unwrap();
            // Whatever the rx side sends (the learning frame) is ignored.
            out.recv_batch(Duration::ZERO, &mut |_| {}).unwrap();
            for f in batch {
                let seq = parse(&f).unwrap().seq;
                let copies = match seq {
                    s if s % 10 == 3 => 0,
                    5 => 2,
                    20 => {
                        held = Some(f.clone());
                        0
                    }
                    _ => 1,
                };
                for _ in 0..copies {
                    out.send_all(&[&f], Duration::from_secs(2)).unwrap();
                    forwarded += 1;
                }
                if seq == 21 {
                    out.send_all(&[held.take().unwrap()], Duration::from_secs(2))
                        .unwrap();
                }
            }
        }
        forwarded
    });
    // pktgen's specs as QEMU's would be spelled: its tx binds ih, sends iq.
    (dgram(in_h, in_q), dgram(out_h, out_q), stop, h)
}

#[test]
fn txrx_counts_loss_dups_and_reordering() {
    for one_thread in [false, true] {
        let d = TmpDir::new("bs");
        let (tx, rx, stop, h) = bad_switch(&d);
        let mut c = txrx_config(tx, rx, 1000);
        c.batch = 16;
        c.one_thread = one_thread;
        let r = run(&c).unwrap();
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        bad_switch_report(&r);
    }
}

fn bad_switch_report(r: &Report) {
    assert_eq!(r.sent, 1000);
    assert_eq!(r.lost, 100, "{r:?}");
    assert_eq!(r.received, 900);
    assert_eq!(r.dup, 1);
    assert_eq!(r.reorder, 1);
    assert!(
        r.summary().contains("lost 100 (10.00%), dup 1, reorder 1"),
        "{}",
        r.summary()
    );
}

/// Reflect every frame back with the MACs swapped; drop seqs with
/// `seq % drop_every == drop_every - 1` (0: drop none).
fn reflector(spec: Spec, drop_every: u64) -> (Arc<AtomicBool>, thread::JoinHandle<u64>) {
    let mut ep = Endpoint::open_with(&spec, &Options::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let h = thread::spawn(move || {
        let mut n = 0;
        while !stop2.load(Ordering::Relaxed) {
            let mut back = Vec::new();
            ep.recv_batch(Duration::from_millis(10), &mut |f| {
                let mut f = f.to_vec();
                let seq = parse(&f).map(|s| s.seq).unwrap_or(0);
                if drop_every > 0 && seq % drop_every == drop_every - 1 {
                    return;
                }
                let (dst, src) = f.split_at_mut(6);
                dst.swap_with_slice(&mut src[..6]);
                back.push(f);
            })
            .unwrap();
            n += back.len() as u64;
            ep.send_all(&back, Duration::from_secs(2)).unwrap();
        }
        n
    });
    (stop, h)
}

#[test]
fn ping_through_a_reflector() {
    let d = TmpDir::new("pg");
    let (a, b) = d.dgram_pair();
    for inflight in [1, 8] {
        // A reflector per run: it stays connected to the ping socket it
        // answered, which a new run's socket replaces.
        let (stop, h) = reflector(b.clone(), 0);
        let mut c = Config::new(Mode::Ping);
        c.tx = Some(a.clone());
        c.count = Some(300);
        c.inflight = inflight;
        c.udp = Some(Udp::default());
        let r = run(&c).unwrap();
        assert_eq!(
            (r.sent, r.received, r.lost, r.other),
            (300, 300, 0, 0),
            "{r:?}"
        );
        let rtt = r.rtt_us.unwrap();
        assert_eq!(rtt.samples, 300);
        assert!(
            0.0 < rtt.min
                && rtt.min <= rtt.p50
                && rtt.p50 <= rtt.p90
                && rtt.p90 <= rtt.p99
                && rtt.p99 <= rtt.max
        );
        assert!(r.to_json().contains("\"rtt_us\": {"));
        stop.store(true, Ordering::Relaxed);
        assert_eq!(h.join().unwrap(), 300);
    }
}

#[test]
fn ping_counts_frames_that_never_come_back() {
    let d = TmpDir::new("pl");
    let (a, b) = d.dgram_pair();
    let (stop, h) = reflector(b, 5);
    let mut c = Config::new(Mode::Ping);
    c.tx = Some(a);
    c.count = Some(50);
    c.inflight = 4;
    c.timeout = Duration::from_millis(100);
    let r = run(&c).unwrap();
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    assert_eq!((r.sent, r.received, r.lost), (50, 40, 10), "{r:?}");
}

#[test]
fn tx_and_rx_modes_in_separate_runs() {
    let d = TmpDir::new("tr");
    let (a, b) = d.dgram_pair();
    let mut rx = Config::new(Mode::Rx);
    rx.rx = Some(b);
    rx.count = Some(5000);
    rx.duration = Duration::from_secs(10);
    let rx_run = thread::spawn(move || run(&rx));
    thread::sleep(Duration::from_millis(100)); // the receiver binds first
    let mut tx = Config::new(Mode::Tx);
    tx.tx = Some(a);
    tx.count = Some(5000);
    tx.rate = 50_000;
    let t = run(&tx).unwrap();
    let r = rx_run.join().unwrap().unwrap();
    assert_eq!(t.sent, 5000);
    assert_eq!(
        (r.received, r.lost, r.dup, r.other),
        (5000, 0, 0, 0),
        "{r:?}"
    );
    assert!(t.summary().starts_with("pktgen tx: size 60, sent 5000"));
    assert!(r.summary().starts_with("pktgen rx: size 60, received 5000"));
}

#[test]
fn tx_into_a_stream_wire() {
    let d = TmpDir::new("sw");
    let path = d.path("s");
    let mut c = Config::new(Mode::Tx);
    c.tx = Some(Spec::Stream { path: path.clone() });
    c.count = Some(3000);
    c.size = 1514;
    c.connect_timeout = Duration::from_secs(5);
    let gen = thread::spawn(move || run(&c));
    // Play QEMU: connect once the listener is there, read every frame.
    let mut qemu = (0..200)
        .find_map(|_| {
            Endpoint::connect_stream(&path).ok().or_else(|| {
                thread::sleep(Duration::from_millis(10));
                None
            })
        })
        .expect("pktgen listens");
    let mut seqs = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seqs.len() < 3000 && std::time::Instant::now() < deadline {
        qemu.recv_batch(Duration::from_millis(50), &mut |f| {
            assert_eq!(f.len(), 1514);
            seqs.push(parse(f).unwrap().seq);
        })
        .unwrap();
    }
    let r = gen.join().unwrap().unwrap();
    assert_eq!(r.sent, 3000);
    assert_eq!(seqs, (0..3000).collect::<Vec<u64>>());
}

#[test]
fn frames_cross_byte_for_byte() {
    let d = TmpDir::new("bb");
    let (a, b) = d.dgram_pair();
    let ta = Endpoint::open_with(&a, &Options::default()).unwrap();
    let mut tb = Endpoint::open_with(&b, &Options::default()).unwrap();
    let t = Template::new(&FrameSpec {
        dst: Mac::RX_DEFAULT,
        src: Mac::TX_DEFAULT,
        size: 333,
        udp: Some(Udp::default()),
        run: 9,
    });
    let sent: Vec<Vec<u8>> = (0..100).map(|s| t.build(s, now_ns())).collect();
    let bg = sent.clone();
    let th = thread::spawn(move || {
        let mut ta = ta;
        ta.send_all(&bg, Duration::from_secs(2))
    });
    for want in &sent {
        let got = tb.recv(Duration::from_secs(2)).unwrap().unwrap();
        let s = parse(&got).unwrap();
        assert_eq!(&got, want);
        assert_eq!(got, t.build(s.seq, s.ts_ns), "rebuilt from its stamp");
    }
    th.join().unwrap().unwrap();
}

#[test]
fn errors_are_one_line() {
    let d = TmpDir::new("er");
    let (a, _) = d.dgram_pair();
    let mut c = Config::new(Mode::Tx);
    c.tx = Some(a);
    c.count = Some(10);
    let e = run(&c).unwrap_err();
    assert!(
        e.to_string().contains("start QEMU or the peer first"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
    let e = run(&Config::new(Mode::TxRx)).unwrap_err();
    assert_eq!(e.to_string(), "txrx mode needs --tx PORT and --rx PORT");
}

/// Root only: txrx between the two ends of a veth pair inside a namespace
/// of our own, through AF_PACKET sockets (the tap code path).
#[test]
fn txrx_over_veth_in_a_namespace() {
    if !is_root() {
        eprintln!("SKIPPED txrx_over_veth_in_a_namespace: needs root (creates a network namespace and a veth pair)");
        return;
    }
    let ns = NetNs::create(&format!("pktgen-test-{}-veth", std::process::id())).unwrap();
    ns.ip(&["link", "add", "pga", "type", "veth", "peer", "name", "pgb"])
        .unwrap();
    ns.ip(&["link", "set", "pga", "up"]).unwrap();
    ns.ip(&["link", "set", "pgb", "up"]).unwrap();
    for one_thread in [false, true] {
        let r = ns
            .run(|| {
                let mut c = txrx_config(
                    "tap:pga".parse().unwrap(),
                    "tap:pgb".parse().unwrap(),
                    20_000,
                );
                c.udp = Some(Udp::default());
                c.rate = 200_000; // veth has no back-pressure: don't overrun the receiver
                c.one_thread = one_thread;
                run(&c)
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.sent, r.received, r.lost, r.dup),
            (20_000, 20_000, 0, 0),
            "{r:?}"
        );
        // The learning frame went out of pgb into pga: the tx side drained
        // it, and nothing else of ours came back.
        assert_eq!(r.tx_port_received, 0, "{r:?}");
    }
}

/// A QEMU with no guest at all: two netdevs joined by a hub, so frames
/// pktgen sends into one come out of the other through QEMU's real dgram
/// and stream backends. Killed when dropped.
struct QemuHub(std::process::Child);

impl QemuHub {
    /// `None` (and a message) when QEMU is not installed.
    fn start(netdevs: [String; 2]) -> Option<Self> {
        let mut cmd = std::process::Command::new("qemu-system-x86_64");
        cmd.args([
            "-M",
            "none",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "none",
        ]);
        for (i, nd) in netdevs.iter().enumerate() {
            cmd.args(["-netdev", &format!("{nd},id=n{i}")]);
            cmd.args(["-netdev", &format!("hubport,id=p{i},hubid=0,netdev=n{i}")]);
        }
        cmd.stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        match cmd.spawn() {
            Ok(c) => Some(Self(c)),
            Err(e) => {
                eprintln!(
                    "SKIPPED: cannot start qemu-system-x86_64 ({e}); install qemu-system-x86"
                );
                None
            }
        }
    }
}

impl Drop for QemuHub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(path: &std::path::Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared (did QEMU start?)", path.display());
}

#[test]
fn txrx_and_ping_through_qemus_dgram_backend() {
    let d = TmpDir::new("qd");
    let nic = |i: u32| {
        format!(
            "dgram:{}:{}",
            d.path(&format!("q{i}")).display(),
            d.path(&format!("h{i}")).display()
        )
    };
    let netdev = |i: u32| {
        format!(
            "dgram,local.type=unix,local.path={},remote.type=unix,remote.path={}",
            d.path(&format!("q{i}")).display(),
            d.path(&format!("h{i}")).display()
        )
    };
    let Some(_qemu) = QemuHub::start([netdev(0), netdev(1)]) else {
        return;
    };
    wait_for(&d.path("q0"));
    wait_for(&d.path("q1"));
    // The same spelling QEMU's NIC gets; pktgen opens the other end.
    for one_thread in [false, true] {
        let mut c = txrx_config(nic(0).parse().unwrap(), nic(1).parse().unwrap(), 5000);
        c.udp = Some(Udp::default());
        c.one_thread = one_thread;
        let r = run(&c).unwrap();
        // QEMU queues up to 10000 frames per netdev: 5000 cannot overflow it.
        assert_eq!(
            (r.sent, r.received, r.lost, r.dup),
            (5000, 5000, 0, 0),
            "{r:?}"
        );
    }
    let mut p = Config::new(Mode::Ping);
    p.tx = Some(nic(0).parse().unwrap());
    p.rx = Some(nic(1).parse().unwrap());
    p.count = Some(200);
    let r = run(&p).unwrap();
    assert_eq!((r.sent, r.received, r.lost), (200, 200, 0), "{r:?}");
    assert!(r.rtt_us.unwrap().p50 > 0.0);
}

#[test]
fn txrx_through_qemus_stream_backend() {
    let d = TmpDir::new("qs");
    let (s0, s1) = (d.path("s0"), d.path("s1"));
    let mut c = txrx_config(
        Spec::Stream { path: s0.clone() },
        Spec::Stream { path: s1.clone() },
        5000,
    );
    c.size = 1514;
    c.one_thread = true; // the threaded path has the dgram test above
    c.connect_timeout = Duration::from_secs(10);
    // pktgen listens first: QEMU connects to each stream netdev once, at start.
    let gen = thread::spawn(move || run(&c));
    wait_for(&s0);
    wait_for(&s1);
    let netdev =
        |p: &std::path::Path| format!("stream,server=off,addr.type=unix,addr.path={}", p.display());
    let Some(_qemu) = QemuHub::start([netdev(&s0), netdev(&s1)]) else {
        // Nobody will connect: let the generator give up, as it must.
        let e = gen.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("nobody connected"), "{e}");
        return;
    };
    let r = gen.join().unwrap().unwrap();
    assert_eq!(
        (r.sent, r.received, r.lost, r.dup),
        (5000, 5000, 0, 0),
        "{r:?}"
    );
}

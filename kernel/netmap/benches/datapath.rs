//! Datapath benchmark (not a test): VALE forwarding, floods, a churning
//! learning table, and pipes, on one core, through the same public API an
//! application uses (real rings, real syncs, real lookups, real copies).
//!
//! ```text
//! cargo bench -p netmap --bench datapath -- [--json FILE] [--filter NAME] [--secs S]
//! ```
//!
//! Each case runs sender and receiver in one thread: per round the sender
//! fills `batch` slots (frames were written into its buffers once; each
//! round sets the slot lengths, and the churn case rewrites the source
//! address), txsyncs, and the receiver rxsyncs, consumes everything and
//! releases it. Mpps counts frames entering the switch or pipe per second
//! of the thread's CPU time (the host is shared; wall time would measure the
//! neighbours).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netmap::vale::{LearningBridge, LearningConfig};
use netmap::{BufferPool, Handle, PortConfig, Registry, Switch};

struct Case {
    name: String,
    frame: usize,
    batch: u32,
    run: Box<dyn FnMut(Duration) -> (u64, Duration)>,
}

struct Result {
    name: String,
    mpps: f64,
    ns_per_pkt: f64,
    frame: usize,
    batch: u32,
}

/// Ring size for a batch: netmap's default 1024 slots, or more so that the
/// receiver's unreleased batch and the next one fit together.
fn slots_for(batch: u32) -> u32 {
    (4 * batch).max(1024)
}

fn mac(last: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, last]
}

fn eth(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = vec![0x5a; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12] = 0x08;
    f[13] = 0x00;
    f
}

fn registry(batch: u32) -> Registry {
    let pool = BufferPool::on_heap(128 * 1024, 2048).unwrap();
    Registry::with_defaults(
        pool,
        PortConfig {
            num_slots: slots_for(batch),
            ..PortConfig::default()
        },
    )
}

/// Writes `f` into every buffer of tx ring 0 the application holds.
fn prefill(h: &mut Handle, f: &[u8]) {
    let r = h.tx_ring(0).unwrap();
    for i in 0..r.num_slots() {
        if r.buf(i).is_ok() {
            r.write_frame(i, f).unwrap();
        }
    }
}

/// Writes `f` into every buffer of tx ring 0, including the one slot the
/// kernel keeps: send one frame so that slot comes back, then fill it.
/// (A VALE port keeps its buffers, so they stay filled.)
fn prefill_all(h: &mut Handle, rx: &mut [&mut Handle], f: &[u8]) {
    prefill(h, f);
    send_round(h, 1, f.len() as u16);
    send_round(h, 0, f.len() as u16);
    for r in rx.iter_mut() {
        recv_round(r);
    }
    prefill(h, f);
}

/// One round of the sender: hand `batch` slots of length `len` to the port.
#[inline]
fn send_round(h: &mut Handle, batch: u32, len: u16) {
    let r = h.tx_ring(0).unwrap();
    let n = r.num_slots();
    let mut i = r.head;
    for _ in 0..batch {
        r.slot[i as usize].len = len;
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    r.head = i;
    r.cur = i;
    h.txsync(0).unwrap();
}

/// One round of a receiver: take everything, release it.
#[inline]
fn recv_round(h: &mut Handle) -> u32 {
    h.rxsync(0).unwrap();
    let r = h.rx_ring(0).unwrap();
    let n = (r.tail + r.num_slots() - r.head) % r.num_slots();
    r.head = r.tail;
    r.cur = r.tail;
    n
}

/// CPU time of the calling thread. The machine is shared: wall time would
/// count the time other processes hold the core, CPU time does not.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant the kernel supports for every thread.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `round` for `d` of CPU time after a warm-up; returns the packets
/// and the CPU time they took.
fn timed(d: Duration, mut round: impl FnMut() -> u64) -> (u64, Duration) {
    // Warm up (caches, learning table), then measure.
    let warm = thread_cpu_time();
    while thread_cpu_time() - warm < d / 10 {
        round();
    }
    let wall = Instant::now();
    let start = thread_cpu_time();
    let mut pkts = 0;
    let mut rounds = 0u64;
    loop {
        pkts += round();
        rounds += 1;
        if rounds.is_multiple_of(64) && thread_cpu_time() - start >= d {
            break;
        }
    }
    let cpu = thread_cpu_time() - start;
    let wall = wall.elapsed();
    if cpu.as_secs_f64() < 0.8 * wall.as_secs_f64() {
        eprintln!(
            "  (note: had the core {:.0}% of the time; figures use CPU time)",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
    (pkts, cpu)
}

fn vale_unicast(frame: usize, batch: u32) -> Case {
    Case {
        name: format!("vale-unicast-{frame}-b{batch}"),
        frame,
        batch,
        run: Box::new(move |d| {
            let reg = registry(batch);
            let mut a = reg.open("vale0:a").unwrap();
            let mut b = reg.open("vale0:b").unwrap();
            // b announces itself, so a's frames are unicast to it.
            prefill(&mut b, &eth([0xff; 6], mac(2), 60));
            send_round(&mut b, 1, 60);
            recv_round(&mut a);
            prefill_all(&mut a, &mut [&mut b], &eth(mac(2), mac(1), frame));
            let (pkts, t) = timed(d, || {
                send_round(&mut a, batch, frame as u16);
                let got = recv_round(&mut b);
                assert_eq!(got, batch, "every frame delivered");
                got as u64
            });
            let c = reg.switch("vale0").unwrap().port(1).unwrap().counters();
            assert_eq!(c.rx.drops(), 0);
            (pkts, t)
        }),
    }
}

/// Ablation: unicast forwarding with the patch-panel lookup (no address
/// hashing or learning), to price the learning bridge.
fn vale_patch(batch: u32) -> Case {
    Case {
        name: format!("vale-patch-60-b{batch}"),
        frame: 60,
        batch,
        run: Box::new(move |d| {
            let reg = registry(batch);
            let mut a = reg.open("vale0:a").unwrap();
            let mut b = reg.open("vale0:b").unwrap();
            reg.switch("vale0")
                .unwrap()
                .set_lookup(Box::new(netmap::vale::PatchPanel::new().connect(0, 1)));
            prefill_all(&mut a, &mut [&mut b], &eth(mac(2), mac(1), 60));
            timed(d, || {
                send_round(&mut a, batch, 60);
                let got = recv_round(&mut b);
                assert_eq!(got, batch);
                got as u64
            })
        }),
    }
}

fn vale_broadcast(ports: usize, batch: u32) -> Case {
    Case {
        name: format!("vale-broadcast-60-b{batch}-{ports}ports"),
        frame: 60,
        batch,
        run: Box::new(move |d| {
            let reg = registry(batch);
            let mut a = reg.open("vale0:src").unwrap();
            let mut rx: Vec<Handle> = (0..ports)
                .map(|i| reg.open(&format!("vale0:p{i}")).unwrap())
                .collect();
            let mut refs: Vec<&mut Handle> = rx.iter_mut().collect();
            prefill_all(&mut a, &mut refs, &eth([0xff; 6], mac(1), 60));
            timed(d, || {
                send_round(&mut a, batch, 60);
                for h in rx.iter_mut() {
                    assert_eq!(recv_round(h), batch);
                }
                batch as u64
            })
        }),
    }
}

fn vale_churn(batch: u32) -> Case {
    Case {
        name: format!("vale-learn1m-60-b{batch}"),
        frame: 60,
        batch,
        run: Box::new(move |d| {
            let reg = registry(batch);
            let mut a = reg.open("vale0:a").unwrap();
            let mut b = reg.open("vale0:b").unwrap();
            let sw: Arc<Switch> = reg.switch("vale0").unwrap();
            sw.set_lookup(Box::new(LearningBridge::new(LearningConfig::default())));
            prefill(&mut b, &eth([0xff; 6], mac(2), 60));
            send_round(&mut b, 1, 60);
            recv_round(&mut a);
            prefill_all(&mut a, &mut [&mut b], &eth(mac(2), mac(1), 60));
            let mut src: u32 = 0;
            timed(d, || {
                // A new source address in every frame: 1M distinct, cycling.
                let r = a.tx_ring(0).unwrap();
                let n = r.num_slots();
                let mut i = r.head;
                for _ in 0..batch {
                    src = (src + 1) & 0xf_ffff;
                    let buf = r.buf_mut(i).unwrap();
                    // 02:01:xx:xx:xx:xx: never the receiver's address
                    // (02:00:00:00:00:02), which a source must not take over
                    // (with the learning table's hold time it never comes
                    // back, and every frame would go nowhere).
                    buf[7] = 1;
                    buf[8..12].copy_from_slice(&src.to_be_bytes());
                    i = if i + 1 == n { 0 } else { i + 1 };
                }
                send_round(&mut a, batch, 60);
                recv_round(&mut b) as u64
            })
        }),
    }
}

fn pipe(batch: u32) -> Case {
    Case {
        name: format!("pipe-60-b{batch}"),
        frame: 60,
        batch,
        run: Box::new(move |d| {
            let reg = registry(batch);
            let mut m = reg.open("p{1").unwrap();
            let mut s = reg.open("p}1").unwrap();
            prefill_all(&mut m, &mut [&mut s], &eth(mac(2), mac(1), 60));
            timed(d, || {
                send_round(&mut m, batch, 60);
                let got = recv_round(&mut s);
                assert_eq!(got, batch);
                got as u64
            })
        }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let json = opt("--json");
    let filter = opt("--filter");
    let secs: f64 = opt("--secs").and_then(|s| s.parse().ok()).unwrap_or(1.0);

    let mut cases = Vec::new();
    for frame in [60, 1514] {
        for batch in [1, 32, 256, 1024] {
            cases.push(vale_unicast(frame, batch));
        }
    }
    cases.push(vale_patch(256));
    cases.push(vale_broadcast(8, 256));
    cases.push(vale_churn(256));
    for batch in [32, 256, 1024] {
        cases.push(pipe(batch));
    }

    let mut results = Vec::new();
    println!(
        "{:<34} {:>10} {:>10} {:>6} {:>6}",
        "name", "Mpps", "ns/pkt", "frame", "batch"
    );
    for mut c in cases {
        if filter
            .as_ref()
            .is_some_and(|f| !c.name.contains(f.as_str()))
        {
            continue;
        }
        let (pkts, t) = (c.run)(Duration::from_secs_f64(secs));
        let ns = t.as_nanos() as f64 / pkts as f64;
        let r = Result {
            name: c.name,
            mpps: 1e3 / ns,
            ns_per_pkt: ns,
            frame: c.frame,
            batch: c.batch,
        };
        println!(
            "{:<34} {:>10.2} {:>10.2} {:>6} {:>6}",
            r.name, r.mpps, r.ns_per_pkt, r.frame, r.batch
        );
        results.push(r);
    }
    if let Some(path) = json {
        let mut out = String::from("[\n");
        for (i, r) in results.iter().enumerate() {
            out += &format!(
                "  {{ \"name\": \"{}\", \"mpps\": {:.3}, \"ns_per_pkt\": {:.3}, \"frame\": {}, \"batch\": {} }}{}\n",
                r.name,
                r.mpps,
                r.ns_per_pkt,
                r.frame,
                r.batch,
                if i + 1 < results.len() { "," } else { "" }
            );
        }
        out += "]\n";
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(out.as_bytes()))
            .expect("write json");
        println!("wrote {path}");
    }
}

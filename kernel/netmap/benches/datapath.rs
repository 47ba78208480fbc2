//! Datapath benchmark (not a test): VALE forwarding, floods, a churning
//! learning table, and pipes, on one core, through the same public API an
//! application uses (real rings, real syncs, real lookups, real copies).
//!
//! ```text
//! cargo bench -p netmap --bench datapath -- [--json FILE] [--filter NAME] [--secs S] [--reps N]
//! ```
//!
//! Each case runs sender and receiver in one thread: per round the sender
//! fills `batch` slots (frames were written into its buffers once; each
//! round sets the slot lengths, and the churn case rewrites the source
//! address), txsyncs, and the receiver rxsyncs, consumes everything and
//! releases it. Mpps counts frames entering the switch or pipe per second
//! of the thread's CPU time (the host is shared; wall time would measure the
//! neighbours).
//!
//! The `vale-mt-*` cases (issue 13: one CPU per queue pair) run several
//! threads at once; see [`run_mt`]. They report the rate on the wall clock
//! and the CPU time per frame summed over the threads, for one thread with
//! one ring pair against two threads with two ring pairs (`--reps`
//! repetitions each, alternated), and a contended contrast in which both
//! threads deliver into one shared destination ring.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use netmap::vale::{LearningBridge, LearningConfig};
use netmap::{BufferPool, Dir, Handle, Port, PortConfig, Registry, Switch, ValePort};

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

/// One configuration of the multi-thread case.
#[derive(Clone, Copy)]
struct MtConfig {
    /// Forwarding threads, each with its own ring pair of `a` and `b`.
    threads: usize,
    /// Rx rings of the destination port: `threads` (thread i's frames go
    /// to ring i, uncontended) or 1 (all into one ring: contended).
    dst_rings: u16,
}

impl MtConfig {
    fn name(&self, batch: u32) -> String {
        let shared = if self.dst_rings == 1 && self.threads > 1 {
            "-shared-rx"
        } else {
            ""
        };
        format!("vale-mt-60-b{batch}-{}t{shared}", self.threads)
    }
}

/// What one run of [`run_mt`] measured.
struct MtRun {
    /// Frames handed to the switch (by all threads).
    frames: u64,
    /// Frames the receivers took.
    delivered: u64,
    /// Frames the destination dropped (ring full).
    drops: u64,
    /// From the common start to the last thread's stop.
    wall: Duration,
    /// Each thread's CPU time over the same window.
    cpu: Vec<Duration>,
}

impl MtRun {
    fn mpps(&self) -> f64 {
        self.frames as f64 / self.wall.as_secs_f64() / 1e6
    }
    fn cpu_ns_per_frame(&self) -> f64 {
        self.cpu.iter().map(|c| c.as_nanos() as f64).sum::<f64>() / self.frames as f64
    }
}

/// Pins the calling thread to CPU `cpu`, as the kernel runs queue pair k
/// on CPU k. Best effort: a refusal only costs migrations.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: `set` is a plain bit set the libc macros initialise and
    // fill; sched_setaffinity reads `size_of_val(&set)` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0
    }
}

/// The multi-thread VALE case: switch `vale0` with ports `a` and `b` made
/// as the kernel makes a bridged NIC's ports, `threads` tx and rx rings
/// each (as many as queue pairs), `b`'s address learned so `a`'s frames
/// are unicast to it. Thread i, pinned to CPU i, plays the kernel's CPU i
/// for pair i: per round it submits `batch` 60 B frames on `a`'s tx kring
/// i and runs that ring's txsync (the VALE forwarding path: the ring's
/// lock and scratch, the table read, the lookup, the lease on `b`'s rx
/// kring `i mod dst_rings`, the copy, the publish), then takes what
/// arrived on `b`'s rx kring `i mod dst_rings`, releases it and rxsyncs.
/// The krings are driven as a kernel consumer drives them (submit,
/// arrived, release), with no application ring bound, so no lock is
/// shared between the threads that the switch itself does not share.
///
/// The threads warm up, start together, and stop after `d` of wall time;
/// each reads its own CPU clock over that window. Frames count as they
/// enter the switch. With one shared destination ring, a writer's
/// published frames wait behind the other's pending lease, so the ring
/// can fill and the switch drops (counted and printed; dropped frames are
/// not copied, which flatters that case's CPU per frame a little).
fn run_mt(cfg: MtConfig, batch: u32, d: Duration) -> MtRun {
    let t = cfg.threads;
    let pool = BufferPool::on_heap(32 * 1024, 2048).unwrap();
    let sw = Switch::new("vale0");
    let port = |name: &str, rx_rings: u16| {
        ValePort::create(
            &pool,
            &sw,
            name,
            PortConfig {
                tx_rings: t as u16,
                rx_rings,
                num_slots: slots_for(batch),
                ..PortConfig::default()
            },
        )
        .unwrap()
    };
    let a = port("vale0:a", t as u16);
    let b = port("vale0:b", cfg.dst_rings);

    // Every tx slot of `a` holds the frame (VALE ports keep their
    // buffers); `b` announces itself once from its ring 0.
    let frame = eth(mac(2), mac(1), 60);
    for k in a.krings(Dir::Tx) {
        let mut k = k.lock();
        for i in 0..k.num_slots() as usize {
            k.slots.buf_mut(i).unwrap()[..60].copy_from_slice(&frame);
            k.slots.set_len(i, 60).unwrap();
        }
    }
    {
        let mut k = b.krings(Dir::Tx)[0].lock();
        let (first, _) = k.tx_room();
        let hello = eth([0xff; 6], mac(2), 60);
        k.slots.buf_mut(first as usize).unwrap()[..60].copy_from_slice(&hello);
        k.slots.set_len(first as usize, 60).unwrap();
        assert_eq!(k.submit(1), 1);
    }
    b.txsync(0).unwrap();
    for r in 0..t {
        let mut k = a.krings(Dir::Rx)[r].lock();
        let (_, n) = k.arrived();
        k.release(n);
        drop(k);
        a.rxsync(r).unwrap();
    }

    let round = |ring: usize| -> (u64, u64) {
        let rx = ring % cfg.dst_rings as usize;
        let sent = a.krings(Dir::Tx)[ring].lock().submit(batch);
        assert_eq!(sent, batch, "tx ring has room for a batch");
        a.txsync(ring).unwrap();
        let got = {
            let mut k = b.krings(Dir::Rx)[rx].lock();
            let (_, n) = k.arrived();
            k.release(n)
        };
        b.rxsync(rx).unwrap();
        (sent as u64, got as u64)
    };

    let stop = AtomicBool::new(false);
    let start = Barrier::new(t + 1);
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (t0, outs) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..t)
            .map(|i| {
                let (round, stop, start) = (&round, &stop, &start);
                s.spawn(move || {
                    pin_to(i % ncpu);
                    let warm = Instant::now();
                    while warm.elapsed() < d / 10 {
                        round(i);
                    }
                    start.wait();
                    let c0 = thread_cpu_time();
                    let (mut sent, mut got) = (0, 0);
                    let mut rounds = 0u64;
                    loop {
                        let (s, g) = round(i);
                        sent += s;
                        got += g;
                        rounds += 1;
                        if rounds.is_multiple_of(16) && stop.load(Relaxed) {
                            break;
                        }
                    }
                    let cpu = thread_cpu_time() - c0;
                    (sent, got, cpu, Instant::now())
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        std::thread::sleep(d);
        stop.store(true, Relaxed);
        let outs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (t0, outs)
    });
    let end = outs.iter().map(|o| o.3).max().unwrap();
    let run = MtRun {
        frames: outs.iter().map(|o| o.0).sum(),
        delivered: outs.iter().map(|o| o.1).sum(),
        drops: b.counters().rx.drops(),
        wall: end - t0,
        cpu: outs.iter().map(|o| o.2).collect(),
    };
    a.detach();
    b.detach();
    run
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The multi-thread group for one batch size: one thread with one ring
/// pair, two threads with two ring pairs, and (contrast) two threads into
/// one destination ring, repeated `reps` times in turn. Prints each run
/// and the medians, and returns JSON objects for them and the verdict.
fn vale_mt(batch: u32, d: Duration, reps: usize, filter: Option<&str>) -> Vec<String> {
    let configs = [
        MtConfig {
            threads: 1,
            dst_rings: 1,
        },
        MtConfig {
            threads: 2,
            dst_rings: 2,
        },
        MtConfig {
            threads: 2,
            dst_rings: 1,
        },
    ];
    if filter.is_some_and(|f| !configs.iter().any(|c| c.name(batch).contains(f))) {
        return Vec::new();
    }
    println!(
        "vale-mt-60-b{batch}: {} core(s) available to the process; {reps} alternated repetitions of {:.1} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        d.as_secs_f64()
    );
    // Untimed: the first run in a process was steadily about 25 % slower
    // than the rest (fresh heap, clocks ramping up), which would bias the
    // first one-thread repetition.
    for c in &configs {
        run_mt(*c, batch, d / 4);
    }
    let mut runs: Vec<Vec<MtRun>> = configs.iter().map(|_| Vec::new()).collect();
    for rep in 0..reps {
        for (c, out) in configs.iter().zip(runs.iter_mut()) {
            let r = run_mt(*c, batch, d);
            let share: Vec<String> = r
                .cpu
                .iter()
                .map(|c| format!("{:.0}%", 100.0 * c.as_secs_f64() / r.wall.as_secs_f64()))
                .collect();
            println!(
                "  rep {rep} {:<32} {:>8.2} Mpps (wall) {:>8.2} CPU ns/frame  cpu/wall per thread {}  delivered {:.4} drops {}",
                c.name(batch),
                r.mpps(),
                r.cpu_ns_per_frame(),
                share.join(" "),
                r.delivered as f64 / r.frames as f64,
                r.drops
            );
            out.push(r);
        }
    }
    let mpps: Vec<f64> = runs
        .iter()
        .map(|v| median(v.iter().map(MtRun::mpps).collect()))
        .collect();
    let cpu: Vec<f64> = runs
        .iter()
        .map(|v| median(v.iter().map(MtRun::cpu_ns_per_frame).collect()))
        .collect();
    let mut json = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let label = if c.dst_rings == 1 && c.threads > 1 {
            "  (contended contrast: one shared destination ring)"
        } else {
            ""
        };
        println!(
            "{:<34} {:>10.2} {:>10.2} {:>6} {:>6}  median of {reps}: Mpps on the wall clock, CPU ns/frame summed over {} thread(s){label}",
            c.name(batch),
            mpps[i],
            cpu[i],
            60,
            batch,
            c.threads
        );
        let drops: u64 = runs[i].iter().map(|r| r.drops).sum();
        json.push(format!(
            "{{ \"name\": \"{}\", \"mpps\": {:.3}, \"cpu_ns_per_frame\": {:.3}, \"frame\": 60, \"batch\": {batch}, \"threads\": {}, \"dst_rings\": {}, \"reps\": {reps}, \"contended\": {}, \"drops\": {drops}, \"mpps_runs\": [{}], \"cpu_ns_per_frame_runs\": [{}] }}",
            c.name(batch),
            mpps[i],
            cpu[i],
            c.threads,
            c.dst_rings,
            c.dst_rings == 1 && c.threads > 1,
            runs[i].iter().map(|r| format!("{:.3}", r.mpps())).collect::<Vec<_>>().join(", "),
            runs[i].iter().map(|r| format!("{:.3}", r.cpu_ns_per_frame())).collect::<Vec<_>>().join(", "),
        ));
    }
    let (cpu_ratio, rate_ratio) = (cpu[1] / cpu[0], mpps[1] / mpps[0]);
    let pass = cpu_ratio <= 1.10;
    println!(
        "vale-mt-60-b{batch}: CPU/frame 2t/1t = {cpu_ratio:.3} ({}, limit 1.10), rate 2t/1t = {rate_ratio:.3}; contended contrast: CPU/frame {:.3}, rate {:.3}",
        if pass { "PASS" } else { "FAIL" },
        cpu[2] / cpu[0],
        mpps[2] / mpps[0]
    );
    json.push(format!(
        "{{ \"name\": \"vale-mt-60-b{batch}-scaling\", \"batch\": {batch}, \"cpu_ratio_2t_1t\": {cpu_ratio:.4}, \"rate_ratio_2t_1t\": {rate_ratio:.4}, \"limit\": 1.10, \"pass\": {pass}, \"contended_cpu_ratio\": {:.4}, \"contended_rate_ratio\": {:.4}, \"cores\": {} }}",
        cpu[2] / cpu[0],
        mpps[2] / mpps[0],
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    json
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
    let reps: usize = opt("--reps").and_then(|s| s.parse().ok()).unwrap_or(5);
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "datapath [--json FILE] [--filter NAME] [--secs S] [--reps N]\n  \
             --filter: run the cases whose name contains NAME (vale-mt: the multi-thread cases)\n  \
             --reps: repetitions of each multi-thread configuration (default 5)"
        );
        return;
    }

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
    let mut objs: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "{{ \"name\": \"{}\", \"mpps\": {:.3}, \"ns_per_pkt\": {:.3}, \"frame\": {}, \"batch\": {} }}",
                r.name, r.mpps, r.ns_per_pkt, r.frame, r.batch
            )
        })
        .collect();
    for batch in [256, 64] {
        objs.extend(vale_mt(
            batch,
            Duration::from_secs_f64(secs),
            reps,
            filter.as_deref(),
        ));
    }
    if let Some(path) = json {
        let mut out = String::from("[\n");
        for (i, o) in objs.iter().enumerate() {
            out += &format!("  {o}{}\n", if i + 1 < objs.len() { "," } else { "" });
        }
        out += "]\n";
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(out.as_bytes()))
            .expect("write json");
        println!("wrote {path}");
    }
}

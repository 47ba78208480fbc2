//! `cargo xtask bench e2e --backend vhost-user --smp 1,2 [--queues N]`:
//! the switch between two multi-queue vhost-user NICs with one or more
//! guest CPUs (issue 13).
//!
//! One VM per configuration (CPUs x queue pairs), all booted at the start
//! and left running (an idle guest halts; what each one costs while the
//! other is measured is recorded). Each round measures pktgen `txrx` from
//! one thread, frames of `--flows` UDP flows so that the NICs' flow hash
//! uses every queue pair, on every configuration in turn (the order
//! rotates from round to round); figures are medians over rounds, ratios
//! are taken within a round.
//!
//! Next to the forwarded rate it records, over a window inside the
//! measured part of the run, the host CPU time of each of QEMU's vCPU
//! threads (`CPU n/TCG`, `CPU n/KVM`: `/proc/PID/task/TID/schedstat`),
//! QEMU's main loop and the generator's process, each divided by the
//! frames forwarded in that time: nanoseconds of CPU per frame. On a
//! machine with fewer cores than busy threads the rates are the
//! scheduler's share; CPU per frame is the cost that more cores divide.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use integration::lab;
use integration::pktgen::{self, format_pps, Config, Mode, Report, Udp};
use integration::timeouts::COMMAND;
use integration::wire::Spec;
use integration::{Vm, VmOptions};
use serde_json::{json, Value};

use super::e2e::VhostWires;
use super::report::{self, median};
use crate::cli::{E2eBackend, E2eBenchArgs};

/// The multi-CPU target: CPU per frame with two pairs on two vCPUs within
/// this factor of the one-CPU figure.
const TARGET_RATIO: f64 = 1.10;

/// What a QEMU (or our own) thread is, by its name (`comm`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadKind {
    /// vCPU n (`CPU n/TCG`, `CPU n/KVM`, ...).
    Vcpu(u32),
    /// Single-threaded TCG runs every vCPU on one thread (`ALL CPUs/TCG`).
    AllVcpus,
    /// The main loop (the process's own name, `qemu-system-x86`).
    Main,
    Other,
}

/// Classify a thread by its `comm` (trailing newline allowed).
pub fn thread_kind(comm: &str) -> ThreadKind {
    let comm = comm.trim_end();
    if let Some(rest) = comm.strip_prefix("CPU ") {
        if let Some((n, _accel)) = rest.split_once('/') {
            if let Ok(n) = n.parse() {
                return ThreadKind::Vcpu(n);
            }
        }
    }
    if comm.starts_with("ALL CPUs/") {
        return ThreadKind::AllVcpus;
    }
    if comm.starts_with("qemu-system") {
        return ThreadKind::Main;
    }
    ThreadKind::Other
}

/// One thread's account at one moment.
#[derive(Clone, Debug)]
pub struct ThreadCpu {
    pub kind: ThreadKind,
    /// Nanoseconds it ran, and waited runnable for a CPU (schedstat).
    pub run_ns: u64,
    pub wait_ns: u64,
}

/// Every thread of process `pid`, by thread id (an empty map if the
/// process is gone).
pub fn threads(pid: u32) -> BTreeMap<u32, ThreadCpu> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(sched) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let f: Vec<u64> = sched
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        out.insert(
            tid,
            ThreadCpu {
                kind: thread_kind(&comm),
                run_ns: f.first().copied().unwrap_or(0),
                wait_ns: f.get(1).copied().unwrap_or(0),
            },
        );
    }
    out
}

/// CPU each kind of thread used between two snapshots (a thread that
/// appeared in between counts from zero; one that ended is lost).
pub fn cpu_between(
    a: &BTreeMap<u32, ThreadCpu>,
    b: &BTreeMap<u32, ThreadCpu>,
) -> BTreeMap<ThreadKind, (u64, u64)> {
    let mut out: BTreeMap<ThreadKind, (u64, u64)> = BTreeMap::new();
    for (tid, t1) in b {
        let (r0, w0) = a.get(tid).map_or((0, 0), |t| (t.run_ns, t.wait_ns));
        let e = out.entry(t1.kind.clone()).or_default();
        e.0 += t1.run_ns.saturating_sub(r0);
        e.1 += t1.wait_ns.saturating_sub(w0);
    }
    out
}

/// The guest's `stats` as key/value maps by line: a line whose second
/// word is a number is pairs from its first word (`passes P busy B`,
/// filed under its first key), else its first word names it (`ticks total
/// T ...`, `cpu1 passes P halts H ...`).
pub fn parse_stats(lines: &[String]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 2 {
            continue;
        }
        let (tag, pairs) = if w[1].trim_end_matches(',').parse::<u64>().is_ok() {
            (w[0], &w[..])
        } else {
            (w[0], &w[1..])
        };
        let mut m = BTreeMap::new();
        for p in pairs.chunks(2) {
            if let [k, v] = p {
                if let Ok(v) = v.trim_end_matches(',').parse() {
                    m.insert(k.to_string(), v);
                }
            }
        }
        if !m.is_empty() {
            out.insert(tag.to_string(), m);
        }
    }
    out
}

/// One configuration: a VM and the generator's two vhost-user backends.
struct Setup {
    smp: u32,
    queues: u16,
    vm: Vm,
    wires: VhostWires,
}

impl Setup {
    fn label(&self) -> String {
        label(self.smp, self.queues)
    }

    fn spec(&self, i: usize) -> Spec {
        self.wires.spec(i)
    }
}

fn label(smp: u32, queues: u16) -> String {
    format!("smp{smp} q{queues}")
}

/// The configurations asked for: every --smp with every --queues, or
/// with as many queue pairs as CPUs when --queues is not given.
pub fn configurations(smp: &[u32], queues: &[u16]) -> Result<Vec<(u32, u16)>, String> {
    let mut out = Vec::new();
    for &s in smp {
        if !(1..=16).contains(&s) {
            return Err(format!("--smp {s}: 1 to 16 CPUs"));
        }
        if queues.is_empty() {
            out.push((s, s.min(8) as u16));
        }
        for &q in queues {
            if !(1..=8).contains(&q) {
                return Err(format!("--queues {q}: 1 to 8 queue pairs"));
            }
            out.push((s, q));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The pair whose CPU per frame is compared, within each round: two (or
/// the most) CPUs on as many pairs, against one CPU on the fewest pairs.
/// The comparisons the bench reports: [`compared`] (the target),
/// and, when both ran, "N CPUs, 1 pair" against "N CPUs, N pairs" for the
/// largest N: the same number of vCPUs on both sides, so the same TCG mode
/// (with more than one vCPU, TCG translates the guest's locked
/// instructions into host atomics and every vCPU costs more per
/// instruction, whether it works or idles), one CPU forwarding everything
/// against one pair per CPU: what spreading the work costs, alone.
pub fn comparisons(configs: &[(u32, u16)]) -> Vec<((u32, u16), (u32, u16))> {
    let mut out: Vec<_> = compared(configs).into_iter().collect();
    if let Some(&(n, _)) = configs.iter().filter(|c| c.0 > 1).max_by_key(|c| c.0) {
        let (one, all) = ((n, 1), (n, n as u16));
        if configs.contains(&one) && configs.contains(&all) && !out.contains(&(one, all)) {
            out.push((one, all));
        }
    }
    out
}

pub fn compared(configs: &[(u32, u16)]) -> Option<((u32, u16), (u32, u16))> {
    let base = configs
        .iter()
        .copied()
        .find(|&c| c == (1, 1))
        .or_else(|| configs.first().copied())?;
    let other = configs
        .iter()
        .copied()
        .find(|&c| c == (2, 2))
        .or_else(|| configs.last().copied())?;
    (base != other).then_some((base, other))
}

fn boot_setup(args: &E2eBenchArgs, elf: &Path, smp: u32, queues: u16) -> Result<Setup, String> {
    let wires = VhostWires::new(&format!("smp{smp}-q{queues}"), 2, queues)?;
    let name = format!("bench-e2e-smp{smp}-q{queues}");
    let mut options = VmOptions::default().kernel(elf).name(&name).smp(smp);
    if args.kvm {
        options.accel = boot::qemu::Accel::Kvm;
    }
    for i in 0..2 {
        options = options.nic(wires.nic(i));
    }
    // Named threads (`CPU 0/TCG`, ...), so each vCPU's time can be told apart.
    options = options.arg("-name").arg(format!("{name},debug-threads=on"));
    for a in &args.qemu_args {
        options = options.arg(a);
    }
    let vm = Vm::boot_to_prompt(options).map_err(|e| format!("{name}: {e}"))?;
    let mut s = Setup {
        smp,
        queues,
        vm,
        wires,
    };
    for ep in &mut s.wires.eps {
        ep.wait_connected(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
    }
    for i in 0..2 {
        s.vm.command_ok(&format!("vale-ctl -a vale0:virtio{i}"), COMMAND)
            .map_err(|e| e.to_string())?;
    }
    let n = lab::nic_info(&mut s.vm, "virtio0", COMMAND).map_err(|e| e.to_string())?;
    let pairs = n.pairs.len().max(1);
    if pairs != queues as usize {
        return Err(format!(
            "{}: the guest drives {pairs} queue pairs of virtio0, not {queues}",
            s.label()
        ));
    }
    Ok(s)
}

/// One configuration measured once.
#[derive(Clone, Debug)]
struct Sample {
    report: Report,
    /// Seconds between the two CPU snapshots (inside the measured part).
    window_s: f64,
    /// Per vCPU (index; `u32::MAX` for a single all-vCPU thread): ns run
    /// and ns waited runnable in the window.
    vcpus: BTreeMap<u32, (u64, u64)>,
    main: (u64, u64),
    other: u64,
    /// This process: the generator thread and the backends' threads.
    generator: u64,
    /// The other VMs (idle) in the window, all their threads.
    idle_vms: u64,
    /// The guest's `stats` after the run (reset before it).
    stats: BTreeMap<String, BTreeMap<String, u64>>,
    /// Frames the guest's virtio0 received on each pair during the run.
    pair_rx: Vec<u64>,
}

impl Sample {
    /// ns of CPU per forwarded frame for `ns` used in the window.
    fn per_frame(&self, ns: u64) -> f64 {
        let rate = self.report.rx_pps.max(1e-9);
        ns as f64 / self.window_s.max(1e-9) / rate
    }

    fn vcpu_sum(&self) -> u64 {
        self.vcpus.values().map(|v| v.0).sum()
    }

    fn vcpu_ns_per_frame(&self) -> f64 {
        self.per_frame(self.vcpu_sum())
    }

    /// Host CPU of the vCPU threads per frame, counting of each vCPU only
    /// the share of its awake time that its guest spent in passes that
    /// moved frames (`stats`' `cpuN` busy-ticks against idle-ticks; a
    /// halted TCG vCPU uses no host CPU): the forwarding work, without
    /// polling empty rings. A CPU with less than a core's worth of frames
    /// polls empty rings the rest of the time, so spreading one
    /// generator's frames over more CPUs raises the plain figure even when
    /// nothing contends. `NaN` without per-CPU figures (one TCG thread).
    fn vcpu_busy_ns_per_frame(&self) -> f64 {
        let mut ns = 0.0;
        for (&i, v) in &self.vcpus {
            let Some(m) = self.stats.get(&format!("cpu{i}")) else {
                return f64::NAN;
            };
            let (b, idle) = (m.get("busy-ticks"), m.get("idle-ticks"));
            let (Some(&b), Some(&idle)) = (b, idle) else {
                return f64::NAN;
            };
            if b + idle > 0 {
                ns += v.0 as f64 * b as f64 / (b + idle) as f64;
            }
        }
        self.per_frame(ns as u64)
    }

    /// The guest's own account of its busy time per frame: every CPU's
    /// TSC time in passes that moved frames, over the frames they moved
    /// (`stats`' first lines sum the CPUs). Under `-icount shift=0` a
    /// nanosecond of guest time is one instruction, so this becomes guest
    /// instructions per frame in busy passes: the work, without idle
    /// polling and without the host's scheduling.
    fn guest_busy_ns(&self) -> f64 {
        let t = self.stats.get("ticks");
        let f = self.stats.get("passes").and_then(|m| m.get("frames"));
        match (
            t.and_then(|m| m.get("busy")),
            t.and_then(|m| m.get("tsc-hz")),
            f,
        ) {
            (Some(&b), Some(&hz), Some(&f)) if hz > 0 && f > 0 => {
                b as f64 * 1e9 / hz as f64 / f as f64
            }
            _ => f64::NAN,
        }
    }

    /// Seconds the guest's counters ran (from `stats reset`, its TSC).
    fn guest_secs(&self) -> f64 {
        let t = self.stats.get("ticks");
        match (
            t.and_then(|m| m.get("total")),
            t.and_then(|m| m.get("tsc-hz")),
        ) {
            (Some(&n), Some(&hz)) if hz > 0 && n > 0 => n as f64 / hz as f64,
            _ => f64::NAN,
        }
    }

    fn guest_cpus(&self) -> Vec<(String, &BTreeMap<String, u64>)> {
        let mut v: Vec<_> = self
            .stats
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix("cpu")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .map(|(k, m)| (k.clone(), m))
            .collect();
        v.sort_by_key(|(k, _)| k[3..].parse::<u32>().unwrap_or(0));
        v
    }

    fn json(&self) -> Value {
        let r = &self.report;
        let vname = |i: u32| {
            if i == u32::MAX {
                "all".to_string()
            } else {
                format!("cpu{i}")
            }
        };
        json!({
            "sent": r.sent, "received": r.received, "lost": r.lost, "reorder": r.reorder,
            "tx_pps": r.tx_pps, "rx_pps": r.rx_pps, "duration_s": r.duration_s,
            "cpu_window_s": self.window_s,
            "vcpu_ns_per_frame": self.vcpus.iter().map(|(&i, v)| (vname(i), json!(self.per_frame(v.0)))).collect::<serde_json::Map<_, _>>(),
            "vcpu_ns_per_frame_sum": self.vcpu_ns_per_frame(),
            "vcpu_busy_ns_per_frame_sum": self.vcpu_busy_ns_per_frame(),
            "vcpu_cpu_share": self.vcpus.iter().map(|(&i, v)| (vname(i), json!(v.0 as f64 / 1e9 / self.window_s))).collect::<serde_json::Map<_, _>>(),
            "vcpu_runnable_wait_share": self.vcpus.iter().map(|(&i, v)| (vname(i), json!(v.1 as f64 / 1e9 / self.window_s))).collect::<serde_json::Map<_, _>>(),
            "qemu_main_ns_per_frame": self.per_frame(self.main.0),
            "qemu_main_cpu_share": self.main.0 as f64 / 1e9 / self.window_s,
            "qemu_main_runnable_wait_share": self.main.1 as f64 / 1e9 / self.window_s,
            "qemu_other_ns_per_frame": self.per_frame(self.other),
            "generator_ns_per_frame": self.per_frame(self.generator),
            "generator_cpu_share": self.generator as f64 / 1e9 / self.window_s,
            "idle_vms_cpu_share": self.idle_vms as f64 / 1e9 / self.window_s,
            "guest_busy_ns_per_frame": self.guest_busy_ns(),
            "guest_counted_s": self.guest_secs(),
            "guest_cpus": self.guest_cpus().iter().map(|(k, m)| (k.clone(), json!(m))).collect::<serde_json::Map<_, _>>(),
            "guest_virtio0_rx_frames_per_pair": self.pair_rx,
        })
    }
}

/// The snapshots a measurement takes: QEMU's threads, ours, the other VMs'.
struct Snap {
    at: Instant,
    qemu: BTreeMap<u32, ThreadCpu>,
    own: BTreeMap<u32, ThreadCpu>,
    others: Vec<BTreeMap<u32, ThreadCpu>>,
}

fn snap(pid: u32, others: &[u32]) -> Snap {
    Snap {
        at: Instant::now(),
        qemu: threads(pid),
        own: threads(std::process::id()),
        others: others.iter().map(|&p| threads(p)).collect(),
    }
}

fn pair_rx(vm: &mut Vm) -> Result<Vec<u64>, String> {
    let n = lab::nic_info(vm, "virtio0", COMMAND).map_err(|e| e.to_string())?;
    Ok(if n.pairs.is_empty() {
        vec![n.counters.rx_pkts]
    } else {
        n.pairs.iter().map(|p| p.rx_pkts).collect()
    })
}

fn measure(
    s: &mut Setup,
    others: &[u32],
    args: &E2eBenchArgs,
    size: usize,
) -> Result<Sample, String> {
    let mut cfg = Config::new(Mode::TxRx);
    cfg.tx = Some(s.spec(0));
    cfg.rx = Some(s.spec(1));
    cfg.udp = Some(Udp::default());
    cfg.flows = args.flows;
    cfg.size = size;
    cfg.duration = Duration::from_secs_f64(args.duration);
    cfg.warmup = Duration::from_secs_f64(args.warmup);
    cfg.one_thread = true;
    cfg.busy_poll = Duration::from_millis(2);
    cfg.timeout = Duration::from_secs(1);
    let p0 = pair_rx(&mut s.vm)?;
    s.vm.command_ok("stats reset", COMMAND)
        .map_err(|e| e.to_string())?;
    let pid = s.vm.pid();
    // The CPU window: inside the measured part (after the learning frame's
    // 100 ms and the warm-up, before the end), away from both edges.
    let margin = (args.duration * 0.1).min(0.2);
    let start = Duration::from_secs_f64(0.1 + args.warmup + margin);
    let end = Duration::from_secs_f64(0.1 + args.warmup + args.duration - margin);
    let t0 = Instant::now();
    let (tx, rx) = s.wires.eps.split_at_mut(1);
    let (report, snaps) = std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            std::thread::sleep(start.saturating_sub(t0.elapsed()));
            let s0 = snap(pid, others);
            std::thread::sleep(end.saturating_sub(t0.elapsed()));
            (s0, snap(pid, others))
        });
        let r = pktgen::run_with(&cfg, Some(&mut tx[0]), Some(&mut rx[0]));
        (r, h.join().expect("sampler"))
    });
    let report = report.map_err(|e| format!("pktgen {} {size} B: {e}", s.label()))?;
    if report.received == 0 {
        s.vm.mark_failed();
        return Err(format!(
            "{} {size} B: nothing came back ({} sent; serial log: {})",
            s.label(),
            report.sent,
            s.vm.log_path().display()
        ));
    }
    let (s0, s1) = snaps;
    let lines =
        s.vm.command_ok("stats", COMMAND)
            .map_err(|e| e.to_string())?;
    let p1 = pair_rx(&mut s.vm)?;
    let q = cpu_between(&s0.qemu, &s1.qemu);
    let mut vcpus = BTreeMap::new();
    let (mut main, mut other) = ((0, 0), 0);
    for (k, v) in &q {
        match k {
            ThreadKind::Vcpu(n) => {
                vcpus.insert(*n, *v);
            }
            ThreadKind::AllVcpus => {
                vcpus.insert(u32::MAX, *v);
            }
            ThreadKind::Main => main = *v,
            ThreadKind::Other => other += v.0,
        }
    }
    let sum = |m: &BTreeMap<ThreadKind, (u64, u64)>| m.values().map(|v| v.0).sum::<u64>();
    let idle_vms = s0
        .others
        .iter()
        .zip(&s1.others)
        .map(|(a, b)| sum(&cpu_between(a, b)))
        .sum();
    Ok(Sample {
        window_s: (s1.at - s0.at).as_secs_f64(),
        vcpus,
        main,
        other,
        generator: sum(&cpu_between(&s0.own, &s1.own)),
        idle_vms,
        stats: parse_stats(&lines),
        pair_rx: p1
            .iter()
            .zip(p0.iter().chain(std::iter::repeat(&0)))
            .map(|(b, a)| b.saturating_sub(*a))
            .collect(),
        report,
    })
}

pub fn run(args: &E2eBenchArgs, elf: &Path) -> Result<(), String> {
    if args.backend != E2eBackend::VhostUser {
        return Err("--smp is for --backend vhost-user (multi-queue NICs)".into());
    }
    if args.qlen.is_some() {
        return Err("--qlen is for the dgram backend".into());
    }
    if args.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    let margin = (args.duration * 0.1).min(0.2);
    if args.duration - 2.0 * margin < 0.1 {
        return Err("--duration is too short for a CPU window (at least 0.2 s)".into());
    }
    let configs = configurations(&args.smp, &args.queues)?;
    let load_before = report::load_average();
    let mut setups = Vec::new();
    for &(smp, q) in &configs {
        eprintln!("bench e2e: booting {} ...", label(smp, q));
        setups.push(boot_setup(args, elf, smp, q)?);
    }
    let pids: Vec<u32> = setups.iter().map(|s| s.vm.pid()).collect();
    // samples[(size, config index)]
    let mut samples: BTreeMap<(usize, usize), Vec<Sample>> = BTreeMap::new();
    for round in 0..args.runs {
        for &size in &args.sizes {
            // Each round starts with the next configuration: none is
            // always first (or last) after the others.
            for k in 0..setups.len() {
                let i = (k + round) % setups.len();
                let others: Vec<u32> = pids
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, &p)| p)
                    .collect();
                let s = measure(&mut setups[i], &others, args, size)?;
                progress(round, args.runs, &setups[i].label(), size, &s);
                samples.entry((size, i)).or_default().push(s);
            }
        }
    }
    let load_after = report::load_average();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    println!(
        "end to end, several guest CPUs: pktgen (one thread, {} UDP flows) -> 2 vhost-user NICs -> vale0 ({}); medians of {} rounds of {:.1} s",
        args.flows,
        if args.kvm { "KVM" } else { "TCG" },
        args.runs,
        args.duration
    );
    println!("CPU columns: ns of host CPU per forwarded frame (share of a core in brackets), measured inside each run");
    let mut rows = vec![vec![
        "config".to_string(),
        "size".into(),
        "forwarded".into(),
        "loss".into(),
        "vCPU ns/frame each (share)".into(),
        "vCPU sum".into(),
        "of it forwarding".into(),
        "vCPU waited".into(),
        "QEMU main".into(),
        "generator".into(),
        "virtio0 rx by pair".into(),
        "guest halts/s by CPU".into(),
        "guest busy/frame".into(),
    ]];
    let mut out = Vec::new();
    for &size in &args.sizes {
        for (i, s) in setups.iter().enumerate() {
            let Some(v) = samples.get(&(size, i)) else {
                continue;
            };
            let med = |f: &dyn Fn(&Sample) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
            let vcpu_ids: Vec<u32> = v[0].vcpus.keys().copied().collect();
            let each = vcpu_ids
                .iter()
                .map(|&n| {
                    let ns = med(&|x| x.per_frame(x.vcpus.get(&n).map_or(0, |c| c.0)));
                    let share = med(&|x| {
                        x.vcpus
                            .get(&n)
                            .map_or(0.0, |c| c.0 as f64 / 1e9 / x.window_s)
                    });
                    let name = if n == u32::MAX {
                        "all".into()
                    } else {
                        format!("{n}")
                    };
                    format!("{name}: {ns:.0} ({:.0}%)", share * 100.0)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let wait =
                med(&|x| x.vcpus.values().map(|c| c.1).sum::<u64>() as f64 / 1e9 / x.window_s);
            let pairs = v[0].pair_rx.len();
            let by_pair = (0..pairs)
                .map(|k| {
                    format!(
                        "{:.0}%",
                        med(&|x| {
                            x.pair_rx.get(k).copied().unwrap_or(0) as f64 * 100.0
                                / x.pair_rx.iter().sum::<u64>().max(1) as f64
                        })
                    )
                })
                .collect::<Vec<_>>()
                .join("/");
            let halts = v[0]
                .guest_cpus()
                .iter()
                .map(|(k, _)| {
                    let k = k.clone();
                    format!(
                        "{:.0}",
                        med(&|x| {
                            let h = x.stats.get(&k).and_then(|m| m.get("halts")).copied();
                            h.unwrap_or(0) as f64 / x.guest_secs()
                        })
                    )
                })
                .collect::<Vec<_>>()
                .join("/");
            rows.push(vec![
                s.label(),
                format!("{size} B"),
                format_pps(med(&|x| x.report.rx_pps)),
                format!("{:.1} %", med(&|x| x.report.loss_pct())),
                each,
                format!("{:.0}", med(&|x| x.vcpu_ns_per_frame())),
                format!("{:.0}", med(&|x| x.vcpu_busy_ns_per_frame())),
                format!("{:.0}%", wait * 100.0),
                format!(
                    "{:.0} ({:.0}%)",
                    med(&|x| x.per_frame(x.main.0)),
                    med(&|x| x.main.0 as f64 / 1e9 / x.window_s) * 100.0
                ),
                format!(
                    "{:.0} ({:.0}%)",
                    med(&|x| x.per_frame(x.generator)),
                    med(&|x| x.generator as f64 / 1e9 / x.window_s) * 100.0
                ),
                by_pair,
                halts,
                format!("{:.0} ns", med(&|x| x.guest_busy_ns())),
            ]);
            out.push(json!({
                "smp": s.smp, "queues": s.queues, "config": s.label(), "size": size,
                "median": {
                    "rx_pps": med(&|x| x.report.rx_pps), "tx_pps": med(&|x| x.report.tx_pps),
                    "loss_pct": med(&|x| x.report.loss_pct()),
                    "vcpu_ns_per_frame_sum": med(&|x| x.vcpu_ns_per_frame()),
                    "vcpu_busy_ns_per_frame_sum": med(&|x| x.vcpu_busy_ns_per_frame()),
                    "qemu_main_ns_per_frame": med(&|x| x.per_frame(x.main.0)),
                    "generator_ns_per_frame": med(&|x| x.per_frame(x.generator)),
                },
                "runs": v.iter().map(Sample::json).collect::<Vec<_>>(),
            }));
        }
    }
    report::table(&rows);
    let mut ratios = Vec::new();
    for (base, other) in comparisons(&configs) {
        let bi = configs.iter().position(|&c| c == base).expect("listed");
        let oi = configs.iter().position(|&c| c == other).expect("listed");
        for &size in &args.sizes {
            let (Some(a), Some(b)) = (samples.get(&(size, bi)), samples.get(&(size, oi))) else {
                continue;
            };
            // Within each round: this figure of `other` over that of `base`.
            let per_round = |f: fn(&Sample) -> f64| -> Vec<f64> {
                a.iter().zip(b).map(|(a, b)| f(b) / f(a)).collect()
            };
            let cpu = per_round(Sample::vcpu_ns_per_frame);
            let rate = per_round(|x| x.report.rx_pps);
            let busy = per_round(Sample::guest_busy_ns);
            let mb = median(&busy);
            let work = per_round(Sample::vcpu_busy_ns_per_frame);
            let mw = median(&work);
            let (m, mr) = (median(&cpu), median(&rate));
            let pass = m <= TARGET_RATIO;
            let verdict = |m: f64| if m <= TARGET_RATIO { "PASS" } else { "FAIL" };
            let list = |v: &[f64]| {
                v.iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "{size} B: guest CPU/frame ({}) / ({}), per round: {} (median {m:.2}); rate ratio {} (median {mr:.2})",
                label(other.0, other.1),
                label(base.0, base.1),
                list(&cpu),
                list(&rate),
            );
            println!(
                "{size} B: {} (target: at most {:.0} % more vCPU time per frame)",
                verdict(m),
                (TARGET_RATIO - 1.0) * 100.0
            );
            println!(
                "{size} B: vCPU CPU/frame in passes that moved frames (no empty-ring polling) ({}) / ({}), per round: {} (median {mw:.2}): {}",
                label(other.0, other.1),
                label(base.0, base.1),
                list(&work),
                verdict(mw),
            );
            println!(
                "{size} B: guest busy time/frame (its own account, every CPU) ({}) / ({}), per round: {} (median {mb:.2}): {}",
                label(other.0, other.1),
                label(base.0, base.1),
                list(&busy),
                verdict(mb),
            );
            ratios.push(json!({
                "size": size, "base": label(base.0, base.1), "compared": label(other.0, other.1),
                "vcpu_ns_per_frame_ratio_per_round": cpu, "vcpu_ns_per_frame_ratio_median": m,
                "rx_pps_ratio_per_round": rate, "rx_pps_ratio_median": mr,
                "guest_busy_ns_per_frame_ratio_per_round": busy, "guest_busy_ns_per_frame_ratio_median": mb,
                "vcpu_busy_ns_per_frame_ratio_per_round": work, "vcpu_busy_ns_per_frame_ratio_median": mw,
                "target": TARGET_RATIO, "pass": pass,
            }));
        }
    }
    let show = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.1}"));
    let most = configs.iter().map(|c| c.0).max().unwrap_or(1) as usize;
    println!(
        "host: {cpus} CPUs for the generator's thread and up to {most} vCPU threads (+ QEMU's main loop); load average (1 min) {} before, {} after{}",
        show(load_before),
        show(load_after),
        if cpus < most + 1 {
            ": rates are shares of too few cores; CPU per frame is what more cores divide"
        } else {
            ""
        }
    );
    if let Some(path) = &args.json {
        let value = json!({
            "bench": "e2e-smp",
            "machine": report::machine(),
            "config": { "accel": if args.kvm { "kvm" } else { "tcg" }, "machine": "pc", "backend": "vhost-user",
                        "nics": 2, "configs": configs.iter().map(|&(s, q)| json!({"smp": s, "queues": q})).collect::<Vec<_>>(),
                        "flows": args.flows, "rounds": args.runs, "duration_s": args.duration, "warmup_s": args.warmup,
                        "one_thread": true, "kernel": elf, "qemu_args": args.qemu_args },
            "cases": out,
            "ratios": ratios,
            "load_average": { "before": load_before, "after": load_after },
        });
        report::write_json(path, &value)?;
    }
    Ok(())
}

fn progress(round: usize, runs: usize, label: &str, size: usize, s: &Sample) {
    let r = &s.report;
    let each = s
        .vcpus
        .iter()
        .map(|(&n, c)| {
            let name = if n == u32::MAX {
                "all".into()
            } else {
                format!("cpu{n}")
            };
            format!("{name} {:.0}", s.per_frame(c.0))
        })
        .collect::<Vec<_>>()
        .join(" + ");
    eprintln!(
        "bench e2e: round {}/{runs} {label} {size} B: sent {}, forwarded {} ({:.1} % lost); vCPU ns/frame {each} = {:.0}; QEMU main {:.0}, generator {:.0} ns/frame; virtio0 rx by pair {:?}; idle VMs {:.0} % of a core",
        round + 1,
        format_pps(r.tx_pps),
        format_pps(r.rx_pps),
        r.loss_pct(),
        s.vcpu_ns_per_frame(),
        s.per_frame(s.main.0),
        s.per_frame(s.generator),
        s.pair_rx,
        s.idle_vms as f64 / 1e9 / s.window_s * 100.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names() {
        assert_eq!(thread_kind("CPU 0/TCG\n"), ThreadKind::Vcpu(0));
        assert_eq!(thread_kind("CPU 11/KVM"), ThreadKind::Vcpu(11));
        assert_eq!(thread_kind("ALL CPUs/TCG"), ThreadKind::AllVcpus);
        assert_eq!(thread_kind("qemu-system-x86\n"), ThreadKind::Main);
        assert_eq!(thread_kind("CPU x/TCG"), ThreadKind::Other);
        assert_eq!(thread_kind("vhost_user_fs"), ThreadKind::Other);
    }

    #[test]
    fn configurations_pair_cpus_with_queues_unless_told() {
        assert_eq!(configurations(&[1, 2], &[]).unwrap(), [(1, 1), (2, 2)]);
        assert_eq!(configurations(&[2, 1], &[2]).unwrap(), [(1, 2), (2, 2)]);
        assert_eq!(
            configurations(&[1, 2], &[1, 2]).unwrap(),
            [(1, 1), (1, 2), (2, 1), (2, 2)]
        );
        assert!(configurations(&[0], &[]).is_err());
        assert!(configurations(&[1], &[9]).is_err());
        assert_eq!(
            compared(&[(1, 1), (1, 2), (2, 1), (2, 2)]),
            Some(((1, 1), (2, 2)))
        );
        assert_eq!(compared(&[(1, 2), (2, 2)]), Some(((1, 2), (2, 2))));
        assert_eq!(compared(&[(2, 2)]), None);
        assert_eq!(
            comparisons(&[(1, 1), (1, 2), (2, 1), (2, 2)]),
            [((1, 1), (2, 2)), ((2, 1), (2, 2))]
        );
        assert_eq!(comparisons(&[(1, 1), (2, 2)]), [((1, 1), (2, 2))]);
    }

    #[test]
    fn stats_lines_parse_by_tag() {
        let lines: Vec<String> = [
            "passes 10 busy 4 halts 6 frames 100",
            "ticks total 1000 busy 400 idle-poll 10 halted 500 other 90 tsc-hz 1000000000",
            "per-frame 4 ticks, 4 ns; per-busy-pass 25 frames",
            "cpu0 passes 10 halts 6 ticks 3 irqs 9",
            "cpu1 passes 2 halts 2 ticks 3 irqs 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = parse_stats(&lines);
        assert_eq!(m["passes"]["frames"], 100);
        assert_eq!(m["ticks"]["tsc-hz"], 1_000_000_000);
        assert_eq!(m["cpu1"]["halts"], 2);
        assert_eq!(m["cpu0"]["irqs"], 9);
    }

    /// The per-thread account, on this test's own threads: a thread named
    /// like a vCPU that spins is found, by index, with the time it ran.
    #[test]
    fn per_thread_cpu_finds_a_spinning_vcpu_thread() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("CPU 7/TCG".into())
                .spawn_scoped(s, || {
                    started.store(true, Ordering::Release);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .unwrap();
            while !started.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            let a = threads(std::process::id());
            std::thread::sleep(Duration::from_millis(300));
            let b = threads(std::process::id());
            stop.store(true, Ordering::Relaxed);
            let d = cpu_between(&a, &b);
            let (run, wait) = d.get(&ThreadKind::Vcpu(7)).copied().unwrap_or_default();
            // It ran or waited for a core the whole time (the machine may
            // be shared), and ran for some of it.
            assert!(run > 20_000_000, "ran {run} ns of 300 ms");
            assert!(run + wait > 200_000_000, "ran {run} + waited {wait} ns");
        });
    }
}

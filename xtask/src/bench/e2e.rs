//! `cargo xtask bench e2e`: frames through QEMU and the guest, end to end.
//!
//! One VM with two NICs whose host ends are pktgen's: QEMU's unix datagram
//! sockets (`--backend dgram`), or vhost-user sockets that pktgen serves as
//! the NICs' device side (`--backend vhost-user`: the guest's rings in
//! shared memory, QEMU's main loop out of the per-frame path). Each round:
//!
//! 1. both NICs on `vale0`: pktgen `txrx` (open loop, as fast as the tx
//!    socket takes frames) at every size: forwarded frames per second;
//!    `ping` with many frames in flight (closed loop: lossless rate);
//!    `ping` one at a time: round-trip latency;
//! 2. `virtio0` off the switch and the in-kernel reflector on it
//!    (`reflect virtio0`): the same closed-loop rate and latency on one
//!    NIC, no switch: what QEMU's virtio-net and the socket backend carry
//!    at all, the ceiling for (1);
//! 3. with vhost-user, the generator's own ceiling: `tx` into `virtio0`
//!    alone on `vale0`, whose broadcast frames the switch drops at once.
//!
//! Next to every figure it records where the time went: CPU of QEMU's
//! threads (the TCG vCPU, the main loop that does the socket I/O),
//! pktgen's CPU, the guest's own account (`stats`: TSC ticks per frame,
//! how often it halted) and doorbells per frame (`ifconfig`). The machine
//! is shared: each case runs in every round, figures are medians, and
//! ratios are taken within a round.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration::hmp::Hmp;
use integration::lab::{self, DgramWires, Exits};
use integration::pktgen::{self, format_pps, Config, Mode, Report};
use integration::timeouts::COMMAND;
use integration::wire::netns::{self, NetNs};
use integration::{Vm, VmOptions};
use serde_json::{json, Value};

use super::report::{self, median};
use crate::build;
use crate::cli::{E2eBackend, E2eBenchArgs};
use crate::setup;
use integration::wire::{Endpoint, Options, Spec};

/// Nanoseconds QEMU's threads ran, and waited runnable for a CPU (from
/// `/proc/PID/task/*/schedstat`), by kind: the TCG vCPU, the main loop
/// (device emulation and the socket I/O of every NIC), the rest.
#[derive(Clone, Copy, Debug, Default)]
struct QemuCpu {
    vcpu_run: u64,
    vcpu_wait: u64,
    main_run: u64,
    main_wait: u64,
    other_run: u64,
}

fn qemu_cpu(pid: u32) -> QemuCpu {
    let mut c = QemuCpu::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return c;
    };
    for t in tasks.flatten() {
        let sched = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let f: Vec<u64> = sched
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let (run, wait) = (
            f.first().copied().unwrap_or(0),
            f.get(1).copied().unwrap_or(0),
        );
        if comm.starts_with("CPU ") {
            c.vcpu_run += run;
            c.vcpu_wait += wait;
        } else if comm.starts_with("qemu-system") {
            c.main_run += run;
            c.main_wait += wait;
        } else {
            c.other_run += run;
        }
    }
    c
}

/// The guest's `stats` (after a `stats reset`).
#[derive(Clone, Copy, Debug, Default)]
struct GuestStats {
    passes: u64,
    busy: u64,
    halts: u64,
    frames: u64,
    total: u64,
    busy_ticks: u64,
    idle_ticks: u64,
    halted: u64,
    hz: u64,
    /// Events that cost a VM exit under KVM (`stats`' `exits` line).
    exits: Exits,
}

fn guest_stats(vm: &mut Vm) -> Result<GuestStats, String> {
    let lines = vm.command_ok("stats", COMMAND).map_err(|e| e.to_string())?;
    // `passes P busy B halts H frames F`, then
    // `ticks total T busy X idle-poll Y halted Z other O tsc-hz N`.
    let value = |prefix: &str, key: &str| -> Result<u64, String> {
        let line = lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .ok_or_else(|| format!("no `{prefix}` line in stats: {lines:?}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == key)
            .and_then(|w| w[1].trim_end_matches(',').parse().ok())
            .ok_or_else(|| format!("no {key} in stats line {line:?}"))
    };
    Ok(GuestStats {
        passes: value("passes", "passes")?,
        busy: value("passes", "busy")?,
        halts: value("passes", "halts")?,
        frames: value("passes", "frames")?,
        total: value("ticks", "total")?,
        busy_ticks: value("ticks", "busy")?,
        idle_ticks: value("ticks", "idle-poll")?,
        halted: value("ticks", "halted")?,
        hz: value("ticks", "tsc-hz")?,
        exits: lines
            .iter()
            .find(|l| l.starts_with("exits "))
            .and_then(|l| Exits::parse(l))
            .ok_or_else(|| format!("no parsable `exits` line in stats: {lines:?}"))?,
    })
}

/// Doorbells and suppressed doorbells of all NICs.
fn kicks(vm: &mut Vm, nics: usize) -> Result<(u64, u64), String> {
    let mut k = (0, 0);
    for i in 0..nics {
        let n = lab::nic_info(vm, &format!("virtio{i}"), COMMAND).map_err(|e| e.to_string())?;
        k.0 += n.kicks;
        k.1 += n.suppressed;
    }
    Ok(k)
}

/// Drops on every switch port (ring full, no destination).
fn drops(vm: &mut Vm) -> Result<u64, String> {
    Ok(lab::switch_ports(vm, COMMAND)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|p| p.counters.ring_full + p.counters.no_dest + p.counters.short)
        .sum())
}

/// One measured case of one round.
#[derive(Clone, Debug)]
struct Sample {
    report: Report,
    /// Seconds of CPU per second of run, and seconds spent runnable but
    /// waiting for a CPU (the shared machine's other load).
    vcpu: f64,
    vcpu_wait: f64,
    qemu_main: f64,
    qemu_main_wait: f64,
    pktgen: f64,
    guest: GuestStats,
    kicks_per_frame: f64,
    switch_drops: u64,
}

impl Sample {
    fn guest_ns_per_frame(&self) -> f64 {
        let g = &self.guest;
        if g.frames == 0 || g.hz == 0 {
            return f64::NAN;
        }
        g.busy_ticks as f64 / g.frames as f64 * 1e9 / g.hz as f64
    }

    /// Microseconds of a thread's CPU per frame that made it through (per
    /// frame sent, for the generator's tx-only ceiling).
    fn us_per_frame(&self, share: f64) -> f64 {
        let moved = if self.report.mode == Mode::Tx {
            self.report.sent
        } else {
            self.report.received
        };
        let frames = moved as f64 / self.report.duration_s.max(1e-9);
        share / frames.max(1e-9) * 1e6
    }

    /// A guest event count per frame moved (sent + received by pktgen).
    fn per_frame(&self, n: u64) -> f64 {
        n as f64 / (self.report.sent + self.report.received).max(1) as f64
    }

    /// Interrupts the vhost-user backend sent the guest, per frame moved
    /// (NaN on the dgram path, where QEMU sends them).
    fn irqs_per_frame(&self) -> f64 {
        let r = &self.report;
        r.vhost.as_ref().map_or(f64::NAN, |v| {
            v.interrupts as f64 / (r.sent + r.received).max(1) as f64
        })
    }

    fn halts_per_frame(&self) -> f64 {
        self.guest.halts as f64 / self.report.received.max(1) as f64
    }

    fn halted_pct(&self) -> f64 {
        if self.guest.total == 0 {
            return f64::NAN;
        }
        self.guest.halted as f64 * 100.0 / self.guest.total as f64
    }

    fn json(&self) -> Value {
        let r = &self.report;
        json!({
            "sent": r.sent, "received": r.received, "lost": r.lost,
            "tx_pps": r.tx_pps, "rx_pps": r.rx_pps, "duration_s": r.duration_s,
            "rtt_us": r.rtt_us.as_ref().map(|t| json!({"p50": t.p50, "p90": t.p90, "p99": t.p99, "max": t.max, "samples": t.samples})),
            "pktgen_cpu": self.pktgen, "qemu_vcpu_cpu": self.vcpu, "qemu_main_cpu": self.qemu_main,
            "qemu_vcpu_runnable_wait": self.vcpu_wait, "qemu_main_runnable_wait": self.qemu_main_wait,
            "guest": {
                "frames": self.guest.frames, "passes": self.guest.passes, "busy_passes": self.guest.busy,
                "halts": self.guest.halts, "ns_per_frame_busy": self.guest_ns_per_frame(),
                "halted_pct": self.halted_pct(), "idle_poll_ticks": self.guest.idle_ticks,
            },
            "kicks_per_frame": self.kicks_per_frame,
            "backend_interrupts_per_frame": self.irqs_per_frame(),
            "exits_per_frame": {
                "doorbells": self.per_frame(self.guest.exits.doorbells),
                "irqs": self.per_frame(self.guest.exits.irqs),
                "halts": self.per_frame(self.guest.exits.halts),
                "timer_ticks": self.per_frame(self.guest.exits.ticks),
                "pio": self.per_frame(self.guest.exits.pio),
                "mmio": self.per_frame(self.guest.exits.mmio),
                "total": self.per_frame(self.guest.exits.total()),
            },
            "halts_per_frame": self.halts_per_frame(),
            "cpu_us_per_frame": { "qemu_vcpu": self.us_per_frame(self.vcpu), "qemu_io": self.us_per_frame(self.qemu_main), "pktgen": self.us_per_frame(self.pktgen) },
            "switch_drops": self.switch_drops,
            "vhost": r.vhost.as_ref().map(|v| serde_json::from_str::<Value>(&v.to_json()).unwrap_or(Value::Null)),
        })
    }
}

/// What to run.
#[derive(Clone, Debug)]
struct Case {
    /// `switch` or `reflector`.
    path: &'static str,
    /// `txrx`, `ping-rate` (many in flight), `ping` (one in flight), or
    /// `tx` (the generator's ceiling).
    kind: &'static str,
    size: usize,
}

impl Case {
    fn key(&self) -> String {
        format!("{} {} {}", self.path, self.kind, self.size)
    }
}

/// vhost-user NICs: pktgen's backends, open for the whole run (QEMU
/// connects once, at start; the guest stays attached between cases).
pub(super) struct VhostWires {
    dir: std::path::PathBuf,
    pub(super) eps: Vec<Endpoint>,
    queues: u16,
}

impl VhostWires {
    /// `n` vhost-user backends of `queues` pairs each, served by this
    /// process (the generator is their device), in a fresh directory named
    /// after `tag`.
    pub(super) fn new(tag: &str, n: usize, queues: u16) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("nmbench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let opts = Options {
            // Keep polling while frames come: the generator's thread is the
            // device, and a sleep costs a kick through the protocol thread.
            busy_poll: Duration::from_millis(2),
            ..Options::default()
        };
        let mut w = Self {
            dir,
            eps: Vec::new(),
            queues,
        };
        for i in 0..n {
            let ep = Endpoint::open_with(&w.spec(i), &opts).map_err(|e| e.to_string())?;
            w.eps.push(ep);
        }
        Ok(w)
    }

    pub(super) fn nic(&self, i: usize) -> boot::Nic {
        boot::Nic::vhost_user(self.dir.join(format!("v{i}.sock"))).with_queues(self.queues)
    }

    pub(super) fn spec(&self, i: usize) -> Spec {
        Spec::VhostUser {
            path: self.dir.join(format!("v{i}.sock")),
            queues: self.queues,
        }
    }
}

impl Drop for VhostWires {
    fn drop(&mut self) {
        self.eps.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The NICs' host ends, by backend.
enum Wires {
    Dgram(DgramWires),
    Vhost(VhostWires),
}

impl Wires {
    fn len(&self) -> usize {
        match self {
            Wires::Dgram(w) => w.len(),
            Wires::Vhost(w) => w.eps.len(),
        }
    }

    fn spec(&self, i: usize) -> Spec {
        match self {
            Wires::Dgram(w) => w.spec(i),
            Wires::Vhost(w) => w.spec(i),
        }
    }

    fn dir(&self) -> &std::path::Path {
        match self {
            Wires::Dgram(w) => w.dir(),
            Wires::Vhost(w) => &w.dir,
        }
    }
}

struct Bench<'a> {
    vm: Vm,
    /// QEMU's monitor: its view of the virtqueues when the guest is stuck.
    hmp: Hmp,
    /// QEMU's namespace (--qlen), deleted after the VM is gone.
    _netns: Option<NetNs>,
    wires: Wires,
    args: &'a E2eBenchArgs,
}

impl Bench<'_> {
    fn config(&self, case: &Case) -> Config {
        let mode = match case.kind {
            "txrx" => Mode::TxRx,
            "tx" => Mode::Tx,
            _ => Mode::Ping,
        };
        let vhost = matches!(self.wires, Wires::Vhost(_));
        let mut c = Config::new(mode);
        c.tx = Some(self.wires.spec(0));
        if case.path == "switch" || case.path == "bridge" {
            c.rx = Some(self.wires.spec(1));
        }
        if mode == Mode::Tx {
            c.broadcast = true;
        }
        if vhost {
            c.busy_poll = Duration::from_millis(2);
        }
        c.size = case.size;
        c.duration = Duration::from_secs_f64(self.args.duration);
        c.warmup = Duration::from_secs_f64(self.args.warmup);
        // vhost-user: the generator is one busy thread beside the vCPU's on
        // a two-core machine (a sender and a receiver thread would fight
        // the vCPU for a core).
        c.one_thread = (self.args.one_thread || vhost) && mode == Mode::TxRx;
        if case.kind == "ping-rate" {
            c.inflight = self.args.inflight;
        }
        c.timeout = Duration::from_secs(1);
        c
    }

    fn measure(&mut self, case: &Case) -> Result<Sample, String> {
        let cfg = self.config(case);
        let nics = self.wires.len();
        let k0 = kicks(&mut self.vm, nics)?;
        let d0 = if case.path == "switch" {
            drops(&mut self.vm)?
        } else {
            0
        };
        self.vm
            .command_ok("stats reset", COMMAND)
            .map_err(|e| e.to_string())?;
        let pid = self.vm.pid();
        let (c0, t0) = (qemu_cpu(pid), Instant::now());
        let report = match &mut self.wires {
            Wires::Dgram(_) => pktgen::run(&cfg),
            Wires::Vhost(w) => {
                let (a, b) = w.eps.split_at_mut(1);
                let rx = cfg.rx.is_some().then(|| &mut b[0]);
                pktgen::run_with(&cfg, Some(&mut a[0]), rx)
            }
        }
        .map_err(|e| format!("pktgen {}: {e}", case.key()))?;
        let (c1, wall) = (qemu_cpu(pid), t0.elapsed().as_secs_f64());
        let moved = if cfg.mode == Mode::Tx {
            report.sent
        } else {
            report.received
        };
        if moved == 0 {
            // Something is stuck: show the guest's view, keep its log.
            self.vm.mark_failed();
            let mut dump = Vec::new();
            for c in ["ifconfig", "vale-ctl", "stats", "reflect"] {
                dump.push(format!("nm> {c}"));
                dump.extend(
                    self.vm
                        .command(c, COMMAND)
                        .unwrap_or_else(|e| vec![e.to_string()]),
                );
            }
            // QEMU's side of each queue (rx 0, tx 1): where its avail and
            // used indices stand, to tell a lost kick from a stuck backend.
            for nic in 0..nics {
                for q in [0u16, 1] {
                    dump.push(format!("(qemu) virtio-queue-status nic{nic} queue {q}"));
                    dump.push(
                        self.hmp
                            .virtio_queue(nic, q, COMMAND)
                            .unwrap_or_else(|e| format!("monitor: {e}")),
                    );
                }
            }
            return Err(format!(
                "{}: nothing came back ({} sent); the guest says:\n{}\n(serial log: {})",
                case.key(),
                report.sent,
                dump.join("\n"),
                self.vm.log_path().display()
            ));
        }
        let guest = guest_stats(&mut self.vm)?;
        let k1 = kicks(&mut self.vm, nics)?;
        let d1 = if case.path == "switch" {
            drops(&mut self.vm)?
        } else {
            0
        };
        let frames = (report.sent + report.received).max(1) as f64;
        let share = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / 1e9 / wall;
        Ok(Sample {
            vcpu: share(c0.vcpu_run, c1.vcpu_run),
            vcpu_wait: share(c0.vcpu_wait, c1.vcpu_wait),
            qemu_main: share(c0.main_run + c0.other_run, c1.main_run + c1.other_run),
            qemu_main_wait: share(c0.main_wait, c1.main_wait),
            pktgen: report.cpu_s / wall,
            guest,
            kicks_per_frame: (k1.0 - k0.0) as f64 / frames,
            switch_drops: d1 - d0,
            report,
        })
    }

    fn cmd(&mut self, c: &str) -> Result<(), String> {
        self.vm
            .command_ok(c, COMMAND)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The generator's own ceiling on the vhost-user path: pktgen `tx` into
/// the in-process guest driver model, whose thread posts every buffer back
/// as soon as it is used (no QEMU, no guest). Returns the report and the
/// generator thread's CPU nanoseconds per frame.
fn generator_ceiling(size: usize, duration: f64) -> Result<(Report, f64), String> {
    use integration::wire::vhost::model::GuestModel;
    use std::sync::atomic::{AtomicBool, Ordering};
    let path = std::env::temp_dir().join(format!("nmbench-gen-{}.sock", std::process::id()));
    let opts = Options {
        busy_poll: Duration::from_millis(2),
        ..Options::default()
    };
    let spec = Spec::VhostUser {
        path: path.clone(),
        queues: 1,
    };
    let mut ep = Endpoint::open_with(&spec, &opts).map_err(|e| e.to_string())?;
    let mut guest = GuestModel::connect(&path, 1024).map_err(|e| e.to_string())?;
    guest.post_rx_all();
    ep.wait_connected(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut cfg = Config::new(Mode::Tx);
    cfg.tx = Some(spec);
    cfg.size = size;
    cfg.broadcast = true;
    cfg.duration = Duration::from_secs_f64(duration);
    cfg.warmup = Duration::from_millis(200);
    cfg.busy_poll = opts.busy_poll;
    cfg.batch = 256;
    let stop = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if guest.recycle_rx() == 0 {
                    std::hint::spin_loop();
                }
            }
        });
        let r = pktgen::run_with(&cfg, Some(&mut ep), None);
        stop.store(true, Ordering::Relaxed);
        r
    })
    .map_err(|e| format!("generator ceiling: {e}"))?;
    let ns = report.tx_cpu_s * 1e9 / report.sent.max(1) as f64;
    Ok((report, ns))
}

pub fn run(args: &E2eBenchArgs) -> Result<(), String> {
    if args.runs == 0 || args.duration <= 0.0 {
        return Err("--runs and --duration must be positive".into());
    }
    setup::ensure_qemu(false)?;
    let elf = match &args.kernel {
        Some(elf) => elf.clone(),
        None => build::kernel(true)?,
    };
    if !args.smp.is_empty() {
        return super::e2e_smp::run(args, &elf);
    }
    let load_before = report::load_average();
    let vhost = args.backend == E2eBackend::VhostUser;
    if vhost && args.qlen.is_some() {
        return Err(
            "--qlen is for the dgram backend (a vhost-user NIC has no socket queue)".into(),
        );
    }
    let mut ceiling = Vec::new();
    if vhost {
        for &size in &args.sizes {
            let mut runs = Vec::new();
            for _ in 0..args.runs {
                runs.push(generator_ceiling(size, args.duration)?);
            }
            let pps = median(&runs.iter().map(|(r, _)| r.tx_pps).collect::<Vec<_>>());
            let ns = median(&runs.iter().map(|(_, ns)| *ns).collect::<Vec<_>>());
            eprintln!(
                "bench e2e: generator ceiling {size} B (no guest: a driver thread recycles buffers): {} ({ns:.0} ns of generator CPU per frame)",
                format_pps(pps)
            );
            ceiling.push(json!({ "size": size, "tx_pps": pps, "generator_ns_per_frame": ns,
                                 "runs": runs.iter().map(|(r, ns)| json!({"tx_pps": r.tx_pps, "sent": r.sent, "ns_per_frame": ns})).collect::<Vec<_>>() }));
        }
    }
    // vhost-user backends listen before QEMU starts: QEMU connects at once.
    let wires = if vhost {
        Wires::Vhost(VhostWires::new("vu", 2, 1)?)
    } else {
        Wires::Dgram(DgramWires::new(2).map_err(|e| format!("socket directory: {e}"))?)
    };
    // Named threads (`CPU 0/TCG`, ...), so their CPU time can be told apart.
    let mut options = VmOptions::default().kernel(&elf).name("bench-e2e");
    if args.kvm {
        options.accel = boot::qemu::Accel::Kvm;
    }
    options = match &wires {
        Wires::Dgram(w) => w.options(options),
        Wires::Vhost(w) => (0..w.eps.len()).fold(options, |o, i| o.nic(w.nic(i))),
    };
    options = options.arg("-name").arg("bench-e2e,debug-threads=on");
    for a in &args.qemu_args {
        options = options.arg(a);
    }
    let hmp = Hmp::new(wires.dir().join("mon"));
    options = options.arg("-monitor").arg(hmp.arg());
    // The host -> QEMU direction: QEMU's dgram socket is not connected, so
    // what a sender may queue in it is `net.unix.max_dgram_qlen` frames
    // (often 10), a setting of the socket's network namespace. With
    // --qlen, QEMU runs in a namespace of its own with that limit
    // (root only); the host's setting is left alone.
    let netns = match args.qlen {
        Some(qlen) => {
            if !netns::is_root() {
                return Err("--qlen needs root (a network namespace for QEMU)".into());
            }
            let ns = NetNs::create(&format!("nmbench{}", std::process::id()))
                .map_err(|e| e.to_string())?;
            let ok = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns.name(),
                    "sysctl",
                    "-qw",
                    &format!("net.unix.max_dgram_qlen={qlen}"),
                ])
                .status()
                .map_err(|e| format!("sysctl: {e}"))?;
            if !ok.success() {
                return Err(format!(
                    "cannot set net.unix.max_dgram_qlen={qlen} in {}",
                    ns.name()
                ));
            }
            options = options.netns(ns.name());
            Some(ns)
        }
        None => None,
    };
    let qlen = args.qlen.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    });
    let vm = Vm::boot_to_prompt(options).map_err(|e| e.to_string())?;
    let mut wires = wires;
    if let Wires::Vhost(w) = &mut wires {
        for ep in &mut w.eps {
            ep.wait_connected(Duration::from_secs(30))
                .map_err(|e| e.to_string())?;
        }
    }
    let mut b = Bench {
        vm,
        hmp,
        wires,
        args,
        _netns: netns,
    };

    for p in &args.paths {
        if !["switch", "bridge", "reflector", "generator"].contains(&p.as_str()) {
            return Err(format!(
                "unknown path '{p}' (switch, bridge, reflector, generator)"
            ));
        }
    }
    let wanted = |p: &str| args.paths.iter().any(|q| q == p);
    let mut cases = Vec::new();
    for path in ["switch", "bridge", "reflector"]
        .into_iter()
        .filter(|p| wanted(p))
    {
        for &size in &args.sizes {
            if path != "reflector" {
                cases.push(Case {
                    path,
                    kind: "txrx",
                    size,
                });
            }
            cases.push(Case {
                path,
                kind: "ping-rate",
                size,
            });
        }
        cases.push(Case {
            path,
            kind: "ping",
            size: 60,
        });
    }
    if vhost && wanted("generator") {
        for &size in &args.sizes {
            cases.push(Case {
                path: "generator",
                kind: "tx",
                size,
            });
        }
    }
    let mut samples: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for round in 0..args.runs {
        if wanted("switch") {
            b.cmd("vale-ctl -a vale0:virtio0")?;
            b.cmd("vale-ctl -a vale0:virtio1")?;
            for case in cases.iter().filter(|c| c.path == "switch") {
                let s = b.measure(case)?;
                progress(round, args.runs, case, &s);
                samples.entry(case.key()).or_default().push(s);
            }
            b.cmd("vale-ctl -d vale0:virtio0")?;
            b.cmd("vale-ctl -d vale0:virtio1")?;
        }
        if wanted("bridge") {
            // The bridge app (netmap-apps): the two NICs' rings joined by
            // buffer swaps, no switch and no copy.
            let id = lab::start_app(&mut b.vm, "bridge -i virtio0 -i virtio1", COMMAND)
                .map_err(|e| e.to_string())?;
            for case in cases.iter().filter(|c| c.path == "bridge") {
                let s = b.measure(case)?;
                progress(round, args.runs, case, &s);
                samples.entry(case.key()).or_default().push(s);
            }
            b.cmd(&format!("app stop {id}"))?;
        }
        if wanted("reflector") {
            b.cmd("reflect virtio0")?;
            for case in cases.iter().filter(|c| c.path == "reflector") {
                let s = b.measure(case)?;
                progress(round, args.runs, case, &s);
                samples.entry(case.key()).or_default().push(s);
            }
            b.cmd("reflect stop")?;
        }
        if vhost && wanted("generator") {
            // virtio0 alone on the switch: its broadcast frames go nowhere
            // and are dropped as they arrive.
            b.cmd("vale-ctl -a vale0:virtio0")?;
            for case in cases.iter().filter(|c| c.path == "generator") {
                let s = b.measure(case)?;
                progress(round, args.runs, case, &s);
                samples.entry(case.key()).or_default().push(s);
            }
            b.cmd("vale-ctl -d vale0:virtio0")?;
        }
    }
    let load_after = report::load_average();
    // Notifications the guest's watchdog had to resend (lost in the
    // EVENT_IDX handshake; see virtq's Virtqueue::watchdog).
    let mut watchdog = Vec::new();
    for i in 0..b.wires.len() {
        let n =
            lab::nic_info(&mut b.vm, &format!("virtio{i}"), COMMAND).map_err(|e| e.to_string())?;
        watchdog.push(n.watchdog_kicks);
    }

    println!(
        "end to end: pktgen -> {} NIC -> guest -> NIC -> pktgen ({}, 1 vCPU{}); medians of {} rounds of {:.0} s",
        args.backend.name(),
        if args.kvm { "KVM" } else { "TCG" },
        if vhost { String::new() } else { format!(", QEMU's socket queue {qlen} frames") },
        args.runs,
        args.duration
    );
    let mut rows = vec![vec![
        "path".to_string(),
        "test".into(),
        "size".into(),
        "sent".into(),
        "received".into(),
        "loss".into(),
        "rtt p50/p99".into(),
        "vCPU run/wait".into(),
        "QEMU io run/wait".into(),
        "pktgen".into(),
        "CPU us/frame vCPU+io+pktgen".into(),
        "guest busy/move".into(),
        "halted".into(),
        "halts/frame".into(),
        "kicks/frame".into(),
        "irqs/frame".into(),
        "exits/frame".into(),
    ]];
    let mut out = Vec::new();
    for case in &cases {
        let Some(v) = samples.get(&case.key()) else {
            continue;
        };
        let med = |f: &dyn Fn(&Sample) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
        let rtt = |f: &dyn Fn(&pktgen::Rtt) -> f64| {
            med(&|s| s.report.rtt_us.as_ref().map_or(f64::NAN, f))
        };
        let sent = med(&|s| s.report.tx_pps);
        let recv = med(&|s| s.report.rx_pps);
        let loss = med(&|s| s.report.loss_pct());
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        rows.push(vec![
            case.path.into(),
            match case.kind {
                "ping-rate" => format!("ping x{}", args.inflight),
                k => k.into(),
            },
            format!("{} B", case.size),
            format_pps(sent),
            format_pps(recv),
            format!("{loss:.1} %"),
            if case.kind == "ping" {
                format!("{:.0}/{:.0} us", rtt(&|t| t.p50), rtt(&|t| t.p99))
            } else {
                "-".into()
            },
            format!("{}/{}", pct(med(&|s| s.vcpu)), pct(med(&|s| s.vcpu_wait))),
            format!(
                "{}/{}",
                pct(med(&|s| s.qemu_main)),
                pct(med(&|s| s.qemu_main_wait))
            ),
            pct(med(&|s| s.pktgen)),
            format!(
                "{:.1}+{:.1}+{:.1}",
                med(&|s| s.us_per_frame(s.vcpu)),
                med(&|s| s.us_per_frame(s.qemu_main)),
                med(&|s| s.us_per_frame(s.pktgen))
            ),
            format!("{:.0} ns", med(&|s| s.guest_ns_per_frame())),
            format!("{:.0} %", med(&|s| s.halted_pct())),
            format!("{:.2}", med(&|s| s.halts_per_frame())),
            format!("{:.3}", med(&|s| s.kicks_per_frame)),
            format!("{:.3}", med(&|s| s.irqs_per_frame())),
            format!("{:.4}", med(&|s| s.per_frame(s.guest.exits.total()))),
        ]);
        out.push(json!({
            "path": case.path, "test": case.kind, "size": case.size,
            "median": { "tx_pps": sent, "rx_pps": recv, "loss_pct": loss,
                        "rtt_p50_us": rtt(&|t| t.p50), "rtt_p99_us": rtt(&|t| t.p99) },
            "runs": v.iter().map(Sample::json).collect::<Vec<_>>(),
        }));
    }
    report::table(&rows);
    // The switch against QEMU's own limit, round by round.
    for &size in &args.sizes {
        let (Some(sw), Some(rf)) = (
            samples.get(
                &Case {
                    path: "switch",
                    kind: "ping-rate",
                    size,
                }
                .key(),
            ),
            samples.get(
                &Case {
                    path: "reflector",
                    kind: "ping-rate",
                    size,
                }
                .key(),
            ),
        ) else {
            continue;
        };
        let ratios: Vec<f64> = sw
            .iter()
            .zip(rf)
            .map(|(a, b)| a.report.rx_pps / b.report.rx_pps)
            .collect();
        println!(
            "{size} B: switch (two NICs) / reflector (one NIC), closed loop, per round: {} (median {:.2})",
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" "),
            median(&ratios)
        );
    }
    for &size in &args.sizes {
        let key = |path| {
            Case {
                path,
                kind: "ping-rate",
                size,
            }
            .key()
        };
        let (Some(br), Some(sw)) = (samples.get(&key("bridge")), samples.get(&key("switch")))
        else {
            continue;
        };
        let ratios: Vec<f64> = br
            .iter()
            .zip(sw)
            .map(|(a, b)| a.report.rx_pps / b.report.rx_pps)
            .collect();
        println!(
            "{size} B: bridge app / switch (both between the two NICs), closed loop, per round: {} (median {:.2})",
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" "),
            median(&ratios)
        );
    }
    println!(
        "lost notifications recovered by the driver's watchdog, per NIC: {}",
        watchdog
            .iter()
            .enumerate()
            .map(|(i, n)| format!("virtio{i} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let show = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.1}"));
    println!(
        "host load average (1 min) {} before, {} after, on {} CPUs",
        show(load_before),
        show(load_after),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Some(path) = &args.json {
        let value = json!({
            "bench": "e2e",
            "machine": report::machine(),
            "config": { "accel": if args.kvm { "kvm" } else { "tcg" }, "machine": "pc", "backend": args.backend.name(),
                        "nics": format!("2 x {}", args.backend.name()), "rounds": args.runs,
                        "duration_s": args.duration, "warmup_s": args.warmup, "inflight": args.inflight,
                        "one_thread": args.one_thread || vhost, "kernel": elf, "qemu_args": args.qemu_args,
                        "qemu_dgram_qlen": if vhost { Value::Null } else { json!(qlen) } },
            "cases": out,
            "watchdog_kicks": watchdog,
            "generator_ceiling": ceiling,
            "load_average": { "before": load_before, "after": load_after },
        });
        report::write_json(path, &value)?;
    }
    Ok(())
}

fn progress(round: usize, runs: usize, case: &Case, s: &Sample) {
    let r = &s.report;
    let rtt = r.rtt_us.as_ref().map_or(String::new(), |t| {
        format!(", rtt p50 {:.0} us p99 {:.0} us", t.p50, t.p99)
    });
    eprintln!(
        "bench e2e: round {}/{runs} {}: sent {}, received {} ({:.1} % lost){rtt}; vCPU {:.0} % (waited {:.0} %), QEMU io {:.0} % (waited {:.0} %), pktgen {:.0} %, guest {:.0} ns/frame busy, halted {:.0} %, {:.2} kicks/frame, {} switch drops",
        round + 1,
        case.key(),
        format_pps(r.tx_pps),
        format_pps(r.rx_pps),
        r.loss_pct(),
        s.vcpu * 100.0,
        s.vcpu_wait * 100.0,
        s.qemu_main * 100.0,
        s.qemu_main_wait * 100.0,
        s.pktgen * 100.0,
        s.guest_ns_per_frame(),
        s.halted_pct(),
        s.kicks_per_frame,
        s.switch_drops,
    );
}

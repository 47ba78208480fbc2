//! `cargo xtask soak`: the running image under load, faults, floods and
//! hostile input for a chosen time, with numbers.
//!
//! One VM, five NICs: `virtio0`..`virtio2` on vale0 and `virtio3` on
//! vale1 with their host sides here (vhost-user by default, QEMU's dgram
//! sockets otherwise; see [`traffic`]), and a user-networking NIC with
//! the kernel's IP stack on vale2 and its HTTP server forwarded to a host
//! port. A thread keeps the load (A -> B through vale0) running the whole
//! time; the main thread spends the run on what is furthest behind its
//! share of the targets:
//!
//! - fault cycles ([`faults`]): link down/up from QEMU's monitor, detach
//!   and re-attach of a NIC, create/delete of a VALE port, a pipe created
//!   and deleted (two pkt-gen apps on its ends), capture (a copy monitor)
//!   started and stopped, a forced device reset; after each the load must
//!   flow again within [`RESUME`];
//! - a MAC flood (a new source every frame) and its rate against the
//!   load's, with frames for a known station watched on a third port;
//! - malformed frames, each runt counted by the switch;
//! - isolation probes (frames to every MAC vale1 learned);
//! - hostile HTTP clients and serial input ([`hostile`]).
//!
//! Every report reads `mem` (the pool audit, heap use) and prints a
//! progress line; the summary has the keys the issue names
//! ([`Summary::to_json`]).

pub mod faults;
pub mod hostile;
pub mod traffic;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex_lite::Regex;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::hmp::Hmp;
use crate::lab::{self, DgramWires};
use crate::pktgen::mac::Mac;
use crate::timeouts::{scaled, COMMAND, EXIT};
use crate::wire::{Endpoint, Options, Spec};
use crate::{KernelExit, Nic, Vm, VmOptions};
use traffic::{Shared, Wires};

/// How long the load may take to flow again after a fault cycle.
pub const RESUME: Duration = Duration::from_secs(10);

/// The NICs' host side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    VhostUser,
    Dgram,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::VhostUser => "vhost-user",
            Backend::Dgram => "dgram",
        }
    }
}

/// What to reach over the run (the main thread schedules by them).
#[derive(Clone, Copy, Debug)]
pub struct Targets {
    pub fault_cycles: u64,
    pub flood_sources: u64,
    pub malformed_frames: u64,
    pub hostile_rounds: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub duration: Duration,
    pub report_every: Duration,
    pub backend: Backend,
    pub targets: Targets,
    /// A kernel ELF to boot instead of the harness's build.
    pub kernel: Option<PathBuf>,
}

impl Config {
    /// The full soak: 10 minutes unless told otherwise, and the issue's
    /// minimums (1000 fault cycles, 1M flood sources, 1M malformed frames).
    pub fn full(duration: Duration, backend: Backend) -> Self {
        Self {
            duration,
            report_every: Duration::from_secs(5),
            backend,
            targets: Targets {
                fault_cycles: 1000,
                flood_sources: 1_000_000,
                malformed_frames: 1_000_000,
                hostile_rounds: 20,
            },
            kernel: None,
        }
    }

    /// The short soak CI runs: every campaign, a minute, smaller targets.
    pub fn short(backend: Backend) -> Self {
        let dgram = backend == Backend::Dgram;
        Self {
            duration: Duration::from_secs(60),
            report_every: Duration::from_secs(5),
            backend,
            targets: Targets {
                fault_cycles: 60,
                flood_sources: if dgram { 20_000 } else { 200_000 },
                malformed_frames: if dgram { 20_000 } else { 100_000 },
                hostile_rounds: 2,
            },
            kernel: None,
        }
    }
}

/// What the run showed, over the whole run (after the warm-up: the load
/// flowing and one cycle of each fault kind).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub backend: &'static str,
    pub duration_s: f64,
    /// Load frames that reached B.
    pub frames_forwarded: u64,
    /// Mean load rate over the seconds spent on the load alone.
    pub load_mpps: f64,
    /// Best one-second load rate.
    pub peak_mpps: f64,
    pub fault_cycles: u64,
    /// Cycles per kind, in [`faults::KINDS`] order.
    pub fault_kinds: Vec<(&'static str, u64)>,
    /// Slowest return of the load after a fault cycle, ms.
    pub resume_max_ms: u64,
    /// Device resets the NICs counted (`ifconfig`), at least the `reset`
    /// cycles.
    pub device_resets: u64,
    pub malformed_frames: u64,
    /// Runts the switch counted (`short`) against those sent.
    pub runts_sent: u64,
    pub runts_counted: u64,
    pub bad_headers: u64,
    pub mac_flood_sources: u64,
    /// Flood rate over the mean load rate, over all the flood's time.
    pub flood_ratio: f64,
    /// Flood rate over the load rate just before it, the lowest chunk.
    pub flood_ratio_min: f64,
    /// Frames for B that showed on C while flooding.
    pub unicast_leaks: u64,
    /// vale0's MAC table at the end (printing it costs seconds of serial
    /// time, so it is read once; its capacity is 4096 entries).
    pub mac_table_max: u64,
    pub buffers_lost: u64,
    pub audits: u64,
    pub stalls: u64,
    pub heap_growth_bytes: i64,
    pub isolation_probes: u64,
    pub isolation_violations: u64,
    pub hostile_requests: u64,
    pub hostile_failures: u64,
}

impl Summary {
    /// Whether nothing was lost, stalled, leaked or crossed.
    pub fn clean(&self) -> bool {
        self.buffers_lost == 0
            && self.stalls == 0
            && self.isolation_violations == 0
            && self.unicast_leaks == 0
            && self.hostile_failures == 0
            && self.runts_counted == self.runts_sent
            && self.device_resets >= self.cycles_of("reset")
    }

    /// Fault cycles of `kind`.
    pub fn cycles_of(&self, kind: &str) -> u64 {
        self.fault_kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    pub fn to_json(&self) -> String {
        let kinds: Vec<String> = self
            .fault_kinds
            .iter()
            .map(|(k, n)| format!("\"{k}\":{n}"))
            .collect();
        format!(
            concat!(
                "{{\"backend\":\"{}\",\"duration_s\":{:.1},\"frames_forwarded\":{},",
                "\"load_mpps\":{:.3},\"peak_mpps\":{:.3},\"fault_cycles\":{},",
                "\"fault_kinds\":{{{}}},\"resume_max_ms\":{},\"device_resets\":{},\"malformed_frames\":{},",
                "\"runts_sent\":{},\"runts_counted\":{},\"bad_headers\":{},",
                "\"mac_flood_sources\":{},\"flood_ratio\":{:.3},\"flood_ratio_min\":{:.3},\"unicast_leaks\":{},",
                "\"mac_table_max\":{},\"buffers_lost\":{},\"audits\":{},\"stalls\":{},",
                "\"heap_growth_bytes\":{},\"isolation_probes\":{},\"isolation_violations\":{},",
                "\"hostile_requests\":{},\"hostile_failures\":{},\"clean\":{}}}"
            ),
            self.backend,
            self.duration_s,
            self.frames_forwarded,
            self.load_mpps,
            self.peak_mpps,
            self.fault_cycles,
            kinds.join(","),
            self.resume_max_ms,
            self.device_resets,
            self.malformed_frames,
            self.runts_sent,
            self.runts_counted,
            self.bad_headers,
            self.mac_flood_sources,
            self.flood_ratio,
            self.flood_ratio_min,
            self.unicast_leaks,
            self.mac_table_max,
            self.buffers_lost,
            self.audits,
            self.stalls,
            self.heap_growth_bytes,
            self.isolation_probes,
            self.isolation_violations,
            self.hostile_requests,
            self.hostile_failures,
            self.clean()
        )
    }

    /// The end-of-run table.
    pub fn table(&self) -> String {
        let rows = [
            ("backend", self.backend.to_string()),
            ("duration", format!("{:.0} s", self.duration_s)),
            (
                "load",
                format!(
                    "{} frames forwarded, {:.3} Mpps mean, {:.3} Mpps peak second",
                    self.frames_forwarded, self.load_mpps, self.peak_mpps
                ),
            ),
            (
                "faults",
                format!(
                    "{} cycles ({}), load back within {} ms at worst, {} device resets counted",
                    self.fault_cycles,
                    self.fault_kinds
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.resume_max_ms,
                    self.device_resets
                ),
            ),
            (
                "MAC flood",
                format!(
                    "{} sources, rate {:.2} x the load's (lowest chunk {:.2}), table {} entries, {} frames for B flooded",
                    self.mac_flood_sources, self.flood_ratio, self.flood_ratio_min, self.mac_table_max, self.unicast_leaks
                ),
            ),
            (
                "malformed",
                format!(
                    "{} frames ({} runts, {} counted short; {} lying headers)",
                    self.malformed_frames, self.runts_sent, self.runts_counted, self.bad_headers
                ),
            ),
            (
                "isolation",
                format!(
                    "{} probes, {} violations",
                    self.isolation_probes, self.isolation_violations
                ),
            ),
            (
                "hostile",
                format!(
                    "{} requests/inputs, {} not answered cleanly",
                    self.hostile_requests, self.hostile_failures
                ),
            ),
            (
                "pool",
                format!(
                    "{} audits, {} buffers lost; heap growth {} bytes after warm-up",
                    self.audits, self.buffers_lost, self.heap_growth_bytes
                ),
            ),
            ("stalls", self.stalls.to_string()),
        ];
        rows.iter().map(|(k, v)| format!("{k:<10} {v}\n")).collect()
    }
}

/// The VM and the host sides of its NICs. Field order: QEMU dies first.
struct Lab {
    vm: Vm,
    hmp: Hmp,
    http_port: u16,
    _dgram: Option<DgramWires>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SCRIPT: &str = "vale-ctl -a vale0:virtio0
vale-ctl -a vale0:virtio1
vale-ctl -a vale0:virtio2
vale-ctl -a vale1:virtio3
vale-ctl -h vale2:virtio4
dhcp host0
";

fn boot(cfg: &Config) -> Result<(Lab, Wires)> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nmsoak-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let io = |e: std::io::Error| Error::new(format!("soak wires: {e}"));
    let mut opts = VmOptions::default().name("soak");
    if let Some(k) = &cfg.kernel {
        opts = opts.kernel(k);
    }
    let (mut ends, dgram) = match cfg.backend {
        Backend::VhostUser => {
            let mut ends = Vec::new();
            for i in 0..4 {
                let path = dir.join(format!("vu{i}"));
                ends.push(
                    Endpoint::open_with(
                        &Spec::VhostUser {
                            path: path.clone(),
                            queues: 1,
                        },
                        &Options::default(),
                    )
                    .map_err(io)?,
                );
                opts = opts.nic(Nic::vhost_user(path));
            }
            (ends, None)
        }
        Backend::Dgram => {
            let w = DgramWires::new(4).map_err(io)?;
            opts = w.options(opts);
            let ends = (0..4)
                .map(|i| w.open(i))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(io)?;
            (ends, Some(w))
        }
    };
    let http_port = lab::free_port();
    opts = opts.nic(Nic::new(boot::NicBackend::User {
        hostfwd: vec![format!("tcp:127.0.0.1:{http_port}-:80")],
    }));
    let hmp = Hmp::new(dir.join("hmp"));
    opts = opts.arg("-monitor").arg(hmp.arg()).script(SCRIPT);
    let mut vm = Vm::boot_to_prompt(opts)?;
    for e in &mut ends {
        e.wait_connected(scaled(Duration::from_secs(30)))
            .map_err(io)?;
    }
    // The stack's address (DHCP, in the script) before the HTTP rounds.
    if !vm.output().contains("host0: inet") {
        vm.expect("host0: inet", scaled(Duration::from_secs(30)))?;
    }
    let mut it = ends.into_iter();
    let wires = Wires {
        a: it.next().unwrap(),
        b: it.next().unwrap(),
        c: it.next().unwrap(),
        d: it.next().unwrap(),
    };
    Ok((
        Lab {
            vm,
            hmp,
            http_port,
            _dgram: dgram,
            dir,
        },
        wires,
    ))
}

/// `mem`: heap bytes in use, and the audit (buffers lost: 0 when exact).
fn audit(console: &mut Console) -> Result<(u64, u64)> {
    let lines = console.command_ok("mem", COMMAND)?;
    let heap = Regex::new(r"^heap: (\d+) used").unwrap();
    let bufs = Regex::new(crate::contract::MEM_BUFFERS).unwrap();
    let mut used = None;
    let mut lost = None;
    for l in &lines {
        if let Some(c) = heap.captures(l) {
            used = c[1].parse().ok();
        }
        if let Some(c) = bufs.captures(l) {
            lost = Some(match &c[3] {
                "ok" => 0,
                why => Regex::new(r"count: (\d+)")
                    .unwrap()
                    .captures(why)
                    .and_then(|m| m[1].parse().ok())
                    .unwrap_or(1),
            });
        }
    }
    match (used, lost) {
        (Some(u), Some(l)) => Ok((u, l)),
        _ => Err(Error::new(format!(
            "soak: unexpected `mem` output {lines:?}"
        ))),
    }
}

/// The `short` drops of switch port `name`.
fn short_drops(console: &mut Console, name: &str) -> Result<u64> {
    Ok(lab::port_counters(console, name, COMMAND)?.map_or(0, |c| c.short))
}

/// Wait until B has received `n` more load frames: the time it took, or
/// `None` past `within`.
fn resumed(sh: &Shared, n: u64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let base = sh.load_received.load(Relaxed);
    while start.elapsed() < within {
        if sh.load_received.load(Relaxed) >= base + n {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// Load frames B receives per second now (over `over`).
fn load_rate(sh: &Shared, over: Duration) -> f64 {
    let (r0, t0) = (sh.load_received.load(Relaxed), Instant::now());
    std::thread::sleep(over);
    (sh.load_received.load(Relaxed) - r0) as f64 / t0.elapsed().as_secs_f64()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Campaign {
    Faults,
    Flood,
    Malformed,
    Hostile,
}

/// Run the soak; `progress` gets a line per report.
pub fn run(cfg: &Config, mut progress: impl FnMut(&str)) -> Result<Summary> {
    let (mut lab, wires) = boot(cfg)?;
    let vhost = cfg.backend == Backend::VhostUser;
    let sh = Arc::new(Shared::default());
    let pump = {
        let sh = sh.clone();
        std::thread::Builder::new()
            .name("soak-traffic".into())
            .spawn(move || traffic::run(wires, sh, vhost))
            .map_err(|e| Error::new(format!("soak thread: {e}")))?
    };
    let result = drive(cfg, &mut lab, &sh, &mut progress);
    sh.stop.store(true, Relaxed);
    let _ = pump.join();
    let mut summary = result?;
    if let Some(e) = sh.error.lock().unwrap().take() {
        return Err(Error::new(format!("soak traffic: {e}")));
    }
    lab.vm.send_line("shutdown 0")?;
    if lab.vm.wait_exit(EXIT)? != KernelExit::Code(0) {
        return Err(Error::new("soak: the kernel did not shut down cleanly"));
    }
    summary.backend = cfg.backend.name();
    Ok(summary)
}

fn drive(
    cfg: &Config,
    lab: &mut Lab,
    sh: &Arc<Shared>,
    progress: &mut impl FnMut(&str),
) -> Result<Summary> {
    let mut s = Summary::default();
    let mut kinds = [0u64; faults::KINDS.len()];
    s.flood_ratio_min = f64::INFINITY;
    let vm = &mut lab.vm;
    // Warm-up: the load must flow before anything else.
    if resumed(sh, 1000, scaled(RESUME)).is_none() {
        return Err(Error::new("soak: no load reached B after boot"));
    }
    // One cycle of every fault kind before the heap's baseline: tables
    // that grow once to their working size (the app table, the pipes'
    // map, the monitors' list) are warm-up, not growth.
    for (k, kind) in faults::KINDS.iter().enumerate() {
        sh.fault.store(true, Relaxed);
        faults::cycle(kind, vm, &lab.hmp, k as u64)?;
        if resumed(sh, 64, scaled(RESUME)).is_none() {
            return Err(Error::new(format!(
                "soak: no load after the warm-up `{kind}`"
            )));
        }
        sh.fault.store(false, Relaxed);
    }
    let (heap0, lost0) = audit(vm)?;
    s.audits += 1;
    s.buffers_lost += lost0;
    let start = Instant::now();
    let mut next_report = start + cfg.report_every;
    let mut hostile_rounds = 0u64;
    let mut probes_due = Instant::now();
    let t = cfg.targets;
    let mut flood_time = Duration::ZERO;
    let mut flood_frames = 0u64;
    while start.elapsed() < cfg.duration {
        let frac = start.elapsed().as_secs_f64() / cfg.duration.as_secs_f64();
        // Each campaign's lag behind its share of the target so far; the
        // one furthest behind goes next, fault cycles when none is.
        let lag = |done: u64, target: u64| frac - done as f64 / target.max(1) as f64;
        let lags = [
            (Campaign::Faults, lag(s.fault_cycles, t.fault_cycles)),
            (
                Campaign::Flood,
                lag(sh.flood_sources.load(Relaxed), t.flood_sources),
            ),
            (
                Campaign::Malformed,
                lag(sh.malformed_sent.load(Relaxed), t.malformed_frames),
            ),
            (Campaign::Hostile, lag(hostile_rounds, t.hostile_rounds)),
        ];
        let next = lags
            .iter()
            .filter(|(_, l)| *l > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(Campaign::Faults, |(c, _)| *c);
        if Instant::now() >= next_report {
            let (heap, lost) = audit(vm)?;
            s.audits += 1;
            s.buffers_lost += lost;
            next_report = Instant::now() + cfg.report_every;
            progress(&progress_line(
                start.elapsed(),
                cfg.duration,
                sh,
                &s,
                heap,
                heap0,
                lost,
            ));
            continue;
        }
        if Instant::now() >= probes_due {
            // Every address vale1 knows, sent from vale0.
            let macs: Vec<[u8; 6]> = lab::mac_table(vm, "vale1", COMMAND)?
                .iter()
                .filter_map(|e| e.mac.parse::<Mac>().ok().map(|m| m.0))
                .collect();
            s.isolation_probes += macs.len() as u64;
            sh.probes.lock().unwrap().extend(macs);
            probes_due = Instant::now() + Duration::from_secs(5);
            continue;
        }
        match next {
            Campaign::Flood => {
                let before = load_rate(sh, Duration::from_millis(300));
                let chunk = (t.flood_sources / 10).max(50_000);
                let (f0, t0) = (sh.flood_received.load(Relaxed), Instant::now());
                sh.flood(chunk);
                while sh.mode() == traffic::Mode::Flood
                    && t0.elapsed() < scaled(Duration::from_secs(30))
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let (got, took) = (sh.flood_received.load(Relaxed) - f0, t0.elapsed());
                flood_frames += got;
                flood_time += took;
                if before > 0.0 {
                    let ratio = got as f64 / took.as_secs_f64() / before;
                    s.flood_ratio_min = s.flood_ratio_min.min(ratio);
                }
                if sh.flood_sources.load(Relaxed) >= t.flood_sources && s.mac_table_max == 0 {
                    // The table right after the flood (detaching A later
                    // forgets its entries): bounded by its capacity.
                    s.mac_table_max = mac_entries(vm, "vale0")?;
                }
            }
            Campaign::Malformed => {
                let chunk = (t.malformed_frames / 10).max(10_000);
                let t0 = Instant::now();
                // No fault runs meanwhile, so the port's counters are
                // comparable before and after.
                let (short0, runts0) = (
                    short_drops(vm, "vale0:virtio0")?,
                    sh.runts_sent.load(Relaxed),
                );
                sh.malformed(chunk);
                while sh.mode() == traffic::Mode::Malformed
                    && t0.elapsed() < scaled(Duration::from_secs(30))
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Forwarding goes on afterwards.
                if resumed(sh, 1000, scaled(RESUME)).is_none() {
                    s.stalls += 1;
                    progress("soak: the load did not come back after malformed frames");
                }
                // Load frames sent after the chunk came out: every runt
                // before them has been through the switch.
                let short1 = short_drops(vm, "vale0:virtio0")?;
                s.runts_counted += short1.saturating_sub(short0);
                let runts = sh.runts_sent.load(Relaxed) - runts0;
                if short1.saturating_sub(short0) != runts {
                    progress(&format!(
                        "soak: {runts} runts sent, the switch counted {} short",
                        short1.saturating_sub(short0)
                    ));
                }
            }
            Campaign::Hostile => {
                let seed = hostile_rounds as u32;
                let h = hostile::http_round(lab.http_port, seed);
                let sr = hostile::serial_round(vm, seed)?;
                s.hostile_requests += h.requests + sr.requests;
                s.hostile_failures += h.failures + sr.failures;
                for n in h.notes.iter().chain(&sr.notes) {
                    progress(&format!("soak: hostile: {n}"));
                }
                hostile_rounds += 1;
            }
            Campaign::Faults => {
                let k = (s.fault_cycles as usize) % faults::KINDS.len();
                sh.fault.store(true, Relaxed);
                faults::cycle(faults::KINDS[k], vm, &lab.hmp, s.fault_cycles)?;
                let back = resumed(sh, 64, scaled(RESUME));
                sh.fault.store(false, Relaxed);
                match back {
                    Some(d) => s.resume_max_ms = s.resume_max_ms.max(d.as_millis() as u64),
                    None => {
                        s.stalls += 1;
                        progress(&format!(
                            "soak: the load did not come back within {:?} after fault `{}`",
                            scaled(RESUME),
                            faults::KINDS[k]
                        ));
                    }
                }
                kinds[k] += 1;
                s.fault_cycles += 1;
            }
        }
    }
    s.duration_s = start.elapsed().as_secs_f64();
    // Let the last probes and frames land, then the final audit.
    std::thread::sleep(Duration::from_millis(500));
    let (heap, lost) = audit(vm)?;
    s.audits += 1;
    s.buffers_lost += lost;
    s.heap_growth_bytes = heap as i64 - heap0 as i64;
    s.mac_table_max = s.mac_table_max.max(mac_entries(vm, "vale0")?);
    s.device_resets = lab::nic_info(vm, "virtio0", COMMAND)?.resets
        + lab::nic_info(vm, "virtio1", COMMAND)?.resets;
    // Per-second stalls on the load alone (faults and other campaigns
    // are judged by `resumed`).
    let seconds = sh.seconds.lock().unwrap().clone();
    let quiet: Vec<_> = seconds.iter().filter(|b| !b.fault && !b.other).collect();
    s.stalls += quiet
        .iter()
        .filter(|b| b.sent > 0 && b.received == 0)
        .count() as u64;
    if !quiet.is_empty() {
        s.load_mpps =
            quiet.iter().map(|b| b.received).sum::<u64>() as f64 / quiet.len() as f64 / 1e6;
    }
    s.peak_mpps = seconds.iter().map(|b| b.received).max().unwrap_or(0) as f64 / 1e6;
    s.frames_forwarded = sh.load_received.load(Relaxed);
    s.fault_kinds = faults::KINDS.iter().copied().zip(kinds).collect();
    s.malformed_frames = sh.malformed_sent.load(Relaxed);
    s.runts_sent = sh.runts_sent.load(Relaxed);
    s.bad_headers = sh.bad_headers_sent.load(Relaxed);
    s.mac_flood_sources = sh.flood_sources.load(Relaxed);
    if !s.flood_ratio_min.is_finite() {
        s.flood_ratio_min = 0.0;
    }
    if flood_time > Duration::ZERO && s.load_mpps > 0.0 {
        s.flood_ratio = flood_frames as f64 / flood_time.as_secs_f64() / 1e6 / s.load_mpps;
    }
    s.unicast_leaks = sh.unicast_leaks.load(Relaxed);
    s.isolation_violations = sh.isolation_violations.load(Relaxed);
    Ok(s)
}

fn progress_line(
    elapsed: Duration,
    total: Duration,
    sh: &Shared,
    s: &Summary,
    heap: u64,
    heap0: u64,
    lost: u64,
) -> String {
    let last = sh.seconds.lock().unwrap().last().map_or(0, |b| b.received);
    format!(
        "soak {:>4.0}/{:.0} s: load {:.3} Mpps, {} fwd; faults {} (worst resume {} ms); flood {}; malformed {}; hostile {}; audit {}; heap {:+} B; stalls {}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        last as f64 / 1e6,
        sh.load_received.load(Relaxed),
        s.fault_cycles,
        s.resume_max_ms,
        sh.flood_sources.load(Relaxed),
        sh.malformed_sent.load(Relaxed),
        s.hostile_requests,
        if lost == 0 { "ok".to_string() } else { format!("{lost} LOST") },
        heap as i64 - heap0 as i64,
        s.stalls
    )
}

/// Entries in SWITCH's MAC table (`vale-ctl -m`'s last line).
fn mac_entries(console: &mut Console, switch: &str) -> Result<u64> {
    let lines = console.command_ok(
        &format!("vale-ctl -m {switch}"),
        scaled(Duration::from_secs(60)),
    )?;
    lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("# ")?.strip_suffix(" entries")?.parse().ok())
        .ok_or_else(|| Error::new(format!("soak: no entry count from vale-ctl -m {switch}")))
}

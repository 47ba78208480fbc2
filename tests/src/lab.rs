//! A VM wired to the test: dgram NICs whose host ends the test holds, test
//! frames, and the kernel's network counters parsed from `vale-ctl` and
//! `ifconfig`.
//!
//! ```no_run
//! use integration::lab::{self, DgramWires};
//! use integration::{timeouts::COMMAND, Vm, VmOptions};
//! let wires = DgramWires::new(2).unwrap();
//! let mut vm = Vm::boot_to_prompt(wires.options(VmOptions::default())).unwrap();
//! let (mut a, mut b) = (wires.open(0).unwrap(), wires.open(1).unwrap());
//! vm.command_ok("vale-ctl -a vale0:virtio0", COMMAND).unwrap();
//! vm.command_ok("vale-ctl -a vale0:virtio1", COMMAND).unwrap();
//! let f = lab::frame(lab::BROADCAST, lab::host_mac(0), 1, 60);
//! a.send_all(&[&f], COMMAND).unwrap();
//! assert_eq!(b.recv(COMMAND).unwrap().as_deref(), Some(&f[..]));
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use regex_lite::Regex;

use crate::console::Console;
use crate::contract;
use crate::error::{Error, Result};
use crate::vm::VmOptions;
use crate::wire::{Endpoint, Spec};
use boot::Nic;

/// What `cargo xtask run` boots by default: one user (slirp) NIC with
/// `127.0.0.1:port` forwarded to the guest's HTTP server (port 80), and
/// `vale-ctl -h vale0:virtio0; dhcp host0` at boot.
pub fn xtask_run_defaults(port: u16) -> VmOptions {
    let nic = Nic::new(boot::NicBackend::User {
        hostfwd: vec![format!("tcp:127.0.0.1:{port}-:80")],
    });
    VmOptions::default()
        .nic(nic)
        .script("vale-ctl -h vale0:virtio0\ndhcp host0\n")
}

/// A TCP port on 127.0.0.1 that is free now (for a QEMU `hostfwd`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Boots with `n` dgram NICs, the host end of each opened first; the wires
/// (socket files) must outlive the VM.
pub fn boot_dgram(n: usize) -> Result<(crate::Vm, Vec<Endpoint>, DgramWires)> {
    let wires = DgramWires::new(n).map_err(|e| Error::new(format!("socket directory: {e}")))?;
    let ends = (0..n)
        .map(|i| wires.open(i))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::new(format!("host end of a dgram NIC: {e}")))?;
    let vm = crate::Vm::boot_to_prompt(wires.options(VmOptions::default()))?;
    Ok((vm, ends, wires))
}

/// The idle loop's counters, `stats`' first line
/// (`passes P busy B halts H frames F`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleCounters {
    pub passes: u64,
    pub busy: u64,
    pub halts: u64,
    pub frames: u64,
}

/// Runs `stats` and reads its first line.
pub fn idle_counters(console: &mut Console, timeout: Duration) -> Result<IdleCounters> {
    let lines = console.command_ok("stats", timeout)?;
    let words: Vec<&str> = lines
        .first()
        .map_or(vec![], |l| l.split_whitespace().collect());
    let get = |key: &str| {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .and_then(|w| w[1].parse().ok())
    };
    match (get("passes"), get("busy"), get("halts"), get("frames")) {
        (Some(passes), Some(busy), Some(halts), Some(frames)) if words[0] == "passes" => {
            Ok(IdleCounters {
                passes,
                busy,
                halts,
                frames,
            })
        }
        _ => Err(bad(console, "stats", &lines)),
    }
}

/// One CPU's `stats` line ([`contract::STATS_CPU`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub passes: u64,
    pub halts: u64,
    pub ticks: u64,
    pub irqs: u64,
    /// Passes that moved frames, the frames moved, TSC ticks in those passes.
    pub busy: u64,
    pub frames: u64,
    pub busy_ticks: u64,
    /// TSC ticks in passes that moved nothing (polling empty rings).
    pub idle_ticks: u64,
}

/// `stats`' `cpuN` lines, in CPU order (an error if one is malformed or
/// out of order).
pub fn cpu_stats(lines: &[String]) -> std::result::Result<Vec<CpuStats>, String> {
    let re = Regex::new(contract::STATS_CPU).unwrap();
    let mut cpus = Vec::new();
    for line in lines.iter().filter(|l| l.starts_with("cpu")) {
        let caps = re
            .captures(line.trim_end())
            .ok_or_else(|| format!("{line:?} !~ {}", contract::STATS_CPU))?;
        let n = |i: usize| caps[i].parse::<u64>().unwrap_or(0);
        if n(1) != cpus.len() as u64 {
            return Err(format!("CPU lines out of order: {lines:?}"));
        }
        cpus.push(CpuStats {
            passes: n(2),
            halts: n(3),
            ticks: n(4),
            irqs: n(5),
            busy: n(6),
            frames: n(7),
            busy_ticks: n(8),
            idle_ticks: n(9),
        });
    }
    Ok(cpus)
}

/// The events that cost a VM exit under KVM, as `stats`' `exits` line
/// counts them ([`contract::STATS_EXITS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exits {
    pub doorbells: u64,
    pub irqs: u64,
    pub nic: u64,
    pub timer: u64,
    pub other: u64,
    pub halts: u64,
    pub ticks: u64,
    pub pio: u64,
    pub mmio: u64,
}

impl Exits {
    /// The `exits ...` line, or `None` if it does not match the contract.
    pub fn parse(line: &str) -> Option<Exits> {
        let caps = Regex::new(contract::STATS_EXITS)
            .unwrap()
            .captures(line.trim_end())?;
        let n = |i: usize| caps[i].parse::<u64>().ok();
        Some(Exits {
            doorbells: n(1)?,
            irqs: n(2)?,
            nic: n(3)?,
            timer: n(4)?,
            other: n(5)?,
            halts: n(6)?,
            ticks: n(7)?,
            pio: n(8)?,
            mmio: n(9)?,
        })
    }

    /// Every exit-causing event (ticks are timer interrupts: counted once).
    pub fn total(&self) -> u64 {
        self.doorbells + self.irqs + self.halts + self.pio + self.mmio
    }
}

/// ff:ff:ff:ff:ff:ff
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// Ethertype of test frames (IEEE local experimental, as pktgen's).
pub const ETHERTYPE: u16 = 0x88b5;

/// The MAC the test uses as a host behind NIC `i`: locally administered,
/// never a QEMU NIC's `52:54:00:...` (`02:74:00:00:00:<i+1>`).
pub fn host_mac(i: usize) -> [u8; 6] {
    [0x02, 0x74, 0x00, 0x00, 0x00, (i + 1) as u8]
}

/// `aa:bb:cc:dd:ee:ff`, as the kernel prints MACs.
pub fn mac_str(m: [u8; 6]) -> String {
    boot::nic::format_mac(m)
}

/// A test frame of `size` bytes (at least 14): Ethernet header with
/// [`ETHERTYPE`], then `seq` (big-endian u32) and a padding that depends
/// on `seq` and the position, so a shifted, cut or mixed-up frame never
/// compares equal to another. Shorter than 18 bytes, the frame is the
/// front of the full one.
pub fn frame(dst: [u8; 6], src: [u8; 6], seq: u32, size: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(size.max(18));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2654435761) | 1;
    while f.len() < size {
        // xorshift32: cheap, deterministic, not periodic in the frame.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f.truncate(size);
    f
}

/// The sequence number of a test frame, if it is one (any size >= 18).
pub fn seq_of(f: &[u8]) -> Option<u32> {
    if f.len() < 18 || u16::from_be_bytes([f[12], f[13]]) != ETHERTYPE {
        return None;
    }
    Some(u32::from_be_bytes([f[14], f[15], f[16], f[17]]))
}

/// `n` bytes of deterministic garbage (xorshift from `seed`).
pub fn garbage(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Socket paths for `n` dgram NICs in a fresh directory (short, under
/// `/tmp`: a unix socket path has 108 bytes at most), removed when dropped.
/// NIC `i` is `virtio<i>` in the guest; QEMU binds `q<i>` and sends to
/// `h<i>`, which [`open`](Self::open) binds.
pub struct DgramWires {
    dir: PathBuf,
    n: usize,
}

impl DgramWires {
    pub fn new(n: usize) -> io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nmlab-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, n })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    /// The directory the sockets live in (removed with `self`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// QEMU's side of NIC `i`.
    pub fn nic(&self, i: usize) -> Nic {
        Nic::dgram(
            self.dir.join(format!("q{i}")),
            self.dir.join(format!("h{i}")),
        )
    }

    /// `options` with every NIC added (after any it already has).
    pub fn options(&self, mut options: VmOptions) -> VmOptions {
        for i in 0..self.n {
            options = options.nic(self.nic(i));
        }
        options
    }

    /// The host side of NIC `i`, as pktgen spells it.
    pub fn spec(&self, i: usize) -> Spec {
        Spec::for_nic(&self.nic(i)).expect("a dgram NIC has a host side")
    }

    /// Bind the host side of NIC `i` (before or after QEMU starts: it
    /// connects on its first send).
    pub fn open(&self, i: usize) -> io::Result<Endpoint> {
        Endpoint::open_with(&self.spec(i), &crate::wire::Options::default())
    }
}

impl Drop for DgramWires {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port's or NIC's counters, as `vale-ctl` and `ifconfig` print them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_pkts: u64,
    pub tx_bytes: u64,
    pub rx_pkts: u64,
    pub rx_bytes: u64,
    pub short: u64,
    pub oversize: u64,
    pub frag: u64,
    pub no_dest: u64,
    pub ring_full: u64,
    pub detached: u64,
}

impl Counters {
    /// Parse the counters part of a line (anywhere in it).
    pub fn parse(line: &str) -> Option<Self> {
        let c = Regex::new(contract::COUNTERS).unwrap().captures(line)?;
        let n = |i: usize| c[i].parse::<u64>().ok();
        Some(Self {
            tx_pkts: n(1)?,
            tx_bytes: n(2)?,
            rx_pkts: n(3)?,
            rx_bytes: n(4)?,
            short: n(5)?,
            oversize: n(6)?,
            frag: n(7)?,
            no_dest: n(8)?,
            ring_full: n(9)?,
            detached: n(10)?,
        })
    }
}

/// One port line of `vale-ctl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchPort {
    pub switch: String,
    pub id: u32,
    pub name: String,
    pub counters: Counters,
}

/// One NIC of `ifconfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NicInfo {
    pub name: String,
    pub mac: String,
    pub link_up: bool,
    pub rx_slots: u32,
    pub tx_slots: u32,
    pub counters: Counters,
    pub kicks: u64,
    pub suppressed: u64,
    pub device_errors: u64,
    pub resets: u64,
    pub lost_in_reset: u64,
    /// Doorbells rung by the driver's watchdog for a lost notification.
    pub watchdog_kicks: u64,
    /// A multi-queue NIC's counters per queue pair (empty for one pair).
    pub pairs: Vec<Counters>,
    /// Per queue pair: the CPU that polls it (`cpu N` ending its line).
    pub pair_cpus: Vec<usize>,
}

/// One entry of `vale-ctl -m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacEntry {
    pub mac: String,
    pub port: u32,
    pub name: String,
}

fn bad(console: &mut Console, what: &str, lines: &[String]) -> Error {
    console.mark_failed();
    Error::with_tail(
        format!("{}: unexpected {what} output", console.name()),
        lines.join("\n"),
    )
}

/// Every port of every switch (`vale-ctl`).
pub fn switch_ports(console: &mut Console, timeout: Duration) -> Result<Vec<SwitchPort>> {
    let lines = console.command_ok("vale-ctl", timeout)?;
    let head = Regex::new(contract::VALE_SWITCH).unwrap();
    let port = Regex::new(contract::VALE_PORT).unwrap();
    let mut switch = None;
    let mut out = Vec::new();
    for l in &lines {
        if let Some(c) = head.captures(l) {
            switch = Some(c[1].to_string());
        } else if let Some(c) = port.captures(l) {
            let (Some(sw), Some(counters)) = (switch.clone(), Counters::parse(l)) else {
                return Err(bad(console, "vale-ctl", &lines));
            };
            out.push(SwitchPort {
                switch: sw,
                id: c[1].parse().unwrap_or(u32::MAX),
                name: c[2].to_string(),
                counters,
            });
        } else if l != "no switches" {
            return Err(bad(console, "vale-ctl", &lines));
        }
    }
    Ok(out)
}

/// The counters of switch port `name` (`vale0:virtio0`), if attached.
pub fn port_counters(
    console: &mut Console,
    name: &str,
    timeout: Duration,
) -> Result<Option<Counters>> {
    Ok(switch_ports(console, timeout)?
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.counters))
}

/// `ifconfig IF`.
pub fn nic_info(console: &mut Console, name: &str, timeout: Duration) -> Result<NicInfo> {
    let lines = console.command_ok(&format!("ifconfig {name}"), timeout)?;
    let head = Regex::new(contract::IFCONFIG_NIC).unwrap();
    let kicks = Regex::new(contract::IFCONFIG_KICKS).unwrap();
    let pair = Regex::new(contract::IFCONFIG_PAIR).unwrap();
    let mut info = NicInfo::default();
    let (mut got_head, mut got_counters, mut got_kicks) = (false, false, false);
    for l in &lines {
        if let Some(c) = head.captures(l) {
            info.name = c[1].to_string();
            info.mac = c[2].to_string();
            info.link_up = &c[3] == "up";
            info.rx_slots = c[4].parse().unwrap_or(0);
            info.tx_slots = c[5].parse().unwrap_or(0);
            got_head = true;
        } else if pair.is_match(l) {
            let cpu = l
                .rsplit_once(" cpu ")
                .and_then(|(_, n)| n.trim().parse::<usize>().ok());
            match (Counters::parse(l), cpu) {
                (Some(c), Some(cpu)) => {
                    info.pairs.push(c);
                    info.pair_cpus.push(cpu);
                }
                _ => return Err(bad(console, "ifconfig", &lines)),
            }
        } else if let Some(c) = Counters::parse(l) {
            info.counters = c;
            got_counters = true;
        } else if let Some(c) = kicks.captures(l) {
            let n = |i: usize| c[i].parse::<u64>().unwrap_or(0);
            (info.kicks, info.suppressed, info.device_errors, info.resets) =
                (n(1), n(2), n(3), n(4));
            (info.lost_in_reset, info.watchdog_kicks) = (n(5), n(6));
            got_kicks = true;
        }
    }
    if !(got_head && got_counters && got_kicks) || info.name != name {
        return Err(bad(console, "ifconfig", &lines));
    }
    Ok(info)
}

/// `vale-ctl -m SWITCH`.
pub fn mac_table(console: &mut Console, switch: &str, timeout: Duration) -> Result<Vec<MacEntry>> {
    let lines = console.command_ok(&format!("vale-ctl -m {switch}"), timeout)?;
    let re = Regex::new(contract::MAC_ENTRY).unwrap();
    let mut out = Vec::new();
    for l in &lines {
        if l.starts_with('#') {
            continue;
        }
        let Some(c) = re.captures(l) else {
            return Err(bad(console, "vale-ctl -m", &lines));
        };
        out.push(MacEntry {
            mac: c[1].to_string(),
            port: c[2].parse().unwrap_or(u32::MAX),
            name: c[3].to_string(),
        });
    }
    Ok(out)
}

/// Wait until QEMU has read every frame sent on dgram wire `ep` (so they
/// are in the guest's rx ring, or dropped by QEMU): the guest may act on
/// them from then on. Returns whether that happened within `timeout`.
pub fn wait_taken(ep: &Endpoint, timeout: Duration) -> io::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match ep.unread_by_peer()? {
            None | Some(0) => return Ok(true),
            Some(_) if std::time::Instant::now() >= deadline => return Ok(false),
            Some(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Everything that arrives on `ep` within `quiet` of the previous frame
/// (the first wait is `first`).
pub fn drain(ep: &mut Endpoint, first: Duration, quiet: Duration) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut wait = first;
    while let Some(f) = ep.recv(wait)? {
        out.push(f);
        wait = quiet;
    }
    Ok(out)
}

/// Runs an application's command (`pkt-gen ...`, `bridge ...`) and
/// returns the id it printed (`started NAME as app ID`).
pub fn start_app(console: &mut Console, line: &str, timeout: Duration) -> Result<u32> {
    let lines = console.command_ok(line, timeout)?;
    let re = Regex::new(contract::APP_STARTED).unwrap();
    match lines.iter().find_map(|l| re.captures(l)) {
        Some(c) => Ok(c[2].parse().unwrap_or(0)),
        None => Err(bad(console, line, &lines)),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn parses_the_guests_exits_line() {
        let e = Exits::parse(
            "exits doorbells=3 irqs=12 (nic=2 timer=9 other=1) halts=7 ticks=9 pio=400 mmio=21",
        )
        .unwrap();
        assert_eq!(
            (e.doorbells, e.irqs, e.halts, e.ticks, e.pio, e.mmio),
            (3, 12, 7, 9, 400, 21)
        );
        assert_eq!(e.total(), 3 + 12 + 7 + 400 + 21);
        assert!(Exits::parse("exits doorbells=3").is_none());
    }

    use super::*;

    #[test]
    fn frames_carry_their_sequence_and_differ() {
        let a = frame(BROADCAST, host_mac(0), 7, 60);
        let b = frame(BROADCAST, host_mac(0), 8, 60);
        assert_eq!(a.len(), 60);
        assert_eq!(seq_of(&a), Some(7));
        assert_ne!(a[18..], b[18..]);
        assert_eq!(frame(BROADCAST, host_mac(0), 7, 10), a[..10]);
        assert_eq!(seq_of(&a[..17]), None);
    }

    #[test]
    fn parses_the_counters_line() {
        let l = "  1 vale0:virtio1 tx 3 pkts 180 bytes, rx 5 pkts 300 bytes, drops short=1 oversize=2 frag=3 no_dest=4 ring_full=5 detached=6";
        let c = Counters::parse(l).unwrap();
        assert_eq!(
            (c.tx_pkts, c.tx_bytes, c.rx_pkts, c.rx_bytes),
            (3, 180, 5, 300)
        );
        assert_eq!(
            (
                c.short,
                c.oversize,
                c.frag,
                c.no_dest,
                c.ring_full,
                c.detached
            ),
            (1, 2, 3, 4, 5, 6)
        );
        let p = Regex::new(contract::VALE_PORT)
            .unwrap()
            .captures(l)
            .unwrap();
        assert_eq!((&p[1], &p[2]), ("1", "vale0:virtio1"));
    }
}

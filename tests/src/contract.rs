//! The kernel's serial contract, written down once for every test.
//!
//! The kernel engineer implements these lines; if one changes, it changes
//! here and in the kernel together.

/// The shell commands `help` must list, in any order (it may list more).
pub const COMMANDS: [&str; 9] = [
    "help", "version", "uptime", "mem", "pci", "log", "shutdown", "panic", "fault",
];

/// The ready line (alone on its line); group 1 is the kernel's boot time.
pub const READY: &str = r"(?m)^kernel ready in (\d+) ms\r?$";
/// A `help` line: `<name> <usage> - <description>` (usage may be empty).
pub const HELP_LINE: &str = r"^([a-z][a-z0-9-]*)( .*)? - \S.*$";
/// `version`: `kernel <version> (<debug|release>)`.
pub const VERSION: &str = r"^kernel (\d+\.\d+\.\d+\S*) \((debug|release)\)$";
/// `uptime`: `up <s>.<mmm> s`.
/// `stats`' VM-exit line (kernel/src/exits.rs).
pub const STATS_EXITS: &str = r"^exits doorbells=(\d+) irqs=(\d+) \(nic=(\d+) timer=(\d+) other=(\d+)\) halts=(\d+) ticks=(\d+) pio=(\d+) mmio=(\d+)$";
pub const UPTIME: &str = r"^up (\d+)\.(\d{3}) s$";
/// `mem`: the three lines, in order; groups 1 and 2 are used and free.
pub const MEM: [&str; 3] = [
    r"^frames: (\d+) used, (\d+) free \(4 KiB\)$",
    r"^heap: (\d+) used, (\d+) free \(bytes\)$",
    r"^dma: (\d+) used, (\d+) free \(bytes\)$",
];
/// What an application's command prints when it starts it; groups: the
/// application, its id.
pub const APP_STARTED: &str = r"^started (\S+) as app (\d+)$";
/// `mem`'s last line, the netmap buffer pool and its audit (every buffer
/// free or owned once); groups: total, free, verdict (`ok` or
/// `FAILED: why`).
pub const MEM_BUFFERS: &str = r"^buffers: (\d+) total, (\d+) free, audit (ok|FAILED: .*)$";
/// One `pci` function line; groups: bus, device, function, vendor, device
/// id, class, subclass, prog-if, irq.
pub const PCI_LINE: &str = r"^([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7]) ([0-9a-fA-F]{4}):([0-9a-fA-F]{4}) class ([0-9a-fA-F]{2})\.([0-9a-fA-F]{2})\.([0-9a-fA-F]{2}) irq (\d+|none)( .*)?$";
/// `panic`: the location must be in the kernel's sources.
pub const PANIC: &str =
    r"PANIC at (kernel/src/\S+\.rs):(\d+):(\d+): panic requested from the shell";
/// The line after a panic or exception report: which CPU (0 is the
/// bootstrap processor); group 1 is its number.
pub const ON_CPU: &str = r"(?m)^  on cpu(\d+)\r?$";
/// `stats`: one line per CPU online, after the others; groups: CPU number,
/// idle-loop passes, halts, timer ticks, interrupts, busy passes, frames
/// moved, TSC ticks in busy passes and in idle (polling) passes.
pub const STATS_CPU: &str = r"^cpu(\d+) passes (\d+) halts (\d+) ticks (\d+) irqs (\d+) busy (\d+) frames (\d+) busy-ticks (\d+) idle-ticks (\d+)$";
/// An exception report; groups: name, vector, error code, rip.
pub const EXCEPTION: &str =
    r"EXCEPTION: ([A-Za-z ()-]+) \(vector (\d+)\) error=(0x[0-9a-f]+|none) rip=(0x[0-9a-f]+)";
/// A kernel log record (`[    1.234567] INFO  pci: ...`): printed whenever
/// something happens, also in the middle of a command's output.
pub const LOG_RECORD: &str = r"^\[\s*\d+\.\d{6}\] (ERROR|WARN|INFO|DEBUG|TRACE)\s";
/// A startup-script echo line.
pub const SCRIPT_ECHO: &str = "script> ";

/// Port and NIC counters (`vale-ctl`, `ifconfig`); groups: tx packets,
/// bytes, rx packets, bytes, then drops short, oversize, frag, no_dest,
/// ring_full, detached.
pub const COUNTERS: &str = r"tx (\d+) pkts (\d+) bytes, rx (\d+) pkts (\d+) bytes, drops short=(\d+) oversize=(\d+) frag=(\d+) no_dest=(\d+) ring_full=(\d+) detached=(\d+)";
/// `vale-ctl`: a switch line; group 1 is its name.
pub const VALE_SWITCH: &str = r"^(vale\S*): (\d+) port\(s\)";
/// `vale-ctl`: a port line (indented, then [`COUNTERS`]); groups: id, name.
pub const VALE_PORT: &str = r"^\s+(\d+) (\S+) tx ";
/// `vale-ctl -m`: one entry; groups: MAC, port id, port name, age.
pub const MAC_ENTRY: &str = r"^([0-9a-f]{2}(?::[0-9a-f]{2}){5}) (\d+) (\S+) (\d+)$";
/// `ifconfig`: a NIC's first line; groups: name, MAC, link, rx slots, tx slots.
pub const IFCONFIG_NIC: &str =
    r"^(\S+): mac ([0-9a-f:]{17}) link (up|down) pci \S+ irq \S+ rx-slots (\d+) tx-slots (\d+)$";
/// `ifconfig` of a multi-queue NIC: one line per queue pair, `pairK`
/// then [`COUNTERS`] (that pair's tx and rx krings), its kicks and
/// `cpu N`, the CPU that polls it; group 1 is K.
pub const IFCONFIG_PAIR: &str = r"^\s+pair(\d+) tx \d+ pkts ";
/// `ifconfig`: driver counters; groups: kicks, suppressed, device errors,
/// resets, frames lost in resets, watchdog kicks (lost notifications).
pub const IFCONFIG_KICKS: &str = r"^\s+kicks (\d+) suppressed (\d+) device-errors (\d+) resets (\d+) lost-in-reset (\d+) watchdog-kicks (\d+)$";

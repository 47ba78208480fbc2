//! The command line (clap).

use std::path::PathBuf;

use boot::Nic;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, boot, test and measure the unikernel"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build the kernel and its disk image, then boot it in QEMU.
    Run(RunArgs),
    /// Build the kernel and its BIOS and UEFI images; print their paths.
    Image(ImageArgs),
    /// Run every test: host unit tests, then the QEMU integration tests.
    Test(TestArgs),
    /// Measure: boot times and footprint, or the datapath micro-benchmarks.
    Bench(BenchArgs),
    /// Host packet generator: send/count frames on the host side of a NIC.
    Pktgen(crate::pktgen::PktgenArgs),
    /// Hold the running image under load, faults, floods and hostile input
    /// for a while (default 10 minutes) and report what it survived.
    Soak(SoakArgs),
}

/// The NICs' host side for `soak`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoakBackend {
    /// The project's vhost-user backend (no root, fastest).
    VhostUser,
    /// QEMU's unix datagram sockets (about 0.1 Mpps).
    Dgram,
}

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// How long, in seconds (default 600; 60 with --short).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// The short soak for CI: a minute, every campaign, smaller targets.
    #[arg(long)]
    pub short: bool,
    /// The NICs' host side.
    #[arg(long, value_enum, default_value = "vhost-user")]
    pub backend: SoakBackend,
    /// Also write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Boot this kernel ELF instead of building one.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
}

/// Which kernel profile to build.
#[derive(Args, Clone, Copy, Debug)]
pub struct ProfileArgs {
    /// Build the kernel with the release profile (the default).
    #[arg(long, conflicts_with = "debug")]
    pub release: bool,
    /// Build the kernel with the dev profile (debug assertions, slower datapath).
    #[arg(long)]
    pub debug: bool,
}

impl ProfileArgs {
    pub fn release(self) -> bool {
        !self.debug
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A virtio-net NIC: user | tap:IFNAME | dgram:LOCAL:REMOTE | stream:PATH
    /// | vhost-user:PATH; tap and vhost-user take `,queues=N` (N queue pairs,
    /// multi-queue virtio-net, 1..=8). Repeatable; NIC i is virtio<i> in the guest.
    /// Default: one `user` NIC. With a vhost-user NIC, guest RAM is a shared
    /// memfd and a backend must already listen on PATH (checked first).
    #[arg(long = "nic", value_name = "SPEC")]
    pub nics: Vec<Nic>,
    /// Give QEMU no NIC at all.
    #[arg(long, conflicts_with = "nics")]
    pub no_nic: bool,
    /// Shell commands to run at boot, separated by ';'.
    #[arg(long, value_name = "CMDS")]
    pub exec: Option<String>,
    /// A startup script file (shell commands, one per line); runs before --exec.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Boot through UEFI (OVMF) instead of BIOS.
    #[arg(long)]
    pub uefi: bool,
    /// Use KVM instead of TCG (slow VM exits on some hosts).
    #[arg(long)]
    pub kvm: bool,
    /// Use the q35 machine (PCIe, ECAM) instead of pc.
    #[arg(long)]
    pub q35: bool,
    /// Number of CPUs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub smp: u32,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 512, value_name = "MB")]
    pub mem: u32,
    /// Start halted with a gdb stub on tcp::1234 and say how to attach.
    #[arg(long)]
    pub gdb: bool,
    /// Pass an argument through to QEMU (repeatable).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// No terminal input: serial goes to stdout and xtask returns when the
    /// kernel shuts down.
    #[arg(long)]
    pub headless: bool,
    /// With the default user NIC: the host port (on 127.0.0.1) forwarded to
    /// the guest stack's HTTP server (port 80). Default: 8080 when the run
    /// has no --exec/--script (the stack comes up by itself then), none
    /// otherwise; 0: no forwarding.
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Capture a port's traffic into a pcap file: the kernel runs
    /// `pcap start PORT` and writes to COM2, which QEMU writes to FILE.
    /// PORT is a VALE port, e.g. vale0:host0.
    #[arg(long, value_name = "PORT=FILE")]
    pub pcap: Option<String>,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Boot this kernel ELF instead of building one (tests use it: no cargo
    /// run inside a running `cargo test`).
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Shell commands to carry as the startup script, separated by ';'.
    #[arg(long, value_name = "CMDS")]
    pub exec: Option<String>,
    /// A startup script file.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Use this kernel ELF instead of building one.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Run only tests whose name contains FILTER (unit and integration).
    pub filter: Option<String>,
    /// Stop at the first failing test binary. By default every step and
    /// binary runs even after a failure, so the summary counts them all.
    #[arg(long)]
    pub fail_fast: bool,
    /// Only the host unit tests (no QEMU).
    #[arg(long, conflicts_with = "integration_only")]
    pub unit_only: bool,
    /// Only the QEMU integration tests.
    #[arg(long)]
    pub integration_only: bool,
    /// Integration tests (QEMUs) run at once; default: one per CPU.
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
    /// Further arguments for the test binaries (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub test_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub bench: Bench,
}

/// The benchmarks; each prints a table and can write `--json FILE`.
#[derive(Subcommand, Debug)]
pub enum Bench {
    /// QEMU start -> ready line (BIOS and UEFI), kernel ELF size, idle CPU.
    Boot(BootBenchArgs),
    /// The netmap datapath micro-benchmarks (`cargo bench -p netmap --bench datapath`).
    Datapath(DatapathBenchArgs),
    /// End to end through QEMU: two dgram NICs on vale0 (pktgen txrx, ping),
    /// then the in-kernel reflector on one NIC (QEMU's own limit).
    E2e(E2eBenchArgs),
    /// The in-kernel apps: pkt-gen pairs through vale0 and a pipe in the
    /// guest, the bridge app against the switch NIC to NIC (vhost-user).
    Apps(AppsBenchArgs),
    /// Draw an SVG chart of forwarding rate by frame size from one or more
    /// `bench e2e --json` files.
    Plot(PlotBenchArgs),
}

#[derive(Args, Debug)]
pub struct AppsBenchArgs {
    /// Rounds of each case (the median is reported).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
    /// Frames per pkt-gen round at 60-128 B (a quarter of it above).
    #[arg(long, default_value_t = 2_000_000, value_name = "N")]
    pub frames: u64,
    /// Frame sizes for the pkt-gen cases.
    #[arg(long, value_delimiter = ',', default_values_t = [60usize, 1514], value_name = "BYTES")]
    pub sizes: Vec<usize>,
    /// Seconds per round of the NIC-to-NIC cases.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub duration: f64,
    /// Boot this kernel ELF instead of building one.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Also write the rows as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PlotBenchArgs {
    /// A `bench e2e --json` result file (repeatable: one set of lines each).
    #[arg(long, required = true, value_name = "FILE")]
    pub json: Vec<PathBuf>,
    /// The SVG file to write.
    #[arg(long, value_name = "FILE.svg")]
    pub out: PathBuf,
    /// The chart's title.
    #[arg(long)]
    pub title: Option<String>,
}

#[derive(Args, Debug)]
pub struct E2eBenchArgs {
    /// Rounds (every case runs once per round; figures are medians).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
    /// Seconds measured per case.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub warmup: f64,
    /// Frame sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [60usize, 1514], value_name = "BYTES")]
    pub sizes: Vec<usize>,
    /// Frames in flight for the closed-loop rate (ping) cases.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub inflight: usize,
    /// txrx from one pktgen thread (less CPU per frame, one core).
    #[arg(long)]
    pub one_thread: bool,
    /// Run QEMU in a network namespace whose net.unix.max_dgram_qlen is N
    /// (root): how many frames a sender may queue in QEMU's socket.
    #[arg(long, value_name = "N")]
    pub qlen: Option<u32>,
    /// Measure this kernel ELF instead of building the release kernel.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Extra QEMU argument (repeatable), e.g. `--qemu-arg=-smp
    /// --qemu-arg=1,maxcpus=2`: compare QEMU configurations.
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// The NICs' host side: QEMU's unix datagram sockets, or vhost-user
    /// sockets served by pktgen (guest memory shared, QEMU's main loop out
    /// of the per-frame path).
    #[arg(long, value_enum, default_value_t = E2eBackend::Dgram)]
    pub backend: E2eBackend,
    /// Run the guest under KVM instead of TCG (slow VM exits on nested
    /// hosts: read the exits/frame column).
    #[arg(long)]
    pub kvm: bool,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Which paths to measure: `switch` (vale0 between the NICs), `bridge`
    /// (the bridge app between them, zero copy), `reflector` (one NIC),
    /// `generator` (vhost-user only: the generator into a dropping guest).
    #[arg(long, value_delimiter = ',', default_values_t = ["switch".to_string(), "bridge".to_string(), "reflector".to_string(), "generator".to_string()], value_name = "PATHS")]
    pub paths: Vec<String>,
    /// Guest CPUs, comma separated (e.g. `1,2`): the multi-CPU bench
    /// (vhost-user only). One VM per configuration, all booted at once;
    /// each round measures the switch (txrx, many flows) on every
    /// configuration in turn, with each vCPU thread's CPU per frame.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub smp: Vec<u32>,
    /// Queue pairs per vhost-user NIC, comma separated (with --smp): every
    /// --smp value runs with every --queues value. Default: as many pairs
    /// as CPUs.
    #[arg(long, value_delimiter = ',', value_name = "N", requires = "smp")]
    pub queues: Vec<u16>,
    /// With --smp: UDP flows the generator spreads its frames over (source
    /// ports), so the NICs' flow hash uses every queue pair.
    #[arg(long, default_value_t = 64, value_name = "N", requires = "smp")]
    pub flows: u16,
}

/// What carries frames between pktgen and the guest in `bench e2e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum E2eBackend {
    Dgram,
    VhostUser,
}

impl E2eBackend {
    pub fn name(self) -> &'static str {
        match self {
            E2eBackend::Dgram => "dgram",
            E2eBackend::VhostUser => "vhost-user",
        }
    }
}

#[derive(Args, Debug)]
pub struct BootBenchArgs {
    /// Boots per firmware.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub boots: usize,
    /// Seconds over which the idle guest's CPU use is sampled.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub idle_secs: f64,
    /// Skip the UEFI boots (no OVMF).
    #[arg(long)]
    pub no_uefi: bool,
    /// Measure this kernel ELF instead of building the release kernel.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DatapathBenchArgs {
    /// Ask the bench to write its results as JSON (passed on as `--json FILE`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Arguments for the bench binary (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn e2e(args: &[&str]) -> Result<E2eBenchArgs, clap::Error> {
        let mut v = vec!["cargo xtask", "bench", "e2e"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v)?.command {
            Command::Bench(BenchArgs {
                bench: Bench::E2e(a),
            }) => Ok(a),
            _ => unreachable!("bench e2e parses as bench e2e"),
        }
    }

    #[test]
    fn e2e_smp_and_queues_take_lists() {
        let a = e2e(&["--backend", "vhost-user", "--smp", "1,2", "--queues", "2"]).unwrap();
        assert_eq!(a.smp, [1, 2]);
        assert_eq!(a.queues, [2]);
        assert_eq!(a.flows, 64);
        let a = e2e(&["--smp", "2", "--queues", "1,2", "--flows", "8"]).unwrap();
        assert_eq!((a.smp, a.queues, a.flows), (vec![2], vec![1, 2], 8));
        // Without --smp: the classic one-vCPU bench.
        let a = e2e(&[]).unwrap();
        assert!(a.smp.is_empty() && a.queues.is_empty());
        // --queues and --flows belong to --smp.
        assert!(e2e(&["--queues", "2"]).is_err());
        assert!(e2e(&["--flows", "8"]).is_err());
        assert!(e2e(&["--smp", "x"]).is_err());
    }
}

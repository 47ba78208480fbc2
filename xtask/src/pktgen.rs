//! `cargo xtask pktgen`: the host packet generator (the engine is
//! `integration::pktgen`, shared with the tests and `bench`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use integration::pktgen::{self, Config, Mac, Mode, Udp};
use integration::wire::Spec;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Send frames into --tx.
    Tx,
    /// Count the frames that come out of --rx, per second and in total.
    Rx,
    /// Send into --tx, count what comes out of --rx: rate, loss, reordering.
    Txrx,
    /// Round-trip latency from --tx back to --rx (or to --tx: a reflector).
    Ping,
    /// Send back on --port every frame that comes out of it.
    Reflect,
}

/// Ports are spelled as for `cargo xtask run --nic`: tap:IFNAME,
/// dgram:LOCAL:REMOTE (QEMU binds LOCAL; pktgen binds REMOTE and sends to
/// LOCAL), stream:PATH (pktgen listens, QEMU connects), vhost-user:PATH
/// (pktgen is the NIC's vhost-user backend: start it before QEMU).
#[derive(Args, Debug)]
pub struct PktgenArgs {
    /// What to do.
    #[arg(value_enum)]
    pub mode: ModeArg,
    /// The NIC frames are sent into.
    #[arg(long, value_name = "PORT")]
    pub tx: Option<Spec>,
    /// The NIC frames are counted on.
    #[arg(long, value_name = "PORT")]
    pub rx: Option<Spec>,
    /// Use PORT for both --tx and --rx (tx, rx, or ping with a reflector).
    #[arg(long, value_name = "PORT", conflicts_with_all = ["tx", "rx"])]
    pub port: Option<Spec>,
    /// Frame size in bytes, without FCS (60..=1514).
    #[arg(long, default_value_t = 60, value_name = "BYTES")]
    pub size: usize,
    /// Allow any size (runts below 60, jumbo frames above 1514).
    #[arg(long)]
    pub raw: bool,
    /// Send IPv4/UDP frames (10.70.0.1 -> 10.70.0.2, port 7067) instead of
    /// bare 0x88b5 frames.
    #[arg(long)]
    pub udp: bool,
    /// Spread the frames over N flows (UDP source ports 7067..7067+N-1;
    /// needs --udp), so a multi-queue NIC's flow hash uses every queue pair.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub flows: u16,
    /// Frames to send (or, in rx mode, to receive) after the warm-up.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Seconds to measure, after the warm-up, unless --count is given.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = secs)]
    pub duration: f64,
    /// Seconds to run before counting.
    #[arg(long, default_value_t = 0.0, value_name = "SECS", value_parser = secs)]
    pub warmup: f64,
    /// Frames per second; 0 sends as fast as the port takes them.
    #[arg(long, default_value_t = 0, value_name = "PPS")]
    pub rate: u64,
    /// Frames per sendmmsg/recvmmsg.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub batch: usize,
    /// Source MAC of the frames sent.
    #[arg(long, default_value_t = Mac::TX_DEFAULT, value_name = "MAC")]
    pub src_mac: Mac,
    /// pktgen's MAC on the rx port; a learning frame from it goes out first.
    #[arg(long, default_value_t = Mac::RX_DEFAULT, value_name = "MAC")]
    pub rx_mac: Mac,
    /// Destination MAC (default: the rx MAC, or broadcast with one port).
    #[arg(long, value_name = "MAC", conflicts_with = "broadcast")]
    pub dst_mac: Option<Mac>,
    /// Send to ff:ff:ff:ff:ff:ff.
    #[arg(long)]
    pub broadcast: bool,
    /// Don't send the learning frame before a two-port run.
    #[arg(long)]
    pub no_learn: bool,
    /// ping: frames in flight at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub inflight: usize,
    /// ping: seconds after which a frame counts as lost; txrx: seconds to
    /// wait for stragglers.
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = secs)]
    pub timeout: f64,
    /// stream ports: seconds to wait for QEMU to connect.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", value_parser = secs)]
    pub connect_timeout: f64,
    /// txrx: send and receive on one thread: 20-25 % less CPU per frame
    /// (no wake-ups between threads), but one core only.
    #[arg(long)]
    pub one_thread: bool,
    /// Receivers keep polling this many microseconds before sleeping
    /// (fewer wake-ups, one busy CPU).
    #[arg(long, default_value_t = 0, value_name = "USECS")]
    pub busy_poll: u64,
    /// vhost-user ports: complete each batch's used elements in reverse
    /// order (a test mode; a device may complete in any order).
    #[arg(long)]
    pub vhost_out_of_order: bool,
    /// vhost-user ports: don't offer VIRTIO_RING_F_EVENT_IDX (flags-based
    /// notification suppression instead).
    #[arg(long)]
    pub vhost_no_event_idx: bool,
    /// Also write the report as a JSON object to FILE ('-': stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No per-second lines; just the summary.
    #[arg(long)]
    pub quiet: bool,
}

fn secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

fn config(a: &PktgenArgs) -> Config {
    let mode = match a.mode {
        ModeArg::Tx => Mode::Tx,
        ModeArg::Rx => Mode::Rx,
        ModeArg::Txrx => Mode::TxRx,
        ModeArg::Ping => Mode::Ping,
        ModeArg::Reflect => Mode::Reflect,
    };
    let mut c = Config::new(mode);
    c.tx = a.tx.clone().or_else(|| a.port.clone());
    c.rx = a.rx.clone().or_else(|| a.port.clone());
    c.size = a.size;
    c.raw = a.raw;
    c.udp = a.udp.then(Udp::default);
    c.flows = a.flows;
    c.count = a.count;
    c.duration = Duration::from_secs_f64(a.duration);
    c.warmup = Duration::from_secs_f64(a.warmup);
    c.rate = a.rate;
    c.batch = a.batch;
    c.src_mac = a.src_mac;
    c.rx_mac = a.rx_mac;
    c.dst_mac = a.dst_mac;
    c.broadcast = a.broadcast;
    c.learn = !a.no_learn;
    c.inflight = a.inflight;
    c.timeout = Duration::from_secs_f64(a.timeout);
    c.connect_timeout = Duration::from_secs_f64(a.connect_timeout);
    c.one_thread = a.one_thread;
    c.busy_poll = Duration::from_micros(a.busy_poll);
    c.progress = !a.quiet;
    c.vhost.out_of_order = a.vhost_out_of_order;
    c.vhost.event_idx = !a.vhost_no_event_idx;
    c
}

pub fn pktgen(a: &PktgenArgs) -> Result<i32, String> {
    let cfg = config(a);
    let report = pktgen::run(&cfg).map_err(|e| format!("pktgen {}: {e}", cfg.mode))?;
    println!("{}", report.summary());
    if let Some(path) = &a.json {
        let json = report.to_json() + "\n";
        if path.as_os_str() == "-" {
            print!("{json}");
        } else {
            std::fs::write(path, json)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(0)
}

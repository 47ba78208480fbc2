//! tx, rx and txrx: open the ports, learn, start the sender and the
//! receiver on their own threads, print progress, put the report together.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::Duration;

use super::clock::{now_ns, run_id};
use super::config::{Config, Mode};
use super::flow::{self, RxUntil, Shared, TxPlan};
use super::frame::{FrameSpec, Template, LEARN_SEQ};
use super::report::{format_pps, Report};
use super::{receiver, sender};
use crate::wire::{Endpoint, Options, Spec};

/// Open the ports (tx first), then wait for QEMU to connect to the stream
/// ones: all listen before any wait, as QEMU connects to every stream
/// netdev once, at start-up.
pub fn open(
    tx: Option<&Spec>,
    rx: Option<&Spec>,
    cfg: &Config,
) -> io::Result<(Option<Endpoint>, Option<Endpoint>)> {
    let opts = Options {
        batch: cfg.batch,
        busy_poll: cfg.busy_poll,
        vhost: cfg.vhost,
        ..Options::default()
    };
    let mut tx = tx.map(|s| Endpoint::open_with(s, &opts)).transpose()?;
    let mut rx = rx.map(|s| Endpoint::open_with(s, &opts)).transpose()?;
    let deadline = std::time::Instant::now() + cfg.connect_timeout;
    for ep in tx.iter_mut().chain(rx.iter_mut()) {
        ep.wait_connected(deadline.saturating_duration_since(std::time::Instant::now()))?;
    }
    Ok((tx, rx))
}

/// How long a learning switch gets between the learning frame and traffic.
const LEARN_WAIT: Duration = Duration::from_millis(100);

/// Send one frame from `cfg.rx_mac` out of the rx port, so a learning
/// switch knows where that MAC is before the run addresses frames to it.
pub fn learn(rx: &mut Endpoint, cfg: &Config, run: u16) -> io::Result<()> {
    let t = Template::new(&FrameSpec {
        dst: super::mac::Mac::BROADCAST,
        src: cfg.rx_mac,
        size: super::frame::MIN_SIZE,
        udp: cfg.udp,
        run,
    });
    rx.send_all(&[t.build(LEARN_SEQ, now_ns())], Duration::from_secs(1))?;
    thread::sleep(LEARN_WAIT);
    Ok(())
}

pub fn template(cfg: &Config, run: u16) -> Template {
    Template::new(&FrameSpec {
        dst: cfg.destination(),
        src: cfg.src_mac,
        size: cfg.size,
        udp: cfg.udp,
        run,
    })
    .with_flows(cfg.flows)
}

fn plan(cfg: &Config) -> TxPlan {
    TxPlan {
        count: cfg.count,
        duration: cfg.duration,
        warmup: cfg.warmup,
        rate: cfg.rate,
        batch: cfg.batch,
        stall: cfg.timeout.max(Duration::from_secs(5)),
    }
}

/// Print a line a second while the workers run.
fn watch(cfg: &Config, shared: &Shared, done: impl Fn() -> bool) {
    let start = now_ns();
    let mut next = start + 1_000_000_000;
    let (mut tx0, mut rx0) = (0, 0);
    let mut sec = 0;
    while !done() {
        thread::sleep(Duration::from_millis(20));
        let now = now_ns();
        if now < next {
            continue;
        }
        sec += 1;
        next += 1_000_000_000;
        let (tx, rx) = (shared.sent.load(Relaxed), shared.received.load(Relaxed));
        if cfg.progress {
            let mut line = format!("pktgen {}: {sec:>3} s:", cfg.mode);
            if cfg.mode != Mode::Rx {
                line += &format!(" tx {}", format_pps((tx - tx0) as f64));
            }
            if cfg.mode != Mode::Tx {
                line += &format!(" rx {} (total {rx})", format_pps((rx - rx0) as f64));
            }
            eprintln!("{line}");
        }
        (tx0, rx0) = (tx, rx);
    }
}

/// Join a worker; its panic becomes ours.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

pub fn run(cfg: &Config) -> io::Result<Report> {
    let (mut tx_ep, mut rx_ep) = open(
        cfg.tx.as_ref().filter(|_| cfg.mode != Mode::Rx),
        cfg.rx.as_ref().filter(|_| cfg.mode != Mode::Tx),
        cfg,
    )?;
    run_with(cfg, tx_ep.as_mut(), rx_ep.as_mut())
}

/// tx, rx or txrx on ports opened already (and kept by the caller).
pub fn run_with(
    cfg: &Config,
    mut tx_ep: Option<&mut Endpoint>,
    mut rx_ep: Option<&mut Endpoint>,
) -> io::Result<Report> {
    let run = run_id();
    if cfg.learns() {
        learn(rx_ep.as_mut().expect("two ports"), cfg, run)?;
    }
    let t = template(cfg, run);
    let plan = plan(cfg);
    let until = match cfg.mode {
        Mode::Rx => RxUntil::Time {
            warmup: cfg.warmup,
            duration: cfg.duration,
            count: cfg.count,
        },
        _ => RxUntil::Sender { idle: cfg.timeout },
    };
    let rx_run = (cfg.mode == Mode::TxRx).then_some(run);
    let shared = Shared::default();
    let (tx_res, rx_res) = thread::scope(|s| {
        if cfg.one_thread {
            let (tx, rx) = (
                tx_ep.as_mut().expect("txrx sends"),
                rx_ep.as_mut().expect("txrx receives"),
            );
            let h = s.spawn(|| flow::one_thread(tx, rx, &t, &plan, run, &until, &shared));
            watch(cfg, &shared, || h.is_finished());
            let (tx, rx) = join(h);
            return (Some(tx), Some(rx));
        }
        // The receiver starts first so it misses nothing.
        let rx = rx_ep
            .as_mut()
            .map(|ep| s.spawn(|| receiver::receive(ep, rx_run, &until, &shared)));
        let tx = tx_ep
            .as_mut()
            .map(|ep| s.spawn(|| sender::transmit(ep, &t, &plan, &shared)));
        watch(cfg, &shared, || {
            tx.as_ref().is_none_or(|h| h.is_finished())
                && rx.as_ref().is_none_or(|h| h.is_finished())
        });
        (tx.map(join), rx.map(join))
    });
    let tx_res = tx_res.transpose()?;
    let rx_res = rx_res.transpose()?;

    let mut r = Report {
        mode: cfg.mode,
        size: cfg.size,
        sent: 0,
        received: 0,
        lost: 0,
        dup: 0,
        reorder: 0,
        other: 0,
        tx_port_received: 0,
        tx_pps: 0.0,
        rx_pps: 0.0,
        duration_s: 0.0,
        rtt_us: None,
        cpu_s: 0.0,
        tx_cpu_s: 0.0,
        rx_cpu_s: 0.0,
        vhost: crate::wire::vhost::VhostStats::sum(
            [tx_ep.as_deref(), rx_ep.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|e| e.vhost_stats()),
        ),
    };
    if let Some(tx) = &tx_res {
        r.sent = tx.sent();
        r.tx_pps = tx.pps();
        r.tx_port_received = tx.returned;
        r.duration_s = (tx.end_ns - tx.warm_ns) as f64 / 1e9;
        r.tx_cpu_s = tx.cpu_ns as f64 / 1e9;
    }
    if let Some(rx) = &rx_res {
        r.rx_cpu_s = rx.cpu_ns as f64 / 1e9;
        r.dup = rx.tracker.dup;
        r.reorder = rx.tracker.reorder;
        r.other = rx.other;
        match cfg.mode {
            Mode::TxRx => {
                let tx = tx_res.as_ref().expect("txrx sends");
                r.received = rx.tracker.count_range(tx.warm_seq, tx.end_seq);
                r.lost = r.sent.saturating_sub(r.received);
                r.rx_pps = rx.pps(rx.tracker.unique);
            }
            _ => {
                r.received = rx.frames;
                r.rx_pps = rx.pps(rx.frames);
                r.duration_s = (rx.window.1.saturating_sub(rx.window.0)) as f64 / 1e9;
                // Loss from gaps in the sequence numbers of the run followed.
                if let Some((lo, hi)) = rx.tracker.span() {
                    r.lost = (hi - lo + 1).saturating_sub(rx.tracker.unique - rx.tracker.untracked);
                }
            }
        }
    }
    r.cpu_s = r.tx_cpu_s + r.rx_cpu_s;
    Ok(r)
}

//! Round trips: send a frame, wait for it to come back (from a reflector
//! on the same port, or forwarded to the rx port), keep `inflight` frames
//! out at once. One thread: latency, not rate, is the point.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use super::clock::{now_ns, run_id, thread_cpu_ns};
use super::config::Config;
use super::flow::{rate, POLL};
use super::frame::{self, LEARN_SEQ};
use super::report::Report;
use super::run::{learn, open, template};
use super::stats::Rtt;
use crate::wire::Endpoint;

/// The tx port, and the rx port if it is another one.
struct Ports<'a> {
    tx: &'a mut Endpoint,
    rx: Option<&'a mut Endpoint>,
}

impl Ports<'_> {
    fn rx(&mut self) -> &mut Endpoint {
        match &mut self.rx {
            Some(rx) => rx,
            None => self.tx,
        }
    }
}

pub fn run(cfg: &Config) -> io::Result<Report> {
    let (mut tx, mut rx) = open(
        cfg.tx.as_ref(),
        cfg.rx.as_ref().filter(|_| cfg.two_ports()),
        cfg,
    )?;
    run_with(
        cfg,
        tx.as_mut().expect("validated: ping has --tx"),
        rx.as_mut(),
    )
}

/// Round trips on ports opened already; `rx` is `None` for a reflector on `tx`.
pub fn run_with(cfg: &Config, tx: &mut Endpoint, rx: Option<&mut Endpoint>) -> io::Result<Report> {
    let run = run_id();
    let mut ports = Ports { tx, rx };
    if cfg.learns() {
        learn(ports.rx(), cfg, run)?;
    }
    let t = template(cfg, run);
    // One batch of frames, stamped in place before each send.
    let mut batch: Vec<Vec<u8>> = vec![t.bytes().to_vec(); cfg.batch];
    let timeout = cfg.timeout.as_nanos() as u64;

    let cpu0 = thread_cpu_ns();
    let start = now_ns();
    let warm_at = start + cfg.warmup.as_nanos() as u64;
    let end_at = cfg
        .count
        .is_none()
        .then(|| warm_at + cfg.duration.as_nanos() as u64);
    let mut warm: Option<(u64, u64)> = None; // (first measured seq, when)
    let mut seq = 0u64;
    let mut out: VecDeque<(u64, u64)> = VecDeque::with_capacity(cfg.inflight); // (seq, sent ns)
    let mut samples = Vec::new();
    let (mut lost, mut late, mut other, mut dup) = (0u64, 0u64, 0u64, 0u64); // lost: for progress lines
    let mut returned = 0u64;
    let mut next_progress = start + 1_000_000_000;
    let mut last_count = 0usize;
    loop {
        let now = now_ns();
        if warm.is_none() && now >= warm_at {
            warm = Some((seq, now));
        }
        let measured = warm.map_or(0, |(w, _)| seq - w);
        let sending =
            !(end_at.is_some_and(|e| now >= e) || cfg.count.is_some_and(|c| measured >= c));
        if !sending && out.is_empty() {
            break;
        }
        // Keep `inflight` frames out, sent a batch at a time.
        while sending && out.len() < cfg.inflight {
            let left = cfg
                .count
                .and_then(|c| warm.map(|(w, _)| c.saturating_sub(seq - w)))
                .unwrap_or(u64::MAX);
            let want = (cfg.inflight - out.len()).min(cfg.batch).min(left as usize);
            if want == 0 {
                break;
            }
            let ts = now_ns();
            for (k, f) in batch[..want].iter_mut().enumerate() {
                t.stamp(f, seq + k as u64, ts);
            }
            let n = ports.tx.send_batch(&batch[..want])?;
            for _ in 0..n {
                out.push_back((seq, ts));
                seq += 1;
            }
            if n < want {
                ports.tx.wait_writable(Duration::from_millis(1))?;
                break;
            }
        }
        // Wait for replies until the oldest frame out times out.
        let oldest = out.front().map_or(now + timeout, |&(_, ts)| ts + timeout);
        let wait = Duration::from_nanos(oldest.saturating_sub(now_ns())).min(POLL);
        let warm_seq = warm.map_or(u64::MAX, |(w, _)| w);
        ports.rx().recv_batch(wait, &mut |f| {
            let back = now_ns();
            match frame::parse(f) {
                Some(s) if s.run == run && s.seq != LEARN_SEQ => {
                    if let Some(i) = out.iter().position(|&(q, _)| q == s.seq) {
                        out.remove(i);
                        if s.seq >= warm_seq {
                            samples.push(back.saturating_sub(s.ts_ns));
                        }
                    } else if s.seq < seq {
                        late += 1; // already timed out, or a duplicate
                    } else {
                        dup += 1;
                    }
                }
                Some(s) if s.seq == LEARN_SEQ => {}
                _ => other += 1,
            }
        })?;
        // With two ports the tx port should stay quiet; keep it drained.
        if ports.rx.is_some() {
            ports.tx.recv_batch(Duration::ZERO, &mut |f| {
                if frame::parse(f).is_some_and(|s| s.run == run && s.seq != LEARN_SEQ) {
                    returned += 1;
                }
            })?;
        }
        let now = now_ns();
        while out.front().is_some_and(|&(_, ts)| now >= ts + timeout) {
            let (q, _) = out.pop_front().expect("front exists");
            if q >= warm_seq {
                lost += 1;
            }
        }
        if cfg.progress && now >= next_progress {
            next_progress += 1_000_000_000;
            eprintln!(
                "pktgen ping: {} round trips in the last second, {} lost in all",
                samples.len() - last_count,
                lost
            );
            last_count = samples.len();
        }
    }
    let end = now_ns();
    let (warm_seq, warm_ns) = warm.unwrap_or((seq, end));
    let sent = seq - warm_seq;
    let received = samples.len() as u64;
    let span = end.saturating_sub(warm_ns);
    Ok(Report {
        mode: cfg.mode,
        size: cfg.size,
        sent,
        received,
        lost: sent.saturating_sub(received),
        dup,
        reorder: late,
        other,
        tx_port_received: returned,
        tx_pps: rate(sent, span),
        rx_pps: rate(received, span),
        duration_s: span as f64 / 1e9,
        rtt_us: Rtt::from_ns(samples),
        cpu_s: (thread_cpu_ns() - cpu0) as f64 / 1e9,
        tx_cpu_s: (thread_cpu_ns() - cpu0) as f64 / 1e9,
        rx_cpu_s: 0.0,
        vhost: crate::wire::vhost::VhostStats::sum(
            [Some(&*ports.tx), ports.rx.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|e| e.vhost_stats()),
        ),
    })
}

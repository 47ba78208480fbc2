//! reflect: send back on a port every frame that comes out of it, as a
//! remote host would that echoes the guest's traffic. Counts what it
//! reflected; a frame the port has no room for within the timeout is lost.

use std::io;
use std::time::{Duration, Instant};

use super::clock::thread_cpu_ns;
use super::config::Config;
use super::report::Report;
use super::run::open;
use crate::wire::Endpoint;

pub fn run(cfg: &Config) -> io::Result<Report> {
    let (mut ep, _) = open(cfg.tx.as_ref(), None, cfg)?;
    run_with(cfg, ep.as_mut().expect("reflect has a port"))
}

/// Reflect on a port opened already.
pub fn run_with(cfg: &Config, ep: &mut Endpoint) -> io::Result<Report> {
    // One batch of buffers, filled by a receive and emptied by the send:
    // no allocation per frame once they have grown to the frames' size.
    let mut bufs: Vec<Vec<u8>> = (0..cfg.batch).map(|_| Vec::with_capacity(2048)).collect();
    let cpu0 = thread_cpu_ns();
    let started = Instant::now();
    let warm_until = started + cfg.warmup;
    let mut measure_start: Option<Instant> = None;
    let (mut received, mut sent, mut lost) = (0u64, 0u64, 0u64);
    let mut last_frame = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let mut last_sent = 0;
    loop {
        let now = Instant::now();
        if let Some(t0) = measure_start {
            if cfg
                .count
                .map_or(now - t0 >= cfg.duration, |c| received >= c)
            {
                break;
            }
        } else if now >= warm_until {
            measure_start = Some(now);
            (received, sent, lost) = (0, 0, 0);
        }
        if cfg.count.is_some()
            && measure_start.is_some()
            && now - last_frame > cfg.timeout.max(Duration::from_secs(5))
            && received > 0
        {
            break; // the sender went quiet: what it sent has been seen
        }
        if cfg.progress && now >= next_report {
            eprintln!(
                "pktgen reflect: {} reflected in the last second (total {sent})",
                sent - last_sent
            );
            last_sent = sent;
            next_report += Duration::from_secs(1);
        }
        let mut n = 0;
        ep.recv_batch(Duration::from_millis(10), &mut |f| {
            if n < bufs.len() {
                bufs[n].clear();
                bufs[n].extend_from_slice(f);
                n += 1;
            }
        })?;
        if n == 0 {
            continue;
        }
        last_frame = Instant::now();
        received += n as u64;
        let mut done = 0;
        let deadline = Instant::now() + cfg.timeout;
        while done < n {
            done += ep.send_batch(&bufs[done..n])?;
            if done < n {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                ep.wait_writable(left.min(Duration::from_millis(10)))?;
            }
        }
        sent += done as u64;
        lost += (n - done) as u64;
    }
    let secs = measure_start
        .map_or(0.0, |t| t.elapsed().as_secs_f64())
        .max(1e-9);
    let cpu_s = (thread_cpu_ns() - cpu0) as f64 / 1e9;
    Ok(Report {
        mode: cfg.mode,
        size: cfg.size,
        sent,
        received,
        lost,
        dup: 0,
        reorder: 0,
        other: 0,
        tx_port_received: 0,
        tx_pps: sent as f64 / secs,
        rx_pps: received as f64 / secs,
        duration_s: secs,
        rtt_us: None,
        cpu_s,
        tx_cpu_s: cpu_s,
        rx_cpu_s: 0.0,
        vhost: ep.vhost_stats(),
    })
}

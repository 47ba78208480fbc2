//! What a run measured: a one-line summary and a JSON object.

use std::fmt::Write as _;

use super::config::Mode;
use super::stats::Rtt;

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub mode: Mode,
    pub size: usize,
    /// Frames sent after the warm-up (0 in rx mode).
    pub sent: u64,
    /// txrx/ping: distinct frames of this run that came back. rx: every
    /// frame that arrived after the warm-up (see `other`).
    pub received: u64,
    /// txrx/ping: sent - received. rx: gaps in the sequence numbers of the
    /// first pktgen run seen.
    pub lost: u64,
    /// Frames that arrived more than once.
    pub dup: u64,
    /// Frames that arrived after a later-sent one.
    pub reorder: u64,
    /// Frames on the rx port that were not this run's pktgen frames.
    pub other: u64,
    /// This run's frames that came back on the tx port (a switch flooding
    /// or looping them); the learning frame is not counted.
    pub tx_port_received: u64,
    pub tx_pps: f64,
    pub rx_pps: f64,
    /// How long the measured part of the run took.
    pub duration_s: f64,
    /// Ping: round-trip times.
    pub rtt_us: Option<Rtt>,
    /// CPU seconds pktgen's own sender and receiver threads used: tells
    /// whether the generator, rather than what it measures, was the limit.
    pub cpu_s: f64,
    /// The sender's and the receiver's share of `cpu_s` (ping: one thread,
    /// counted as the sender).
    pub tx_cpu_s: f64,
    pub rx_cpu_s: f64,
    /// The vhost-user backend's counters, when a port was vhost-user (the
    /// tx port's; for txrx the two ports' added up).
    pub vhost: Option<crate::wire::vhost::VhostStats>,
}

/// `512.3 kpps`, `1.23 Mpps`, `42 pps`.
pub fn format_pps(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        // Three decimals are plenty; trailing zeros trimmed for readability.
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        "null".into()
    }
}

impl Report {
    /// lost / sent in percent (0 when nothing was sent).
    pub fn loss_pct(&self) -> f64 {
        let base = if self.mode == Mode::Rx {
            self.received + self.lost
        } else {
            self.sent
        };
        if base == 0 {
            0.0
        } else {
            self.lost as f64 * 100.0 / base as f64
        }
    }

    /// One line, e.g. `pktgen txrx: size 60, sent 1000000 (512.3 kpps),
    /// received 998000 (510.9 kpps), lost 2000 (0.20%), duration 1.95 s`.
    pub fn summary(&self) -> String {
        let mut s = format!("pktgen {}: size {}", self.mode, self.size);
        if self.mode != Mode::Rx {
            let _ = write!(s, ", sent {} ({})", self.sent, format_pps(self.tx_pps));
        }
        if self.mode != Mode::Tx {
            let _ = write!(
                s,
                ", received {} ({})",
                self.received,
                format_pps(self.rx_pps)
            );
            let _ = write!(s, ", lost {} ({:.2}%)", self.lost, self.loss_pct());
            if self.dup > 0 || self.reorder > 0 {
                let _ = write!(s, ", dup {}, reorder {}", self.dup, self.reorder);
            }
            if self.other > 0 {
                let _ = write!(s, ", other {}", self.other);
            }
        }
        if let Some(r) = &self.rtt_us {
            let _ = write!(
                s,
                ", rtt us p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
                r.p50, r.p90, r.p99, r.max
            );
        }
        let _ = write!(s, ", duration {:.2} s", self.duration_s);
        if let Some(v) = &self.vhost {
            let _ = write!(
                s,
                ", vhost kicks {} interrupts {} sleeps {} batches {} bad-chains {} broken {}",
                v.kicks, v.interrupts, v.sleeps, v.batches, v.bad_chains, v.broken_queues
            );
        }
        s
    }

    /// Every figure as one JSON object (no trailing newline).
    pub fn to_json(&self) -> String {
        let rtt = match &self.rtt_us {
            None => "null".to_string(),
            Some(r) => format!(
                "{{\"min\": {}, \"mean\": {}, \"p50\": {}, \"p90\": {}, \"p99\": {}, \"max\": {}, \"samples\": {}}}",
                num(r.min), num(r.mean), num(r.p50), num(r.p90), num(r.p99), num(r.max), r.samples
            ),
        };
        format!(
            "{{\"mode\": \"{}\", \"size\": {}, \"sent\": {}, \"received\": {}, \"lost\": {}, \"loss_pct\": {}, \
             \"dup\": {}, \"reorder\": {}, \"other\": {}, \"tx_port_received\": {}, \"tx_pps\": {}, \
             \"rx_pps\": {}, \"duration_s\": {}, \"cpu_s\": {}, \"tx_cpu_s\": {}, \"rx_cpu_s\": {}, \"rtt_us\": {}, \"vhost\": {}}}",
            self.mode,
            self.size,
            self.sent,
            self.received,
            self.lost,
            num(self.loss_pct()),
            self.dup,
            self.reorder,
            self.other,
            self.tx_port_received,
            num(self.tx_pps),
            num(self.rx_pps),
            num(self.duration_s),
            num(self.cpu_s),
            num(self.tx_cpu_s),
            num(self.rx_cpu_s),
            rtt,
            self.vhost.as_ref().map_or("null".to_string(), |v| v.to_json())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            mode: Mode::TxRx,
            size: 60,
            sent: 1_000_000,
            received: 998_000,
            lost: 2000,
            dup: 0,
            reorder: 0,
            other: 0,
            tx_port_received: 0,
            tx_pps: 512_300.0,
            rx_pps: 510_900.0,
            duration_s: 1.95,
            rtt_us: None,
            vhost: None,
            cpu_s: 1.5,
            tx_cpu_s: 1.0,
            rx_cpu_s: 0.5,
        }
    }

    #[test]
    fn summary_line() {
        assert_eq!(
            report().summary(),
            "pktgen txrx: size 60, sent 1000000 (512.3 kpps), received 998000 (510.9 kpps), lost 2000 (0.20%), duration 1.95 s"
        );
        assert_eq!(format_pps(1_234_567.0), "1.23 Mpps");
        assert_eq!(format_pps(42.4), "42 pps");
    }

    #[test]
    fn json_has_every_figure() {
        let mut r = report();
        r.mode = Mode::Ping;
        r.rtt_us = Rtt::from_ns(vec![1000, 2000, 3000]);
        let j = r.to_json();
        for key in [
            "\"mode\": \"ping\"",
            "\"size\": 60",
            "\"sent\": 1000000",
            "\"received\": 998000",
            "\"lost\": 2000",
            "\"loss_pct\": 0.2",
            "\"tx_pps\": 512300",
            "\"rx_pps\": 510900",
            "\"duration_s\": 1.95",
            "\"p50\": 2",
            "\"p99\": 3",
            "\"max\": 3",
            "\"cpu_s\": 1.5",
            "\"tx_cpu_s\": 1",
            "\"rx_cpu_s\": 0.5",
        ] {
            assert!(j.contains(key), "{key} missing in {j}");
        }
        assert!(j.starts_with('{') && j.ends_with('}'));
        assert!(report().to_json().contains("\"rtt_us\": null"));
        assert_eq!(num(f64::NAN), "null");
        assert_eq!(num(0.0), "0");
    }
}

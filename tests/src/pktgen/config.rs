//! What a pktgen run does: [`Config`], checked before anything is opened.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::frame::{self, Udp};
use super::mac::Mac;
use crate::wire::Spec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send frames into `tx`.
    Tx,
    /// Count frames that come out of `rx`.
    Rx,
    /// Send into `tx`, count what comes out of `rx`: forwarding rate and loss.
    TxRx,
    /// Round trips from `tx` back to `rx` (the same port for a reflector).
    Ping,
    /// Send back on `tx` every frame that comes out of it.
    Reflect,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tx => "tx",
            Mode::Rx => "rx",
            Mode::TxRx => "txrx",
            Mode::Ping => "ping",
            Mode::Reflect => "reflect",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tx" => Ok(Mode::Tx),
            "rx" => Ok(Mode::Rx),
            "txrx" => Ok(Mode::TxRx),
            "ping" => Ok(Mode::Ping),
            "reflect" => Ok(Mode::Reflect),
            _ => Err(format!(
                "unknown mode '{s}' (tx, rx, txrx, ping or reflect)"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    /// The port frames are sent into (QEMU's NIC spec).
    pub tx: Option<Spec>,
    /// The port frames are counted on; for ping, `None` means `tx` itself.
    pub rx: Option<Spec>,
    /// Frame size in bytes, without FCS.
    pub size: usize,
    /// Allow sizes outside 60..=1514 (runts, jumbo frames).
    pub raw: bool,
    /// Carry the stamp in IPv4/UDP instead of a bare 0x88b5 frame.
    pub udp: Option<Udp>,
    /// Spread frames over this many flows (UDP source ports `sport`,
    /// `sport + 1`, ...; needs `udp`): a multi-queue device's flow hash
    /// then uses all its queues. 1: one flow.
    pub flows: u16,
    /// Frames to send (tx, txrx, ping) or receive (rx) after the warm-up;
    /// `None`: run for `duration`.
    pub count: Option<u64>,
    /// How long to measure, after the warm-up, when `count` is `None`.
    pub duration: Duration,
    /// Frames per second; 0 is as fast as the wire takes them.
    pub rate: u64,
    /// Frames per send/receive syscall.
    pub batch: usize,
    /// Run this long before counting.
    pub warmup: Duration,
    /// Source MAC of the frames sent on `tx`.
    pub src_mac: Mac,
    /// pktgen's MAC on the rx side (txrx, ping with two ports).
    pub rx_mac: Mac,
    /// Destination MAC; default: `rx_mac` (learnt first) with two ports,
    /// broadcast with one.
    pub dst_mac: Option<Mac>,
    /// Send to ff:ff:ff:ff:ff:ff (no learning).
    pub broadcast: bool,
    /// Before a two-port run, send a frame from `rx_mac` out of the rx port
    /// so a learning switch forwards to it by unicast.
    pub learn: bool,
    /// Ping: frames in flight at once.
    pub inflight: usize,
    /// Ping: a frame not back by then is lost. txrx: how long to wait for
    /// stragglers after the last frame. tx: a wire that takes nothing for
    /// this long is an error when sending a `count`.
    pub timeout: Duration,
    /// Stream wires: how long to wait for QEMU to connect.
    pub connect_timeout: Duration,
    /// txrx: send and receive on one thread (less CPU per frame, one core).
    pub one_thread: bool,
    /// Receivers poll this long before sleeping (see `wire::Options`).
    pub busy_poll: Duration,
    /// Print a line per second on stderr.
    pub progress: bool,
    /// How vhost-user ports behave as devices (test modes).
    pub vhost: crate::wire::vhost::BackendOptions,
}

impl Config {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            tx: None,
            rx: None,
            size: frame::MIN_SIZE,
            raw: false,
            udp: None,
            flows: 1,
            count: None,
            duration: Duration::from_secs(5),
            rate: 0,
            batch: 64,
            warmup: Duration::ZERO,
            src_mac: Mac::TX_DEFAULT,
            rx_mac: Mac::RX_DEFAULT,
            dst_mac: None,
            broadcast: false,
            learn: true,
            inflight: 1,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(30),
            one_thread: false,
            busy_poll: Duration::ZERO,
            progress: false,
            vhost: Default::default(),
        }
    }

    /// The one-line reason this config cannot run, if any.
    pub fn validate(&self) -> Result<(), String> {
        let m = self.mode;
        match m {
            Mode::Tx if self.tx.is_none() => return Err("tx mode needs --tx PORT".into()),
            Mode::Rx if self.rx.is_none() => return Err("rx mode needs --rx PORT".into()),
            Mode::TxRx if self.tx.is_none() || self.rx.is_none() => {
                return Err("txrx mode needs --tx PORT and --rx PORT".into())
            }
            Mode::TxRx if self.tx == self.rx => {
                return Err(
                    "txrx needs two different ports (for a reflector on one port use ping)".into(),
                )
            }
            Mode::Reflect if self.tx.is_none() => {
                return Err("reflect mode needs --port PORT (or --tx PORT)".into())
            }
            Mode::Ping if self.tx.is_none() => {
                return Err("ping mode needs --tx PORT (and --rx PORT unless it reflects)".into())
            }
            _ => {}
        }
        frame::check_size(self.size, self.raw)?;
        if !(1..=1024).contains(&self.batch) {
            return Err(format!("batch {} out of range 1..=1024", self.batch));
        }
        if m == Mode::Ping && !(1..=4096).contains(&self.inflight) {
            return Err(format!("inflight {} out of range 1..=4096", self.inflight));
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if self.count.is_none() && self.duration.is_zero() {
            return Err("duration must be more than 0 s (or give a count)".into());
        }
        if self.timeout.is_zero() {
            return Err("timeout must be more than 0 s".into());
        }
        if self.one_thread && m != Mode::TxRx {
            return Err("--one-thread is for txrx (the other modes use one thread already)".into());
        }
        if self.flows == 0 {
            return Err("flows must be at least 1".into());
        }
        if self.flows > 1 && self.udp.is_none() {
            return Err("--flows varies the UDP source port: it needs --udp".into());
        }
        if self.broadcast && self.dst_mac.is_some() {
            return Err("--broadcast and --dst-mac contradict each other".into());
        }
        Ok(())
    }

    /// Whether frames go out and come back on different ports.
    pub fn two_ports(&self) -> bool {
        matches!(self.mode, Mode::TxRx)
            || (self.mode == Mode::Ping && self.rx.is_some() && self.rx != self.tx)
    }

    /// Where the frames are addressed to.
    pub fn destination(&self) -> Mac {
        if self.broadcast {
            Mac::BROADCAST
        } else if let Some(m) = self.dst_mac {
            m
        } else if self.two_ports() {
            self.rx_mac
        } else {
            Mac::BROADCAST
        }
    }

    /// Whether to send the learning frame first.
    pub fn learns(&self) -> bool {
        self.learn && self.two_ports() && !self.destination().is_multicast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Option<Spec> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn validation() {
        let mut c = Config::new(Mode::TxRx);
        assert!(c
            .validate()
            .unwrap_err()
            .contains("--tx PORT and --rx PORT"));
        c.tx = spec("dgram:/a:/b");
        c.rx = spec("dgram:/a:/b");
        assert!(c.validate().unwrap_err().contains("two different ports"));
        c.rx = spec("dgram:/c:/d");
        assert_eq!(c.validate(), Ok(()));
        c.size = 59;
        assert!(c.validate().unwrap_err().contains("--raw"));
        c.raw = true;
        assert_eq!(c.validate(), Ok(()));
        c.batch = 0;
        assert!(c.validate().is_err());
        c.batch = 8;
        c.broadcast = true;
        c.dst_mac = Some(Mac::TX_DEFAULT);
        assert!(c.validate().is_err());
        c.dst_mac = None;
        assert_eq!(c.validate(), Ok(()));
        c.flows = 8;
        assert!(c.validate().unwrap_err().contains("--udp"));
        c.udp = Some(Udp::default());
        assert_eq!(c.validate(), Ok(()));
        c.flows = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn destination_and_learning() {
        let mut c = Config::new(Mode::TxRx);
        c.tx = spec("dgram:/a:/b");
        c.rx = spec("dgram:/c:/d");
        assert_eq!(c.destination(), Mac::RX_DEFAULT);
        assert!(c.learns());
        c.broadcast = true;
        assert_eq!(c.destination(), Mac::BROADCAST);
        assert!(!c.learns());
        let mut p = Config::new(Mode::Ping);
        p.tx = spec("dgram:/a:/b");
        assert!(!p.two_ports());
        assert_eq!(p.destination(), Mac::BROADCAST);
        p.dst_mac = Some("52:54:00:00:00:01".parse().unwrap());
        assert_eq!(p.destination().to_string(), "52:54:00:00:00:01");
        assert!(!p.learns());
    }
}

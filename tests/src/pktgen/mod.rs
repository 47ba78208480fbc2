//! The host packet generator behind `cargo xtask pktgen` (issue 4).
//!
//! Sends stamped Ethernet frames into the host side of a virtual NIC (see
//! [`crate::wire`]) and counts what comes out of another, or of the same
//! one. Modes:
//!
//! - `tx`: send; `rx`: count what arrives, per second and in total;
//! - `txrx`: send into one NIC, count what the switch forwards out of the
//!   other: forwarding rate, loss, reordering, duplicates;
//! - `ping`: round trips (one frame or `inflight` frames out at once),
//!   latency percentiles;
//! - `reflect`: send back every frame that comes out of a port.
//!
//! Ports are unix sockets, taps, or vhost-user sockets ([`crate::wire::vhost`]),
//! where the generator is the NIC's device side and moves frames through
//! the guest's rings in shared memory.
//!
//! ```no_run
//! use integration::pktgen::{self, Config, Mode};
//! let mut cfg = Config::new(Mode::TxRx);
//! cfg.tx = Some("dgram:/tmp/q0:/tmp/h0".parse().unwrap());
//! cfg.rx = Some("dgram:/tmp/q1:/tmp/h1".parse().unwrap());
//! cfg.count = Some(100_000);
//! let report = pktgen::run(&cfg).unwrap();
//! println!("{}", report.summary());
//! assert_eq!(report.lost, 0);
//! ```
//!
//! Every loop ends by count or time; every wait has a timeout; frames only
//! go to the unix sockets and tap interfaces named in the config.

pub mod checksum;
mod clock;
mod config;
mod flow;
pub mod frame;
pub mod mac;
mod ping;
pub mod rate;
mod receiver;
mod reflect;
mod report;
mod run;
mod sender;
pub mod stats;

use std::io;

use crate::wire::Endpoint;

pub use clock::now_ns;
pub use config::{Config, Mode};
pub use frame::{parse, FrameSpec, Stamp, Template, Udp};
pub use mac::Mac;
pub use report::{format_pps, Report};
pub use stats::Rtt;

/// Run `cfg` on ports the caller opened (and keeps: a vhost-user port's
/// guest stays connected between runs): `tx` for tx, txrx, ping and
/// reflect, `rx` for rx and txrx, and for ping when it is another port.
pub fn run_with(
    cfg: &Config,
    tx: Option<&mut Endpoint>,
    rx: Option<&mut Endpoint>,
) -> io::Result<Report> {
    cfg.validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let missing = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} needs a tx port", cfg.mode),
        )
    };
    match cfg.mode {
        Mode::Ping => ping::run_with(cfg, tx.ok_or_else(missing)?, rx),
        Mode::Reflect => reflect::run_with(cfg, tx.ok_or_else(missing)?),
        _ => run::run_with(cfg, tx, rx),
    }
}

/// Run `cfg` to the end and report what was measured.
pub fn run(cfg: &Config) -> io::Result<Report> {
    cfg.validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    match cfg.mode {
        Mode::Ping => ping::run(cfg),
        Mode::Reflect => reflect::run(cfg),
        _ => run::run(cfg),
    }
}

#[cfg(test)]
mod tests;

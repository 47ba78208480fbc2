//! # netmap-apps: netmap applications that run inside the kernel
//!
//! A unikernel exists to run the user's network function, so writing one
//! is meant to be the easy part. An application here is a value that owns
//! its state and its netmap [`Handle`]s, opened by port name exactly as a
//! netmap program opens `netmap:eth0` or `vale0:a`: through [`Ports`]
//! (the kernel's registry). It implements [`App`]; the kernel's idle loop
//! calls [`App::poll`] on every running application, every pass, and
//! everything else (starting it from the shell, `app list`, `app stop`,
//! stopping it on an error with every buffer back in the pool) is the
//! kernel's.
//!
//! The applications of this crate, each in its own file:
//!
//! | app | file | what |
//! | --- | --- | --- |
//! | `reflect` | [`reflector`] | every frame a port receives goes back out of it (buffer swap) |
//! | `pkt-gen` | [`pktgen`] | netmap's packet generator and sink: tx, rx, ping, pong, txseq, rxseq on any port |
//! | `bridge` | [`bridge`] | netmap's bridge: two ports joined by buffer swaps, both ways, chains whole, back-pressure |
//! | `lb` | [`lb`] | the worked example of a user's function: netmap's load balancer, a port over N pipes (flow hash or round robin) |
//!
//! ## Writing your own
//!
//! Start from a copy of [`lb`] (`src/lb.rs`): one file, its arguments,
//! its state, a `poll` that swaps whole frames ([`frame_slots`]) from a
//! port's rx rings into other ports' tx rings, its counters and status
//! line, and its tests in `tests/lb.rs`. The steps:
//!
//! 1. A struct with your state and the handles you opened in its
//!    constructor (`ports.open("vale0:x")?`); parse your arguments there
//!    and answer bad ones with an [`AppError::Usage`] line.
//! 2. `impl App`: in `poll`, the netmap loop body without the `poll()`
//!    system call: `rxsync`, walk `head..tail` of the rx rings, fill or
//!    swap into tx rings, advance `head`/`cur`, `txsync`. Never block,
//!    never allocate per frame; return how many frames you moved (0 lets
//!    the CPU sleep until the next interrupt or tick).
//! 3. Add an [`AppInfo`] line to [`APPS`]: the kernel's shell then has a
//!    command of that name which starts it and prints its id.
//!
//! The rules the kernel relies on: `poll` returns quickly (a batch at a
//! time); an `Err` from `poll` stops the app (its error goes to the
//! console, its handles are dropped and their buffers return to the
//! pool); [`App::handles`] names every handle, for the pool audit.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

extern crate alloc;

pub mod bridge;
pub mod lb;
pub mod pktgen;
pub mod reflector;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use netmap::port::Handle;
pub use netmap::NetmapRing;
use netmap::OpenError;

/// Where applications open ports: the kernel's netmap registry (or any
/// other source of handles, in tests).
pub trait Ports {
    /// Open `name` (`valeN:p`, `virtioN`, `x{N`/`x}N`, `PORT/r`...) as
    /// a netmap application does.
    fn open(&self, name: &str) -> Result<Handle, OpenError>;
}

impl Ports for netmap::Registry {
    fn open(&self, name: &str) -> Result<Handle, OpenError> {
        netmap::Registry::open(self, name)
    }
}

/// Why an application could not start, or had to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppError {
    /// Bad arguments: the message says which and what is expected.
    Usage(String),
    /// A port could not be opened.
    Open { port: String, error: OpenError },
    /// The application failed while running (the message says how).
    Failed(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Usage(m) => f.write_str(m),
            AppError::Open { port, error } => write!(f, "{port}: {error}"),
            AppError::Failed(m) => f.write_str(m),
        }
    }
}

/// Open `name` through `ports`, naming the port in the error.
pub fn open(ports: &dyn Ports, name: &str) -> Result<Handle, AppError> {
    ports.open(name).map_err(|error| AppError::Open {
        port: String::from(name),
        error,
    })
}

/// A running application.
pub trait App: Send + fmt::Debug {
    /// One pass at time `now_ns` (nanoseconds, monotonic): move what is
    /// ready. Returns the frames moved, 0 when there was nothing to do; an
    /// error stops the application.
    fn poll(&mut self, now_ns: u64) -> Result<u32, AppError>;

    /// One line of status and counters (`app`).
    fn status(&self, out: &mut dyn fmt::Write) -> fmt::Result;

    /// A periodic report due at `now_ns` (pkt-gen's `-T`), written to
    /// `out`; returns whether it wrote one.
    fn report(&mut self, _now_ns: u64, _out: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
        Ok(false)
    }

    /// Whether the application has finished its work by itself (a count
    /// reached): the kernel then stops it and prints [`App::summary`].
    fn finished(&self) -> bool {
        false
    }

    /// What it did, printed when it stops (by default its status).
    fn summary(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.status(out)
    }

    /// Every handle it holds (for the pool audit).
    fn handles(&self) -> Vec<&Handle>;
}

/// A start function: the arguments after the command name, the ports, the
/// time now.
pub type StartFn = fn(&[&str], &dyn Ports, u64) -> Result<Box<dyn App>, AppError>;

/// An application the shell can start.
#[derive(Debug)]
pub struct AppInfo {
    /// The shell command that starts it.
    pub name: &'static str,
    pub usage: &'static str,
    pub help: &'static str,
    pub start: StartFn,
}

/// How many slots the frame at `cur` of rx ring `ring` takes: 1, or more
/// when [`NS_MOREFRAG`](netmap::NS_MOREFRAG) chains it to the next slots.
/// `None` when the ring holds no whole frame from `cur` to `tail` (empty,
/// or a chain whose last fragment has not arrived yet): move frames a
/// whole chain at a time, never a chain split across two passes.
pub fn frame_slots(ring: &NetmapRing) -> Option<u32> {
    let mut i = ring.cur;
    for n in 1..=ring.space() {
        let flags = ring.slot.get(i as usize).map_or(0, |s| s.flags);
        if flags & netmap::NS_MOREFRAG == 0 {
            return Some(n);
        }
        i = ring.next(i);
    }
    None
}

/// Every application of this crate.
pub const APPS: &[AppInfo] = &[reflector::INFO, bridge::INFO, lb::INFO, pktgen::INFO];

//! `bridge -i PORT -i PORT [-b BATCH]`: netmap's bridge. Every frame one
//! port receives is sent out of the other, both ways, without a copy: the
//! received buffer is swapped with a free buffer of the other port's tx
//! ring (NIC to NIC, NIC to pipe, pipe to pipe, VALE port to anything).
//!
//! Every pass, for each direction:
//!
//! 1. `rxsync` every rx ring of the source port;
//! 2. walk the source's rx rings in turn and move their frames into the
//!    destination's tx rings in turn (as netmap's bridge does: the next rx
//!    ring when one is empty, the next tx ring when one is full), at most
//!    `BATCH` slots per direction and pass (default: as much as fits);
//! 3. `txsync` each destination tx ring once (those written to, and those
//!    with slots the port has not reclaimed yet);
//! 4. `rxsync` each rx ring it took frames from, releasing the swapped-in
//!    free buffers to the port at once.
//!
//! Fragment chains (`NS_MOREFRAG`) move whole: a chain goes only when its
//! last fragment has arrived and the tx ring has room for all of it, and
//! the flag travels with each fragment. (netmap's bridge.c copies the flag
//! but may split a chain over two tx rings or two passes; netmap's own
//! ports hold an incomplete chain back until its end is submitted.)
//!
//! When no destination tx ring has room, the rest waits in the rx rings
//! (counted once per pass as `full`): back-pressure, nothing is dropped by
//! the bridge. The only frames it drops are chains that can never move: a
//! chain longer than a whole tx ring, or an unfinished chain filling a
//! whole rx ring (`bad`, shown only when not 0).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::{frame_slots, open, App, AppError, AppInfo, Handle, Ports};
use netmap::{NS_BUF_CHANGED, NS_MOREFRAG};

pub const INFO: AppInfo = AppInfo {
    name: "bridge",
    usage: USAGE,
    help: "join two ports: what one receives goes out of the other, both ways (zero copy)",
    start,
};

const USAGE: &str = "-i PORT -i PORT [-b BATCH]";

/// Counters of one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Whole frames (fragment chains count once).
    pub frames: u64,
    pub bytes: u64,
    /// Passes that moved at least one frame.
    pub batches: u64,
    /// Passes that left frames waiting because the destination was full.
    pub full: u64,
    /// Chains dropped because they could never move (see the module docs).
    pub bad: u64,
}

#[derive(Debug)]
pub struct Bridge {
    names: [String; 2],
    ports: [Handle; 2],
    batch: u32,
    /// `stats[0]`: port 0 to port 1; `stats[1]`: port 1 to port 0.
    stats: [DirStats; 2],
}

fn usage() -> AppError {
    AppError::Usage(alloc::format!("usage: bridge {USAGE}"))
}

fn start(args: &[&str], ports: &dyn Ports, _now: u64) -> Result<Box<dyn App>, AppError> {
    let (mut names, mut batch) = (Vec::new(), u32::MAX);
    let mut it = args.iter();
    while let Some(&opt) = it.next() {
        let val = *it.next().ok_or_else(usage)?;
        match opt {
            "-i" => names.push(val),
            "-b" => batch = val.parse().ok().filter(|&b| b > 0).ok_or_else(usage)?,
            _ => return Err(usage()),
        }
    }
    let [a, b] = names[..] else {
        return Err(usage());
    };
    Ok(Box::new(Bridge::open(ports, a, b, batch)?))
}

impl Bridge {
    /// Open ports `a` and `b`; at most `batch` slots per direction and pass.
    pub fn open(ports: &dyn Ports, a: &str, b: &str, batch: u32) -> Result<Self, AppError> {
        Ok(Bridge {
            names: [String::from(a), String::from(b)],
            ports: [open(ports, a)?, open(ports, b)?],
            batch: batch.max(1),
            stats: Default::default(),
        })
    }

    /// Counters of the direction from port `from` (0 or 1) to the other.
    pub fn stats(&self, from: usize) -> &DirStats {
        &self.stats[from]
    }

    /// One pass both ways; returns the frames moved.
    fn pass(&mut self) -> u32 {
        let [a, b] = &mut self.ports;
        let [s0, s1] = &mut self.stats;
        for h in [&mut *a, &mut *b] {
            // A sync error is a ring reinit or a port error (the kernel
            // resets the port); the next pass starts clean either way.
            for r in 0..h.num_rings().1 {
                let _ = h.rxsync(r);
            }
        }
        forward(a, b, self.batch, s0) + forward(b, a, self.batch, s1)
    }
}

/// Move what `src` received into `dst`'s tx rings; txsync those, rxsync
/// the rx rings it took frames from. Returns the frames moved.
fn forward(src: &mut Handle, dst: &mut Handle, batch: u32, st: &mut DirStats) -> u32 {
    let (mut slots, mut frames, mut bytes, mut full) = (0u32, 0u32, 0u64, false);
    let mut ti = 0;
    for ri in 0..src.num_rings().1 {
        let (Some(r), (txs, _)) = (src.rx_ring(ri), dst.rings_mut()) else {
            break;
        };
        let start = r.cur;
        while slots < batch {
            let (n, whole) = match frame_slots(r) {
                Some(n) => (n, true),
                // An unfinished chain fills the ring: it never completes.
                None if r.space() > 0 && r.space() + 1 >= r.num_slots() => (r.space(), false),
                None => break, // empty, or the chain's end is yet to come
            };
            let Some(t) = txs.get_mut(ti) else {
                full = true; // no tx ring has room: back-pressure
                break;
            };
            if !whole || n >= t.num_slots() {
                r.advance(n); // can never move: back to the port
                st.bad += 1;
                continue;
            }
            if t.space() < n {
                ti += 1; // the next tx ring may have room
                continue;
            }
            if slots > 0 && slots + n > batch {
                break; // a chain is never split: it goes next pass
            }
            let (mut i, mut j) = (r.cur, t.cur);
            for _ in 0..n {
                let s = r.slot[i as usize];
                // Cannot fail: both slots are held (within cur..tail).
                if r.swap_buf(i, t, j).is_err() {
                    break;
                }
                t.slot[j as usize].flags = NS_BUF_CHANGED | (s.flags & NS_MOREFRAG);
                bytes += u64::from(s.len);
                (i, j) = (r.next(i), t.next(j));
            }
            (r.head, r.cur) = (i, i);
            (t.head, t.cur) = (j, j);
            (slots, frames) = (slots + n, frames + 1);
        }
        if r.cur != start {
            let _ = src.rxsync(ri); // release the swapped-in buffers
        }
        if full || slots >= batch {
            break;
        }
    }
    for ti in 0..dst.num_rings().0 {
        // What was written, and what the port has not reclaimed yet.
        if dst
            .tx_ring(ti)
            .is_some_and(|t| t.space() + 1 < t.num_slots())
        {
            let _ = dst.txsync(ti);
        }
    }
    st.frames += u64::from(frames);
    st.bytes += bytes;
    st.batches += u64::from(frames > 0);
    st.full += u64::from(full);
    frames
}

impl App for Bridge {
    fn poll(&mut self, _now_ns: u64) -> Result<u32, AppError> {
        Ok(self.pass())
    }

    fn status(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        for (k, s) in self.stats.iter().enumerate() {
            let (from, to) = (&self.names[k], &self.names[1 - k]);
            let sep = if k == 0 { "" } else { ", " };
            write!(
                out,
                "{sep}{from} > {to} {} frames {} bytes in {} batches, {} full",
                s.frames, s.bytes, s.batches, s.full
            )?;
            if s.bad > 0 {
                write!(out, ", {} bad chains dropped", s.bad)?;
            }
        }
        Ok(())
    }

    fn handles(&self) -> Vec<&Handle> {
        vec![&self.ports[0], &self.ports[1]]
    }
}

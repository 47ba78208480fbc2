//! `reflect PORT`: every frame PORT receives goes straight back out of
//! it, unchanged. On a NIC, with a packet generator on the host side, it
//! measures what QEMU's virtio-net and its backend can carry at all (no
//! switch, no copy): the ceiling for the switch's figures.
//!
//! A plain netmap loop on one port's rings 0, every pass:
//!
//! 1. `rxsync` (releases the slots of the previous pass, reports frames),
//! 2. swaps each received buffer with a free tx slot's (zero copy: the
//!    lengths travel with the buffers, both slots get `NS_BUF_CHANGED`),
//! 3. `txsync` (one doorbell for the whole batch, reclaims what was sent),
//! 4. `rxsync` again, so the port gets its buffers back at once.
//!
//! When the tx ring is full the rest waits in the rx ring; when the rx
//! ring is full the port stops receiving: back-pressure, no drops.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::{open, App, AppError, AppInfo, Handle, Ports};

pub const INFO: AppInfo = AppInfo {
    name: "reflect",
    usage: "PORT",
    help: "send every frame PORT receives back out of PORT (zero copy)",
    start,
};

/// What a reflector did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames: u64,
    pub bytes: u64,
    /// Passes that moved at least one frame.
    pub batches: u64,
    /// Frames waiting when it started, dropped (stale, as at an attach).
    pub stale: u64,
}

#[derive(Debug)]
pub struct Reflector {
    port: String,
    handle: Handle,
    stats: Stats,
}

fn start(args: &[&str], ports: &dyn Ports, _now: u64) -> Result<Box<dyn App>, AppError> {
    let [port] = args else {
        return Err(AppError::Usage("usage: reflect PORT".into()));
    };
    Ok(Box::new(Reflector::open(ports, port)?))
}

impl Reflector {
    /// Open `port` and drop what it received before (stale frames).
    pub fn open(ports: &dyn Ports, port: &str) -> Result<Self, AppError> {
        let mut r = Reflector {
            port: String::from(port),
            handle: open(ports, port)?,
            stats: Stats::default(),
        };
        r.stats.stale = r.discard_pending();
        Ok(r)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn port(&self) -> &str {
        &self.port
    }

    fn discard_pending(&mut self) -> u64 {
        let h = &mut self.handle;
        let _ = h.rxsync(0);
        let Some(rx) = h.rx_ring(0) else { return 0 };
        let n = rx.space();
        let tail = rx.tail;
        rx.head = tail;
        rx.cur = tail;
        let _ = h.rxsync(0);
        u64::from(n)
    }

    /// One pass; returns the frames sent back.
    fn reflect(&mut self) -> u32 {
        let h = &mut self.handle;
        // A sync error is a ring reinit (it cannot happen: head and cur
        // stay in range) or a port error (a NIC flags itself for the
        // reset the kernel does); either way the next pass starts clean.
        let _ = h.rxsync(0);
        let (tx, rx) = h.rings_mut();
        let (Some(t), Some(r)) = (tx.get_mut(0), rx.get_mut(0)) else {
            return 0;
        };
        let n = r.space().min(t.space());
        if n == 0 {
            // Nothing to send, or no room: reclaim what was sent.
            // Unreclaimed completions make the idle loop's arm() report
            // work, so without this the CPU would spin instead of halting
            // until the next frame came in.
            if t.space() + 1 < t.num_slots() {
                let _ = h.txsync(0);
            }
            return 0;
        }
        let (mut i, mut j) = (r.cur, t.cur);
        let mut bytes = 0u64;
        let mut moved = 0;
        for _ in 0..n {
            bytes += u64::from(r.slot[i as usize].len);
            if r.swap_buf(i, t, j).is_err() {
                break;
            }
            i = r.next(i);
            j = t.next(j);
            moved += 1;
        }
        (r.head, r.cur) = (i, i);
        (t.head, t.cur) = (j, j);
        let _ = h.txsync(0);
        let _ = h.rxsync(0);
        self.stats.frames += u64::from(moved);
        self.stats.bytes += bytes;
        self.stats.batches += 1;
        moved
    }
}

impl App for Reflector {
    fn poll(&mut self, _now_ns: u64) -> Result<u32, AppError> {
        Ok(self.reflect())
    }

    fn status(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let s = &self.stats;
        write!(
            out,
            "{}: {} frames {} bytes in {} batches",
            self.port, s.frames, s.bytes, s.batches
        )?;
        if s.stale > 0 {
            write!(out, ", dropped {} stale", s.stale)?;
        }
        Ok(())
    }

    fn handles(&self) -> Vec<&Handle> {
        vec![&self.handle]
    }
}

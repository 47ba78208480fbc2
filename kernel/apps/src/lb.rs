//! `lb -i PORT -p [NAME:]N [-m hash|rr]`: a load balancer, netmap's `lb`,
//! and the worked example of a network function: copy this file to start
//! your own (outside this crate, `crate::` becomes `netmap_apps::`; then
//! add your `INFO` to the kernel's list of apps).
//!
//! Every frame PORT receives goes to one of N netmap pipes, by zero-copy
//! buffer swap. The pipes are `NAME{0` .. `NAME{N-1` (the master ends, lb's;
//! NAME defaults to PORT, so `lb -i vale0:in -p 4` feeds `vale0:in{0` ..
//! `vale0:in{3`); a consumer opens the other end, `NAME}K`. A PORT that is
//! a pipe end or a monitor cannot prefix a pipe name: give NAME then.
//!
//! - `-m hash` (the default): a symmetric hash of the IPv4 addresses and,
//!   for TCP, UDP and SCTP (not IP fragments), the ports, so both
//!   directions of a flow go to the same pipe. Frames that are not IPv4
//!   (ARP, IPv6, ...) go to pipe 0, as in netmap's lb, and are counted.
//!   Up to two VLAN tags are skipped.
//! - `-m rr`: round robin, frame by frame.
//!
//! A fragment chain (`NS_MOREFRAG`) moves whole, to the pipe its first
//! fragment picked. A frame for a full pipe is dropped and counted (it is
//! left in PORT's rx ring, which gets it back at the next rxsync). lb
//! never reads its ends' rx rings: consumers send nothing back.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::fmt;

use crate::{frame_slots, open, App, AppError, AppInfo, Handle, Ports};
use netmap::{NS_BUF_CHANGED, NS_MOREFRAG};

pub const INFO: AppInfo = AppInfo {
    name: "lb",
    usage: USAGE,
    help: "spread PORT's frames over N pipes NAME{K by a flow hash or round robin (zero copy)",
    start,
};

const USAGE: &str = "-i PORT -p [NAME:]N [-m hash|rr]";

/// How a frame's pipe is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Hash,
    RoundRobin,
}

/// What went to one pipe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipeStats {
    pub frames: u64,
    pub bytes: u64,
    /// Frames dropped because the pipe was full.
    pub dropped: u64,
}

/// The decision: which of `pipes` pipes a frame goes to.
#[derive(Clone, Debug)]
pub struct Picker {
    pub mode: Mode,
    pub pipes: usize,
    /// The next pipe in round robin.
    pub next: usize,
    /// Frames sent to pipe 0 because they are not IPv4 (hash mode).
    pub non_ip: u64,
}

impl Picker {
    /// The pipe for `frame` (a chain's first fragment).
    pub fn pick(&mut self, frame: &[u8]) -> usize {
        if self.mode == Mode::RoundRobin {
            let k = self.next;
            self.next = (k + 1) % self.pipes;
            return k;
        }
        match flow_hash(frame) {
            Some(h) => h as usize % self.pipes,
            None => {
                self.non_ip += 1;
                0
            }
        }
    }
}

#[derive(Debug)]
pub struct Lb {
    port: String,
    name: String,
    input: Handle,
    pipes: Vec<Handle>,
    picker: Picker,
    stats: Vec<PipeStats>,
    /// Unfinished chains filling a whole rx ring (they never end): dropped.
    bad: u64,
}

fn start(args: &[&str], ports: &dyn Ports, _now: u64) -> Result<Box<dyn App>, AppError> {
    let usage = || AppError::Usage(format!("usage: lb {USAGE}"));
    let (mut port, mut pipes, mut mode) = (None, None, Mode::Hash);
    let mut it = args.iter();
    while let Some(&opt) = it.next() {
        let val = *it.next().ok_or_else(usage)?;
        match opt {
            "-i" => port = Some(val),
            "-p" => {
                pipes = Some(
                    val.rsplit_once(':')
                        .map_or((None, val), |(a, n)| (Some(a), n)),
                )
            }
            "-m" if val == "hash" => mode = Mode::Hash,
            "-m" if val == "rr" => mode = Mode::RoundRobin,
            _ => return Err(usage()),
        }
    }
    let (Some(port), Some((name, n))) = (port, pipes) else {
        return Err(usage());
    };
    let n = n
        .parse()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(usage)?;
    Ok(Box::new(Lb::open(
        ports,
        port,
        name.unwrap_or(port),
        n,
        mode,
    )?))
}

impl Lb {
    /// Open `port` and the pipes `name{0` .. `name{n-1`.
    pub fn open(
        ports: &dyn Ports,
        port: &str,
        name: &str,
        n: usize,
        mode: Mode,
    ) -> Result<Self, AppError> {
        Ok(Lb {
            port: port.into(),
            name: name.into(),
            input: open(ports, port)?,
            pipes: (0..n)
                .map(|k| open(ports, &format!("{name}{{{k}")))
                .collect::<Result<_, _>>()?,
            picker: Picker {
                mode,
                pipes: n,
                next: 0,
                non_ip: 0,
            },
            stats: vec![PipeStats::default(); n],
            bad: 0,
        })
    }

    pub fn stats(&self) -> &[PipeStats] {
        &self.stats
    }

    /// One pass: every whole frame received goes to its pipe or is dropped.
    fn pass(&mut self) -> u32 {
        let mut moved = 0;
        for ri in 0..self.input.num_rings().1 {
            let _ = self.input.rxsync(ri); // errors: the next pass starts clean
            let Some(r) = self.input.rx_ring(ri) else {
                break;
            };
            let start = r.cur;
            while let Some(n) = frame_slots(r) {
                let k = self.picker.pick(r.frame(r.cur).unwrap_or_default());
                let (Some(t), st) = (self.pipes[k].tx_ring(0), &mut self.stats[k]) else {
                    break;
                };
                if t.space() < n {
                    st.dropped += 1; // stays in the rx ring, released below
                    r.advance(n);
                    continue;
                }
                for _ in 0..n {
                    let (i, j) = (r.cur, t.cur);
                    let s = r.slot[i as usize];
                    // Cannot fail: both slots are held.
                    let _ = r.swap_buf(i, t, j);
                    t.slot[j as usize].flags = NS_BUF_CHANGED | (s.flags & NS_MOREFRAG);
                    st.bytes += u64::from(s.len);
                    r.advance(1);
                    t.advance(1);
                }
                st.frames += 1;
                moved += 1;
            }
            if r.space() > 0 && r.space() + 1 == r.num_slots() {
                r.advance(r.space()); // a chain that never ends fills the ring
                self.bad += 1;
            }
            if r.cur != start {
                let _ = self.input.rxsync(ri); // release at once
            }
        }
        for p in &mut self.pipes {
            // One txsync per pipe: what was written, and what is still out.
            if p.tx_ring(0).is_some_and(|t| t.space() + 1 < t.num_slots()) {
                let _ = p.txsync(0);
            }
        }
        moved
    }
}

/// A symmetric hash of an Ethernet frame's IPv4 flow (addresses, protocol
/// and TCP/UDP/SCTP ports): the same both ways. `None` if not IPv4.
pub fn flow_hash(f: &[u8]) -> Option<u32> {
    let be16 = |o: usize| f.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let be32 = |o: usize| {
        f.get(o..o + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut l3 = 14;
    while matches!(be16(l3 - 2)?, 0x8100 | 0x88a8) && l3 < 22 {
        l3 += 4; // a VLAN tag
    }
    if be16(l3 - 2)? != 0x0800 || f.get(l3)? >> 4 != 4 {
        return None;
    }
    let (proto, l4) = (
        u64::from(*f.get(l3 + 9)?),
        l3 + usize::from(f[l3] & 0xf) * 4,
    );
    let (src, dst) = (u64::from(be32(l3 + 12)?), u64::from(be32(l3 + 16)?));
    let first = be16(l3 + 6)? & 0x3fff == 0; // not a fragment
    let (sp, dp) = match (proto, first) {
        (6 | 17 | 132, true) => (be16(l4).unwrap_or(0), be16(l4 + 2).unwrap_or(0)),
        _ => (0, 0),
    };
    let (a, b) = (src << 16 | u64::from(sp), dst << 16 | u64::from(dp));
    // Order the two ends, then mix (splitmix64's finalizer).
    let mut x = a.min(b).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ a.max(b) ^ proto << 56;
    x = (x ^ x >> 30).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ x >> 27).wrapping_mul(0x94d0_49bb_1331_11eb);
    Some((x ^ x >> 31) as u32)
}

impl App for Lb {
    fn poll(&mut self, _now_ns: u64) -> Result<u32, AppError> {
        Ok(self.pass())
    }

    fn status(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mode = if self.picker.mode == Mode::Hash {
            "hash"
        } else {
            "rr"
        };
        write!(out, "{} {mode}, {} non-ip", self.port, self.picker.non_ip)?;
        if self.bad > 0 {
            write!(out, ", {} bad chains dropped", self.bad)?;
        }
        for (k, s) in self.stats.iter().enumerate() {
            write!(
                out,
                "; {}{{{k} {} frames {} bytes {} dropped",
                self.name, s.frames, s.bytes, s.dropped
            )?;
        }
        Ok(())
    }

    fn handles(&self) -> Vec<&Handle> {
        let mut v = vec![&self.input];
        v.extend(self.pipes.iter());
        v
    }
}

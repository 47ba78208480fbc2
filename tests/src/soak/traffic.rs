//! The soak's traffic thread: the host side of the four NICs.
//!
//! - `A` (`virtio0`, vale0) sends: the load (A -> B), a MAC flood (a new
//!   source MAC every frame, to B), malformed frames, and isolation probes
//!   (to every MAC vale1 has learned);
//! - `B` (`virtio1`, vale0) counts what reaches it and keeps its MAC
//!   learned (a frame to A every [`REFRESH`]);
//! - `C` (`virtio2`, vale0) watches: a frame for B seen on C during a
//!   flood is a known station flooded instead of forwarded;
//! - `D` (`virtio3`, vale1) keeps its MAC learned on vale1; anything of
//!   vale0's reaching it, or its frames reaching vale0, is an isolation
//!   violation.
//!
//! Everything is counted in [`Shared`]; the thread closes a one-second bin
//! of load counts at a time ([`Second`]) so stalls can be judged per
//! second. Nothing here waits on the guest: sends take what the NIC's ring
//! has room for and the rest of the batch is simply sent later.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lab::{self, host_mac, BROADCAST};
use crate::wire::Endpoint;

/// Load frames' size (the minimum Ethernet frame without FCS).
pub const LOAD_SIZE: usize = 60;
/// Frames per send.
const BATCH: usize = 64;
/// How often B and D say who they are (well inside any ageing time).
const REFRESH: Duration = Duration::from_millis(20);
/// First two bytes of every flood source MAC (locally administered).
const FLOOD_PREFIX: [u8; 2] = [0x06, 0xf1];
/// Ethertype of B's and D's refresh frames.
const REFRESH_TYPE: u16 = 0x88b6;

pub fn mac_a() -> [u8; 6] {
    host_mac(0)
}
pub fn mac_b() -> [u8; 6] {
    host_mac(1)
}
pub fn mac_d() -> [u8; 6] {
    host_mac(3)
}

/// What A sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Load = 0,
    Flood = 1,
    Malformed = 2,
}

/// One second of load.
#[derive(Clone, Copy, Debug, Default)]
pub struct Second {
    /// Load frames A's wire took.
    pub sent: u64,
    /// Load frames B received.
    pub received: u64,
    /// A fault cycle was under way during the second.
    pub fault: bool,
    /// The second was (also) spent on something other than the load.
    pub other: bool,
}

/// Counters shared with the soak's main thread.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    mode: AtomicU8,
    /// Set by the main thread while a fault cycle runs.
    pub fault: AtomicBool,
    pub load_sent: AtomicU64,
    pub load_received: AtomicU64,
    /// Flood frames still to send (the mode falls back to load at 0).
    pub flood_budget: AtomicU64,
    pub flood_sources: AtomicU64,
    pub flood_received: AtomicU64,
    /// Frames for B seen on C while flooding.
    pub unicast_leaks: AtomicU64,
    pub malformed_budget: AtomicU64,
    pub malformed_sent: AtomicU64,
    /// Of those, frames under 14 bytes (the switch's `short` drops).
    pub runts_sent: AtomicU64,
    pub bad_headers_sent: AtomicU64,
    pub isolation_violations: AtomicU64,
    /// Destinations to probe from A once (vale1's learned MACs).
    pub probes: Mutex<Vec<[u8; 6]>>,
    pub probes_sent: AtomicU64,
    pub seconds: Mutex<Vec<Second>>,
    /// The thread's error, if it ended on one.
    pub error: Mutex<Option<String>>,
}

impl Shared {
    pub fn mode(&self) -> Mode {
        match self.mode.load(Relaxed) {
            1 => Mode::Flood,
            2 => Mode::Malformed,
            _ => Mode::Load,
        }
    }

    /// Send `n` flood frames (then back to the load).
    pub fn flood(&self, n: u64) {
        self.flood_budget.store(n, Relaxed);
        self.mode.store(Mode::Flood as u8, Relaxed);
    }

    /// Send `n` malformed frames (then back to the load).
    pub fn malformed(&self, n: u64) {
        self.malformed_budget.store(n, Relaxed);
        self.mode.store(Mode::Malformed as u8, Relaxed);
    }
}

/// The four wires, in NIC order A, B, C, D.
pub struct Wires {
    pub a: Endpoint,
    pub b: Endpoint,
    pub c: Endpoint,
    pub d: Endpoint,
}

/// Run until `shared.stop`; errors end the thread and are kept in
/// `shared.error`.
pub fn run(mut w: Wires, shared: Arc<Shared>, vhost: bool) {
    if let Err(e) = pump(&mut w, &shared, vhost) {
        *shared.error.lock().unwrap() = Some(e.to_string());
    }
}

fn pump(w: &mut Wires, sh: &Shared, vhost: bool) -> io::Result<()> {
    let (a, b, d) = (mac_a(), mac_b(), mac_d());
    let mut seq: u32 = 0;
    let mut flood_n: u64 = 0;
    let mut bad_n: u32 = 0;
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut pending: usize = 0;
    let mut last_refresh = Instant::now() - REFRESH;
    let mut bin = Second::default();
    let mut bin_start = Instant::now();
    let zero = Duration::ZERO;
    while !sh.stop.load(Relaxed) {
        let mode = sh.mode();
        bin.fault |= sh.fault.load(Relaxed);
        bin.other |= mode != Mode::Load;
        // Refill the batch when the last one is gone.
        if pending == 0 {
            frames.clear();
            match mode {
                Mode::Load => {
                    for _ in 0..BATCH {
                        frames.push(lab::frame(b, a, seq, LOAD_SIZE));
                        seq = seq.wrapping_add(1);
                    }
                }
                Mode::Flood => {
                    let left = sh.flood_budget.load(Relaxed).min(BATCH as u64);
                    for _ in 0..left {
                        let n = flood_n.to_be_bytes();
                        let src = [FLOOD_PREFIX[0], FLOOD_PREFIX[1], n[4], n[5], n[6], n[7]];
                        frames.push(lab::frame(b, src, flood_n as u32, LOAD_SIZE));
                        flood_n += 1;
                    }
                }
                Mode::Malformed => {
                    let left = sh.malformed_budget.load(Relaxed).min(BATCH as u64);
                    for _ in 0..left {
                        frames.push(malformed(bad_n, b, a, vhost));
                        bad_n = bad_n.wrapping_add(1);
                    }
                }
            }
            pending = frames.len();
        }
        let start = frames.len() - pending;
        let mut moved = 0;
        if pending > 0 {
            // A lying header only on the frames of its kind (vhost-user).
            let lie = mode == Mode::Malformed && vhost && is_bad_header(&frames[start]);
            if lie {
                w.a.set_vhost_net_hdr(Some(bad_header(bad_n)));
            }
            let n = if lie {
                w.a.send_batch(&frames[start..start + 1])?
            } else {
                let end = frames[start..]
                    .iter()
                    .position(|f| mode == Mode::Malformed && vhost && is_bad_header(f))
                    .map_or(frames.len(), |p| start + p.max(1));
                w.a.send_batch(&frames[start..end])?
            };
            if lie {
                w.a.set_vhost_net_hdr(None);
            }
            for f in &frames[start..start + n] {
                account_sent(sh, mode, f);
            }
            if mode == Mode::Load {
                bin.sent += n as u64;
            }
            pending -= n;
            moved += n;
        }
        // Isolation probes: one frame to each address vale1 learned.
        let probes: Vec<[u8; 6]> = std::mem::take(&mut *sh.probes.lock().unwrap());
        for (i, dst) in probes.iter().enumerate() {
            let f = lab::frame(*dst, a, i as u32, LOAD_SIZE);
            if w.a.send_all(&[f], Duration::from_secs(5)).is_ok() {
                sh.probes_sent.fetch_add(1, Relaxed);
            }
        }
        if last_refresh.elapsed() >= REFRESH {
            let fb = refresh_frame(a, b);
            let fd = refresh_frame(BROADCAST, d);
            let _ = w.b.send(&fb)?;
            let _ = w.d.send(&fd)?;
            last_refresh = Instant::now();
        }
        // Receive everywhere.
        let flooding = mode == Mode::Flood;
        let mut got_load = 0u64;
        moved += w.b.recv_batch(zero, &mut |f| {
            if f.len() < 12 {
                return;
            }
            if f[6..12] == d {
                sh.isolation_violations.fetch_add(1, Relaxed);
            } else if f[0..6] == b && f[6..12] == a {
                got_load += 1;
            } else if f[0..6] == b && f[6..8] == FLOOD_PREFIX {
                sh.flood_received.fetch_add(1, Relaxed);
            }
        })?;
        sh.load_received.fetch_add(got_load, Relaxed);
        bin.received += got_load;
        moved += w.c.recv_batch(zero, &mut |f| {
            if f.len() >= 12 && f[6..12] == d {
                sh.isolation_violations.fetch_add(1, Relaxed);
            } else if flooding && f.len() >= 6 && f[0..6] == b {
                sh.unicast_leaks.fetch_add(1, Relaxed);
            }
        })?;
        moved += w.d.recv_batch(zero, &mut |_| {
            // Nothing but D is on vale1: whatever arrives crossed over.
            sh.isolation_violations.fetch_add(1, Relaxed);
        })?;
        moved += w.a.recv_batch(zero, &mut |f| {
            if f.len() >= 12 && f[6..12] == d {
                sh.isolation_violations.fetch_add(1, Relaxed);
            }
        })?;
        if bin_start.elapsed() >= Duration::from_secs(1) {
            sh.seconds.lock().unwrap().push(bin);
            bin = Second::default();
            bin_start = Instant::now();
        }
        if moved == 0 {
            // Nothing moved: the rings are full or empty; let the guest run.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    Ok(())
}

fn account_sent(sh: &Shared, mode: Mode, f: &[u8]) {
    match mode {
        Mode::Load => {
            sh.load_sent.fetch_add(1, Relaxed);
        }
        Mode::Flood => {
            sh.flood_sources.fetch_add(1, Relaxed);
            if sh.flood_budget.fetch_sub(1, Relaxed) == 1 {
                sh.mode.store(Mode::Load as u8, Relaxed);
            }
        }
        Mode::Malformed => {
            sh.malformed_sent.fetch_add(1, Relaxed);
            if f.len() < 14 {
                sh.runts_sent.fetch_add(1, Relaxed);
            }
            if is_bad_header(f) {
                sh.bad_headers_sent.fetch_add(1, Relaxed);
            }
            if sh.malformed_budget.fetch_sub(1, Relaxed) == 1 {
                sh.mode.store(Mode::Load as u8, Relaxed);
            }
        }
    }
}

fn refresh_frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = lab::frame(dst, src, 0, LOAD_SIZE);
    f[12..14].copy_from_slice(&REFRESH_TYPE.to_be_bytes());
    f
}

/// Ethertype that marks a frame to be sent with a lying virtio-net header.
const BAD_HDR_TYPE: u16 = 0x88b7;

fn is_bad_header(f: &[u8]) -> bool {
    f.len() >= 14 && f[12..14] == BAD_HDR_TYPE.to_be_bytes()
}

/// A virtio-net header of offloads the guest never negotiated: checksum
/// requests with offsets past the frame, GSO types, `num_buffers` 0 or
/// huge (virtio 1.2, 5.1.6).
fn bad_header(n: u32) -> [u8; 12] {
    let mut h = lab::garbage(n.wrapping_mul(7919) | 1, 12);
    h[0] |= 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    h[1] = [1, 3, 4, 5, 0x80 | 1][n as usize % 5]; // GSO TCPv4, UDP, TCPv6, UDP_L4, ECN
    h.try_into().unwrap()
}

/// Malformed frame number `n`: runts (1-13 bytes: no Ethernet header),
/// short frames (14-59), giants (1515-2000: past the Ethernet maximum,
/// still inside the guest's 2048-byte buffers; larger ones the device
/// itself cannot deliver), garbage of any length with any addresses
/// (broadcast and multicast included), and (vhost-user) honest frames
/// under a lying virtio-net header. No zero-length frames: QEMU 7.2's
/// dgram backend takes a zero-length datagram for the end of the
/// connection and stops receiving for good (QEMU's, not ours); on
/// vhost-user a zero-length frame is a header alone, which the runts
/// cover.
fn malformed(n: u32, b: [u8; 6], a: [u8; 6], vhost: bool) -> Vec<u8> {
    let r = lab::garbage(n.wrapping_mul(2654435761) | 1, 4);
    let pick = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
    let kinds = if vhost { 5 } else { 4 };
    match n % kinds {
        0 => lab::garbage(pick, 1 + (pick % 13) as usize),
        1 => lab::frame(b, a, n, 14 + (pick % 46) as usize),
        2 => lab::frame(b, a, n, 1515 + (pick % 486) as usize),
        3 => lab::garbage(pick, 14 + (pick % 1986) as usize),
        _ => {
            let mut f = lab::frame(b, a, n, 60 + (pick % 1455) as usize);
            f[12..14].copy_from_slice(&BAD_HDR_TYPE.to_be_bytes());
            f
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_frames_cover_every_kind_and_never_zero_length() {
        let (a, b) = (mac_a(), mac_b());
        let fs: Vec<Vec<u8>> = (0..1000).map(|n| malformed(n, b, a, true)).collect();
        assert!(fs.iter().all(|f| !f.is_empty() && f.len() <= 2000));
        assert!(fs.iter().any(|f| f.len() < 14));
        assert!(fs.iter().any(|f| (14..60).contains(&f.len())));
        assert!(fs.iter().any(|f| f.len() > 1514));
        assert_eq!(fs.iter().filter(|f| is_bad_header(f)).count(), 200);
        let dgram: Vec<Vec<u8>> = (0..1000).map(|n| malformed(n, b, a, false)).collect();
        assert!(!dgram.iter().any(|f| is_bad_header(f)));
    }

    #[test]
    fn bad_headers_claim_offloads() {
        for n in 0..10 {
            let h = bad_header(n);
            assert_eq!(h[0] & 1, 1);
            assert_ne!(h[1], 0);
        }
    }
}

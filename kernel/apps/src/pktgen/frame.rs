//! The frames pkt-gen sends: Ethernet, IPv4 and UDP headers with a valid
//! IPv4 header checksum (the UDP checksum is 0: none, as IPv4 allows),
//! then pkt-gen's payload header, then filler.
//!
//! ```text
//!  0  dst MAC, src MAC, 0x0800         (14)
//! 14  IPv4, 20 bytes, TTL 64, UDP      (checksum at 24)
//! 34  UDP: src port, dst port, length, checksum 0
//! 42  magic "pkt-gen" tag (4 bytes)
//! 46  sequence number (u32, big endian)
//! 50  send time, ns (u64, big endian; ping)
//! 58  filler to the frame length
//! ```
//!
//! The whole frame is built once, as a template; per frame only its
//! flow's addresses (when `-s`/`-d`/`-S`/`-D` give ranges), the IPv4
//! checksum then, and the sequence number or time are patched into the
//! slot's buffer.

use alloc::vec::Vec;

use super::args::{Args, IpRange, MacRange};

pub const ETH_LEN: usize = 14;
pub const IP_OFF: usize = 14;
pub const UDP_OFF: usize = 34;
pub const PAYLOAD_OFF: usize = 42;
pub const MAGIC_OFF: usize = 42;
pub const SEQ_OFF: usize = 46;
pub const TS_OFF: usize = 50;
/// The header of pkt-gen's payload ends here.
pub const HDR_END: usize = 58;
/// Tags pkt-gen's frames: "nmpg".
pub const MAGIC: [u8; 4] = *b"nmpg";

/// The IPv4 header checksum of `hdr` (20 bytes, checksum field included
/// as it is: zero it first to compute, or keep it to verify: a valid
/// header then sums to 0).
pub fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let mut sum = 0u32;
    for w in hdr.chunks(2) {
        let hi = u32::from(w[0]) << 8;
        sum += hi | w.get(1).map_or(0, |&b| u32::from(b));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn mac_bytes(m: u64) -> [u8; 6] {
    let b = m.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The template for `args`: the first address of every range.
pub fn template(a: &Args) -> Vec<u8> {
    let len = a.len;
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&mac_bytes(a.dmac.0));
    f.extend_from_slice(&mac_bytes(a.smac.0));
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    // IPv4: version 4, 5 words, no TOS; total length; id 0; DF; TTL 64; UDP.
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((len - ETH_LEN) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&a.src.ip.0.to_be_bytes());
    f.extend_from_slice(&a.dst.ip.0.to_be_bytes());
    f.extend_from_slice(&a.src.port.0.to_be_bytes());
    f.extend_from_slice(&a.dst.port.0.to_be_bytes());
    f.extend_from_slice(&((len - UDP_OFF) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&MAGIC);
    f.extend_from_slice(&[0; HDR_END - SEQ_OFF]);
    // Filler, as netmap's: readable text.
    let fill = b"netmap pkt-gen DIRECT payload\n";
    while f.len() < len {
        let n = (len - f.len()).min(fill.len());
        f.extend_from_slice(&fill[..n]);
    }
    let c = ipv4_checksum(&f[IP_OFF..UDP_OFF]);
    f[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&c.to_be_bytes());
    f
}

/// One dimension of the flow mix: `lo..=hi`, the current value.
#[derive(Clone, Copy, Debug)]
struct Dim {
    lo: u64,
    hi: u64,
    cur: u64,
}

impl Dim {
    fn new(lo: u64, hi: u64) -> Self {
        Dim { lo, hi, cur: lo }
    }

    /// Steps to the next value; true when it wrapped (carry).
    #[inline]
    fn step(&mut self) -> bool {
        if self.cur >= self.hi {
            self.cur = self.lo;
            true
        } else {
            self.cur += 1;
            false
        }
    }
}

/// The flow mix: every combination of the ranges, one per frame, as
/// netmap's pkt-gen walks them (source port fastest, then source IP,
/// destination port, destination IP; then source MAC and destination
/// MAC, for the switch's learning table).
#[derive(Clone, Debug)]
pub struct Flows {
    dims: [Dim; 6],
    /// Whether there is more than one flow (otherwise the template
    /// already holds the only one).
    varies: bool,
}

const SPORT: usize = 0;
const SIP: usize = 1;
const DPORT: usize = 2;
const DIP: usize = 3;
const SMAC: usize = 4;
const DMAC: usize = 5;

impl Flows {
    pub fn new(src: IpRange, dst: IpRange, smac: MacRange, dmac: MacRange) -> Self {
        let dims = [
            Dim::new(src.port.0.into(), src.port.1.into()),
            Dim::new(src.ip.0.into(), src.ip.1.into()),
            Dim::new(dst.port.0.into(), dst.port.1.into()),
            Dim::new(dst.ip.0.into(), dst.ip.1.into()),
            Dim::new(smac.0, smac.1),
            Dim::new(dmac.0, dmac.1),
        ];
        let varies = dims.iter().any(|d| d.lo != d.hi);
        Flows { dims, varies }
    }

    pub fn varies(&self) -> bool {
        self.varies
    }

    /// Writes the current flow's addresses and IPv4 checksum into `f` (a
    /// copy of the template), then moves to the next flow.
    #[inline]
    pub fn patch_and_step(&mut self, f: &mut [u8]) {
        let d = &self.dims;
        f[0..6].copy_from_slice(&mac_bytes(d[DMAC].cur));
        f[6..12].copy_from_slice(&mac_bytes(d[SMAC].cur));
        f[IP_OFF + 12..IP_OFF + 16].copy_from_slice(&(d[SIP].cur as u32).to_be_bytes());
        f[IP_OFF + 16..IP_OFF + 20].copy_from_slice(&(d[DIP].cur as u32).to_be_bytes());
        f[UDP_OFF..UDP_OFF + 2].copy_from_slice(&(d[SPORT].cur as u16).to_be_bytes());
        f[UDP_OFF + 2..UDP_OFF + 4].copy_from_slice(&(d[DPORT].cur as u16).to_be_bytes());
        f[IP_OFF + 10..IP_OFF + 12].fill(0);
        let c = ipv4_checksum(&f[IP_OFF..UDP_OFF]);
        f[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&c.to_be_bytes());
        for dim in &mut self.dims {
            if !dim.step() {
                break;
            }
        }
    }
}

/// Writes the sequence number into a frame.
#[inline]
pub fn set_seq(f: &mut [u8], seq: u32) {
    f[SEQ_OFF..SEQ_OFF + 4].copy_from_slice(&seq.to_be_bytes());
}

/// Writes the send time into a frame.
#[inline]
pub fn set_time(f: &mut [u8], ns: u64) {
    f[TS_OFF..TS_OFF + 8].copy_from_slice(&ns.to_be_bytes());
}

/// Whether `f` is a pkt-gen frame: IPv4 without options, UDP, the magic.
#[inline]
pub fn is_pktgen(f: &[u8]) -> bool {
    f.len() >= HDR_END
        && f[12..14] == [0x08, 0x00]
        && f[IP_OFF] == 0x45
        && f[IP_OFF + 9] == 17
        && f[MAGIC_OFF..MAGIC_OFF + 4] == MAGIC
}

/// The sequence number of a pkt-gen frame.
#[inline]
pub fn seq(f: &[u8]) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&f[SEQ_OFF..SEQ_OFF + 4]);
    u32::from_be_bytes(b)
}

/// The send time of a pkt-gen frame.
#[inline]
pub fn time(f: &[u8]) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&f[TS_OFF..TS_OFF + 8]);
    u64::from_be_bytes(b)
}

/// Turns a frame into its answer (pong): MACs, IPs and UDP ports
/// swapped. The IPv4 checksum does not change (a sum does not depend on
/// the order of its terms).
#[inline]
pub fn swap_addresses(f: &mut [u8]) {
    for (a, b) in [(0, 6), (IP_OFF + 12, IP_OFF + 16), (UDP_OFF, UDP_OFF + 2)] {
        let n = b - a;
        let (x, y) = f.split_at_mut(b);
        x[a..b].swap_with_slice(&mut y[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktgen::args::Args;

    #[test]
    fn template_checksum_verifies_and_lengths_are_right() {
        let a = Args::parse(&["-i", "x", "-l", "100"]).unwrap();
        let f = template(&a);
        assert_eq!(f.len(), 100);
        assert_eq!(ipv4_checksum(&f[IP_OFF..UDP_OFF]), 0);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 86);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 66);
        assert!(is_pktgen(&f));
    }

    #[test]
    fn known_checksum() {
        // The classic example header (Wikipedia's IPv4 checksum).
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&h), 0xb861);
    }

    #[test]
    fn flows_walk_every_combination_and_keep_checksums_valid() {
        let a = Args::parse(&[
            "-i",
            "x",
            "-s",
            "10.0.0.1-10.0.0.2:1-3",
            "-S",
            "02:00:00:00:00:01+2",
        ])
        .unwrap();
        let t = template(&a);
        let mut fl = Flows::new(a.src, a.dst, a.smac, a.dmac);
        assert!(fl.varies());
        let mut seen = alloc::collections::BTreeSet::new();
        for _ in 0..12 {
            let mut f = t.clone();
            fl.patch_and_step(&mut f);
            assert_eq!(ipv4_checksum(&f[IP_OFF..UDP_OFF]), 0);
            seen.insert((f[11], f[IP_OFF + 15], f[UDP_OFF + 1]));
        }
        assert_eq!(seen.len(), 12);
        // And back to the first.
        let mut f = t.clone();
        fl.patch_and_step(&mut f);
        assert_eq!(f, t);
    }

    #[test]
    fn swap_twice_is_identity_and_checksum_holds() {
        let a = Args::parse(&["-i", "x", "-S", "02:00:00:00:00:07", "-d", "10.9.9.9:99"]).unwrap();
        let t = template(&a);
        let mut f = t.clone();
        swap_addresses(&mut f);
        assert_eq!(&f[0..6], &t[6..12]);
        assert_eq!(&f[IP_OFF + 12..IP_OFF + 16], &t[IP_OFF + 16..IP_OFF + 20]);
        assert_eq!(&f[UDP_OFF..UDP_OFF + 2], &t[UDP_OFF + 2..UDP_OFF + 4]);
        assert_eq!(ipv4_checksum(&f[IP_OFF..UDP_OFF]), 0);
        swap_addresses(&mut f);
        assert_eq!(f, t);
    }
}

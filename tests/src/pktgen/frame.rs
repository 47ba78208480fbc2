//! pktgen's frames: build them from a template, recognise them on receive.
//!
//! A frame is an Ethernet header, optionally IPv4 + UDP (valid checksums, so
//! a Linux host or the guest's IP stack accepts it), then an 18-byte stamp
//! and a deterministic padding up to the requested size:
//!
//! ```text
//! stamp: magic u16 = 0x7067 ("pg") | run u16 | seq u48 | tx time u64 ns (CLOCK_MONOTONIC)
//! ```
//!
//! all big-endian. 18 bytes is what fits a 60-byte IPv4/UDP frame (14 + 20 +
//! 8 + 18). `run` tells this run's frames from a previous run's leftovers.
//! Without UDP the ethertype is 0x88b5 (IEEE "local experimental").

use std::net::Ipv4Addr;

use super::checksum;
use super::mac::Mac;

pub const ETHERTYPE_PKTGEN: u16 = 0x88b5;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const MAGIC: u16 = 0x7067;
pub const STAMP_LEN: usize = 18;
const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const UDP_LEN: usize = 8;
/// Smallest and largest Ethernet frame without FCS.
pub const MIN_SIZE: usize = 60;
pub const MAX_SIZE: usize = 1514;
/// The sequence number of the frame sent so a learning switch learns a MAC;
/// never a data frame's.
pub const LEARN_SEQ: u64 = (1 << 48) - 1;

/// What a stamp says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub run: u16,
    pub seq: u64,
    pub ts_ns: u64,
}

/// IPv4/UDP addressing for frames that carry the stamp in a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

impl Default for Udp {
    fn default() -> Self {
        Self {
            src: Ipv4Addr::new(10, 70, 0, 1),
            dst: Ipv4Addr::new(10, 70, 0, 2),
            sport: 7067,
            dport: 7067,
        }
    }
}

/// What every frame of a run looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    pub dst: Mac,
    pub src: Mac,
    /// Bytes on the wire without FCS.
    pub size: usize,
    pub udp: Option<Udp>,
    pub run: u16,
}

/// Check a frame size; `raw` allows runts and oversized frames on purpose.
pub fn check_size(size: usize, raw: bool) -> Result<(), String> {
    if raw {
        if (1..=crate::wire::MAX_FRAME).contains(&size) {
            return Ok(());
        }
        return Err(format!(
            "size {size} out of range 1..={} even with --raw",
            crate::wire::MAX_FRAME
        ));
    }
    if (MIN_SIZE..=MAX_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(format!("size {size} out of range {MIN_SIZE}..={MAX_SIZE} (Ethernet without FCS; --raw for runts and jumbo frames)"))
    }
}

/// A prebuilt frame; [`Template::stamp`] writes seq and time into a copy.
#[derive(Clone, Debug)]
pub struct Template {
    bytes: Vec<u8>,
    /// Where the stamp goes, if the frame is long enough to carry it.
    stamp_at: Option<usize>,
    /// The UDP checksum field's offset and the partial sum of everything
    /// it covers except the stamp, if the whole datagram is in the frame.
    udp_sum: Option<(usize, u64)>,
    /// The UDP source port's offset and the template's port, when frames
    /// vary it over `flows` flows ([`Template::with_flows`]).
    sport: Option<(usize, u16)>,
    flows: u16,
    run: u16,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl Template {
    pub fn new(spec: &FrameSpec) -> Self {
        let head = ETH_LEN
            + if spec.udp.is_some() {
                IP_LEN + UDP_LEN
            } else {
                0
            };
        // Build at least a whole header + stamp, then cut to size: a runt is
        // the front of a normal frame.
        let full = spec.size.max(head + STAMP_LEN);
        // Padding: byte i of the frame is i mod 256, so a byte-for-byte
        // check catches a shifted or corrupted payload.
        let mut b: Vec<u8> = (0..full).map(|i| i as u8).collect();
        b[0..6].copy_from_slice(&spec.dst.0);
        b[6..12].copy_from_slice(&spec.src.0);
        let stamp_at = head;
        b[stamp_at..stamp_at + STAMP_LEN].fill(0);
        b[stamp_at..stamp_at + 2].copy_from_slice(&MAGIC.to_be_bytes());
        b[stamp_at + 2..stamp_at + 4].copy_from_slice(&spec.run.to_be_bytes());
        let mut udp_sum = None;
        let mut sport = None;
        match spec.udp {
            None => b[12..14].copy_from_slice(&ETHERTYPE_PKTGEN.to_be_bytes()),
            Some(u) => {
                b[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                let ip_len = (full - ETH_LEN) as u16;
                let udp_len = (full - ETH_LEN - IP_LEN) as u16;
                let ip = &mut b[ETH_LEN..ETH_LEN + IP_LEN];
                ip[0] = 0x45; // IPv4, 5 words of header
                ip[1] = 0; // DSCP/ECN
                ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
                ip[4..6].copy_from_slice(&0u16.to_be_bytes()); // id: DF set, never fragmented
                ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
                ip[8] = 64; // TTL
                ip[9] = 17; // UDP
                ip[10..12].fill(0);
                ip[12..16].copy_from_slice(&u.src.octets());
                ip[16..20].copy_from_slice(&u.dst.octets());
                let c = checksum::checksum(ip);
                ip[10..12].copy_from_slice(&c.to_be_bytes());
                let at = ETH_LEN + IP_LEN;
                b[at..at + 2].copy_from_slice(&u.sport.to_be_bytes());
                b[at + 2..at + 4].copy_from_slice(&u.dport.to_be_bytes());
                b[at + 4..at + 6].copy_from_slice(&udp_len.to_be_bytes());
                b[at + 6..at + 8].fill(0);
                // Pseudo-header + datagram, with the stamp's seq/time still zero.
                let pseudo = checksum::sum(&u.src.octets())
                    + checksum::sum(&u.dst.octets())
                    + 17
                    + udp_len as u64;
                udp_sum = Some((at + 6, pseudo + checksum::sum(&b[at..full])));
                sport = Some((at, u.sport));
            }
        }
        b.truncate(spec.size);
        let fits = stamp_at + STAMP_LEN <= spec.size;
        Self {
            stamp_at: fits.then_some(stamp_at),
            udp_sum: if fits && full == spec.size {
                udp_sum
            } else {
                None
            },
            sport: if fits && full == spec.size {
                sport
            } else {
                None
            },
            flows: 1,
            bytes: b,
            run: spec.run,
        }
    }

    /// Frames of `flows` flows instead of one: frame `seq` has UDP source
    /// port `sport + seq % flows` (wrapping), so a device that spreads
    /// flows over queues by a hash of addresses and ports (multi-queue
    /// virtio-net, RSS) uses all of them. Only whole IPv4/UDP frames
    /// vary; others (no UDP, a runt) stay one flow.
    pub fn with_flows(mut self, flows: u16) -> Self {
        self.flows = if self.sport.is_some() {
            flows.max(1)
        } else {
            1
        };
        self
    }

    /// How many flows the frames spread over.
    pub fn flows(&self) -> u16 {
        self.flows
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The frame with seq and time zero.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn run(&self) -> u16 {
        self.run
    }

    /// Whether frames are long enough to carry a stamp (not a runt).
    pub fn stamped(&self) -> bool {
        self.stamp_at.is_some()
    }

    /// Write `seq` and `ts_ns` into `frame`, a copy of this template, and
    /// fix the UDP checksum. Only the stamp's bytes and the checksum change.
    pub fn stamp(&self, frame: &mut [u8], seq: u64, ts_ns: u64) {
        let Some(at) = self.stamp_at else { return };
        let s = &mut frame[at + 4..at + STAMP_LEN];
        s[0..6].copy_from_slice(&seq.to_be_bytes()[2..8]);
        s[6..14].copy_from_slice(&ts_ns.to_be_bytes());
        // The source port of this frame's flow; the checksum's partial sum
        // holds the template's port, swapped for this one.
        let mut port_delta = 0u64;
        if let (Some((port_at, base)), true) = (self.sport, self.flows > 1) {
            let port = base.wrapping_add((seq % self.flows as u64) as u16);
            frame[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
            port_delta = port as u64 + 0xffff - base as u64;
        }
        if let Some((csum_at, partial)) = self.udp_sum {
            // The stamp starts at an even offset in the datagram, so its
            // words line up with the checksum's.
            let mut c = checksum::finish(
                partial + port_delta + checksum::sum(&frame[at + 4..at + STAMP_LEN]),
            );
            if c == 0 {
                c = 0xffff; // 0 means "no checksum" in UDP over IPv4
            }
            frame[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        }
    }

    /// A new frame with `seq` and `ts_ns`: what a correct wire delivers.
    pub fn build(&self, seq: u64, ts_ns: u64) -> Vec<u8> {
        let mut f = self.bytes.clone();
        self.stamp(&mut f, seq, ts_ns);
        f
    }
}

/// The stamp of a pktgen frame (any run), or `None` for anything else.
pub fn parse(frame: &[u8]) -> Option<Stamp> {
    if frame.len() < ETH_LEN {
        return None;
    }
    let at = match be16(frame, 12) {
        ETHERTYPE_PKTGEN => ETH_LEN,
        ETHERTYPE_IPV4 => {
            let ip = frame.get(ETH_LEN..ETH_LEN + IP_LEN)?;
            let ihl = (ip[0] & 0xf) as usize * 4;
            if ip[0] >> 4 != 4 || ihl < IP_LEN || ip[9] != 17 {
                return None;
            }
            ETH_LEN + ihl + UDP_LEN
        }
        _ => return None,
    };
    let s = frame.get(at..at + STAMP_LEN)?;
    if be16(s, 0) != MAGIC {
        return None;
    }
    let mut seq = [0u8; 8];
    seq[2..8].copy_from_slice(&s[4..10]);
    Some(Stamp {
        run: be16(s, 2),
        seq: u64::from_be_bytes(seq),
        ts_ns: u64::from_be_bytes(s[10..18].try_into().expect("8 bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: usize, udp: bool) -> FrameSpec {
        FrameSpec {
            dst: Mac::RX_DEFAULT,
            src: Mac::TX_DEFAULT,
            size,
            udp: udp.then(Udp::default),
            run: 0xbeef,
        }
    }

    #[test]
    fn round_trip_at_every_size_and_kind() {
        for udp in [false, true] {
            for size in [60, 61, 64, 128, 1000, 1513, 1514] {
                let t = Template::new(&spec(size, udp));
                let seq = 0x0000_1234_5678_9abc;
                let ts = 0x1122_3344_5566_7788;
                let f = t.build(seq, ts);
                assert_eq!(f.len(), size);
                assert_eq!(&f[0..6], &Mac::RX_DEFAULT.0);
                assert_eq!(&f[6..12], &Mac::TX_DEFAULT.0);
                assert_eq!(
                    parse(&f),
                    Some(Stamp {
                        run: 0xbeef,
                        seq,
                        ts_ns: ts
                    }),
                    "size {size} udp {udp}"
                );
                // Only the stamp and the UDP checksum differ from the template.
                let differ: Vec<usize> = (0..size).filter(|&i| f[i] != t.bytes()[i]).collect();
                let head = if udp { 42 } else { 14 };
                assert!(
                    differ
                        .iter()
                        .all(|&i| (head + 4..head + 18).contains(&i)
                            || (udp && (40..42).contains(&i))),
                    "{differ:?}"
                );
                // Padding is the offset pattern.
                assert!((head + 18..size).all(|i| f[i] == i as u8));
            }
        }
    }

    #[test]
    fn seq_is_48_bits() {
        let t = Template::new(&spec(60, false));
        let f = t.build(LEARN_SEQ, 1);
        assert_eq!(parse(&f).unwrap().seq, LEARN_SEQ);
        let f = t.build(1 << 48, 1); // wraps, by design never reached
        assert_eq!(parse(&f).unwrap().seq, 0);
    }

    /// Verify IPv4 and UDP checksums the way a receiving host would.
    fn checksums_ok(f: &[u8]) -> bool {
        let ip = &f[14..34];
        if checksum::checksum(ip) != 0 {
            return false;
        }
        let udp_len = be16(f, 38) as usize;
        assert_eq!(udp_len, f.len() - 34);
        assert_eq!(be16(f, 16) as usize, f.len() - 14);
        let pseudo = checksum::sum(&ip[12..20]) + 17 + udp_len as u64;
        checksum::finish(pseudo + checksum::sum(&f[34..34 + udp_len])) == 0
    }

    #[test]
    fn udp_checksums_are_right_for_every_stamp() {
        for size in [60, 61, 99, 1514] {
            let t = Template::new(&spec(size, true));
            for (seq, ts) in [
                (0, 0),
                (1, 2),
                (LEARN_SEQ - 1, u64::MAX),
                (0xffff, 0xffff_0000),
            ] {
                let f = t.build(seq, ts);
                assert!(checksums_ok(&f), "size {size} seq {seq} ts {ts}");
                assert_ne!(be16(&f, 40), 0, "UDP checksum 0 means none");
            }
        }
        // A flipped payload bit is caught.
        let mut f = Template::new(&spec(100, true)).build(5, 6);
        f[80] ^= 1;
        assert!(!checksums_ok(&f));
    }

    #[test]
    fn flows_vary_the_source_port_with_right_checksums() {
        for size in [60, 61, 1514] {
            let t = Template::new(&spec(size, true)).with_flows(16);
            assert_eq!(t.flows(), 16);
            let mut ports = std::collections::BTreeSet::new();
            for seq in [0u64, 1, 15, 16, 17, 0xffff, LEARN_SEQ - 1] {
                let f = t.build(seq, seq * 3 + 1);
                assert!(checksums_ok(&f), "size {size} seq {seq}");
                let port = be16(&f, 34);
                assert_eq!(port, 7067 + (seq % 16) as u16, "seq {seq}");
                assert_eq!(parse(&f).unwrap().seq, seq);
                ports.insert(port);
                // Restamping a used buffer gives the same frame.
                let mut g = t.build(seq + 5, 9);
                t.stamp(&mut g, seq, seq * 3 + 1);
                assert_eq!(g, f);
            }
            assert_eq!(ports.len(), 4, "{ports:?}"); // 0, 1, 14, 15
        }
        // The port wraps; frames that cannot vary stay one flow.
        let u = Udp {
            sport: 0xfffe,
            ..Udp::default()
        };
        let t = Template::new(&FrameSpec {
            udp: Some(u),
            ..spec(60, true)
        })
        .with_flows(4);
        let f = t.build(3, 0);
        assert_eq!(be16(&f, 34), 1);
        assert!(checksums_ok(&f));
        assert_eq!(Template::new(&spec(60, false)).with_flows(8).flows(), 1);
        assert_eq!(Template::new(&spec(40, true)).with_flows(8).flows(), 1);
    }

    #[test]
    fn stamping_in_place_matches_build() {
        let t = Template::new(&spec(200, true));
        let mut f = t.bytes().to_vec();
        t.stamp(&mut f, 7, 8);
        t.stamp(&mut f, 9, 10); // restamping a used buffer
        assert_eq!(f, t.build(9, 10));
    }

    #[test]
    fn runts_and_other_frames() {
        let t = Template::new(&spec(20, false));
        assert_eq!(t.len(), 20);
        assert!(!t.stamped());
        assert_eq!(parse(t.bytes()), None);
        assert_eq!(
            Template::new(&spec(1, true)).bytes(),
            &[Mac::RX_DEFAULT.0[0]]
        );
        assert_eq!(parse(&[0u8; 13]), None);
        let mut f = Template::new(&spec(60, false)).build(1, 1);
        f[14] ^= 0xff; // magic broken
        assert_eq!(parse(&f), None);
        let mut f = Template::new(&spec(60, true)).build(1, 1);
        f[23] = 6; // TCP, not ours
        assert_eq!(parse(&f), None);
        // Oversized (--raw) frames still carry a stamp.
        let big = Template::new(&spec(9000, true)).build(3, 4);
        assert_eq!(parse(&big).unwrap().seq, 3);
        assert!(checksums_ok(&big));
    }

    #[test]
    fn size_limits() {
        assert!(check_size(60, false).is_ok() && check_size(1514, false).is_ok());
        assert!(check_size(59, false).is_err() && check_size(1515, false).is_err());
        assert!(check_size(1, true).is_ok() && check_size(9018, true).is_ok());
        assert!(check_size(0, true).is_err() && check_size(1 << 20, true).is_err());
    }
}

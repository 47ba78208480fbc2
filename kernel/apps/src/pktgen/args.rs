//! pkt-gen's command line, netmap's flags: parsed once at start, every
//! mistake one [`AppError::Usage`] line naming the flag and what it takes.

use alloc::format;
use alloc::string::String;

use crate::AppError;

/// The one-line usage (the shell's help shows it after the command).
pub const USAGE: &str = "-i PORT [-f tx|rx|ping|pong|txseq|rxseq] [-l LEN] [-n COUNT] \
[-R PPS] [-b BATCH] [-s IP[-IP][:PORT[-PORT]]] [-d IP[-IP][:PORT[-PORT]]] \
[-S MAC[-MAC|+N]] [-D MAC[-MAC|+N]] [-T MS]";

/// Shortest frame: Ethernet's minimum without the FCS (it also holds the
/// headers and pkt-gen's payload header).
pub const MIN_LEN: usize = 60;
/// Longest frame (a jumbo frame; the port's buffers may allow less,
/// checked when it is opened).
pub const MAX_LEN: usize = 9216;
/// Largest batch (a ring has at most 65536 slots).
pub const MAX_BATCH: u32 = 65536;

/// What a pkt-gen does (`-f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send frames as fast as allowed.
    Tx,
    /// Count what arrives.
    Rx,
    /// Send time-stamped frames and time the echoes.
    Ping,
    /// Echo pkt-gen frames back, addresses swapped.
    Pong,
    /// Send frames carrying a sequence number.
    TxSeq,
    /// Count what arrives and check the sequence.
    RxSeq,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tx => "tx",
            Mode::Rx => "rx",
            Mode::Ping => "ping",
            Mode::Pong => "pong",
            Mode::TxSeq => "txseq",
            Mode::RxSeq => "rxseq",
        }
    }

    /// Whether it generates frames from the template.
    pub fn sends(self) -> bool {
        matches!(self, Mode::Tx | Mode::TxSeq | Mode::Ping)
    }
}

/// An inclusive range of IPv4 addresses and UDP ports (`-s`/`-d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    pub ip: (u32, u32),
    pub port: (u16, u16),
}

/// An inclusive range of MAC addresses, as 48-bit numbers (`-S`/`-D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacRange(pub u64, pub u64);

/// The parsed arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub port: String,
    pub mode: Mode,
    /// Frame length in bytes, without the FCS.
    pub len: usize,
    /// Frames to send or receive; 0 for no end.
    pub count: u64,
    /// Frames per second; 0 for no limit.
    pub rate: u64,
    /// Frames per txsync; also the rate limiter's burst, and the frames a
    /// ping keeps in flight.
    pub batch: u32,
    pub src: IpRange,
    pub dst: IpRange,
    pub smac: MacRange,
    pub dmac: MacRange,
    /// Report interval in milliseconds; 0 for none.
    pub report_ms: u64,
}

/// netmap's defaults, except the source MAC (a port here has none of its
/// own): a locally administered address.
pub const DEFAULT_SRC: IpRange = IpRange {
    ip: (0x0a00_0001, 0x0a00_0001),
    port: (1234, 1234),
};
pub const DEFAULT_DST: IpRange = IpRange {
    ip: (0x0a01_0001, 0x0a01_0001),
    port: (1234, 1234),
};
pub const DEFAULT_SMAC: MacRange = MacRange(0x0200_0000_0001, 0x0200_0000_0001);
pub const DEFAULT_DMAC: MacRange = MacRange(0xffff_ffff_ffff, 0xffff_ffff_ffff);

fn usage(msg: impl Into<String>) -> AppError {
    AppError::Usage(format!("pkt-gen: {}", msg.into()))
}

fn number<T: core::str::FromStr>(flag: char, v: &str, what: &str) -> Result<T, AppError> {
    v.parse()
        .map_err(|_| usage(format!("-{flag}: expected {what}, got '{v}'")))
}

impl Args {
    /// Parses `args` (the words after `pkt-gen`). A flag's value is the
    /// next word or the rest of the same word (`-l60`), as with getopt.
    pub fn parse(args: &[&str]) -> Result<Args, AppError> {
        let mut a = Args {
            port: String::new(),
            mode: Mode::Tx,
            len: MIN_LEN,
            count: 0,
            rate: 0,
            batch: 0,
            src: DEFAULT_SRC,
            dst: DEFAULT_DST,
            smac: DEFAULT_SMAC,
            dmac: DEFAULT_DMAC,
            report_ms: 1000,
        };
        let mut it = args.iter();
        while let Some(&w) = it.next() {
            let mut chars = w.chars();
            let (Some('-'), Some(flag)) = (chars.next(), chars.next()) else {
                return Err(usage(format!("unexpected argument '{w}' (usage: {USAGE})")));
            };
            if flag == 'h' {
                return Err(usage(format!("usage: pkt-gen {USAGE}")));
            }
            if !"iflnRbsdSDT".contains(flag) {
                return Err(usage(format!("unknown flag -{flag} (usage: {USAGE})")));
            }
            let rest = chars.as_str();
            let v = if !rest.is_empty() {
                rest
            } else {
                match it.next() {
                    Some(v) => *v,
                    None => return Err(usage(format!("-{flag} needs a value"))),
                }
            };
            match flag {
                'i' => a.port = String::from(v),
                'f' => {
                    a.mode = match v {
                        "tx" => Mode::Tx,
                        "rx" => Mode::Rx,
                        "ping" => Mode::Ping,
                        "pong" => Mode::Pong,
                        "txseq" => Mode::TxSeq,
                        "rxseq" => Mode::RxSeq,
                        _ => {
                            return Err(usage(format!(
                                "-f: expected tx, rx, ping, pong, txseq or rxseq, got '{v}'"
                            )))
                        }
                    }
                }
                'l' => {
                    let what = format!("a frame length {MIN_LEN}..={MAX_LEN}");
                    a.len = number(flag, v, &what)?;
                    if !(MIN_LEN..=MAX_LEN).contains(&a.len) {
                        return Err(usage(format!("-l: expected {what}, got {v}")));
                    }
                }
                'n' => a.count = number(flag, v, "a frame count (0: no end)")?,
                'R' => a.rate = number(flag, v, "a rate in frames per second (0: no limit)")?,
                'b' => {
                    let what = format!("a batch 1..={MAX_BATCH}");
                    a.batch = number(flag, v, &what)?;
                    if !(1..=MAX_BATCH).contains(&a.batch) {
                        return Err(usage(format!("-b: expected {what}, got {v}")));
                    }
                }
                's' => a.src = parse_ip_range(v).map_err(|m| usage(format!("-s: {m}")))?,
                'd' => a.dst = parse_ip_range(v).map_err(|m| usage(format!("-d: {m}")))?,
                'S' => a.smac = parse_mac_range(v).map_err(|m| usage(format!("-S: {m}")))?,
                'D' => a.dmac = parse_mac_range(v).map_err(|m| usage(format!("-D: {m}")))?,
                'T' => a.report_ms = number(flag, v, "a report interval in ms (0: none)")?,
                _ => unreachable!(),
            }
        }
        if a.port.is_empty() {
            return Err(usage(format!("-i PORT is required (usage: {USAGE})")));
        }
        if a.batch == 0 {
            // A ping measures latency: one frame in flight unless told.
            a.batch = if a.mode == Mode::Ping { 1 } else { 512 };
        }
        Ok(a)
    }
}

/// `a.b.c.d`.
pub fn parse_ip(s: &str) -> Option<u32> {
    let mut ip = 0u32;
    let mut parts = 0;
    for p in s.split('.') {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ip = (ip << 8) | u32::from(p.parse::<u8>().ok()?);
        parts += 1;
    }
    (parts == 4).then_some(ip)
}

/// `IP[:PORT]`, the port as given.
fn ip_port(s: &str) -> Option<(u32, Option<&str>)> {
    match s.split_once(':') {
        Some((ip, port)) => Some((parse_ip(ip)?, Some(port))),
        None => Some((parse_ip(s)?, None)),
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An address range, in netmap's forms: `IP[:PORT][-IP[:PORT]]`
/// (`10.0.0.1:1234-10.0.0.1:1240`) and `IP[-IP][:PORT[-PORT]]`
/// (`10.0.0.1-10.0.0.9:1000-1099`); the port defaults to 1234.
pub fn parse_ip_range(s: &str) -> Result<IpRange, String> {
    let bad = || format!("expected IP[:PORT][-IP[:PORT]] or IP[-IP][:PORT[-PORT]], got '{s}'");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let (ip0, p0) = ip_port(a).ok_or_else(bad)?;
    let p0 = p0.map(|p| parse_port(p).ok_or_else(bad)).transpose()?;
    let (ip, port) = match b {
        None => ((ip0, ip0), p0.map(|p| (p, p))),
        // `IP:PORT-PORT`: the second half is a port.
        Some(b) if !b.contains('.') => {
            let p1 = parse_port(b).ok_or_else(bad)?;
            ((ip0, ip0), Some((p0.ok_or_else(bad)?, p1)))
        }
        Some(b) => {
            let (ip1, p1) = ip_port(b).ok_or_else(bad)?;
            let ports = match (p0, p1) {
                (p0, None) => p0.map(|p| (p, p)),
                (None, Some(p)) => {
                    let (lo, hi) = p.split_once('-').unwrap_or((p, p));
                    Some((
                        parse_port(lo).ok_or_else(bad)?,
                        parse_port(hi).ok_or_else(bad)?,
                    ))
                }
                (Some(lo), Some(hi)) => Some((lo, parse_port(hi).ok_or_else(bad)?)),
            };
            ((ip0, ip1), ports)
        }
    };
    let port = port.unwrap_or(DEFAULT_SRC.port);
    if ip.0 > ip.1 || port.0 > port.1 {
        return Err(format!("range '{s}' ends before it starts"));
    }
    Ok(IpRange { ip, port })
}

/// `xx:xx:xx:xx:xx:xx` as a 48-bit number.
pub fn parse_mac(s: &str) -> Option<u64> {
    let mut m = 0u64;
    let mut parts = 0;
    for p in s.split(':') {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        m = (m << 8) | u64::from(u8::from_str_radix(p, 16).ok()?);
        parts += 1;
    }
    (parts == 6).then_some(m)
}

/// `MAC`, `MAC-MAC` (inclusive) or `MAC+N` (N addresses from MAC).
pub fn parse_mac_range(s: &str) -> Result<MacRange, String> {
    let bad = || format!("expected MAC[-MAC|+COUNT], got '{s}'");
    let r = if let Some((a, b)) = s.split_once('-') {
        MacRange(parse_mac(a).ok_or_else(bad)?, parse_mac(b).ok_or_else(bad)?)
    } else if let Some((a, n)) = s.split_once('+') {
        let lo = parse_mac(a).ok_or_else(bad)?;
        let n: u64 = n.parse().map_err(|_| bad())?;
        if n == 0 || lo + n - 1 > 0xffff_ffff_ffff {
            return Err(format!(
                "count in '{s}' must be 1 or more and stay within 48 bits"
            ));
        }
        MacRange(lo, lo + n - 1)
    } else {
        let m = parse_mac(s).ok_or_else(bad)?;
        MacRange(m, m)
    };
    if r.0 > r.1 {
        return Err(format!("range '{s}' ends before it starts"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ((u32, u32), (u16, u16)) {
        let r = parse_ip_range(s).unwrap();
        (r.ip, r.port)
    }

    #[test]
    fn ip_ranges_in_both_of_netmaps_forms() {
        let ip = |d: u32| 0x0a00_0000 | d;
        assert_eq!(r("10.0.0.1"), ((ip(1), ip(1)), (1234, 1234)));
        assert_eq!(r("10.0.0.1:80"), ((ip(1), ip(1)), (80, 80)));
        assert_eq!(
            r("10.0.0.1:1234-10.0.0.1:1240"),
            ((ip(1), ip(1)), (1234, 1240))
        );
        assert_eq!(r("10.0.0.1-10.0.0.9"), ((ip(1), ip(9)), (1234, 1234)));
        assert_eq!(r("10.0.0.1-10.0.0.9:7"), ((ip(1), ip(9)), (7, 7)));
        assert_eq!(r("10.0.0.1-10.0.0.9:7-8"), ((ip(1), ip(9)), (7, 8)));
        assert_eq!(r("10.0.0.1:7-10.0.0.9"), ((ip(1), ip(9)), (7, 7)));
        assert_eq!(r("10.0.0.1:7-9"), ((ip(1), ip(1)), (7, 9)));
        for bad in [
            "",
            "10.0.0",
            "10.0.0.1:",
            "10.0.0.1:x",
            "10.0.0.1-9",
            "10.0.0.1:5-10.0.0.2:1-3",
            "1.2.3.4.5",
            "10.0.0.01234",
            "10.0.0.2-10.0.0.1",
            "10.0.0.1:9-8",
        ] {
            assert!(parse_ip_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mac_ranges() {
        let m = |s| parse_mac_range(s).unwrap();
        assert_eq!(
            m("02:00:00:00:00:01"),
            MacRange(0x0200_0000_0001, 0x0200_0000_0001)
        );
        assert_eq!(
            m("02:00:00:00:00:01-02:00:00:00:10:00"),
            MacRange(0x0200_0000_0001, 0x0200_0000_1000)
        );
        assert_eq!(
            m("02:00:00:00:00:01+4096"),
            MacRange(0x0200_0000_0001, 0x0200_0000_1000)
        );
        assert_eq!(
            m("2:0:0:0:0:a"),
            MacRange(0x0200_0000_000a, 0x0200_0000_000a)
        );
    }

    #[test]
    fn defaults_and_getopt_forms() {
        let a = Args::parse(&["-ivale0:a"]).unwrap();
        assert_eq!(
            (a.mode, a.len, a.count, a.rate, a.batch),
            (Mode::Tx, 60, 0, 0, 512)
        );
        assert_eq!(
            (a.src, a.dst, a.smac, a.dmac),
            (DEFAULT_SRC, DEFAULT_DST, DEFAULT_SMAC, DEFAULT_DMAC)
        );
        assert_eq!(a.report_ms, 1000);
        let a = Args::parse(&["-i", "x", "-fping", "-n", "5"]).unwrap();
        assert_eq!((a.mode, a.batch, a.count), (Mode::Ping, 1, 5));
    }
}

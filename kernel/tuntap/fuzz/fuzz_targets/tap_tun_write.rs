//! Tap and tun ports on a VALE switch under hostile traffic from both
//! sides: handle writes of arbitrary bytes and lengths (empty, runts, up to
//! and past the MTU and the pool's buffer), IFHEAD on and off, either tun
//! mode, any address configuration, MTU changes, up/down, detach and
//! re-attach; and from the switch side, arbitrary frames (to the tap, to
//! the tun, broadcast; raw bytes or ARP / IPv4 built with lying fields)
//! sent by a VALE peer, which the tun parses in `poll` and `read`. Buffers
//! are 128, 1024 or 2048 bytes, so frames exceed the buffer as well as the
//! MTU.
//!
//! Ports are opened and closed (one opener: a second open is `InUse`;
//! read and write on a closed port are `NotOpen`, not counted).
//!
//! Checked after every action, besides "no panic":
//! - a tap write returns exactly what the documented order of checks says
//!   (not open: `NotOpen`, uncounted; empty: `Ok(0)`; down: `HostDown`; over `max_write`: `TooBig`; 1-13
//!   bytes: `Invalid`; not attached: `NetDown`; else `Ok(len)`), counted
//!   once (one drop counter or `tx_packets`);
//! - a tun write returns `Ok(len)` or one of the errors its documentation
//!   lists (never `WouldBlock`, `TimedOut` or `Busy`), `HostDown` exactly
//!   when down, never `Ok` past the MTU (+4 with IFHEAD), every error
//!   counted by exactly one drop;
//! - a read copies `min(len, buffer)` bytes, `truncated` exactly when the
//!   frame did not fit, never a frame longer than a buffer;
//! - `max_write` never exceeds the pool's buffer, MTU changes outside the
//!   range are refused and change nothing;
//! - buffer conservation: `Registry::audit` over every port and the peer's
//!   handle; and at the end, with everything dropped, every buffer is back
//!   in the pool.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netmap::{BufferPool, Handle, PortConfig, Registry};
use tuntap::{Error, Mode, TapPort, TunPort, AF_INET, AF_INET6, ETH_HLEN};

const TAP_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 1];
const TUN_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 1];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const IPS: [[u8; 4]; 6] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 0, 0, 9],
    [192, 168, 1, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
];

fn ip(i: u8) -> [u8; 4] {
    IPS[i as usize % IPS.len()]
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Raw(Vec<u8>),
    /// An IPv4 header (version/IHL, total length, protocol and
    /// destination from the input, checksum left as it comes), then
    /// `extra` bytes.
    Ipv4 {
        ver_ihl: u8,
        total_len: Option<u16>,
        dst: u8,
        extra: u16,
    },
    /// An IPv6 header to `dst` (multicast when the byte is 0xff), then
    /// `extra` bytes.
    Ipv6 {
        dst_first: u8,
        extra: u16,
    },
}

#[derive(Arbitrary, Debug)]
enum Act {
    TapWrite(Payload),
    /// `len` over the payload pads with zeros: lengths near and past the
    /// MTU and the buffer.
    TapWriteLen {
        dst: u8,
        len: u16,
    },
    TunWrite {
        af: Option<u8>,
        p: Payload,
        now: u16,
    },
    TapRead(u16),
    TunRead(u16),
    TapUp(bool),
    TunUp(bool),
    TunIfhead(bool),
    TunMode(bool),
    TunAddr {
        addr: u8,
        prefix: u8,
        peer: Option<u8>,
    },
    TunGateway(Option<u8>),
    TapMtu(u16),
    TunMtu(u16),
    Poll(u16),
    /// A frame from the VALE peer: to the tap, the tun, broadcast or any.
    PeerSend {
        dst: u8,
        ethertype: u16,
        p: Payload,
    },
    /// An ARP packet from the peer (op, sender, target, hardware sizes).
    PeerArp {
        dst: u8,
        op: u16,
        sender: u8,
        target: u8,
        hlen: u8,
        plen: u8,
    },
    PeerRecv,
    Detach {
        tun: bool,
        unlink: bool,
    },
    Open {
        tun: bool,
    },
    Close {
        tun: bool,
    },
    Attach {
        tun: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    buf_size: u8,
    tap_queue: u8,
    acts: Vec<Act>,
}

fn payload(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Raw(b) => b.clone(),
        Payload::Ipv4 {
            ver_ihl,
            total_len,
            dst,
            extra,
        } => {
            let extra = *extra as usize % 2100;
            let mut v = vec![0u8; 20 + extra];
            v[0] = *ver_ihl;
            let tl = total_len.unwrap_or((20 + extra) as u16);
            v[2..4].copy_from_slice(&tl.to_be_bytes());
            v[8] = 64;
            v[9] = 17;
            v[12..16].copy_from_slice(&[10, 0, 0, 2]);
            v[16..20].copy_from_slice(&ip(*dst));
            v
        }
        Payload::Ipv6 { dst_first, extra } => {
            let extra = *extra as usize % 2100;
            let mut v = vec![0u8; 40 + extra];
            v[0] = 0x60;
            v[4..6].copy_from_slice(&(extra as u16).to_be_bytes());
            v[6] = 17;
            v[24] = *dst_first;
            v[39] = 1;
            v
        }
    }
}

fn mac(dst: u8) -> [u8; 6] {
    match dst % 4 {
        0 => TAP_MAC,
        1 => TUN_MAC,
        2 => [0xff; 6],
        _ => [0x33, 0x33, 0, 0, 0, 1],
    }
}

fn eth(dst: [u8; 6], ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HLEN + body.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn peer_send(h: &mut Handle, f: &[u8]) {
    let ring = h.tx_ring(0).unwrap();
    if ring.space() == 0 {
        h.txsync(0).unwrap();
        return;
    }
    let i = ring.head;
    if ring.write_frame(i, f).is_err() {
        return; // longer than the peer's buffer: not sendable
    }
    ring.slot[i as usize].flags = 0;
    ring.advance(1);
    h.txsync(0).unwrap();
}

fn peer_recv(h: &mut Handle) {
    h.rxsync(0).unwrap();
    let ring = h.rx_ring(0).unwrap();
    while ring.head != ring.tail {
        let f = ring.frame(ring.head).unwrap();
        assert!(f.len() >= ETH_HLEN, "a runt reached the peer");
        ring.advance(1);
    }
    h.rxsync(0).unwrap();
}

fn check_read(r: Result<tuntap::ReadInfo, Error>, buf: usize, max: usize) {
    match r {
        Ok(r) => {
            assert!(r.len <= max, "read {} > {max}", r.len);
            assert_eq!(r.copied, r.len.min(buf));
            assert_eq!(r.truncated, r.copied < r.len || (buf == 0 && r.len > 0));
        }
        Err(e) => assert!(
            matches!(e, Error::WouldBlock | Error::HostDown | Error::NotOpen),
            "{e:?}"
        ),
    }
}

fuzz_target!(|inp: Input| {
    let bs = [128, 1024, 2048][inp.buf_size as usize % 3];
    let pool = BufferPool::on_heap(1024, bs).unwrap();
    let total = pool.free_count();
    {
        let reg = Registry::new(pool.clone());
        let tap =
            TapPort::with_queue(&pool, "tap0", TAP_MAC, inp.tap_queue as u32 % 32 + 1).unwrap();
        let tun = TunPort::new(&pool, "tun0", TUN_MAC).unwrap();
        reg.register(tap.clone()).unwrap();
        reg.register(tun.clone()).unwrap();
        let (sw, a) = reg.attach("vale0", "tap0").unwrap();
        tap.link(sw, a);
        let (sw, a) = reg.attach("vale0", "tun0").unwrap();
        tun.link(sw, a);
        let cfg = PortConfig {
            num_slots: 32,
            max_frame: bs,
            ..PortConfig::default()
        };
        let mut h = reg.open_with("vale0:peer", cfg).unwrap();
        let mut attached = [true, true];
        tap.open().unwrap();
        tun.open().unwrap();
        tap.set_up(true);
        tun.set_addr([10, 0, 0, 1], 24, Some([10, 0, 0, 2]))
            .unwrap();
        tun.set_up(true);

        for act in inp.acts.iter().take(64) {
            match act {
                Act::TapWrite(_) | Act::TapWriteLen { .. } => {
                    let f = match act {
                        Act::TapWrite(p) => payload(p),
                        Act::TapWriteLen { dst, len } => {
                            let mut f = eth(mac(*dst), 0x88b5, &[]);
                            f.resize(*len as usize % 2200, 0xa5);
                            f
                        }
                        _ => unreachable!(),
                    };
                    let before = tap.counters();
                    let max = tap.max_write();
                    assert!(max <= bs);
                    let linked = tap.switch().is_some() && attached[0];
                    let want = if !tap.is_open() {
                        Err(Error::NotOpen)
                    } else if f.is_empty() {
                        Ok(0)
                    } else if !tap.is_up() {
                        Err(Error::HostDown)
                    } else if f.len() > max {
                        Err(Error::TooBig)
                    } else if f.len() < ETH_HLEN {
                        Err(Error::Invalid)
                    } else if !linked {
                        Err(Error::NetDown)
                    } else {
                        Ok(f.len())
                    };
                    assert_eq!(tap.write(&f), want, "tap write of {} bytes", f.len());
                    let after = tap.counters();
                    let moved =
                        (after.drops() - before.drops()) + (after.tx_packets - before.tx_packets);
                    let counted = tap.is_open() && !f.is_empty();
                    assert_eq!(moved, u64::from(counted), "tap write counted");
                }
                Act::TunWrite { af, p, now } => {
                    let body = payload(p);
                    let cfg = tun.config();
                    let mut pkt = Vec::new();
                    if let Some(af) = af {
                        let fam = match af % 3 {
                            0 => AF_INET,
                            1 => AF_INET6,
                            _ => u32::from(*af),
                        };
                        pkt.extend_from_slice(&fam.to_be_bytes());
                    }
                    pkt.extend_from_slice(&body);
                    let before = tun.counters();
                    let r = tun.write(&pkt, u64::from(*now));
                    let after = tun.counters();
                    let hdr = if cfg.ifhead { 4 } else { 0 };
                    match r {
                        Ok(n) => {
                            assert_eq!(n, pkt.len());
                            assert!(tun.is_open());
                            assert!(pkt.is_empty() || tun.is_up());
                            assert!(pkt.len() <= cfg.mtu as usize + hdr, "sent past the MTU");
                            assert!(pkt.len() <= hdr + bs - ETH_HLEN);
                            assert_eq!(after.drops(), before.drops());
                        }
                        Err(Error::NotOpen) => {
                            assert!(!tun.is_open());
                            assert_eq!(after.drops(), before.drops(), "NotOpen counted");
                        }
                        Err(e) => {
                            assert!(
                                matches!(
                                    e,
                                    Error::HostDown
                                        | Error::Invalid
                                        | Error::AfNoSupport
                                        | Error::TooBig
                                        | Error::HostUnreach
                                        | Error::NoBufs
                                        | Error::NetDown
                                ),
                                "{e:?}"
                            );
                            assert_eq!(e == Error::HostDown, !tun.is_up());
                            assert_eq!(after.drops(), before.drops() + 1, "{e:?} not counted once");
                        }
                    }
                }
                Act::TapRead(n) => {
                    let mut buf = vec![0u8; *n as usize % 2200];
                    check_read(tap.read(&mut buf), buf.len(), bs);
                }
                Act::TunRead(n) => {
                    let mut buf = vec![0u8; *n as usize % 2200];
                    check_read(tun.read(&mut buf), buf.len(), bs - ETH_HLEN + 4);
                }
                Act::TapUp(up) => tap.set_up(*up),
                Act::TunUp(up) => tun.set_up(*up),
                Act::TunIfhead(on) => tun.set_ifhead(*on),
                Act::TunMode(bcast) => {
                    let mode = if *bcast {
                        Mode::Broadcast
                    } else {
                        Mode::PointToPoint
                    };
                    let r = tun.set_mode(mode);
                    assert_eq!(r.is_err(), tun.is_up());
                    if r.is_err() {
                        assert_eq!(r, Err(Error::Busy));
                    }
                }
                Act::TunAddr { addr, prefix, peer } => {
                    let r = tun.set_addr(ip(*addr), *prefix % 40, peer.map(ip));
                    assert_eq!(r.is_err(), *prefix % 40 > 32);
                }
                Act::TunGateway(gw) => tun.set_gateway(gw.map(ip)),
                Act::TapMtu(mtu) => {
                    let old = tap.info().mtu;
                    let mtu = u32::from(*mtu) % 2200;
                    let ok = (68..=(bs - ETH_HLEN) as u32).contains(&mtu);
                    assert_eq!(tap.set_mtu(mtu).is_ok(), ok, "tap mtu {mtu}");
                    assert_eq!(tap.info().mtu, if ok { mtu } else { old });
                }
                Act::TunMtu(mtu) => {
                    let old = tun.info().mtu;
                    let mtu = u32::from(*mtu) % 2200;
                    let ok = (68..=(bs - ETH_HLEN) as u32).contains(&mtu);
                    assert_eq!(tun.set_mtu(mtu).is_ok(), ok, "tun mtu {mtu}");
                    assert_eq!(tun.info().mtu, if ok { mtu } else { old });
                }
                Act::Poll(now) => {
                    tun.poll(u64::from(*now) * 16);
                }
                Act::PeerSend { dst, ethertype, p } => {
                    let et = match ethertype % 4 {
                        0 => 0x0800,
                        1 => 0x0806,
                        2 => 0x86dd,
                        _ => *ethertype,
                    };
                    peer_send(&mut h, &eth(mac(*dst), et, &payload(p)));
                }
                Act::PeerArp {
                    dst,
                    op,
                    sender,
                    target,
                    hlen,
                    plen,
                } => {
                    let mut a = vec![0u8; 28];
                    a[0..2].copy_from_slice(&1u16.to_be_bytes());
                    a[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
                    a[4] = if *hlen < 200 { 6 } else { *hlen };
                    a[5] = if *plen < 200 { 4 } else { *plen };
                    a[6..8].copy_from_slice(&(op % 4).to_be_bytes());
                    a[8..14].copy_from_slice(&PEER_MAC);
                    a[14..18].copy_from_slice(&ip(*sender));
                    a[24..28].copy_from_slice(&ip(*target));
                    peer_send(&mut h, &eth(mac(*dst), 0x0806, &a));
                }
                Act::PeerRecv => peer_recv(&mut h),
                Act::Detach { tun: t, unlink } => {
                    let (name, i) = if *t { ("tun0", 1) } else { ("tap0", 0) };
                    assert_eq!(reg.detach("vale0", name).is_ok(), attached[i]);
                    attached[i] = false;
                    if *unlink {
                        if *t {
                            tun.unlink()
                        } else {
                            tap.unlink()
                        }
                    }
                }
                Act::Open { tun: t } => {
                    let (was, r) = if *t {
                        (tun.is_open(), tun.open())
                    } else {
                        (tap.is_open(), tap.open())
                    };
                    assert_eq!(r, if was { Err(Error::InUse) } else { Ok(()) });
                }
                Act::Close { tun: t } => {
                    if *t {
                        tun.close();
                        assert!(!tun.is_open() && !tun.is_up() && !tun.readable());
                        assert_eq!(tun.held(), 0);
                    } else {
                        tap.close();
                        assert!(!tap.is_open() && !tap.is_up() && !tap.readable());
                    }
                }
                Act::Attach { tun: t } => {
                    let (name, i) = if *t { ("tun0", 1) } else { ("tap0", 0) };
                    let r = reg.attach("vale0", name);
                    assert_eq!(r.is_ok(), !attached[i]);
                    if let Ok((sw, a)) = r {
                        attached[i] = true;
                        if *t {
                            tun.link(sw, a)
                        } else {
                            tap.link(sw, a)
                        }
                    }
                }
            }
            reg.audit(&[&h]).expect("buffer conservation");
        }
        // Tear down: unlink (the port holds the switch), detach, drop.
        tap.unlink();
        tun.unlink();
        for (i, name) in ["tap0", "tun0"].iter().enumerate() {
            if attached[i] {
                reg.detach("vale0", name).unwrap();
            }
        }
        drop(h);
        reg.audit(&[]).expect("buffer conservation after close");
    }
    assert_eq!(
        pool.free_count(),
        total,
        "buffers lost after everything was dropped"
    );
});

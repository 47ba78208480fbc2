//! `tun`: read and write IP packets on a tun port from the shell.
//!
//! ```text
//! tun open IF                        open the port: the shell is its one opener
//! tun close IF                       close it: down, queues flushed, addresses forgotten
//! tun read IF [MAXLEN [TIMEOUT_MS]]  wait up to TIMEOUT_MS (default 1000) for one packet
//! tun write IF HEX...                one packet (with its 4-byte family in IFHEAD mode)
//! tun ping IF SRC DST [ID [SEQ]]     write an ICMP echo request SRC -> DST (56 payload bytes)
//! ```
//!
//! Output, one line each: `packet LEN: HEX`, `packet LEN truncated N: HEX`,
//! `no packet`, `wrote N`, `IF: opened`, `IF: closed`, or
//! `error: IF: <reason> (ERRNO)`. As with `/dev/tunN` a port is opened
//! before it is read or written (EBADF otherwise), by one opener at a time
//! (EBUSY); `tun close` brings it down and forgets its addresses (and ARP
//! entries); `ifconfig tunN inet ...` brings it up. In IFHEAD
//! mode the hex of a read starts with the 4-byte family (00000002 IPv4,
//! 0000001c IPv6).

use alloc::vec::Vec;

use super::tap::{open_close, parse_hex, print_read, read_args};
use super::{Command, CommandError, CommandResult};
use crate::net::tuntap;
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "tun",
    usage: "open IF | close IF | read IF [MAXLEN [MS]] | write IF HEX... | ping IF SRC DST [ID [SEQ]]",
    help: "open or close a tun port, read one IP packet (hex), write one, or send an ICMP echo request",
    run: tun,
}];

pub fn parse_ip(s: &str) -> Result<[u8; 4], CommandError> {
    let bad = || CommandError::failed(alloc::format!("bad address {s}"));
    let mut a = [0u8; 4];
    let mut parts = s.split('.');
    for b in a.iter_mut() {
        *b = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(a)
}

pub fn ip(a: [u8; 4]) -> alloc::string::String {
    alloc::format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An IPv4 ICMP echo request with 56 payload bytes (0, 1, 2, ...).
fn echo_request(src: [u8; 4], dst: [u8; 4], id: u16, seq: u16) -> Vec<u8> {
    let mut p = alloc::vec![0u8; 20 + 8 + 56];
    let total = p.len() as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = csum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8;
    p[24..26].copy_from_slice(&id.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = csum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

fn tun(args: &[&str]) -> CommandResult {
    let get = |name: &str| {
        tuntap::tun(name).ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))
    };
    let write = |name: &str, pkt: &[u8]| -> CommandResult {
        let n = get(name)?
            .write(pkt, tuntap::now_ms())
            .map_err(|e| CommandError::failed(alloc::format!("{name}: {e}")))?;
        println!("wrote {n}");
        Ok(())
    };
    match args {
        [cmd @ ("open" | "close"), name] => {
            let t = get(name)?;
            open_close(name, *cmd == "open", t.is_open(), || t.open(), || t.close())
        }
        ["read", name, rest @ ..] => {
            let t = get(name)?;
            let (max, timeout) = read_args(rest)?;
            let mut buf = alloc::vec![0u8; max];
            let r = t.read_wait(&mut buf, &mut tuntap::waiter(timeout));
            print_read("packet", r, &buf, name)
        }
        ["write", name, rest @ ..] if !rest.is_empty() => write(name, &parse_hex(rest)?),
        ["ping", name, src, dst, rest @ ..] => {
            let num = |s: &str| s.parse::<u16>().map_err(|_| CommandError::Usage);
            let (id, seq) = match rest {
                [] => (1, 1),
                [i] => (num(i)?, 1),
                [i, s] => (num(i)?, num(s)?),
                _ => return Err(CommandError::Usage),
            };
            let t = get(name)?;
            let mut pkt = echo_request(parse_ip(src)?, parse_ip(dst)?, id, seq);
            if t.config().ifhead {
                let mut h = ::tuntap::AF_INET.to_be_bytes().to_vec();
                h.append(&mut pkt);
                pkt = h;
            }
            write(name, &pkt)
        }
        _ => Err(CommandError::Usage),
    }
}

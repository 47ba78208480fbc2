//! `tap`: read and write frames on a tap port from the shell.
//!
//! ```text
//! tap open IF                           open the port: the shell is its one opener
//! tap close IF                          close it: down, read queue flushed
//! tap read IF [MAXLEN [TIMEOUT_MS]]     wait up to TIMEOUT_MS (default 1000) for one frame
//! tap write IF HEX...                   one frame from hex bytes (spaces and ':' allowed)
//! tap write IF eth DST SRC TYPE [HEX...] Ethernet header + payload (TYPE in hex, e.g. 88b5)
//! ```
//!
//! Output, one line each:
//!
//! ```text
//! frame LEN: HEX                 (a whole frame, lowercase hex, no spaces)
//! frame LEN truncated N: HEX     (read into MAXLEN < LEN: the first N bytes)
//! no frame                       (nothing within the timeout)
//! wrote N
//! IF: opened | IF: closed
//! error: IF: <reason> (ERRNO)    (e.g. interface down (EHOSTDOWN))
//! ```
//!
//! As with `/dev/tapN`, a port must be opened before it is read or
//! written (`not open (EBADF)` otherwise), by one opener at a time (a
//! second `tap open` is `busy (already open) (EBUSY)`); `tap close`
//! brings the interface down and drops what its queue held. Until it is
//! opened, frames the switch delivers to it are dropped (nobody reads).

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::{Command, CommandError, CommandResult};
use crate::net::tuntap;
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "tap",
    usage: "open IF | close IF | read IF [MAXLEN [MS]] | write IF HEX... | write IF eth DST SRC TYPE [HEX...]",
    help: "open or close a tap port, read one frame from it (hex), or write one",
    run: tap,
}];

pub fn parse_mac(s: &str) -> Result<[u8; 6], CommandError> {
    let bad = || CommandError::failed(alloc::format!("bad mac {s}"));
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(m)
}

/// Hex bytes from words (spaces between words, ':' and '-' inside ignored).
pub fn parse_hex(words: &[&str]) -> Result<Vec<u8>, CommandError> {
    let s: String = words
        .concat()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CommandError::failed("bad hex bytes"));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect())
}

pub fn hex(b: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// `[MAXLEN [MS]]`: buffer size (default 2048) and timeout (default 1000 ms).
pub fn read_args(args: &[&str]) -> Result<(usize, Duration), CommandError> {
    let num = |s: &str| s.parse::<u64>().map_err(|_| CommandError::Usage);
    match args {
        [] => Ok((2048, Duration::from_millis(1000))),
        [m] => Ok((num(m)?.min(65536) as usize, Duration::from_millis(1000))),
        [m, t] => Ok((num(m)?.min(65536) as usize, Duration::from_millis(num(t)?))),
        _ => Err(CommandError::Usage),
    }
}

/// Prints a read's result in the documented format.
pub fn print_read(
    what: &str,
    r: Result<::tuntap::ReadInfo, ::tuntap::Error>,
    buf: &[u8],
    name: &str,
) -> CommandResult {
    match r {
        Ok(r) if r.truncated => println!(
            "{what} {} truncated {}: {}",
            r.len,
            r.copied,
            hex(&buf[..r.copied])
        ),
        Ok(r) => println!("{what} {}: {}", r.len, hex(&buf[..r.copied])),
        Err(::tuntap::Error::WouldBlock | ::tuntap::Error::TimedOut) => println!("no {what}"),
        Err(e) => return Err(CommandError::failed(alloc::format!("{name}: {e}"))),
    }
    Ok(())
}

/// `open IF` / `close IF` for a tap or tun port: `IF: opened` or
/// `IF: closed`; a second open is EBUSY, closing a port that is not open
/// EBADF.
pub fn open_close(
    name: &str,
    open: bool,
    is_open: bool,
    do_open: impl FnOnce() -> Result<(), ::tuntap::Error>,
    do_close: impl FnOnce(),
) -> CommandResult {
    let fail = |e: ::tuntap::Error| CommandError::failed(alloc::format!("{name}: {e}"));
    if open {
        do_open().map_err(fail)?;
        println!("{name}: opened");
    } else {
        if !is_open {
            return Err(fail(::tuntap::Error::NotOpen));
        }
        do_close();
        println!("{name}: closed");
    }
    Ok(())
}

fn tap(args: &[&str]) -> CommandResult {
    match args {
        [cmd @ ("open" | "close"), name] => {
            let t = tuntap::tap(name)
                .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
            open_close(name, *cmd == "open", t.is_open(), || t.open(), || t.close())
        }
        ["read", name, rest @ ..] => {
            let t = tuntap::tap(name)
                .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
            let (max, timeout) = read_args(rest)?;
            let mut buf = alloc::vec![0u8; max];
            let r = t.read_wait(&mut buf, &mut tuntap::waiter(timeout));
            print_read("frame", r, &buf, name)
        }
        ["write", name, rest @ ..] if !rest.is_empty() => {
            let t = tuntap::tap(name)
                .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
            let frame = match rest {
                ["eth", dst, src, ty, payload @ ..] => {
                    let mut f = Vec::new();
                    f.extend_from_slice(&parse_mac(dst)?);
                    f.extend_from_slice(&parse_mac(src)?);
                    let ty = u16::from_str_radix(ty.trim_start_matches("0x"), 16)
                        .map_err(|_| CommandError::failed(alloc::format!("bad type {ty}")))?;
                    f.extend_from_slice(&ty.to_be_bytes());
                    f.extend_from_slice(&parse_hex(payload)?);
                    f
                }
                _ => parse_hex(rest)?,
            };
            let n = t
                .write(&frame)
                .map_err(|e| CommandError::failed(alloc::format!("{name}: {e}")))?;
            println!("wrote {n}");
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

//! ifconfig for the kernel's IP stack (`host0`): address, MAC, counters;
//! `ifconfig host0 inet A/P [gw G]` sets a static address.

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use super::super::{CommandError, CommandResult};
use crate::net::host;
use crate::println;

pub const PREFIX: &str = "host";

pub fn list() -> CommandResult {
    show();
    Ok(())
}

pub fn run(name: &str, args: &[&str]) -> CommandResult {
    if name != host::NAME {
        return Err(CommandError::failed(alloc::format!("no interface {name}")));
    }
    match args {
        [] => {
            if host::info().is_none() {
                return Err(CommandError::failed(
                    "host0 is not attached (vale-ctl -h valeN:IF)",
                ));
            }
            show();
            Ok(())
        }
        ["inet", cidr, rest @ ..] => {
            let cidr = parse_cidr(cidr)?;
            let gw = match rest {
                [] => None,
                ["gw", g] => Some(
                    g.parse::<Ipv4Address>()
                        .map_err(|_| CommandError::failed(alloc::format!("bad address {g}")))?,
                ),
                _ => return Err(CommandError::Usage),
            };
            host::set_static(cidr, gw).map_err(CommandError::failed)?;
            show();
            Ok(())
        }
        _ => Err(CommandError::failed(
            "usage: ifconfig host0 [inet ADDR/PREFIX [gw ADDR]]",
        )),
    }
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, CommandError> {
    let bad = || CommandError::failed(alloc::format!("bad address {s} (want A.B.C.D/P)"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Address = a.parse().map_err(|_| bad())?;
    let p: u8 = p.parse().map_err(|_| bad())?;
    if p > 32 {
        return Err(bad());
    }
    Ok(Ipv4Cidr::new(a, p))
}

fn show() {
    let Some(i) = host::info() else { return };
    let addr = i.addr.map_or(alloc::string::String::from("none"), |a| {
        alloc::format!("{a}")
    });
    let gw = i.gateway.map_or(alloc::string::String::from("none"), |g| {
        alloc::format!("{g}")
    });
    println!(
        "{}: mac {} inet {addr} gw {gw}{} port {}",
        host::NAME,
        super::super::vale::mac(host::MAC),
        if i.dhcp { " (dhcp)" } else { "" },
        i.port
    );
    println!("  {}", super::super::vale::counters(&i.counters));
}

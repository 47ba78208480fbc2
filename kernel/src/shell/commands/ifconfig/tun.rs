//! ifconfig for tun ports (`tunN`):
//!
//! ```text
//! ifconfig tunN create | destroy | up | down | mtu N | mac XX:.. | info
//! ifconfig tunN inet ADDR/PREFIX [peer ADDR]
//! ifconfig tunN mode p2p|broadcast          (only while down)
//! ifconfig tunN ifhead on|off
//! ifconfig tunN gateway ADDR|none
//! ```
//!
//! Output (also what `ifconfig` lists, one block per tun):
//!
//! ```text
//! tun0: mac 02:54:00:01:00:00 mtu 1500 up inet 10.0.0.1/24 peer 10.0.0.2 gateway none mode p2p ifhead off switch vale0 held N
//!   rx packets N bytes N tx packets N bytes N
//!   drops down N oversize N invalid N af N no-link N queue-full N truncated N
//!   drops not-for-us N no-route N unresolved N hold-full N arp requests N replies N
//! ```

use super::super::tap::parse_mac;
use super::super::tun::{ip, parse_ip};
use super::super::{CommandError, CommandResult};
use super::tap::{counters, describe, switch_name};
use crate::net::tuntap;
use crate::println;
use ::tuntap::{Mode, TunPort};

pub const PREFIX: &str = "tun";

pub fn list() -> CommandResult {
    for t in tuntap::tuns() {
        show(&t);
    }
    Ok(())
}

pub fn run(name: &str, args: &[&str]) -> CommandResult {
    if args == ["create"] {
        let t = tuntap::create_tun(name)
            .map_err(|e| CommandError::failed(alloc::format!("{name}: {}", describe(e))))?;
        show(&t);
        return Ok(());
    }
    let t = tuntap::tun(name)
        .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
    let fail = |e: ::tuntap::Error| CommandError::failed(alloc::format!("{name}: {e}"));
    match args {
        [] | ["info"] => {}
        ["destroy"] => {
            tuntap::destroy(name).map_err(|e| CommandError::failed(alloc::format!("{name}: {}", describe(e))))?;
            println!("{name}: destroyed");
            return Ok(());
        }
        ["up"] => t.set_up(true),
        ["down"] => t.set_up(false),
        ["mtu", n] => t.set_mtu(n.parse().map_err(|_| CommandError::failed(alloc::format!("bad mtu {n}")))?).map_err(fail)?,
        ["mac", m] => t.set_mac(parse_mac(m)?).map_err(fail)?,
        ["inet", cidr, rest @ ..] => {
            let (a, p) = cidr.split_once('/').unwrap_or((cidr, "32"));
            let p: u8 = p.parse().map_err(|_| CommandError::failed(alloc::format!("bad prefix {p}")))?;
            let peer = match rest {
                [] => None,
                ["peer", x] => Some(parse_ip(x)?),
                _ => return Err(CommandError::Usage),
            };
            t.set_addr(parse_ip(a)?, p, peer).map_err(fail)?;
        }
        ["mode", "p2p"] => t.set_mode(Mode::PointToPoint).map_err(fail)?,
        ["mode", "broadcast"] => t.set_mode(Mode::Broadcast).map_err(fail)?,
        ["ifhead", "on"] => t.set_ifhead(true),
        ["ifhead", "off"] => t.set_ifhead(false),
        ["gateway", "none"] => t.set_gateway(None),
        ["gateway", g] => t.set_gateway(Some(parse_ip(g)?)),
        _ => {
            return Err(CommandError::failed(
                "usage: ifconfig tunN [create|destroy|up|down|mtu N|mac M|inet A/P [peer A]|mode p2p|broadcast|ifhead on|off|gateway A|none|info]",
            ))
        }
    }
    show(&t);
    Ok(())
}

fn show(t: &TunPort) {
    use netmap::Port;
    let c = t.config();
    let opt = |a: Option<[u8; 4]>| a.map_or(alloc::string::String::from("none"), ip);
    println!(
        "{}: mac {} mtu {} {} inet {} peer {} gateway {} mode {} ifhead {} switch {} held {}",
        t.name(),
        super::super::vale::mac(c.mac),
        c.mtu,
        if t.is_up() { "up" } else { "down" },
        c.addr.map_or(
            alloc::string::String::from("none"),
            |(a, p)| alloc::format!("{}/{p}", ip(a))
        ),
        opt(c.peer),
        opt(c.gateway),
        if c.mode == Mode::PointToPoint {
            "p2p"
        } else {
            "broadcast"
        },
        if c.ifhead { "on" } else { "off" },
        switch_name(t.switch()),
        t.held()
    );
    let k = t.counters();
    counters(&k, ::tuntap::TUN_COUNTERS);
    println!(
        "  drops not-for-us {} no-route {} unresolved {} hold-full {} arp requests {} replies {}",
        k.drop_not_for_us,
        k.drop_no_route,
        k.drop_unresolved,
        k.drop_hold_full,
        k.arp_requests,
        k.arp_replies
    );
}

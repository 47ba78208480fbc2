//! ifconfig: the NICs, their addresses, link state and counters.

use super::{CommandError, CommandResult, Command};
use crate::net;
use crate::println;
use netmap::port::Port;

pub const COMMANDS: &[Command] = &[Command {
    name: "ifconfig",
    usage: "[IF]",
    help: "list network interfaces (NICs): MAC, link, rings, counters",
    run: ifconfig,
}];

fn ifconfig(args: &[&str]) -> CommandResult {
    let net = net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
    let only = super::optional_arg(args)?;
    if let Some(name) = only {
        if !net.nics.iter().any(|n| n.port.name() == name) {
            return Err(CommandError::failed(alloc::format!("no interface {name}")));
        }
    }
    for nic in net.nics.iter().filter(|n| only.is_none_or(|o| n.port.name() == o)) {
        let p = &nic.port;
        let (rx, tx) = (p.krings(netmap::Dir::Rx)[0].num_slots(), p.krings(netmap::Dir::Tx)[0].num_slots());
        println!(
            "{}: mac {} link {} pci {} irq {} rx-slots {rx} tx-slots {tx}",
            p.name(),
            super::vale::mac(p.mac()),
            if p.link_up() { "up" } else { "down" },
            nic.pci,
            nic.gsi.map_or(alloc::string::String::from("none"), |g| alloc::format!("{g}")),
        );
        println!("  {}", super::vale::counters(&p.counters()));
        let features: alloc::vec::Vec<&str> = crate::net::virtio::features::names(nic.features).collect();
        println!("  features {}", features.join(" "));
        let s = p.nic_stats();
        println!(
            "  kicks {} suppressed {} device-errors {} resets {} lost-in-reset {}",
            s.kicks, s.kicks_suppressed, s.device_errors, s.resets, s.lost_in_reset
        );
    }
    Ok(())
}

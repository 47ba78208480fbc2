//! vale-ctl: the switches' control plane, with netmap's verbs.
//!
//! | command | effect |
//! | --- | --- |
//! | `vale-ctl` | list switches, their ports and counters |
//! | `vale-ctl -a valeN:IF` | attach interface IF (a NIC: `virtio0`) to switch valeN |
//! | `vale-ctl -h valeN:IF` | attach IF and the kernel's own stack (host port) |
//! | `vale-ctl -d valeN:IF` | detach IF |
//! | `vale-ctl -n valeN:P` | create persistent VALE port P |
//! | `vale-ctl -r valeN:P` | delete persistent VALE port P |
//! | `vale-ctl -m valeN` | the switch's MAC table |

use alloc::format;
use alloc::string::String;

use netmap::port::PortCounters;
use netmap::PortConfig;

use super::{Command, CommandError, CommandResult};
use crate::net;
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "vale-ctl",
    usage: "[-a|-h|-d|-n|-r valeN:IF | -m valeN]",
    help: "list, attach, detach, create and delete VALE switch ports; -m shows the MAC table",
    run: vale_ctl,
}];

fn vale_ctl(args: &[&str]) -> CommandResult {
    let net = net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
    match args {
        [] => {
            list(net);
            Ok(())
        }
        ["-a", target] => {
            let (sw, port) = split(target)?;
            net::attach(sw, port).map_err(fail)?;
            println!("attached {port} to {sw}");
            Ok(())
        }
        ["-h", target] => {
            let (sw, port) = split(target)?;
            if let Some(on) = net::host::switch() {
                return Err(CommandError::failed(format!(
                    "{} is already on {on}",
                    net::host::NAME
                )));
            }
            net::attach(sw, port).map_err(fail)?;
            if let Err(e) = net::host::attach(sw) {
                let _ = net::detach(sw, port);
                return Err(CommandError::failed(e));
            }
            println!("attached {port} and {} to {sw}", net::host::NAME);
            Ok(())
        }
        ["-d", target] => {
            let (sw, port) = split(target)?;
            if port == net::host::NAME && net::host::switch().as_deref() == Some(sw) {
                net::host::detach().map_err(CommandError::failed)?;
                println!("detached {port} from {sw}");
                return Ok(());
            }
            net::detach(sw, port).map_err(fail)?;
            println!("detached {port} from {sw}");
            Ok(())
        }
        ["-n", target] => {
            split(target)?;
            net.registry
                .create_persistent(target, PortConfig::default())
                .map_err(fail)?;
            println!("created {target}");
            Ok(())
        }
        ["-r", target] => {
            split(target)?;
            net.registry.delete_persistent(target).map_err(fail)?;
            println!("deleted {target}");
            Ok(())
        }
        ["-m", switch] => {
            let sw = net
                .registry
                .switch(switch)
                .ok_or_else(|| CommandError::failed(format!("no switch {switch}")))?;
            let ports = sw.ports();
            println!("# mac port name age-ms");
            let table = sw.mac_table();
            let entries = table.len();
            for e in table {
                let name = ports
                    .iter()
                    .find(|(id, _)| *id == e.port)
                    .map_or("?", |(_, p)| p.name());
                println!("{} {} {} {}", mac(e.mac), e.port, name, e.age);
            }
            println!("# {entries} entries");
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

/// `valeN:IF` -> (`valeN`, `IF`).
fn split(target: &str) -> Result<(&str, &str), CommandError> {
    match target.split_once(':') {
        Some((sw, port)) if sw.starts_with("vale") && !sw.is_empty() && !port.is_empty() => {
            Ok((sw, port))
        }
        _ => Err(CommandError::failed(format!(
            "'{target}' is not valeN:PORT"
        ))),
    }
}

fn fail(e: netmap::OpenError) -> CommandError {
    CommandError::failed(net::describe(e))
}

pub fn mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn list(net: &net::Net) {
    let mut switches = net.registry.switches();
    switches.sort();
    if switches.is_empty() {
        println!("no switches");
    }
    for name in switches {
        let Some(sw) = net.registry.switch(&name) else {
            continue;
        };
        let ports = sw.ports();
        println!(
            "{name}: {} port(s), lookup {}",
            ports.len(),
            sw.lookup_name()
        );
        for (id, p) in ports {
            println!("  {id} {} {}", p.name(), counters(&p.counters()));
        }
    }
}

/// `tx P pkts B bytes, rx P pkts B bytes, drops short=.. ...`: the port's
/// application view (tx = sent into the switch, rx = delivered by it).
pub fn counters(c: &PortCounters) -> String {
    let mut d = c.tx;
    d.accumulate(&c.rx);
    format!(
        "tx {} pkts {} bytes, rx {} pkts {} bytes, drops short={} oversize={} frag={} no_dest={} ring_full={} detached={}",
        c.tx.packets, c.tx.bytes, c.rx.packets, c.rx.bytes,
        d.drop_short, d.drop_oversize, d.drop_frag_chain, d.drop_no_dest, d.drop_ring_full, d.drop_detached
    )
}

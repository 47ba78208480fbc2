//! The host stack's commands: `dhcp host0`, `ping ADDR [count]`; and
//! capture to COM2: `pcap start PORT`, `pcap stop`, `pcap`.

use core::time::Duration;

use smoltcp::wire::Ipv4Address;

use super::{Command, CommandError, CommandResult};
use crate::net::host;
use crate::{idle, println, time};

/// Waits in the idle loop (the datapath runs meanwhile), as `kmain`'s
/// loop does between input bytes; `idle::wait_for` keeps interrupts off
/// around the wait and restores them after.
fn wait<T>(ready: impl FnMut() -> Option<T>) -> T {
    idle::wait_for(ready)
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "dhcp",
        usage: "host0",
        help: "get host0's address by DHCP (waits up to 10 s for the lease)",
        run: dhcp,
    },
    Command {
        name: "ping",
        usage: "ADDR [count]",
        help: "ICMP echo from host0 (1 s per probe; count 4 by default)",
        run: ping,
    },
    Command {
        name: "pcap",
        usage: "[start PORT | stop]",
        help: "capture PORT's traffic (copy monitor PORT/rt) as pcap on COM2; no argument: status",
        run: pcap,
    },
];

fn pcap(args: &[&str]) -> CommandResult {
    use crate::net::pcap;
    match args {
        [] => {
            match pcap::status() {
                Some((port, open, frames, bytes)) => println!(
                    "capturing {port}{}: {frames} frames {bytes} bytes",
                    if open { "" } else { " (waiting for the port)" }
                ),
                None => println!("no capture"),
            }
            Ok(())
        }
        ["start", port] => {
            pcap::start(port).map_err(CommandError::failed)?;
            println!("pcap: {port} to COM2");
            Ok(())
        }
        ["stop"] => {
            let (port, frames, bytes) = pcap::stop().map_err(CommandError::failed)?;
            println!("pcap: {port}: {frames} frames {bytes} bytes");
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

const DHCP_WAIT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const PAYLOAD: [u8; 56] = {
    let mut p = [0u8; 56];
    let mut i = 0;
    while i < 56 {
        p[i] = i as u8;
        i += 1;
    }
    p
};

fn dhcp(args: &[&str]) -> CommandResult {
    match args {
        [name] if *name == host::NAME => {}
        _ => return Err(CommandError::Usage),
    }
    host::start_dhcp().map_err(CommandError::failed)?;
    let start = time::since_boot();
    let addr = wait(|| {
        let i = host::info()?;
        if let Some(a) = i.addr {
            return Some(Some((a, i.gateway)));
        }
        (time::since_boot() - start > DHCP_WAIT).then_some(None)
    });
    match addr {
        Some((a, gw)) => {
            match gw {
                Some(g) => println!("{}: inet {a} gw {g}", host::NAME),
                None => println!("{}: inet {a}", host::NAME),
            }
            Ok(())
        }
        None => Err(CommandError::failed(
            "no DHCP lease yet (the client keeps trying)",
        )),
    }
}

fn ping(args: &[&str]) -> CommandResult {
    let (addr, count) = match args {
        [a] => (*a, 4),
        [a, n] => (*a, n.parse::<u16>().map_err(|_| CommandError::Usage)?),
        _ => return Err(CommandError::Usage),
    };
    let addr: Ipv4Address = addr
        .parse()
        .map_err(|_| CommandError::failed(alloc::format!("bad address {addr}")))?;
    let mut received = 0u32;
    let mut rtts = (u64::MAX, 0u64, 0u64); // min, max, sum (us)
    for seq in 0..count {
        let sent = time::since_boot();
        host::ping_send(addr, seq, &PAYLOAD).map_err(CommandError::failed)?;
        let reply = wait(|| {
            if let Some(t) = host::ping_reply(seq) {
                return Some(Some(t));
            }
            (time::since_boot() - sent > PROBE_TIMEOUT).then_some(None)
        });
        match reply {
            Some(at) => {
                let us = (at as u64).saturating_sub(sent.as_micros() as u64);
                received += 1;
                rtts = (rtts.0.min(us), rtts.1.max(us), rtts.2 + us);
                println!(
                    "{} bytes from {addr}: icmp_seq={seq} time={}.{:03} ms",
                    PAYLOAD.len() + 8,
                    us / 1000,
                    us % 1000
                );
            }
            None => println!("no reply from {addr}: icmp_seq={seq}"),
        }
    }
    let loss = if count == 0 {
        0
    } else {
        100 - received * 100 / u32::from(count)
    };
    println!("{count} packets transmitted, {received} received, {loss}% packet loss");
    if received > 0 {
        let avg = rtts.2 / u64::from(received);
        println!(
            "rtt min/avg/max = {}.{:03}/{}.{:03}/{}.{:03} ms",
            rtts.0 / 1000,
            rtts.0 % 1000,
            avg / 1000,
            avg % 1000,
            rtts.1 / 1000,
            rtts.1 % 1000
        );
    }
    if received == 0 && count > 0 {
        return Err(CommandError::failed(alloc::format!(
            "{addr} did not answer"
        )));
    }
    Ok(())
}

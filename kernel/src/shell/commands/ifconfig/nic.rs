//! ifconfig for virtio-net NICs: MAC, link, rings, counters.

use netmap::port::Port;

use super::super::{CommandError, CommandResult};
use crate::net::{self, virtio::device::NicDevice};
use crate::println;

pub const PREFIX: &str = "virtio";

pub fn list() -> CommandResult {
    let net = net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
    net.nics.iter().for_each(show);
    Ok(())
}

pub fn run(name: &str, args: &[&str]) -> CommandResult {
    let net = net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
    let nic = net
        .nics
        .iter()
        .find(|n| n.port.name() == name)
        .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
    if !args.is_empty() {
        return Err(CommandError::failed(
            "a NIC takes no settings: its MAC and link come from the device",
        ));
    }
    show(nic);
    Ok(())
}

fn show(nic: &NicDevice) {
    let p = &nic.port;
    let (rx, tx) = (
        p.krings(netmap::Dir::Rx)[0].num_slots(),
        p.krings(netmap::Dir::Tx)[0].num_slots(),
    );
    println!(
        "{}: mac {} link {} pci {} irq {} rx-slots {rx} tx-slots {tx}",
        p.name(),
        super::super::vale::mac(p.mac()),
        if p.link_up() { "up" } else { "down" },
        nic.pci,
        nic.irq(),
    );
    println!("  {}", super::super::vale::counters(&p.counters()));
    let features: alloc::vec::Vec<&str> = net::virtio::features::names(nic.features).collect();
    println!("  features {}", features.join(" "));
    let s = p.nic_stats();
    println!(
        "  kicks {} suppressed {} device-errors {} resets {} lost-in-reset {} watchdog-kicks {}",
        s.kicks, s.kicks_suppressed, s.device_errors, s.resets, s.lost_in_reset, s.watchdog_kicks
    );
    // A line of its own: the one above is parsed whole by the tests.
    println!("  ooo-completions {}", s.ooo_completions);
    let now = crate::time::since_boot().as_millis() as u64;
    println!("  state {}", p.recovery_state(now));
    let (rx, tx) = p.ring_states();
    ring("rx", &rx);
    ring("tx", &tx);
    if nic.features & net::virtio::features::VIRTIO_NET_F_MQ != 0 {
        // Multi-queue: one line per queue pair (its tx/rx kring pair), the
        // lines above being pair 0's rings and every pair's sums.
        println!("  queue-pairs {} of {}", nic.pairs, nic.max_pairs);
        for k in 0..p.pairs() {
            let s = p.pair_stats(k);
            println!(
                "  pair{k} {} kicks {} cpu {}",
                super::super::vale::counters(&p.pair_counters(k)),
                s.kicks,
                nic.pair_cpu(k)
            );
        }
        for k in 1..p.pairs() {
            let (rx, tx) = p.pair_ring_states(k);
            ring(&alloc::format!("pair{k} rx"), &rx);
            ring(&alloc::format!("pair{k} tx"), &tx);
        }
    }
}

/// One ring's positions: the kring's and, under it, the virtqueue's (the
/// device's side read now). Enough to tell a lost kick from a device that
/// stopped.
fn ring(dir: &str, r: &netmap_virtio::RingState) {
    let q = &r.queue;
    println!(
        "  {dir} kring hwcur {} hwtail {} head {} | vq avail {} used {} consumed {} in-flight {} avail-event {} used-event {} kick-check {} irq {}",
        r.hwcur,
        r.hwtail,
        r.head,
        q.avail_idx,
        q.used_idx,
        q.last_used,
        q.in_flight,
        q.avail_event,
        q.used_event,
        q.last_kick_check,
        if q.irq_on { "on" } else { "off" },
    );
}

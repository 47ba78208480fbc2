//! What `GET /stats` (JSON) shows: switches with their ports, counters and
//! MAC tables, the NICs with their rings, the host stack. `GET /` is a
//! static page (`dashboard.html`) whose script polls `/stats` every second.
//!
//! The document's shape and how it is written are [`shell_core::stats`]'s
//! (host-tested); this module reads the kernel's state into its views:
//! the registry, each NIC's counters and ring states, the host stack's
//! address, and the VM-exit counters (`stats`' `exits` line, see
//! [`crate::exits`]).

use alloc::vec::Vec;
use core::fmt::{Result, Write};

use netmap::{Dir, Port};
use shell_core::stats::{HostView as HostDoc, NicView, RingView, Stats};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use super::http::Bounded;

/// The stack's own state, taken by the caller (which holds the stack).
#[derive(Clone, Copy)]
pub struct HostView {
    pub addr: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
}

fn ring(slots: u32, r: &netmap_virtio::RingState) -> RingView {
    let q = &r.queue;
    RingView {
        slots,
        hwcur: r.hwcur,
        hwtail: r.hwtail,
        head: r.head,
        avail: q.avail_idx,
        used: q.used_idx,
        consumed: q.last_used,
        in_flight: q.in_flight,
        irq: q.irq_on,
    }
}

/// Gathers the views (the NICs' counters and ring states read now) and
/// writes the document ([`shell_core::stats`] has its shape).
pub fn json(w: &mut Bounded, host: &HostView) -> Result {
    let exits = crate::exits::total().fields();
    let net = crate::net::get();
    let nics: Vec<NicView> = net
        .map(|net| {
            net.nics
                .iter()
                .map(|nic| {
                    let p = &nic.port;
                    let c = p.counters();
                    let (rx, tx) = p.ring_states();
                    NicView {
                        name: p.name(),
                        mac: p.mac(),
                        link: p.link_up(),
                        tx: c.tx,
                        rx: c.rx,
                        rx_ring: ring(p.krings(Dir::Rx)[0].num_slots(), &rx),
                        tx_ring: ring(p.krings(Dir::Tx)[0].num_slots(), &tx),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let doc = Stats {
        uptime_ms: crate::time::since_boot().as_millis() as u64,
        exits: &exits,
        host: HostDoc {
            name: super::NAME,
            mac: super::MAC,
            addr: host.addr.as_ref().map(|a| a as &dyn core::fmt::Display),
            gateway: host.gateway.as_ref().map(|a| a as &dyn core::fmt::Display),
        },
        registry: net.map(|n| &n.registry),
        nics: &nics,
    };
    shell_core::stats::json(w, &doc)
}

/// The page: static, self-contained (inline CSS and script, no external
/// assets); its script draws everything from `/stats`.
pub fn html(w: &mut Bounded, _host: &HostView) -> Result {
    w.write_str(include_str!("dashboard.html"))
}

//! What `GET /stats` (JSON) shows: switches with their ports, counters and
//! MAC tables, the NICs with their rings, the host stack. `GET /` is a
//! static page (`dashboard.html`) whose script polls `/stats` every second.
//!
//! JSON shape:
//!
//! ```text
//! { "uptime_ms": N,
//!   "exits": { "doorbells": N, "irqs": N, "nic": N, "timer": N, "other": N,
//!              "halts": N, "ticks": N, "pio": N, "mmio": N },
//!   "host": { "name": "host0", "mac": "..", "addr": "A/P" | null, "gateway": "G" | null },
//!   "switches": [ { "name": "vale0", "lookup": "..", "ports": [ { "id": 0, "name": "vale0:virtio0",
//!                   "tx": COUNTERS, "rx": COUNTERS } ],
//!                   "macs": [ { "mac": "..", "port": 0, "age_ms": N } ] } ],
//!   "nics": [ { "name": "virtio0", "mac": "..", "link": true, "tx": COUNTERS, "rx": COUNTERS,
//!               "rings": { "rx": RING, "tx": RING } } ] }
//! COUNTERS = { "packets", "bytes", "drop_short", "drop_oversize", "drop_frag_chain",
//!              "drop_no_dest", "drop_ring_full", "drop_monitor", "drop_detached" }
//! RING = { "slots", "hwcur", "hwtail", "head", "avail", "used", "consumed",
//!          "in_flight", "irq": bool }
//! ```
//!
//! `exits` are the `stats` command's `exits` line, same names (see
//! [`crate::exits`]); `irqs` is the sum of `nic`, `timer` and `other`.
//! `rings` are the numbers of `ifconfig virtioN`'s `kring`/`vq` lines: the
//! kring's `hwcur`, `hwtail` and `head`, and its virtqueue's `avail` and
//! `used` indices, the used elements the driver `consumed` and the chains
//! the device holds (`in_flight`), read now.

use core::fmt::{Result, Write};

use netmap::{Dir, KringStats, Port};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use super::http::Bounded;

/// The stack's own state, taken by the caller (which holds the stack).
#[derive(Clone, Copy)]
pub struct HostView {
    pub addr: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
}

fn mac(m: [u8; 6]) -> MacFmt {
    MacFmt(m)
}

struct MacFmt([u8; 6]);

impl core::fmt::Display for MacFmt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Writes `s` as a JSON string (names here are ASCII; quotes and
/// backslashes are escaped, control characters dropped).
fn jstr(w: &mut Bounded, s: &str) -> Result {
    w.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => write!(w, "\\{c}")?,
            c if c.is_control() => {}
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

fn counters(w: &mut Bounded, s: &KringStats) -> Result {
    write!(
        w,
        "{{\"packets\":{},\"bytes\":{},\"drop_short\":{},\"drop_oversize\":{},\"drop_frag_chain\":{},\
         \"drop_no_dest\":{},\"drop_ring_full\":{},\"drop_monitor\":{},\"drop_detached\":{}}}",
        s.packets, s.bytes, s.drop_short, s.drop_oversize, s.drop_frag_chain, s.drop_no_dest,
        s.drop_ring_full, s.drop_monitor, s.drop_detached
    )
}

fn ring(w: &mut Bounded, slots: u32, r: &netmap_virtio::RingState) -> Result {
    let q = &r.queue;
    write!(
        w,
        "{{\"slots\":{slots},\"hwcur\":{},\"hwtail\":{},\"head\":{},\"avail\":{},\"used\":{},\
         \"consumed\":{},\"in_flight\":{},\"irq\":{}}}",
        r.hwcur, r.hwtail, r.head, q.avail_idx, q.used_idx, q.last_used, q.in_flight, q.irq_on
    )
}

pub fn json(w: &mut Bounded, host: &HostView) -> Result {
    write!(
        w,
        "{{\"uptime_ms\":{},\"exits\":",
        crate::time::since_boot().as_millis()
    )?;
    crate::exits::total().write_json(w)?;
    w.write_char(',')?;
    write!(
        w,
        "\"host\":{{\"name\":\"{}\",\"mac\":\"{}\",\"addr\":",
        super::NAME,
        mac(super::MAC)
    )?;
    match host.addr {
        Some(a) => write!(w, "\"{a}\"")?,
        None => w.write_str("null")?,
    }
    w.write_str(",\"gateway\":")?;
    match host.gateway {
        Some(a) => write!(w, "\"{a}\"")?,
        None => w.write_str("null")?,
    }
    w.write_str("},\"switches\":[")?;
    let Some(net) = crate::net::get() else {
        return w.write_str("],\"nics\":[]}");
    };
    let mut names = net.registry.switches();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let Some(sw) = net.registry.switch(name) else {
            continue;
        };
        if i > 0 {
            w.write_char(',')?;
        }
        w.write_str("{\"name\":")?;
        jstr(w, name)?;
        w.write_str(",\"lookup\":")?;
        jstr(w, &sw.lookup_name())?;
        w.write_str(",\"ports\":[")?;
        for (j, (id, p)) in sw.ports().iter().enumerate() {
            if j > 0 {
                w.write_char(',')?;
            }
            write!(w, "{{\"id\":{id},\"name\":")?;
            jstr(w, p.name())?;
            let c = p.counters();
            w.write_str(",\"tx\":")?;
            counters(w, &c.tx)?;
            w.write_str(",\"rx\":")?;
            counters(w, &c.rx)?;
            w.write_char('}')?;
        }
        w.write_str("],\"macs\":[")?;
        for (j, e) in sw.mac_table().iter().enumerate() {
            if j > 0 {
                w.write_char(',')?;
            }
            write!(
                w,
                "{{\"mac\":\"{}\",\"port\":{},\"age_ms\":{}}}",
                mac(e.mac),
                e.port,
                e.age
            )?;
        }
        w.write_str("]}")?;
    }
    w.write_str("],\"nics\":[")?;
    for (i, nic) in net.nics.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        let p = &nic.port;
        w.write_str("{\"name\":")?;
        jstr(w, p.name())?;
        write!(w, ",\"mac\":\"{}\",\"link\":{}", mac(p.mac()), p.link_up())?;
        let c = p.counters();
        w.write_str(",\"tx\":")?;
        counters(w, &c.tx)?;
        w.write_str(",\"rx\":")?;
        counters(w, &c.rx)?;
        let (rx, tx) = p.ring_states();
        w.write_str(",\"rings\":{\"rx\":")?;
        ring(w, p.krings(Dir::Rx)[0].num_slots(), &rx)?;
        w.write_str(",\"tx\":")?;
        ring(w, p.krings(Dir::Tx)[0].num_slots(), &tx)?;
        w.write_str("}}")?;
    }
    w.write_str("]}\n")
}

/// The page: static, self-contained (inline CSS and script, no external
/// assets); its script draws everything from `/stats`.
pub fn html(w: &mut Bounded, _host: &HostView) -> Result {
    w.write_str(include_str!("dashboard.html"))
}

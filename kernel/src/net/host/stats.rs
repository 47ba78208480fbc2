//! What `GET /stats` (JSON) and `GET /` (HTML) show: switches with their
//! ports, counters and MAC tables, the NICs, the host stack.
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
//!   "nics": [ { "name": "virtio0", "mac": "..", "link": true, "tx": COUNTERS, "rx": COUNTERS } ] }
//! COUNTERS = { "packets", "bytes", "drop_short", "drop_oversize", "drop_frag_chain",
//!              "drop_no_dest", "drop_ring_full", "drop_monitor", "drop_detached" }
//! ```
//!
//! `exits` are the `stats` command's `exits` line, same names (see
//! [`crate::exits`]); `irqs` is the sum of `nic`, `timer` and `other`.

use core::fmt::{Result, Write};

use netmap::{KringStats, Port};
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
        w.write_char('}')?;
    }
    w.write_str("]}\n")
}

/// Writes `s` with HTML's special characters escaped.
fn esc(w: &mut Bounded, s: &str) -> Result {
    for c in s.chars() {
        match c {
            '<' => w.write_str("&lt;")?,
            '>' => w.write_str("&gt;")?,
            '&' => w.write_str("&amp;")?,
            c => w.write_char(c)?,
        }
    }
    Ok(())
}

fn row(w: &mut Bounded, name: &str, tx: &KringStats, rx: &KringStats) -> Result {
    let mut d = *tx;
    d.accumulate(rx);
    w.write_str("<tr><td>")?;
    esc(w, name)?;
    writeln!(
        w,
        "</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        tx.packets,
        tx.bytes,
        rx.packets,
        rx.bytes,
        d.drop_short
            + d.drop_oversize
            + d.drop_frag_chain
            + d.drop_no_dest
            + d.drop_ring_full
            + d.drop_detached
    )
}

const TABLE_HEAD: &str =
    "<table><tr><th>port</th><th>tx pkts</th><th>tx bytes</th><th>rx pkts</th><th>rx bytes</th><th>drops</th></tr>\n";

pub fn html(w: &mut Bounded, host: &HostView) -> Result {
    w.write_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>netmap unikernel</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:right}\
         td:first-child,th:first-child{text-align:left}</style></head><body>\n<h1>netmap unikernel</h1>\n",
    )?;
    write!(
        w,
        "<p>up {} ms; {} mac {}, ",
        crate::time::since_boot().as_millis(),
        super::NAME,
        mac(super::MAC)
    )?;
    match host.addr {
        Some(a) => write!(w, "inet {a}")?,
        None => w.write_str("no address")?,
    }
    if let Some(g) = host.gateway {
        write!(w, " gw {g}")?;
    }
    w.write_str(". Machine-readable: <a href=\"/stats\">/stats</a>.</p>\n")?;
    let Some(net) = crate::net::get() else {
        return w.write_str("</body></html>\n");
    };
    let mut names = net.registry.switches();
    names.sort();
    for name in &names {
        let Some(sw) = net.registry.switch(name) else {
            continue;
        };
        w.write_str("<h2>")?;
        esc(w, name)?;
        w.write_str(" (")?;
        esc(w, &sw.lookup_name())?;
        w.write_str(")</h2>\n")?;
        w.write_str(TABLE_HEAD)?;
        let ports = sw.ports();
        for (_, p) in &ports {
            let c = p.counters();
            row(w, p.name(), &c.tx, &c.rx)?;
        }
        w.write_str("</table>\n<h3>MAC table</h3>\n<table><tr><th>mac</th><th>port</th><th>age ms</th></tr>\n")?;
        for e in sw.mac_table() {
            let pname = ports
                .iter()
                .find(|(id, _)| *id == e.port)
                .map_or("?", |(_, p)| p.name());
            write!(w, "<tr><td>{}</td><td>", mac(e.mac))?;
            esc(w, pname)?;
            writeln!(w, "</td><td>{}</td></tr>", e.age)?;
        }
        w.write_str("</table>\n")?;
    }
    w.write_str("<h2>NICs</h2>\n")?;
    w.write_str(TABLE_HEAD)?;
    for nic in &net.nics {
        let c = nic.port.counters();
        row(w, nic.port.name(), &c.tx, &c.rx)?;
    }
    w.write_str("</table>\n</body></html>\n")
}

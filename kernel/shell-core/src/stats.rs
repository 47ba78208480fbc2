//! The `/stats` JSON document, written from what the kernel hands in: the
//! registry (switches, ports, counters, MAC tables), plain views of the
//! NICs and the host stack, and the VM-exit counters. No hardware here, so
//! host tests check the document; the kernel only gathers the views.
//!
//! Shape:
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
//! `rings` are the numbers of `ifconfig virtioN`'s `kring`/`vq` lines: the
//! kring's `hwcur`, `hwtail` and `head`, and its virtqueue's `avail` and
//! `used` indices, the used elements the driver `consumed` and the chains
//! the device holds (`in_flight`).

use core::fmt::{self, Display, Write};

use netmap::{KringStats, Registry};

/// One ring of a NIC, as `ifconfig` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingView {
    pub slots: u32,
    pub hwcur: u32,
    pub hwtail: u32,
    pub head: u32,
    pub avail: u16,
    pub used: u16,
    pub consumed: u16,
    pub in_flight: u16,
    pub irq: bool,
}

/// One NIC.
#[derive(Clone, Debug, Default)]
pub struct NicView<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
    pub link: bool,
    pub tx: KringStats,
    pub rx: KringStats,
    pub rx_ring: RingView,
    pub tx_ring: RingView,
}

/// The host stack's port.
pub struct HostView<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
    /// `A/P`, when configured.
    pub addr: Option<&'a dyn Display>,
    pub gateway: Option<&'a dyn Display>,
}

/// Everything the document shows.
pub struct Stats<'a> {
    pub uptime_ms: u64,
    /// `(name, value)` in the order `stats`' `exits` line prints them.
    pub exits: &'a [(&'a str, u64)],
    pub host: HostView<'a>,
    /// `None` before networking is up: no switches, no NICs.
    pub registry: Option<&'a Registry>,
    pub nics: &'a [NicView<'a>],
}

/// `aa:bb:cc:dd:ee:ff`.
pub struct Mac(pub [u8; 6]);

impl Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// `s` as a JSON string: quotes and backslashes escaped, control
/// characters dropped (names here are ASCII).
fn jstr(w: &mut impl Write, s: &str) -> fmt::Result {
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

/// A displayed value as a JSON string, or `null`.
fn jopt(w: &mut impl Write, v: Option<&dyn Display>) -> fmt::Result {
    match v {
        Some(v) => {
            let mut s = alloc::string::String::new();
            write!(s, "{v}")?;
            jstr(w, &s)
        }
        None => w.write_str("null"),
    }
}

fn counters(w: &mut impl Write, s: &KringStats) -> fmt::Result {
    write!(
        w,
        "{{\"packets\":{},\"bytes\":{},\"drop_short\":{},\"drop_oversize\":{},\"drop_frag_chain\":{},\
         \"drop_no_dest\":{},\"drop_ring_full\":{},\"drop_monitor\":{},\"drop_detached\":{}}}",
        s.packets,
        s.bytes,
        s.drop_short,
        s.drop_oversize,
        s.drop_frag_chain,
        s.drop_no_dest,
        s.drop_ring_full,
        s.drop_monitor,
        s.drop_detached
    )
}

fn ring(w: &mut impl Write, r: &RingView) -> fmt::Result {
    write!(
        w,
        "{{\"slots\":{},\"hwcur\":{},\"hwtail\":{},\"head\":{},\"avail\":{},\"used\":{},\
         \"consumed\":{},\"in_flight\":{},\"irq\":{}}}",
        r.slots, r.hwcur, r.hwtail, r.head, r.avail, r.used, r.consumed, r.in_flight, r.irq
    )
}

/// Write the document (one line, then `\n`).
pub fn json(w: &mut impl Write, s: &Stats) -> fmt::Result {
    write!(w, "{{\"uptime_ms\":{},\"exits\":{{", s.uptime_ms)?;
    for (i, (name, value)) in s.exits.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        jstr(w, name)?;
        write!(w, ":{value}")?;
    }
    w.write_str("},\"host\":{\"name\":")?;
    jstr(w, s.host.name)?;
    write!(w, ",\"mac\":\"{}\",\"addr\":", Mac(s.host.mac))?;
    jopt(w, s.host.addr)?;
    w.write_str(",\"gateway\":")?;
    jopt(w, s.host.gateway)?;
    w.write_str("},\"switches\":[")?;
    if let Some(registry) = s.registry {
        let mut names = registry.switches();
        names.sort();
        let mut first = true;
        for name in &names {
            let Some(sw) = registry.switch(name) else {
                continue;
            };
            if !first {
                w.write_char(',')?;
            }
            first = false;
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
                    Mac(e.mac),
                    e.port,
                    e.age
                )?;
            }
            w.write_str("]}")?;
        }
    }
    w.write_str("],\"nics\":[")?;
    for (i, nic) in s.nics.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        w.write_str("{\"name\":")?;
        jstr(w, nic.name)?;
        write!(w, ",\"mac\":\"{}\",\"link\":{}", Mac(nic.mac), nic.link)?;
        w.write_str(",\"tx\":")?;
        counters(w, &nic.tx)?;
        w.write_str(",\"rx\":")?;
        counters(w, &nic.rx)?;
        w.write_str(",\"rings\":{\"rx\":")?;
        ring(w, &nic.rx_ring)?;
        w.write_str(",\"tx\":")?;
        ring(w, &nic.tx_ring)?;
        w.write_str("}}")?;
    }
    w.write_str("]}\n")
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec;

    use netmap::{BufferPool, Registry};
    use serde_json::Value;

    use super::*;

    const EXITS: [(&str, u64); 3] = [("doorbells", 3), ("irqs", 12), ("pio", 400)];

    fn doc(registry: Option<&Registry>, nics: &[NicView], addr: Option<&dyn Display>) -> Value {
        let mut out = String::new();
        let s = Stats {
            uptime_ms: 1234,
            exits: &EXITS,
            host: HostView {
                name: "host0",
                mac: [0x52, 0x54, 0, 0, 0, 0xfe],
                addr,
                gateway: None,
            },
            registry,
            nics,
        };
        json(&mut out, &s).unwrap();
        assert!(
            out.ends_with("}\n") && !out[..out.len() - 1].contains('\n'),
            "one line: {out}"
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    #[test]
    fn before_networking_the_document_is_whole_and_empty() {
        let v = doc(None, &[], None);
        assert_eq!(v["uptime_ms"], 1234);
        assert_eq!(v["exits"]["doorbells"], 3);
        assert_eq!(v["exits"]["pio"], 400);
        assert_eq!(v["host"]["mac"], "52:54:00:00:00:fe");
        assert!(v["host"]["addr"].is_null() && v["host"]["gateway"].is_null());
        assert_eq!(v["switches"], Value::Array(vec![]));
        assert_eq!(v["nics"], Value::Array(vec![]));
    }

    #[test]
    fn switches_list_their_ports_sorted_by_switch_name() {
        let registry = Registry::new(BufferPool::on_heap(8192, 2048).unwrap());
        let _b = registry.open("vale1:b").unwrap();
        let _a = registry.open("vale0:a").unwrap();
        let _c = registry.open("vale0:c").unwrap();
        let v = doc(Some(&registry), &[], Some(&"10.0.0.2/24"));
        assert_eq!(v["host"]["addr"], "10.0.0.2/24");
        let sw = v["switches"].as_array().unwrap();
        let names: std::vec::Vec<&str> = sw.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["vale0", "vale1"]);
        let ports: std::vec::Vec<&str> = sw[0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["vale0:a", "vale0:c"]);
        let p = &sw[0]["ports"][0];
        assert_eq!(p["tx"]["packets"], 0);
        assert_eq!(p["rx"]["drop_ring_full"], 0);
        assert!(sw[0]["lookup"].is_string());
        assert_eq!(sw[0]["macs"], Value::Array(vec![]));
    }

    #[test]
    fn nics_show_counters_and_both_rings() {
        let nic = NicView {
            name: "virtio\"0\\",
            mac: [2, 0, 0, 0, 0, 1],
            link: true,
            tx: KringStats {
                packets: 7,
                bytes: 420,
                ..KringStats::default()
            },
            rx: KringStats::default(),
            rx_ring: RingView {
                slots: 512,
                hwcur: 3,
                hwtail: 2,
                head: 3,
                avail: 514,
                used: 3,
                consumed: 3,
                in_flight: 511,
                irq: true,
            },
            tx_ring: RingView {
                slots: 128,
                ..RingView::default()
            },
        };
        let v = doc(None, &[nic], None);
        let n = &v["nics"][0];
        assert_eq!(n["name"], "virtio\"0\\", "quotes and backslashes escaped");
        assert_eq!(n["mac"], "02:00:00:00:00:01");
        assert_eq!(n["link"], true);
        assert_eq!(n["tx"]["packets"], 7);
        assert_eq!(n["tx"]["bytes"], 420);
        assert_eq!(n["rings"]["rx"]["in_flight"], 511);
        assert_eq!(n["rings"]["rx"]["irq"], true);
        assert_eq!(n["rings"]["tx"]["slots"], 128);
        assert_eq!(n["rings"]["tx"]["irq"], false);
    }
}

//! ifconfig for tap ports (`tapN`):
//!
//! ```text
//! ifconfig tapN create | destroy | up | down | mtu N | mac XX:XX:XX:XX:XX:XX | info
//! ```
//!
//! Output (also what `ifconfig` lists, one block per tap):
//!
//! ```text
//! tap0: mac 02:54:00:00:00:00 mtu 1500 up|down switch vale0|none queued N
//!   rx packets N bytes N tx packets N bytes N
//!   drops down N oversize N short N no-link N queue-full N truncated N
//! ```

use super::super::tap::parse_mac;
use super::super::{CommandError, CommandResult};
use crate::net::tuntap;
use crate::println;
use ::tuntap::{Counters, TapPort};

pub const PREFIX: &str = "tap";

pub fn list() -> CommandResult {
    for t in tuntap::taps() {
        show(&t);
    }
    Ok(())
}

pub fn run(name: &str, args: &[&str]) -> CommandResult {
    if args == ["create"] {
        let t = tuntap::create_tap(name)
            .map_err(|e| CommandError::failed(alloc::format!("{name}: {}", describe(e))))?;
        show(&t);
        return Ok(());
    }
    let t = tuntap::tap(name)
        .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
    let fail = |e: ::tuntap::Error| CommandError::failed(alloc::format!("{name}: {e}"));
    match args {
        [] | ["info"] => {}
        ["destroy"] => {
            tuntap::destroy(name)
                .map_err(|e| CommandError::failed(alloc::format!("{name}: {}", describe(e))))?;
            println!("{name}: destroyed");
            return Ok(());
        }
        ["up"] => t.set_up(true),
        ["down"] => t.set_up(false),
        ["mtu", n] => t
            .set_mtu(
                n.parse()
                    .map_err(|_| CommandError::failed(alloc::format!("bad mtu {n}")))?,
            )
            .map_err(fail)?,
        ["mac", m] => t.set_mac(parse_mac(m)?).map_err(fail)?,
        _ => {
            return Err(CommandError::failed(
                "usage: ifconfig tapN [create|destroy|up|down|mtu N|mac XX:..|info]",
            ))
        }
    }
    show(&t);
    Ok(())
}

pub fn describe(e: netmap::OpenError) -> alloc::string::String {
    match e {
        netmap::OpenError::BadConfig => "bad name (want tapN/tunN, N in 0..=255)".into(),
        e => crate::net::describe(e),
    }
}

pub fn switch_name(sw: Option<alloc::sync::Arc<netmap::Switch>>) -> alloc::string::String {
    sw.map_or("none".into(), |s| s.name().into())
}

/// The counter lines: traffic, then the drops that can move on this kind
/// of port (`::tuntap::TAP_COUNTERS` or `TUN_COUNTERS`) and truncated reads.
pub fn counters(c: &Counters, drops: &[&str]) {
    use core::fmt::Write;
    println!(
        "  rx packets {} bytes {} tx packets {} bytes {}",
        c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes
    );
    let mut line = alloc::string::String::from("  drops");
    for name in drops {
        let _ = write!(line, " {name} {}", c.drop_named(name).unwrap_or(0));
    }
    println!("{line} truncated {}", c.rx_truncated);
}

fn show(t: &TapPort) {
    use netmap::Port;
    println!(
        "{}: mac {} mtu {} {} switch {} queued {}",
        t.name(),
        super::super::vale::mac(t.mac()),
        t.info().mtu,
        if t.is_up() { "up" } else { "down" },
        switch_name(t.switch()),
        t.queued()
    );
    counters(&t.counters(), ::tuntap::TAP_COUNTERS);
}

//! The soak's fault cycles: each breaks something under load and undoes
//! it; the caller then waits for the load to flow again.

use std::time::Duration;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::hmp::Hmp;
use crate::lab;
use crate::timeouts::{scaled, COMMAND};

/// Every kind, in the order cycles take them.
pub const KINDS: [&str; 6] = ["link", "detach", "port", "pipe", "capture", "reset"];

/// Run one cycle of `kind` (`n` is the cycle number, to vary the NIC and
/// names).
pub fn cycle(kind: &str, console: &mut Console, hmp: &Hmp, n: u64) -> Result<()> {
    // B's NIC carries the load and A's is where it enters: alternate.
    let nic = (n / KINDS.len() as u64) % 2;
    match kind {
        // Link down and up from QEMU's monitor (the device's status bit
        // and a config interrupt; on vhost-user QEMU also stops and
        // restarts the backend's rings).
        "link" => {
            monitor(hmp, &format!("set_link nic{nic} off"))?;
            std::thread::sleep(Duration::from_millis(20));
            monitor(hmp, &format!("set_link nic{nic} on"))?;
        }
        "detach" => {
            console.command_ok(&format!("vale-ctl -d vale0:virtio{nic}"), COMMAND)?;
            console.command_ok(&format!("vale-ctl -a vale0:virtio{nic}"), COMMAND)?;
        }
        // A persistent VALE port created and deleted on the loaded switch.
        "port" => {
            let p = format!("vale0:soak{}", n % 7);
            console.command_ok(&format!("vale-ctl -n {p}"), COMMAND)?;
            console.command_ok(&format!("vale-ctl -r {p}"), COMMAND)?;
        }
        // A pipe created by opening its ends (two pkt-gens, frames flowing
        // between them) and deleted when both close.
        "pipe" => {
            let p = n % 7;
            let rx = lab::start_app(console, &format!("pkt-gen -i x}}{p} -f rx -T 0"), COMMAND)?;
            let tx = lab::start_app(console, &format!("pkt-gen -i x{{{p} -f tx -T 0"), COMMAND)?;
            console.command_ok(&format!("app stop {tx}"), COMMAND)?;
            console.command_ok(&format!("app stop {rx}"), COMMAND)?;
        }
        // Capture: a copy monitor on the loaded port, started and stopped.
        "capture" => {
            console.command_ok(&format!("pcap start vale0:virtio{nic}"), COMMAND)?;
            console.command_ok("pcap stop", COMMAND)?;
        }
        "reset" => {
            console.command_ok(&format!("inject reset virtio{nic}"), COMMAND)?;
        }
        other => return Err(Error::new(format!("soak: no fault kind {other}"))),
    }
    Ok(())
}

fn monitor(hmp: &Hmp, command: &str) -> Result<()> {
    let out = hmp
        .query(command, scaled(Duration::from_secs(10)))
        .map_err(|e| Error::new(format!("QEMU monitor `{command}`: {e}")))?;
    if out.trim().is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!("QEMU monitor `{command}`: {out}")))
    }
}

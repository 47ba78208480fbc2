//! panic, fault and inject: exercise the kernel's failure and recovery
//! paths.

use netmap::port::Port;

use core::time::Duration;

use super::{Command, CommandError, CommandResult};
use crate::arch::faults;
use crate::net;
use crate::smp;
use crate::time;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "panic",
        usage: "[cpuN]",
        help: "panic the kernel, on this CPU or application processor N (exit code 101)",
        run: panic,
    },
    Command {
        name: "fault",
        usage: "<pf|gp|ud|de> [cpuN]",
        help:
            "raise a page fault, general protection, invalid opcode or divide error, on this CPU or application processor N (exit code 102)",
        run: fault,
    },
    Command {
        name: "inject",
        usage: "lost-kick <virtioN> <rx|tx> [count] | reset <virtioN> | app-fail <ID>",
        help: "lose the next notifications (default 1) a NIC queue owes its device, as a lost EVENT_IDX handshake would (the driver's watchdog must recover); or reset a NIC's device as after a protocol violation; or make an app's next pass fail",
        run: inject,
    },
];

/// Most notifications one `inject` may lose: enough for any test, and a
/// typo cannot silence a queue for good (the watchdog recovers each one).
const MAX_LOST_KICKS: u32 = 1000;

fn inject(args: &[&str]) -> CommandResult {
    if let ["app-fail", id] = args {
        let n: u32 = id
            .parse()
            .map_err(|_| CommandError::failed(alloc::format!("bad app id '{id}'")))?;
        if !crate::apps::inject_failure(n) {
            return Err(CommandError::failed(alloc::format!("no app {n}")));
        }
        crate::println!("app {n}: its next pass will fail");
        return Ok(());
    }
    if let ["reset", name] = args {
        let nic = nic(name)?;
        nic.port.request_reset();
        crate::println!("{name}: device reset requested");
        return Ok(());
    }
    let (name, dir, count) = match args {
        ["lost-kick", name, dir] => (*name, *dir, 1),
        ["lost-kick", name, dir, count] => {
            let n = count
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LOST_KICKS).contains(n))
                .ok_or_else(|| {
                    CommandError::failed(alloc::format!(
                        "bad count '{count}': a number 1..={MAX_LOST_KICKS}"
                    ))
                })?;
            (*name, *dir, n)
        }
        _ => return Err(CommandError::Usage),
    };
    let dir = match dir {
        "rx" => netmap::Dir::Rx,
        "tx" => netmap::Dir::Tx,
        _ => {
            return Err(CommandError::failed(alloc::format!(
                "bad queue '{dir}': rx or tx"
            )))
        }
    };
    nic(name)?.port.lose_kicks(dir, count);
    crate::println!(
        "{name}: the next {count} notification(s) of its {} queue will be lost",
        if dir == netmap::Dir::Rx { "rx" } else { "tx" }
    );
    Ok(())
}

fn panic(args: &[&str]) -> CommandResult {
    match args {
        [] => panic!("panic requested from the shell"),
        [cpu] => on_cpu(cpu, smp::Request::Panic),
        _ => Err(CommandError::Usage),
    }
}

/// How long the shell waits for an application processor to act on a
/// request (it does within a timer tick) before saying it did not.
const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// `cpuN` (N an application processor) asked to act on `what`; the VM
/// ends when it does, so returning is the failure.
fn on_cpu(cpu: &str, what: smp::Request) -> CommandResult {
    let n = cpu
        .strip_prefix("cpu")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or(CommandError::Usage)?;
    smp::request(n, what).map_err(|_| {
        CommandError::failed(alloc::format!(
            "no application processor cpu{n} ({} CPU(s) online; cpu0 is this one)",
            smp::count()
        ))
    })?;
    let start = time::since_boot();
    while time::since_boot() - start < REQUEST_WAIT {
        core::hint::spin_loop();
    }
    Err(CommandError::failed(alloc::format!(
        "cpu{n} did not act on {what:?}"
    )))
}

fn fault(args: &[&str]) -> CommandResult {
    let (kind, cpu) = match args {
        [kind] => (*kind, None),
        [kind, cpu] => (*kind, Some(*cpu)),
        _ => return Err(CommandError::Usage),
    };
    if let Some(cpu) = cpu {
        let what = match kind {
            "pf" => smp::Request::PageFault,
            "gp" => smp::Request::GeneralProtection,
            "ud" => smp::Request::InvalidOpcode,
            "de" => smp::Request::DivideError,
            _ => return Err(CommandError::Usage),
        };
        return on_cpu(cpu, what);
    }
    match kind {
        "pf" => faults::page_fault(),
        "gp" => faults::general_protection(),
        "ud" => faults::invalid_opcode(),
        "de" => faults::divide_error(),
        _ => return Err(CommandError::Usage),
    }
    // The exception handler exits QEMU; getting here means no fault.
    Err(CommandError::failed(alloc::format!(
        "'{kind}' did not fault"
    )))
}

/// The NIC called `name`.
fn nic(name: &str) -> Result<&'static net::virtio::device::NicDevice, CommandError> {
    let net = net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
    net.nics
        .iter()
        .find(|n| n.port.name() == name)
        .ok_or_else(|| CommandError::failed(alloc::format!("no NIC {name}")))
}

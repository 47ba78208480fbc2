//! reflect: the reflector ([`netmap_apps::reflector`]) on a NIC, one at a
//! time, as an application of the app table ([`crate::apps`]; `app`
//! lists it too).
//!
//! | command | output |
//! | --- | --- |
//! | `reflect IF` | `reflecting on IF` (`, dropped N stale frames` if any were waiting) |
//! | `reflect` | `reflecting on IF: F frames B bytes in N batches`, or `not reflecting` |
//! | `reflect stop` | `stopped reflecting on IF: F frames B bytes in N batches` |

use alloc::boxed::Box;
use alloc::format;

use netmap::OpenError;
use netmap_apps::reflector::Reflector;
use netmap_apps::AppError;

use super::{Command, CommandError, CommandResult};
use crate::{apps, net, println};

pub const COMMANDS: &[Command] = &[Command {
    name: "reflect",
    usage: "[IF|stop]",
    help: "send every frame NIC IF receives back out of IF (zero copy); stop; no argument: status",
    run: reflect,
}];

const KIND: &str = "reflect";

/// The running reflector's status line (`IF: F frames ...`).
fn running() -> Option<(u32, alloc::string::String)> {
    apps::list()
        .into_iter()
        .find(|(_, kind, _)| *kind == KIND)
        .map(|(id, _, status)| (id, status))
}

fn reflect(args: &[&str]) -> CommandResult {
    match super::optional_arg(args)? {
        None => {
            match running() {
                Some((_, s)) => println!("reflecting on {s}"),
                None => println!("not reflecting"),
            }
            Ok(())
        }
        Some("stop") => {
            let (id, _) = running().ok_or_else(|| CommandError::failed("not reflecting"))?;
            let (_, s) = apps::stop(id).ok_or_else(|| CommandError::failed("not reflecting"))?;
            println!("stopped reflecting on {s}");
            Ok(())
        }
        Some(ifname) => {
            let netw =
                net::get().ok_or_else(|| CommandError::failed("networking is not initialised"))?;
            if !netw
                .nics
                .iter()
                .any(|n| netmap::port::Port::name(&*n.port) == ifname)
            {
                return Err(CommandError::failed(format!("no NIC {ifname}")));
            }
            if let Some((_, s)) = running() {
                let on = s.split(':').next().unwrap_or("");
                return Err(CommandError::failed(format!(
                    "already reflecting on {on} ('reflect stop' first)"
                )));
            }
            let r = Reflector::open(&netw.registry, ifname).map_err(|e| match e {
                AppError::Open {
                    error: OpenError::Busy,
                    ..
                } => CommandError::failed(
                    "NIC busy: attached to a switch or open elsewhere ('vale-ctl -d' it first)",
                ),
                e => CommandError::failed(format!("{e}")),
            })?;
            let stale = r.stats().stale;
            apps::run(KIND, args, Box::new(r));
            if stale > 0 {
                println!("reflecting on {ifname}, dropped {stale} stale frames");
            } else {
                println!("reflecting on {ifname}");
            }
            Ok(())
        }
    }
}

//! reflect: the in-kernel reflector ([`crate::apps::reflector`]).
//!
//! | command | output |
//! | --- | --- |
//! | `reflect IF` | `reflecting on IF` (`, dropped N stale frames` if any were waiting) |
//! | `reflect` | `reflecting on IF: F frames B bytes in N batches`, or `not reflecting` |
//! | `reflect stop` | `stopped reflecting on IF: F frames B bytes in N batches` |

use super::{Command, CommandError, CommandResult};
use crate::apps::reflector::{self, Stats};
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "reflect",
    usage: "[IF|stop]",
    help: "send every frame NIC IF receives back out of IF (zero copy); stop; no argument: status",
    run: reflect,
}];

fn summary(s: &Stats) -> alloc::string::String {
    alloc::format!(
        "{}: {} frames {} bytes in {} batches",
        s.ifname,
        s.frames,
        s.bytes,
        s.batches
    )
}

fn reflect(args: &[&str]) -> CommandResult {
    match super::optional_arg(args)? {
        None => {
            match reflector::status() {
                Some(s) => println!("reflecting on {}", summary(&s)),
                None => println!("not reflecting"),
            }
            Ok(())
        }
        Some("stop") => {
            let s = reflector::stop().ok_or_else(|| CommandError::failed("not reflecting"))?;
            println!("stopped reflecting on {}", summary(&s));
            Ok(())
        }
        Some(ifname) => {
            reflector::start(ifname).map_err(|e| CommandError::failed(alloc::format!("{e}")))?;
            match reflector::status() {
                Some(s) if s.stale > 0 => {
                    println!("reflecting on {ifname}, dropped {} stale frames", s.stale)
                }
                _ => println!("reflecting on {ifname}"),
            }
            Ok(())
        }
    }
}

//! app: the running applications ([`crate::apps`]). Each application of
//! [`netmap_apps::APPS`] is also a command of its own name (`pkt-gen`,
//! `bridge`, `lb`, ...) that starts it and prints its id: the shell falls
//! back to that table for names it does not know ([`start_named`]).
//!
//! | command | output |
//! | --- | --- |
//! | `NAME ARGS...` | `started NAME as app ID` |
//! | `app` | `ID KIND STATUS` per application, or `no apps running` |
//! | `app list` | `ID COMMAND LINE` per application |
//! | `app stop ID` | `stopped app ID (KIND): SUMMARY` |

use alloc::format;

use super::{Command, CommandError, CommandResult};
use crate::{apps, println};

pub const COMMANDS: &[Command] = &[Command {
    name: "app",
    usage: "[list | stop ID]",
    help: "running applications: status and counters; list them; stop one (applications start with their own command, e.g. pkt-gen)",
    run: app,
}];

fn app(args: &[&str]) -> CommandResult {
    match args {
        [] => {
            let all = apps::list();
            if all.is_empty() {
                println!("no apps running");
            }
            for (id, kind, status) in all {
                println!("{id} {kind} {status}");
            }
            Ok(())
        }
        ["list"] => {
            for (id, line) in apps::lines() {
                println!("{id} {line}");
            }
            Ok(())
        }
        ["stop", id] => {
            let n: u32 = id
                .parse()
                .map_err(|_| CommandError::failed(format!("bad app id '{id}'")))?;
            let (kind, summary) =
                apps::stop(n).ok_or_else(|| CommandError::failed(format!("no app {n}")))?;
            println!("stopped app {n} ({kind}): {summary}");
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

/// Start the application called `name`, if there is one: `None` when
/// `name` is no application.
pub fn start_named(name: &str, args: &[&str]) -> Option<CommandResult> {
    let info = apps::find(name)?;
    Some(match apps::start(info, args) {
        Ok(id) => {
            println!("started {name} as app {id}");
            Ok(())
        }
        // A usage message names the app already.
        Err(e @ netmap_apps::AppError::Usage(_)) => Err(CommandError::failed(format!("{e}"))),
        Err(e) => Err(CommandError::failed(format!("{name}: {e}"))),
    })
}

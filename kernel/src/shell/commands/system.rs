//! help, version, uptime, shutdown.

use super::{no_args, optional_arg, Command, CommandError, CommandResult};
use crate::arch::qemu_exit;
use crate::println;
use crate::time;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        usage: "",
        help: "list commands",
        run: help,
    },
    Command {
        name: "version",
        usage: "",
        help: "kernel version and build profile",
        run: version,
    },
    Command {
        name: "uptime",
        usage: "",
        help: "time since boot",
        run: uptime,
    },
    Command {
        name: "shutdown",
        usage: "[code]",
        help: "exit QEMU with this status (0-126)",
        run: shutdown,
    },
];

fn help(args: &[&str]) -> CommandResult {
    no_args(args)?;
    for command in super::all() {
        println!("{} - {}", command.synopsis(), command.help);
    }
    for app in crate::apps::all().filter(|a| super::find(a.name).is_none()) {
        println!(
            "{} {} - {} (an app: prints its id)",
            app.name, app.usage, app.help
        );
    }
    Ok(())
}

fn version(args: &[&str]) -> CommandResult {
    no_args(args)?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("kernel {} ({profile})", env!("CARGO_PKG_VERSION"));
    Ok(())
}

fn uptime(args: &[&str]) -> CommandResult {
    no_args(args)?;
    let up = time::since_boot();
    println!("up {}.{:03} s", up.as_secs(), up.subsec_millis());
    Ok(())
}

fn shutdown(args: &[&str]) -> CommandResult {
    let code = match optional_arg(args)? {
        None => 0,
        Some(text) => text
            .parse::<u8>()
            .ok()
            .filter(|&code| code <= qemu_exit::MAX_CODE)
            .ok_or_else(|| {
                CommandError::failed(alloc::format!(
                    "exit code must be 0..={}",
                    qemu_exit::MAX_CODE
                ))
            })?,
    };
    qemu_exit::exit(code)
}

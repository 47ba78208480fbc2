//! log: show or set the log level.

use super::{optional_arg, Command, CommandError, CommandResult};
use crate::console::logger;
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "log",
    usage: "[off|error|warn|info|debug|trace]",
    help: "show or set the log level",
    run: log_level,
}];

fn log_level(args: &[&str]) -> CommandResult {
    if let Some(name) = optional_arg(args)? {
        let level = logger::parse_level(name)
            .ok_or_else(|| CommandError::failed(alloc::format!("unknown log level '{name}'")))?;
        log::set_max_level(level);
    }
    println!("log level: {}", logger::level_name(log::max_level()));
    Ok(())
}

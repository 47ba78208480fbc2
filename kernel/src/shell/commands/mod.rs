//! The command table. Each file here owns a group of commands and exports
//! them as `COMMANDS`; [`GROUPS`] lists the groups in `help` order.

mod app;
mod debug;
mod hostnet;
mod ifconfig;
mod log;
mod mem;
mod pci;
mod reflect;
mod stats;
mod system;
mod tap;
mod tun;
mod vale;

use alloc::string::String;

/// Why a command failed; the shell prints it as one `error: ` line.
#[derive(Debug)]
pub enum CommandError {
    /// Wrong arguments: the shell prints the command's synopsis.
    Usage,
    /// Anything else, with a message.
    Failed(String),
}

impl CommandError {
    pub fn failed(message: impl Into<String>) -> Self {
        CommandError::Failed(message.into())
    }
}

pub type CommandResult = Result<(), CommandError>;

/// One shell command.
pub struct Command {
    pub name: &'static str,
    /// Argument synopsis, e.g. `[code]`; empty if none.
    pub usage: &'static str,
    /// One-line description for `help`.
    pub help: &'static str,
    /// Runs the command with its arguments (the words after the name).
    pub run: fn(&[&str]) -> CommandResult,
}

impl Command {
    /// `name usage`, or just `name` when it takes no arguments.
    pub fn synopsis(&self) -> String {
        if self.usage.is_empty() {
            String::from(self.name)
        } else {
            alloc::format!("{} {}", self.name, self.usage)
        }
    }
}

/// All command groups, in `help` order.
const GROUPS: &[&[Command]] = &[
    system::COMMANDS,
    mem::COMMANDS,
    pci::COMMANDS,
    ifconfig::COMMANDS,
    vale::COMMANDS,
    tap::COMMANDS,
    tun::COMMANDS,
    hostnet::COMMANDS,
    reflect::COMMANDS,
    app::COMMANDS,
    stats::COMMANDS,
    log::COMMANDS,
    debug::COMMANDS,
];

/// Every command.
pub fn all() -> impl Iterator<Item = &'static Command> {
    GROUPS.iter().flat_map(|group| group.iter())
}

pub use app::start_named as start_app;

/// The command called `name`.
pub fn find(name: &str) -> Option<&'static Command> {
    all().find(|command| command.name == name)
}

/// Accepts no arguments.
pub fn no_args(args: &[&str]) -> CommandResult {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Usage)
    }
}

/// Accepts at most one argument and returns it.
pub fn optional_arg<'a>(args: &[&'a str]) -> Result<Option<&'a str>, CommandError> {
    match args {
        [] => Ok(None),
        [arg] => Ok(Some(arg)),
        _ => Err(CommandError::Usage),
    }
}

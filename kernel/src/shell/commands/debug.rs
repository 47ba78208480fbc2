//! panic and fault: exercise the kernel's failure paths.

use super::{optional_arg, Command, CommandError, CommandResult};
use crate::arch::faults;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "panic",
        usage: "",
        help: "panic the kernel (exit code 101)",
        run: panic,
    },
    Command {
        name: "fault",
        usage: "<pf|gp|ud|de>",
        help:
            "raise a page fault, general protection, invalid opcode or divide error (exit code 102)",
        run: fault,
    },
];

fn panic(args: &[&str]) -> CommandResult {
    super::no_args(args)?;
    panic!("panic requested from the shell");
}

fn fault(args: &[&str]) -> CommandResult {
    let kind = optional_arg(args)?.ok_or(CommandError::Usage)?;
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

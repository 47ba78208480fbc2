//! pci: the functions found at boot.

use super::{no_args, Command, CommandResult};
use crate::println;
use alloc::string::String;
use core::fmt::Write;

pub const COMMANDS: &[Command] = &[Command {
    name: "pci",
    usage: "",
    help: "list PCI functions and their BARs",
    run: pci,
}];

fn pci(args: &[&str]) -> CommandResult {
    no_args(args)?;
    for function in crate::pci::functions() {
        let mut line = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            line,
            "{} {:04x}:{:04x} class {:02x}.{:02x}.{:02x} irq ",
            function.address,
            function.vendor_id,
            function.device_id,
            function.class,
            function.subclass,
            function.prog_if
        );
        let _ = match function.interrupt_line {
            Some(irq) => write!(line, "{irq}"),
            None => write!(line, "none"),
        };
        for (index, bar) in function.bars() {
            let _ = write!(line, " bar{index}={bar}");
        }
        println!("{line}");
    }
    Ok(())
}

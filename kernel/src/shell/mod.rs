//! The serial shell, and the contract between the kernel and whatever is
//! on the other end of COM1 (a person, or the integration tests).
//!
//! # Serial protocol
//!
//! Every line the kernel prints ends in `\r\n`.
//!
//! **Boot.** Log lines look like `[    1.234567] INFO  mem: message`
//! (seconds since the kernel was entered, level padded to 5, subsystem).
//! After initialization, regardless of the log level, one line:
//!
//! ```text
//! kernel ready in <ms> ms
//! ```
//!
//! where `<ms>` is the integer number of milliseconds since the kernel
//! entry point was entered (TSC based).
//!
//! **Startup script.** The ramdisk, if any, holds UTF-8 shell commands
//! separated by newlines or `;`; `#` starts a comment to end of line. It
//! runs after the ready line. Each command is echoed as
//! `script> <command>` on its own line before its output.
//!
//! **Prompt.** Then the interactive prompt `nm> ` (no newline) is printed,
//! and again after every command. Input is echoed; see [`line`] for
//! editing. Lines are limited to [`line::MAX_LINE`] bytes (4160: a whole
//! 2 KiB buffer in hex, with the command); longer input is rejected.
//!
//! **Errors.** An unknown command, bad arguments or a too long line print
//! exactly one line starting `error: `, then the prompt comes back.
//!
//! **Commands** (output formats):
//!
//! | command | output |
//! |---|---|
//! | `help` | one line per command: `<name> <usage> - <description>` (no usage: `<name> - <description>`) |
//! | `version` | `kernel <version> (<debug\|release>)` |
//! | `uptime` | `up <seconds>.<3-digit ms> s`, e.g. `up 12.345 s` |
//! | `mem` | `frames: <used> used, <free> free (4 KiB)`, `heap: <used> used, <free> free (bytes)`, `dma: <used> used, <free> free (bytes)` |
//! | `pci` | one line per function: `BB:DD.F VVVV:DDDD class CC.SS.PP irq <line\|none>` then its BARs, e.g. ` bar0=mem32 0xfebd1000 size 0x1000`, ` bar4=mem64 pref 0xfe000000 size 0x4000`, ` bar1=io 0xc000 size 0x20` |
//! | `log [level]` | `log level: <off\|error\|warn\|info\|debug\|trace>` (sets it if given) |
//! | `shutdown [code]` | exits QEMU with kernel code 0..=126 (default 0) |
//! | `panic` | panics: `PANIC at <file>:<line>:<col>: panic requested from the shell` |
//! | `fault <pf\|gp\|ud\|de>` | raises that CPU exception (`pf` reads the unmapped, canonical 0x7dead0000000; `gp` a non-canonical address; `ud` is `ud2`; `de` divides by zero), see below |
//!
//! **Exit codes.** The kernel leaves QEMU through `isa-debug-exit` at port
//! 0xf4: kernel code C makes QEMU exit with status `2 * (C + 1) + 1`
//! (decode: `C = (status - 3) / 2`). A panic exits with code 101, a CPU
//! exception with 102.
//!
//! **Panic.** `PANIC at <file>:<line>:<col>: <message>` on its own line.
//!
//! **CPU exception.** On its own line,
//! `EXCEPTION: <name> (vector <n>) error=<0x..|none> rip=0x... [cr2=0x...]`
//! (cr2 for page faults only), then a line of register values. Names:
//! `divide error` (0), `invalid opcode` (6), `double fault` (8),
//! `general protection` (13), `page fault` (14), ... (see
//! [`crate::arch::exceptions`]).
//!
//! # Adding commands
//!
//! Write a file in `commands/` exporting `pub const COMMANDS: &[Command]`
//! and list it in `commands::GROUPS`.

#![deny(unsafe_code)]

pub mod commands;
pub use shell_core::line;

use crate::console;
use commands::CommandError;
use line::{Input, LineEditor, MAX_LINE};

/// The interactive prompt.
pub const PROMPT: &str = "nm> ";

/// Runs one command line; prints its output, or one `error: ` line.
pub fn execute(line: &str) {
    if line.len() > MAX_LINE {
        crate::println!("error: line too long (max {MAX_LINE} bytes)");
        return;
    }
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return;
    };
    let args: alloc::vec::Vec<&str> = words.collect();
    let Some(command) = commands::find(name) else {
        // Not a command: an application of that name, or nothing.
        match commands::start_app(name, &args) {
            Some(Err(CommandError::Failed(message))) => crate::println!("error: {message}"),
            Some(_) => {}
            None => crate::println!("error: unknown command '{name}' (try 'help')"),
        }
        return;
    };
    match (command.run)(&args) {
        Ok(()) => {}
        Err(CommandError::Usage) => crate::println!("error: usage: {}", command.synopsis()),
        Err(CommandError::Failed(message)) => crate::println!("error: {message}"),
    }
}

/// Runs a startup script, echoing each command as `script> <command>`.
pub fn run_script(text: &str) {
    for command in crate::script::commands(text) {
        crate::println!("script> {command}");
        execute(command);
    }
}

/// The interactive shell: a consumer of input bytes. It never waits for
/// input; `kmain`'s loop feeds it each byte that comes in, between passes
/// of the idle loop.
pub struct Shell {
    editor: LineEditor,
}

impl Shell {
    /// Prints the first prompt.
    pub fn new() -> Self {
        crate::print!("{PROMPT}");
        Self {
            editor: LineEditor::new(),
        }
    }

    /// Consumes one input byte: echoes it, and when it ends a line runs the
    /// line and prints the prompt again. A command may take its time (it
    /// runs here); one that waits for something waits in the idle loop
    /// ([`crate::idle::wait_for`]), so the datapath keeps running.
    pub fn feed(&mut self, byte: u8) {
        let editor = &mut self.editor;
        let input = console::with(|out| editor.feed(byte, &mut |bytes| out.write_bytes(bytes)));
        match input {
            Input::Pending => return,
            Input::Line => execute(self.editor.line()),
            Input::TooLong => crate::println!("error: line too long (max {MAX_LINE} bytes)"),
            Input::Cancelled => {}
        }
        crate::print!("{PROMPT}");
    }
}

//! The panic handler: report where and why on the serial line, and on
//! which CPU, then exit QEMU with [`qemu_exit::PANIC`].
//!
//! ```text
//! PANIC at kernel/src/shell/commands/debug.rs:95:5: panic requested from the shell
//!   on cpu0
//! ```

use crate::arch::{cpu, percpu, qemu_exit};
use crate::console;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The CPU reporting a panic or an exception, or [`NOBODY`].
static REPORTING: AtomicUsize = AtomicUsize::new(NOBODY);
const NOBODY: usize = usize::MAX;

/// Who reports a fatal event on this CPU.
pub enum Reporter {
    /// This CPU is the first: it reports and exits.
    First,
    /// This CPU was already reporting (a fault or panic in the report).
    Again,
    /// Another CPU is reporting and will end the VM.
    Other,
}

/// Claims the report for the CPU running this (first come, first served:
/// two CPUs failing at once must not interleave their reports or cut each
/// other's short by exiting).
pub fn claim_report() -> Reporter {
    let me = percpu::index();
    match REPORTING.compare_exchange(NOBODY, me, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Reporter::First,
        Err(cpu) if cpu == me => Reporter::Again,
        Err(_) => Reporter::Other,
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    match claim_report() {
        Reporter::First => {}
        // A panic while reporting: the first report is what matters.
        Reporter::Again => qemu_exit::exit(qemu_exit::PANIC),
        Reporter::Other => cpu::halt_forever(),
    }
    let mut out = console::emergency();
    let _ = write!(out, "\nPANIC at ");
    let _ = match info.location() {
        Some(location) => write!(
            out,
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        ),
        None => write!(out, "<unknown>"),
    };
    let _ = writeln!(out, ": {}", info.message());
    let _ = writeln!(out, "  on cpu{}", percpu::index());
    qemu_exit::exit(qemu_exit::PANIC)
}

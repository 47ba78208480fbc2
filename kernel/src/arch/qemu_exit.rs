//! Leaving QEMU with a status code through its `isa-debug-exit` device.
//!
//! QEMU is started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
//! Writing `v` to port 0xf4 makes QEMU exit with status `(v << 1) | 1`, so
//! status 0 can never be produced; we write `code + 1` and the host decodes
//! `code = (status - 3) / 2`.

use super::{cpu, pio};

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Highest code a caller may pass (QEMU's status must stay below 256 and
/// clear of the shell's 127+ "killed by signal" range).
pub const MAX_CODE: u8 = 126;
/// Exit code after a kernel panic.
pub const PANIC: u8 = 101;
/// Exit code after an unexpected CPU exception.
pub const EXCEPTION: u8 = 102;

/// Exits QEMU with `code` (clamped to [`MAX_CODE`]). If no debug-exit device
/// is present the write is ignored and the CPU halts forever instead.
pub fn exit(code: u8) -> ! {
    let value = u32::from(code.min(MAX_CODE)) + 1;
    // SAFETY: port 0xf4 is either QEMU's debug-exit device, which ends the
    // VM, or unclaimed ISA space, where writes are discarded.
    unsafe { pio::write::<u32>(DEBUG_EXIT_PORT, value) };
    cpu::halt_forever()
}

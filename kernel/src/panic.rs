//! The panic handler: report where and why on the serial line, then exit
//! QEMU with [`qemu_exit::PANIC`].

use crate::arch::qemu_exit;
use crate::console;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    // A panic while reporting a panic: the first report is what matters.
    if PANICKING.swap(true, Ordering::Relaxed) {
        qemu_exit::exit(qemu_exit::PANIC);
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
    qemu_exit::exit(qemu_exit::PANIC)
}

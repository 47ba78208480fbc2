//! The serial console: formatted output on COM1, line input for the shell,
//! and the `log` backend.
//!
//! Every `\n` written through the console goes out as `\r\n`, so terminals
//! and the integration tests see CRLF line ends whatever the caller wrote.

pub mod input;
pub mod logger;
pub mod serial;

use core::fmt::{self, Write};
use serial::Uart;
use spin::Mutex;
use x86_64::instructions::interrupts;

/// Serializes whole `print!` calls so lines from different contexts do not
/// interleave. Interrupt handlers never print, so holding it with
/// interrupts off cannot deadlock.
static CONSOLE: Mutex<Writer> = Mutex::new(Writer { uart: serial::COM1 });

/// A `fmt::Write` sink on a UART that turns `\n` into `\r\n`.
pub struct Writer {
    uart: Uart,
}

impl Writer {
    /// Writes raw bytes (no newline translation), e.g. terminal echo.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.uart.write_byte(byte);
        }
    }
}

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.uart.write_byte(b'\r');
            }
            self.uart.write_byte(byte);
        }
        Ok(())
    }
}

/// Initializes COM1. Output works from here on.
pub fn init() {
    CONSOLE.lock().uart.init();
}

/// Runs `f` with exclusive access to the console.
pub fn with<R>(f: impl FnOnce(&mut Writer) -> R) -> R {
    interrupts::without_interrupts(|| f(&mut CONSOLE.lock()))
}

/// Backend of [`print!`] and [`println!`].
pub fn print_fmt(args: fmt::Arguments) {
    with(|out| {
        // Writer never fails.
        let _ = out.write_fmt(args);
    });
}

/// A writer that bypasses the console lock, for the panic and exception
/// paths only: they may have interrupted a holder of the lock, and getting
/// the report out matters more than a few interleaved bytes.
pub fn emergency() -> Writer {
    Writer { uart: serial::COM1 }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!($($arg)*)));
}

/// Prints a line (ending in `\r\n`) to the serial console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))));
}

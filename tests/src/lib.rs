//! QEMU test harness for the unikernel, and (in `tests/`) its integration
//! tests.
//!
//! ```no_run
//! use integration::{timeouts, Vm, VmOptions};
//! let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
//! let lines = vm.command("version", timeouts::COMMAND).unwrap();
//! assert!(lines[0].starts_with("kernel "));
//! vm.send_line("shutdown 3").unwrap();
//! assert_eq!(vm.wait_exit(timeouts::EXIT).unwrap(), boot::KernelExit::Code(3));
//! ```
//!
//! Every wait takes a timeout; QEMU is killed when its [`Vm`] is dropped
//! (also on panic), and the serial log of a failed test is kept under
//! `target/qemu-logs/<test binary>.<test name>.log`. Tests may run in
//! parallel: each VM has its own image and log. QEMU also dies with the
//! thread that booted it (so boot a VM on the thread that uses it).

pub mod artifacts;
pub mod console;
pub mod contract;
pub mod error;
pub mod frames;
#[cfg(test)]
mod frames_tests;
pub mod hmp;
pub mod lab;
pub mod names;
pub mod paths;
pub mod pattern;
pub mod pktgen;
pub mod process;
pub mod skip;
pub mod soak;
pub mod text;
pub mod timeouts;
pub mod vm;
pub mod wire;

/// The exit-code contract (`PANIC_CODE`, `EXCEPTION_CODE`, `MAX_CODE`).
pub use boot::exit as boot_exit;
pub use boot::{Firmware, KernelExit, Machine, Nic};
pub use console::{Console, ENTER, PROMPT};
pub use error::{Error, Result};
pub use pattern::Pattern;
pub use vm::{Vm, VmOptions};

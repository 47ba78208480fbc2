//! x86_64 CPU plumbing: descriptor tables, exception handlers, and the few
//! instructions the rest of the kernel may call through safe wrappers.

pub mod cpu;
pub mod exceptions;
pub mod faults;
pub mod gdt;
pub mod idt;
pub mod percpu;
pub mod pio;
pub mod qemu_exit;

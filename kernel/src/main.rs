//! A bare-metal x86_64 unikernel for fast packet switching (netmap/VALE in
//! Rust), booted by the `bootloader` crate under QEMU.
//!
//! Boot order (see [`kmain`]): this CPU's number, clock mark, serial
//! console, descriptor tables, clock calibration, logging, memory, ACPI,
//! interrupts, the other CPUs ([`smp`]), PCI; then the ready line, the
//! startup script, and the main loop: the datapath's idle loop, feeding
//! the shell the bytes that come in on the serial line.
//! The serial protocol is documented in [`shell`].

#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

extern crate alloc;

mod apps;
mod arch;
mod console;
mod exits;
mod firmware;
mod idle;
mod irq;
mod mem;
mod net;
mod panic;
mod pci;
mod script;
mod shell;
mod smp;
mod time;

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{entry_point, BootInfo};
use x86_64::instructions::interrupts;

/// COM1's ISA interrupt line.
const COM1_IRQ: u8 = 4;

/// Asks the bootloader for a mapping of all physical memory (frames, DMA
/// and ACPI tables are reached through it) and a stack deep enough for
/// drivers.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 512 * 1024;
    config
};

entry_point!(kmain, config = &BOOTLOADER_CONFIG);

fn kmain(boot_info: &'static mut BootInfo) -> ! {
    // First: everything after may count per-CPU events (port I/O).
    arch::percpu::init(0);
    time::mark_boot();
    console::init();
    arch::gdt::init();
    arch::idt::init();
    let tsc_source = time::init();
    console::logger::init();
    time::log_frequency(tsc_source);

    mem::init(boot_info);
    let platform = firmware::acpi::read(boot_info.rsdp_addr.into_option())
        .unwrap_or_else(|error| panic!("cannot use ACPI tables: {error:?}"));
    irq::init(&platform).unwrap_or_else(|error| panic!("cannot set up interrupts: {error}"));
    match irq::route_isa(COM1_IRQ, exits::Irq::Other, console::input::on_interrupt) {
        Ok(_) => console::input::enable_interrupt(),
        // The shell still works: it polls the UART on every timer tick.
        Err(error) => log::warn!("serial input interrupt unavailable: {error}"),
    }
    smp::start(&platform);
    pci::init(&platform.ecam);
    net::init();

    println!("kernel ready in {} ms", time::since_boot().as_millis());

    if let Some(script) = firmware::ramdisk::get(boot_info).and_then(script::from_ramdisk) {
        shell::run_script(script);
    }

    // The main loop: the datapath runs here. Each turn hands the shell the
    // byte that came in on the serial line, if any, or else runs one pass of
    // the idle loop (poll the NICs and pollers; after a while without work,
    // arm interrupts and halt until the next one). Interrupts are off from
    // the input check through the pass, so a byte that arrives after the
    // check wakes the halt instead of being slept through; the shell runs
    // its commands with them on.
    let mut shell = shell::Shell::new();
    let mut idle = idle::Idle::new();
    loop {
        interrupts::disable();
        match console::input::try_read_byte() {
            Some(byte) => {
                interrupts::enable();
                shell.feed(byte);
                idle.restart();
            }
            None => idle.run_once(),
        }
    }
}

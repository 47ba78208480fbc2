//! The local APIC (xAPIC, memory mapped): end-of-interrupt, identity, and
//! the timer.

use crate::mem::mmio::Mmio;
use crate::mem::paging::MapError;
use spin::Once;
use x86_64::registers::model_specific::Msr;
use x86_64::PhysAddr;

const ID: u64 = 0x20;
const TASK_PRIORITY: u64 = 0x80;
const EOI: u64 = 0xb0;
const SPURIOUS: u64 = 0xf0;
const LVT_TIMER: u64 = 0x320;
const TIMER_INITIAL: u64 = 0x380;
const TIMER_CURRENT: u64 = 0x390;
const TIMER_DIVIDE: u64 = 0x3e0;

const APIC_BASE_MSR: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const SOFTWARE_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

static LAPIC: Once<Mmio> = Once::new();

fn regs() -> &'static Mmio {
    LAPIC.get().expect("local APIC not initialized")
}

/// Maps the local APIC at `phys` (from the MADT) and software-enables the
/// bootstrap processor's.
pub fn init(phys: PhysAddr) -> Result<(), MapError> {
    // SAFETY: `phys` is the local APIC's address from the MADT (the base
    // IA32_APIC_BASE holds, kept by `enable_this_cpu`): its 4 KiB register
    // page (SDM vol. 3, 11.4.1), device memory the memory map never calls
    // usable. Every CPU sees its own local APIC at that address.
    LAPIC.try_call_once(|| unsafe { Mmio::map(phys, 0x1000) })?;
    enable_this_cpu();
    Ok(())
}

/// Enables the local APIC of the CPU running this (after [`init`] mapped
/// the registers): global enable in IA32_APIC_BASE, all priorities
/// accepted, software enable with the spurious vector.
pub fn enable_this_cpu() {
    let mut msr = Msr::new(APIC_BASE_MSR);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting the global
    // enable bit keeps the base address the firmware chose.
    unsafe {
        let base = msr.read();
        if base & APIC_BASE_ENABLE == 0 {
            msr.write(base | APIC_BASE_ENABLE);
        }
    }
    let lapic = regs();
    lapic.write32(TASK_PRIORITY, 0);
    lapic.write32(
        SPURIOUS,
        SOFTWARE_ENABLE | u32::from(super::SPURIOUS_VECTOR),
    );
}

/// Interrupt command register: low word (command, sent on write) and high
/// word (destination APIC ID in bits 24-31).
const ICR_LOW: u64 = 0x300;
const ICR_HIGH: u64 = 0x310;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;

/// Sends an inter-processor interrupt `command` to the CPU with APIC ID
/// `destination` and waits until the local APIC has sent it.
fn send_ipi(destination: u8, command: u32) {
    let lapic = regs();
    lapic.write32(ICR_HIGH, u32::from(destination) << 24);
    lapic.write32(ICR_LOW, command);
    while lapic.read32(ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// INIT to `destination`: the processor resets and waits for a startup IPI.
pub fn send_init(destination: u8) {
    send_ipi(destination, ICR_INIT | ICR_LEVEL_ASSERT);
}

/// Startup IPI to `destination`: a processor waiting for one starts in
/// real mode at `page << 12` (CS = `page << 8`, IP = 0).
pub fn send_startup(destination: u8, page: u8) {
    send_ipi(
        destination,
        ICR_STARTUP | ICR_LEVEL_ASSERT | u32::from(page),
    );
}

/// A fixed interrupt on `vector` to the CPU whose APIC ID is
/// `destination` (a wake-up: see `net::wake`).
pub fn send_fixed(destination: u8, vector: u8) {
    send_ipi(destination, ICR_LEVEL_ASSERT | u32::from(vector));
}

/// This CPU's APIC ID, the destination for routed interrupts.
pub fn id() -> u8 {
    (regs().read32(ID) >> 24) as u8
}

/// Signals end of interrupt for the interrupt being serviced.
pub fn eoi() {
    regs().write32(EOI, 0);
}

/// Starts the timer counting down from `initial` (divide by 16), masked
/// and one-shot: used to measure its rate.
pub fn timer_start_masked(initial: u32) {
    let lapic = regs();
    lapic.write32(TIMER_DIVIDE, DIVIDE_BY_16);
    lapic.write32(LVT_TIMER, LVT_MASKED | u32::from(super::TIMER_VECTOR));
    lapic.write32(TIMER_INITIAL, initial);
}

/// The timer's current count.
pub fn timer_current() -> u32 {
    regs().read32(TIMER_CURRENT)
}

/// Runs the timer periodically: an interrupt on `vector` every `initial`
/// ticks of the bus clock divided by 16.
pub fn timer_start_periodic(vector: u8, initial: u32) {
    let lapic = regs();
    lapic.write32(TIMER_DIVIDE, DIVIDE_BY_16);
    lapic.write32(LVT_TIMER, LVT_TIMER_PERIODIC | u32::from(vector));
    lapic.write32(TIMER_INITIAL, initial);
}

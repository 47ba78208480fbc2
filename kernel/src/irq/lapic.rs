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

/// Maps the local APIC at `phys` (from the MADT) and software-enables it.
pub fn init(phys: PhysAddr) -> Result<(), MapError> {
    let mut msr = Msr::new(APIC_BASE_MSR);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting the global
    // enable bit keeps the base address the firmware chose.
    unsafe {
        let base = msr.read();
        if base & APIC_BASE_ENABLE == 0 {
            msr.write(base | APIC_BASE_ENABLE);
        }
    }
    // SAFETY: `phys` is the local APIC's address from the MADT (the base
    // IA32_APIC_BASE holds, kept above): its 4 KiB register page (SDM vol.
    // 3, 11.4.1), device memory the memory map never calls usable.
    let lapic = LAPIC.try_call_once(|| unsafe { Mmio::map(phys, 0x1000) })?;
    lapic.write32(TASK_PRIORITY, 0);
    lapic.write32(
        SPURIOUS,
        SOFTWARE_ENABLE | u32::from(super::SPURIOUS_VECTOR),
    );
    Ok(())
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

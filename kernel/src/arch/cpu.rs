//! Safe wrappers around individual CPU instructions.

use core::arch::x86_64::{__cpuid_count, _rdtsc, CpuidResult};
use x86_64::instructions::interrupts;

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads a counter; every x86_64 CPU implements it and
    // the bootloader leaves CR4.TSD clear (we run in ring 0 anyway).
    unsafe { _rdtsc() }
}

/// Executes CPUID for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// The highest standard CPUID leaf the CPU implements.
pub fn max_leaf() -> u32 {
    cpuid(0, 0).eax
}

/// Sleeps until the next interrupt, atomically enabling interrupts first.
///
/// `sti` delays interrupt delivery by one instruction, so an interrupt that
/// became pending while the caller checked for work with interrupts off
/// wakes the `hlt` instead of being lost: callers check for work with
/// interrupts disabled and call this only when there is none.
pub fn wait_for_interrupt() {
    // A VM exit under KVM: counted (the wake-up interrupt is counted by
    // its handler).
    crate::exits::this_cpu().halt();
    interrupts::enable_and_hlt();
    // Back to the caller's invariant: interrupts off while it checks for work.
    interrupts::disable();
}

/// Lets interrupts that are pending in while interrupts are off be taken
/// now (`sti; nop; cli`: `sti` holds delivery back for one instruction),
/// for a CPU that polls with interrupts off for long stretches.
pub fn interrupt_window() {
    // SAFETY: `sti; nop; cli` changes nothing but the interrupt flag, which
    // it leaves clear, as the callers (the idle loop) hold it; any handler
    // that runs in between saves and restores everything it touches.
    unsafe { core::arch::asm!("sti", "nop", "cli", options(nomem, nostack)) };
}

/// Stops this CPU for good: interrupts off, halt in a loop (NMIs and SMIs
/// may still wake `hlt`, hence the loop).
pub fn halt_forever() -> ! {
    interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

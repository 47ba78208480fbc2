//! The periodic tick: the local APIC timer at [`HZ`], its rate measured
//! against the (already calibrated) TSC. The tick wakes the idle loop
//! and counts time for coarse timeouts.

use super::{lapic, TIMER_VECTOR};
use crate::time;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use x86_64::structures::idt::InterruptStackFrame;

/// Ticks per second: low, so an idle guest costs the host little.
pub const HZ: u32 = 100;

const CALIBRATION: Duration = Duration::from_millis(10);

/// CPU 0's ticks (each CPU's are in [`crate::exits`], `timer`).
static TICKS: AtomicU64 = AtomicU64::new(0);
/// The periodic count measured by [`start`]: every local APIC timer runs
/// off the same bus clock, so the other CPUs reuse it.
static INITIAL: AtomicU32 = AtomicU32::new(0);

pub(super) extern "x86-interrupt" fn on_tick(_frame: InterruptStackFrame) {
    if crate::arch::percpu::index() == 0 {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
    crate::exits::this_cpu().irq(crate::exits::Irq::Timer);
    lapic::eoi();
}

/// Ticks since the timer started (CPU 0's).
#[allow(
    dead_code,
    reason = "driver API; first used by timeouts in the network stack"
)]
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Measures the timer's rate and starts it periodic at [`HZ`].
pub(super) fn start() {
    lapic::timer_start_masked(u32::MAX);
    time::busy_wait(CALIBRATION);
    let elapsed = u32::MAX - lapic::timer_current();
    let per_second = u64::from(elapsed) * 1000 / CALIBRATION.as_millis() as u64;
    let initial = (per_second / u64::from(HZ)).clamp(1, u64::from(u32::MAX)) as u32;
    log::debug!("local APIC timer: {} Hz after divide-by-16", per_second);
    INITIAL.store(initial, Ordering::Relaxed);
    lapic::timer_start_periodic(TIMER_VECTOR, initial);
}

/// Starts this CPU's timer at [`HZ`] with the rate [`start`] measured on
/// the bootstrap processor (which must have run).
pub fn start_this_cpu() {
    let initial = INITIAL.load(Ordering::Relaxed);
    debug_assert_ne!(initial, 0, "timer not calibrated");
    lapic::timer_start_periodic(TIMER_VECTOR, initial.max(1));
}

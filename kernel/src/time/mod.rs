//! The monotonic clock: the TSC, with its frequency taken from CPUID when
//! the CPU reports it and otherwise measured against the PIT. Nothing
//! assumes a frequency.

mod pit;
mod tsc;

use crate::arch::cpu;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

pub use tsc::Source;

/// TSC value when `kmain` was entered.
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
/// TSC ticks per second; 0 until [`init`] ran.
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Records the boot instant. The very first thing `kmain` does.
pub fn mark_boot() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
}

/// Determines the TSC frequency. Logging is not up yet when this runs;
/// [`log_frequency`] reports the result once it is.
pub fn init() -> Source {
    let (hz, source) = tsc::frequency();
    TSC_HZ.store(hz, Ordering::Relaxed);
    source
}

/// Logs the TSC frequency and where it came from.
pub fn log_frequency(source: Source) {
    let hz = tsc_hz();
    log::info!(
        "TSC {}.{:03} MHz ({source})",
        hz / 1_000_000,
        hz / 1000 % 1000
    );
}

/// TSC ticks per second (0 before [`init`]).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a TSC tick count to a duration (zero before [`init`]).
fn ticks_to_duration(ticks: u64) -> Duration {
    match tsc_hz() {
        0 => Duration::ZERO,
        hz => {
            let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(hz);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }
}

/// Time since `kmain` was entered.
pub fn since_boot() -> Duration {
    let start = BOOT_TSC.load(Ordering::Relaxed);
    ticks_to_duration(cpu::rdtsc().wrapping_sub(start))
}

/// Spins for at least `duration` (needs [`init`]).
pub fn busy_wait(duration: Duration) {
    let ticks = u128::from(tsc_hz()) * duration.as_nanos() / 1_000_000_000;
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    let start = cpu::rdtsc();
    while cpu::rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

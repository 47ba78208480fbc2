//! The idle loop: the one place the CPU waits.
//!
//! Whoever waits for something (the shell for a keystroke) waits here, and
//! while it waits the datapath runs. Policy, as NAPI's:
//!
//! 1. poll the datapath; while frames move, keep polling with device
//!    interrupts off (no interrupt per packet);
//! 2. once idle, keep polling a little longer ([`BUSY_POLL`]) so a
//!    request-response exchange is not slowed by an interrupt round trip;
//! 3. then arm the NICs' interrupts, check once more (the re-arm race:
//!    a frame that arrived before arming raises nothing), and halt.
//!
//! The halt is `sti; hlt` with interrupts off until then, so a wake-up
//! between the last check and the halt is never lost.

use core::time::Duration;

use crate::arch::cpu;
use crate::net;
use crate::time;

/// How long to keep polling after the last frame before sleeping.
const BUSY_POLL: Duration = Duration::from_micros(200);

/// Runs the datapath until `ready` yields a value. Called with interrupts
/// disabled; returns with interrupts disabled.
pub fn wait_for<T>(mut ready: impl FnMut() -> Option<T>) -> T {
    let mut last_work = time::since_boot();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        if net::poll() {
            net::disarm();
            last_work = time::since_boot();
            continue;
        }
        if time::since_boot().saturating_sub(last_work) < BUSY_POLL {
            continue;
        }
        if net::arm() {
            continue;
        }
        cpu::wait_for_interrupt();
        // Woken: poll from the top; the next busy pass disarms.
        last_work = time::since_boot();
    }
}

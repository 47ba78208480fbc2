//! NIC interrupts as wake-ups for the idle loop.
//!
//! PCI INTx is level-triggered and stays asserted until the device's ISR
//! is read, which takes the transport lock: not something to do in an
//! interrupt handler that may have interrupted a holder of that lock. So
//! the handler masks the lines and records the wake-up; the loop reads the
//! ISRs (de-asserting the lines) and unmasks them.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;

use crate::exits::Irq;
use crate::irq::{self, Polarity, Trigger};

static PENDING: AtomicBool = AtomicBool::new(false);
/// Distinct lines the NICs use (QEMU puts several devices on one).
static LINES: Once<Lines> = Once::new();

/// At most this many distinct INTx lines (an I/O APIC has 24 pins).
const MAX_LINES: usize = 24;

struct Lines {
    gsi: [u32; MAX_LINES],
    len: usize,
}

fn on_interrupt() {
    PENDING.store(true, Ordering::Release);
    for &gsi in lines() {
        let _ = irq::set_gsi_masked(gsi, true);
    }
}

fn lines() -> &'static [u32] {
    LINES.get().map_or(&[], |l| &l.gsi[..l.len])
}

/// Route each distinct line once (level-triggered, active high: QEMU's
/// PCI interrupt links on both `pc` and `q35`).
pub fn route(gsis: impl Iterator<Item = u32>) {
    let mut l = Lines {
        gsi: [0; MAX_LINES],
        len: 0,
    };
    for gsi in gsis {
        if l.gsi[..l.len].contains(&gsi) || l.len == MAX_LINES {
            continue;
        }
        match irq::route_gsi(
            gsi,
            Trigger::Level,
            Polarity::ActiveHigh,
            Irq::Nic,
            on_interrupt,
        ) {
            Ok(_) => {
                l.gsi[l.len] = gsi;
                l.len += 1;
            }
            Err(e) => log::warn!("NIC interrupt line {gsi}: {e}; NICs are polled only"),
        }
    }
    LINES.call_once(|| l);
}

/// Whether an interrupt arrived since the last call.
pub fn take() -> bool {
    PENDING.swap(false, Ordering::AcqRel)
}

/// Unmask the lines (after the ISRs were read).
pub fn unmask() {
    for &gsi in lines() {
        let _ = irq::set_gsi_masked(gsi, false);
    }
}

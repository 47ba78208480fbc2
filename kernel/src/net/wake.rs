//! NIC interrupts as wake-ups for the idle loop.
//!
//! With MSI-X (see `virtio::vectors`), a queue pair's message is
//! [`queue_vector`] on the CPU that polls the pair: its handler does
//! nothing, ending that CPU's halt is the point. A configuration change is
//! [`config_vector`] on CPU 0, handled as an INTx wake-up (below) without
//! lines to mask.
//!
//! PCI INTx is level-triggered and stays asserted until the device's ISR
//! is read, which takes the transport lock: not something to do in an
//! interrupt handler that may have interrupted a holder of that lock. So
//! the handler masks the lines and records the wake-up; the loop reads the
//! ISRs (de-asserting the lines) and unmasks them.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use spin::Once;

use crate::exits::Irq;
use crate::irq::{self, Polarity, Trigger};

static PENDING: AtomicBool = AtomicBool::new(false);
/// Bit `n`: CPU `n` (not 0) is about to halt or halted with its pairs'
/// interrupts armed. An INTx wake-up (which only CPU 0 takes) is passed on
/// to these by IPI.
static SLEEPING: AtomicU32 = AtomicU32::new(0);
/// Distinct lines the NICs use (QEMU puts several devices on one).
static LINES: Once<Lines> = Once::new();

/// At most this many distinct INTx lines (an I/O APIC has 24 pins).
const MAX_LINES: usize = 24;

struct Lines {
    gsi: [u32; MAX_LINES],
    len: usize,
}

/// The vector of every queue pair's MSI-X message (allocated once).
pub fn queue_vector() -> Option<u8> {
    static VECTOR: Once<Option<u8>> = Once::new();
    *VECTOR.call_once(|| irq::allocate_vector(Irq::Nic, on_queue).ok())
}

/// The vector of configuration-change messages (allocated once).
pub fn config_vector() -> Option<u8> {
    static VECTOR: Once<Option<u8>> = Once::new();
    *VECTOR.call_once(|| irq::allocate_vector(Irq::Nic, on_config).ok())
}

/// A queue's message woke this CPU: its loop polls its pairs next.
fn on_queue() {}

/// CPU 0 reads the ISRs (link state) on its next pass.
fn on_config() {
    PENDING.store(true, Ordering::Release);
}

fn on_interrupt() {
    PENDING.store(true, Ordering::Release);
    for &gsi in lines() {
        let _ = irq::set_gsi_masked(gsi, true);
    }
    // The line is shared by every queue of every INTx NIC: wake each CPU
    // that sleeps on armed pairs (it polls and re-arms; one with nothing
    // new sleeps again).
    let mut sleeping = SLEEPING.swap(0, Ordering::AcqRel);
    while sleeping != 0 {
        let cpu = sleeping.trailing_zeros() as usize;
        sleeping &= sleeping - 1;
        if let (Some(apic), Some(vector)) = (crate::smp::apic_id(cpu), queue_vector()) {
            crate::irq::lapic::send_fixed(apic as u8, vector);
        }
    }
}

/// This CPU (not 0) armed its pairs and is about to halt: an INTx
/// wake-up must reach it. Call with interrupts off, right before the halt.
pub fn sleep(cpu: usize) {
    if cpu != 0 && cpu < 32 {
        SLEEPING.fetch_or(1 << cpu, Ordering::AcqRel);
    }
}

/// This CPU woke (or found work before halting).
pub fn awake(cpu: usize) {
    if cpu != 0 && cpu < 32 {
        SLEEPING.fetch_and(!(1 << cpu), Ordering::AcqRel);
    }
}

fn lines() -> &'static [u32] {
    LINES.get().map_or(&[], |l| &l.gsi[..l.len])
}

/// Route each distinct line once (level-triggered, active high: QEMU's
/// PCI interrupt links on both `pc` and `q35`). `acknowledge` reads every
/// device's ISR: it runs with the lines routed but still masked, so a line
/// a device raised before (a multi-queue NIC's control queue answers at
/// probe time) is low again when the I/O APIC starts watching it as
/// level-triggered; its next interrupt is then a fresh one. (A line that
/// rose while its pin was still the reset default and stays up never
/// reaches the CPU under QEMU's I/O APIC: its IRR shows nothing pending
/// while the PIC sees the line high.)
pub fn route(gsis: impl Iterator<Item = u32>, acknowledge: impl FnOnce()) {
    let mut l = Lines {
        gsi: [0; MAX_LINES],
        len: 0,
    };
    for gsi in gsis {
        if l.gsi[..l.len].contains(&gsi) || l.len == MAX_LINES {
            continue;
        }
        match irq::route_gsi_masked(
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
    // The vector the handler passes wake-ups on with: allocated here, so
    // the handler never allocates one.
    let _ = queue_vector();
    // Unmasked only once the handler knows every line: a line may be
    // asserted already (a multi-queue NIC's control queue answered at
    // probe time), and a handler that could not mask it would see it again
    // at every end of interrupt.
    LINES.call_once(|| l);
    acknowledge();
    unmask();
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

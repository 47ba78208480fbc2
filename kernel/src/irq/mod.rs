//! Interrupt delivery: local APIC and I/O APICs found through ACPI, the
//! legacy 8259 PICs remapped and masked, and a table of device handlers.
//!
//! Vector map:
//!
//! | vectors     | use                                                  |
//! |-------------|------------------------------------------------------|
//! | 0x00-0x1f   | CPU exceptions ([`crate::arch::exceptions`])         |
//! | 0x20-0x2f   | legacy PICs, remapped here and masked (spurious only)|
//! | 0x30        | local APIC timer ([`timer`])                         |
//! | 0x31-0x4f   | device interrupts, handed out by [`route_isa`],      |
//! |             | [`route_gsi`] and [`allocate_vector`]                |
//! | 0xff        | local APIC spurious interrupt                        |
//!
//! Device handlers run with interrupts off; they must acknowledge their
//! device (level-triggered lines stay asserted until they do) and return
//! quickly. The end-of-interrupt to the local APIC is sent for them.

mod ioapic;
pub mod lapic;
mod pic;
pub mod timer;

use crate::exits::{self, Irq};
use crate::firmware::acpi::{IsaOverride, Platform};
use crate::mem::paging::MapError;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Once;
use x86_64::instructions::interrupts;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

pub const PIC_BASE_VECTOR: u8 = 0x20;
pub const TIMER_VECTOR: u8 = 0x30;
const DEVICE_BASE_VECTOR: u8 = 0x31;
const DEVICE_VECTORS: usize = 31;
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// A device interrupt handler.
pub type Handler = fn();

/// Signal level that means "interrupt".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    ActiveHigh,
    ActiveLow,
}

/// How an interrupt line signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Edge,
    Level,
}

/// Why an interrupt could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// All device vectors are taken.
    NoFreeVector,
    /// No I/O APIC serves this global system interrupt.
    NoIoApicFor(u32),
    /// Mapping the controller's registers failed.
    Map(MapError),
}

impl From<MapError> for Error {
    fn from(error: MapError) -> Self {
        Error::Map(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::NoFreeVector => write!(f, "no free interrupt vector"),
            Error::NoIoApicFor(gsi) => write!(f, "no I/O APIC serves GSI {gsi}"),
            Error::Map(error) => write!(f, "cannot map interrupt controller: {error:?}"),
        }
    }
}

/// Each device vector's handler, and what it counts as in [`exits`].
static HANDLERS: [Once<(Handler, Irq)>; DEVICE_VECTORS] = [const { Once::new() }; DEVICE_VECTORS];
static NEXT_VECTOR: AtomicUsize = AtomicUsize::new(0);
static ISA_OVERRIDES: Once<Vec<IsaOverride>> = Once::new();

/// Runs the handler of device vector slot `index`, then signals EOI.
fn dispatch(index: usize) {
    match HANDLERS[index].get() {
        Some(&(handler, kind)) => {
            exits::this_cpu().irq(kind);
            handler();
        }
        None => exits::this_cpu().irq(Irq::Other),
    }
    lapic::eoi();
}

/// One entry stub per device vector: the CPU does not pass the vector
/// number to a handler, so each stub bakes its own in.
macro_rules! device_stubs {
    ($($index:literal)*) => {
        const STUBS: [extern "x86-interrupt" fn(InterruptStackFrame); DEVICE_VECTORS] = [$({
            extern "x86-interrupt" fn stub(_frame: InterruptStackFrame) {
                dispatch($index)
            }
            stub
        }),*];
    };
}
device_stubs!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30);

/// A masked PIC can still raise its spurious IRQ 7/15; there is nothing
/// to acknowledge.
extern "x86-interrupt" fn legacy_spurious(_frame: InterruptStackFrame) {
    exits::this_cpu().irq(Irq::Other);
}

/// The local APIC's spurious vector must not be acknowledged.
extern "x86-interrupt" fn apic_spurious(_frame: InterruptStackFrame) {
    exits::this_cpu().irq(Irq::Other);
}

/// Fills in the IDT gates for vectors 0x20 and up.
pub fn install(idt: &mut InterruptDescriptorTable) {
    for vector in PIC_BASE_VECTOR..PIC_BASE_VECTOR + 16 {
        idt[vector].set_handler_fn(legacy_spurious);
    }
    idt[TIMER_VECTOR].set_handler_fn(timer::on_tick);
    for (offset, stub) in STUBS.iter().enumerate() {
        idt[DEVICE_BASE_VECTOR + offset as u8].set_handler_fn(*stub);
    }
    idt[SPURIOUS_VECTOR].set_handler_fn(apic_spurious);
}

/// Masks the PICs, brings up the local APIC, the I/O APICs and the timer,
/// then enables interrupts.
pub fn init(platform: &Platform) -> Result<(), Error> {
    // Remap even if ACPI says there are no PICs: it costs nothing and keeps
    // a stray PIC interrupt off the exception vectors.
    pic::remap_and_mask(PIC_BASE_VECTOR);
    lapic::init(platform.local_apic)?;
    ioapic::init(&platform.io_apics)?;
    ISA_OVERRIDES.call_once(|| platform.isa_overrides.clone());
    timer::start();
    interrupts::enable();
    Ok(())
}

/// Reserves a device vector that runs `handler`, its interrupts counted
/// as `kind` (for MSI, or when routing by hand).
pub fn allocate_vector(kind: Irq, handler: Handler) -> Result<u8, Error> {
    let index = NEXT_VECTOR.fetch_add(1, Ordering::Relaxed);
    let slot = HANDLERS.get(index).ok_or(Error::NoFreeVector)?;
    slot.call_once(|| (handler, kind));
    Ok(DEVICE_BASE_VECTOR + index as u8)
}

/// The GSI, trigger and polarity of ISA IRQ `irq` after the MADT's
/// interrupt source overrides (e.g. the PIT's IRQ 0 is GSI 2 on QEMU).
pub fn isa_to_gsi(irq: u8) -> (u32, Trigger, Polarity) {
    ISA_OVERRIDES
        .get()
        .and_then(|overrides| overrides.iter().find(|o| o.isa_irq == irq))
        .map_or((u32::from(irq), Trigger::Edge, Polarity::ActiveHigh), |o| {
            (o.gsi, o.trigger, o.polarity)
        })
}

/// Routes global system interrupt `gsi` to a new vector running `handler`
/// on this CPU (its interrupts counted as `kind`), and unmasks it.
/// Returns the vector.
pub fn route_gsi(
    gsi: u32,
    trigger: Trigger,
    polarity: Polarity,
    kind: Irq,
    handler: Handler,
) -> Result<u8, Error> {
    route(gsi, (trigger, polarity), kind, handler, false)
}

/// [`route_gsi`], but the line stays masked until [`set_gsi_masked`]
/// unmasks it: for a handler that must know its lines before the first
/// interrupt (a level-triggered line may already be asserted).
pub fn route_gsi_masked(
    gsi: u32,
    trigger: Trigger,
    polarity: Polarity,
    kind: Irq,
    handler: Handler,
) -> Result<u8, Error> {
    route(gsi, (trigger, polarity), kind, handler, true)
}

fn route(
    gsi: u32,
    (trigger, polarity): (Trigger, Polarity),
    kind: Irq,
    handler: Handler,
    masked: bool,
) -> Result<u8, Error> {
    let vector = allocate_vector(kind, handler)?;
    ioapic::route(gsi, vector, trigger, polarity, lapic::id(), masked)?;
    Ok(vector)
}

/// Routes ISA IRQ `irq` (honouring ACPI overrides) to `handler`.
pub fn route_isa(irq: u8, kind: Irq, handler: Handler) -> Result<u8, Error> {
    let (gsi, trigger, polarity) = isa_to_gsi(irq);
    route_gsi(gsi, trigger, polarity, kind, handler)
}

/// Masks or unmasks a routed GSI.
pub fn set_gsi_masked(gsi: u32, masked: bool) -> Result<(), Error> {
    ioapic::set_masked(gsi, masked)
}

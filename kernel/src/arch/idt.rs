//! The interrupt descriptor table: CPU exceptions (vectors 0-31) and the
//! external interrupt vectors owned by [`crate::irq`].

use super::exceptions;
use spin::Once;
use x86_64::structures::idt::InterruptDescriptorTable;

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT. Every gate points at a fixed handler, so the
/// table never changes after this; interrupt sources are attached later by
/// filling in [`crate::irq`]'s dispatch table.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        exceptions::install(&mut idt);
        crate::irq::install(&mut idt);
        idt
    });
    idt.load();
}

/// Loads the IDT [`init`] built on the CPU running this (an application
/// processor: the table is shared, every gate is per-CPU safe).
pub fn load() {
    IDT.get().expect("IDT not built").load();
}

//! The legacy 8259 PIC pair: remapped off the exception vectors, then
//! fully masked. The I/O APIC takes over their inputs.

use crate::arch::pio;

const MASTER_COMMAND: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_COMMAND: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;

const ICW1_INIT_WITH_ICW4: u8 = 0x11;
const ICW4_8086: u8 = 0x01;
const SLAVE_ON_IRQ2: u8 = 1 << 2;
const SLAVE_CASCADE_ID: u8 = 2;
const MASK_ALL: u8 = 0xff;

fn outb(port: u16, value: u8) {
    // SAFETY: the PIC command/data ports only program the PICs, and
    // port 0x80 (POST codes) is a conventional I/O delay with no effect.
    unsafe {
        pio::write::<u8>(port, value);
        pio::write::<u8>(0x80, 0);
    }
}

/// Moves the PICs' vectors to `base..base + 16` and masks every line.
pub fn remap_and_mask(base: u8) {
    outb(MASTER_COMMAND, ICW1_INIT_WITH_ICW4);
    outb(SLAVE_COMMAND, ICW1_INIT_WITH_ICW4);
    outb(MASTER_DATA, base);
    outb(SLAVE_DATA, base + 8);
    outb(MASTER_DATA, SLAVE_ON_IRQ2);
    outb(SLAVE_DATA, SLAVE_CASCADE_ID);
    outb(MASTER_DATA, ICW4_8086);
    outb(SLAVE_DATA, ICW4_8086);
    outb(MASTER_DATA, MASK_ALL);
    outb(SLAVE_DATA, MASK_ALL);
}

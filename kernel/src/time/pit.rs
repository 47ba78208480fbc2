//! TSC calibration against channel 2 of the 8254 PIT, whose 1.193182 MHz
//! input clock is the one frequency a PC is guaranteed to have.
//!
//! Channel 2 is used because its gate is under software control (port 0x61)
//! and its output can be read back there, so no interrupt is involved.

use crate::arch::{cpu, pio};

const PIT_HZ: u64 = 1_193_182;
const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// NMI status and control: bit 0 gates channel 2, bit 1 enables the
/// speaker, bit 5 reads back channel 2's output.
const PORT_B: u16 = 0x61;
const GATE2: u8 = 0x01;
const SPEAKER: u8 = 0x02;
const OUT2: u8 = 0x20;
/// Channel 2, low byte then high byte, mode 0 (interrupt on terminal
/// count: OUT2 goes high when the count reaches zero), binary.
const CHANNEL2_MODE0: u8 = 0b1011_0000;

/// Length of one measurement window: 10 ms.
const WINDOW_COUNT: u16 = (PIT_HZ / 100) as u16;
const WINDOWS: usize = 3;

fn outb(port: u16, value: u8) {
    // SAFETY: only the PIT command/channel-2 ports and port B are written;
    // they control the timer and the speaker gate, nothing memory-related.
    unsafe { pio::write::<u8>(port, value) }
}

fn inb(port: u16) -> u8 {
    // SAFETY: reading port B has no side effects.
    unsafe { pio::read::<u8>(port) }
}

/// TSC ticks during one 10 ms PIT window.
fn measure_window() -> u64 {
    // Gate on, speaker off, then load the count: counting starts now.
    outb(PORT_B, (inb(PORT_B) & !SPEAKER) | GATE2);
    outb(COMMAND, CHANNEL2_MODE0);
    let [low, high] = WINDOW_COUNT.to_le_bytes();
    outb(CHANNEL2_DATA, low);
    outb(CHANNEL2_DATA, high);
    let start = cpu::rdtsc();
    while inb(PORT_B) & OUT2 == 0 {
        core::hint::spin_loop();
    }
    cpu::rdtsc().wrapping_sub(start)
}

/// Measures the TSC frequency. Disturbances (an SMI, the host preempting
/// the vCPU between two polls) only ever lengthen a window, so the
/// shortest of a few wins.
pub fn measure_tsc_hz() -> u64 {
    let ticks = (0..WINDOWS).map(|_| measure_window()).min().unwrap_or(0);
    outb(PORT_B, inb(PORT_B) & !GATE2);
    ticks * PIT_HZ / u64::from(WINDOW_COUNT)
}

//! Serial input: the COM1 receive interrupt fills a ring buffer and
//! `kmain`'s loop drains it into the shell between passes of the idle loop
//! (which halts the CPU while there is nothing to do).
//!
//! Flow control: when the ring is full the interrupt handler leaves the
//! remaining bytes in the UART and disables its receive interrupt; QEMU then
//! stops taking bytes from the host, so a fast sender loses nothing. The
//! reader re-enables the interrupt once it has made room.

use super::serial::{Uart, COM1};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

const CAPACITY: usize = 1024;

/// A fixed-size FIFO of bytes.
struct ByteRing {
    buf: [u8; CAPACITY],
    head: usize,
    len: usize,
}

impl ByteRing {
    const fn new() -> Self {
        Self {
            buf: [0; CAPACITY],
            head: 0,
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == CAPACITY
    }

    fn push(&mut self, byte: u8) {
        debug_assert!(!self.is_full());
        self.buf[(self.head + self.len) % CAPACITY] = byte;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf[self.head];
        self.head = (self.head + 1) % CAPACITY;
        self.len -= 1;
        Some(byte)
    }
}

/// Locked by the interrupt handler and, with interrupts off, by the reader:
/// on one CPU the two can never spin against each other.
static RX: Mutex<ByteRing> = Mutex::new(ByteRing::new());
/// The ring filled up and the receive interrupt is off.
static PAUSED: AtomicBool = AtomicBool::new(false);

const UART: Uart = COM1;

/// COM1 receive interrupt: move everything the UART holds into the ring.
pub fn on_interrupt() {
    let mut ring = RX.lock();
    while !ring.is_full() {
        match UART.try_read() {
            Some(byte) => ring.push(byte),
            None => return,
        }
    }
    UART.set_rx_interrupt(false);
    PAUSED.store(true, Ordering::Relaxed);
}

/// Turns on the receive interrupt once its IRQ is routed to
/// [`on_interrupt`].
pub fn enable_interrupt() {
    UART.set_rx_interrupt(true);
}

/// How often a second the reader looks at the UART itself while no byte
/// comes: the receive interrupt cannot fire while the idle loop polls with
/// interrupts off, which it does for as long as frames flow, and each look
/// is port I/O, a VM exit under KVM. So once a millisecond, not once per
/// datapath pass; while bytes keep coming (a pasted line) every pass.
const UART_POLLS_PER_SEC: u64 = 1000;

/// TSC of the reader's last look at the UART that found nothing.
static LAST_UART_POLL: AtomicU64 = AtomicU64::new(0);

/// Looks at the UART if a byte came last time or [`UART_POLLS_PER_SEC`]
/// says so (cheap otherwise: one `rdtsc`).
fn poll_uart() -> Option<u8> {
    let now = crate::arch::cpu::rdtsc();
    let period = crate::time::tsc_hz() / UART_POLLS_PER_SEC;
    if now.wrapping_sub(LAST_UART_POLL.load(Ordering::Relaxed)) < period {
        return None;
    }
    let byte = UART.try_read();
    // A byte: look again on the next pass; none: not for a period.
    LAST_UART_POLL.store(if byte.is_some() { 0 } else { now }, Ordering::Relaxed);
    byte
}

/// Takes one byte if one came, without waiting: from the ring, else
/// straight from the UART (see [`poll_uart`]; this also covers input that
/// arrived while the interrupt was paused or could not be taken). Call with
/// interrupts disabled (the ring's lock is shared with the interrupt
/// handler; and `kmain` halts only after this found nothing, with
/// interrupts still off, so a byte arriving in between wakes the halt).
pub fn try_read_byte() -> Option<u8> {
    let ring = RX.lock().pop();
    let byte = ring.or_else(poll_uart);
    if byte.is_some() && PAUSED.swap(false, Ordering::Relaxed) {
        UART.set_rx_interrupt(true);
    }
    byte
}

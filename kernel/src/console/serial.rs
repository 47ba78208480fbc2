//! A minimal 16550 UART driver (polled transmit, interrupt-driven receive).

use crate::arch::pio;

/// The first serial port (the console), at its standard PC I/O base.
// SAFETY: 0x3f8-0x3ff is COM1 on every PC QEMU models (and the I/O range
// no other device of ours decodes); with no UART there, reads return 0xff
// and writes go nowhere.
pub const COM1: Uart = unsafe { Uart::new(0x3f8) };

/// The second serial port (pcap capture), at its standard PC I/O base.
// SAFETY: 0x2f8-0x2ff is COM2, as for COM1; `--pcap` gives QEMU a second
// 16550 there, and without one the port decodes nothing.
pub const COM2: Uart = unsafe { Uart::new(0x2f8) };

// Register offsets from the I/O base (DLAB=0 unless noted).
const DATA: u16 = 0; // RBR on read, THR on write; divisor low with DLAB=1
const IER: u16 = 1; // interrupt enable; divisor high with DLAB=1
const FCR: u16 = 2; // FIFO control (write only)
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;

const IER_RX_AVAILABLE: u8 = 0x01;
const LCR_8N1: u8 = 0x03;
const LCR_DLAB: u8 = 0x80;
/// Enable and clear both FIFOs; raise the receive interrupt at 1 byte so
/// every keystroke wakes the idle loop at once.
const FCR_ENABLE_CLEAR_TRIGGER1: u8 = 0x07;
/// DTR | RTS | OUT2. OUT2 gates the UART's interrupt line on PC hardware.
const MCR_DTR_RTS_OUT2: u8 = 0x0b;
const LSR_DATA_READY: u8 = 0x01;
const LSR_THR_EMPTY: u8 = 0x20;

/// 115200 baud = 115200 / divisor.
const DIVISOR_115200: u16 = 1;

/// A 16550-compatible UART at a fixed I/O base.
///
/// The type holds no state besides the base: all state is in the device, so
/// several handles to the same port are harmless (the console serializes
/// ordinary output with a lock; the panic path deliberately does not).
#[derive(Clone, Copy)]
pub struct Uart {
    base: u16,
}

impl Uart {
    /// A handle to the UART at `base`. Use [`COM1`] or [`COM2`].
    ///
    /// # Safety
    ///
    /// `base..base + 8` must be the I/O ports of a 16550-compatible UART
    /// (or decode nothing): the safe methods read and write those ports,
    /// which on another device could do anything (reprogram an interrupt
    /// controller, start DMA).
    pub const unsafe fn new(base: u16) -> Self {
        Self { base }
    }

    fn read(self, reg: u16) -> u8 {
        // SAFETY: the register lies in the UART's I/O range (`Uart::new`'s
        // contract: `base` is a 16550's, or nothing's); reading a 16550
        // register has no effect beyond the device (RBR pops its FIFO,
        // which is what callers of `try_read` want).
        unsafe { pio::read::<u8>(self.base + reg) }
    }

    fn write(self, reg: u16, value: u8) {
        // SAFETY: the register lies in the UART's I/O range (`Uart::new`'s
        // contract) and only programs the UART itself.
        unsafe { pio::write::<u8>(self.base + reg, value) }
    }

    /// Programs 115200 8N1 with FIFOs on; interrupts stay off until
    /// [`Uart::set_rx_interrupt`].
    pub fn init(self) {
        self.write(IER, 0);
        self.write(LCR, LCR_DLAB);
        let [low, high] = DIVISOR_115200.to_le_bytes();
        self.write(DATA, low);
        self.write(IER, high);
        self.write(LCR, LCR_8N1);
        self.write(FCR, FCR_ENABLE_CLEAR_TRIGGER1);
        self.write(MCR, MCR_DTR_RTS_OUT2);
    }

    /// Sends one byte, waiting for room in the transmit holding register.
    pub fn write_byte(self, byte: u8) {
        while self.read(LSR) & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        self.write(DATA, byte);
    }

    /// Takes one received byte, if any.
    pub fn try_read(self) -> Option<u8> {
        (self.read(LSR) & LSR_DATA_READY != 0).then(|| self.read(DATA))
    }

    /// Enables or disables the "received data available" interrupt.
    pub fn set_rx_interrupt(self, enabled: bool) {
        self.write(IER, if enabled { IER_RX_AVAILABLE } else { 0 });
    }
}

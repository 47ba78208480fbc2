//! smoltcp's `Device` over the host port's rings: receive reads the frame
//! the switch delivered into the rx ring, transmit writes into the next
//! free tx slot (sent into the switch at the next txsync). No allocation:
//! frames live in the port's buffers; a scratch buffer made at creation
//! absorbs the (unexpected) case of a frame larger than a buffer.

use netmap::NetmapRing;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest Ethernet frame the stack sends (1500 MTU + header).
pub const MTU: usize = 1514;

pub struct RingDevice<'a> {
    pub tx: &'a mut NetmapRing,
    pub rx: &'a mut NetmapRing,
    pub scratch: &'a mut [u8],
    /// Frames read and written during this pass.
    pub received: u32,
    pub sent: u32,
}

pub struct Rx<'a> {
    ring: &'a mut NetmapRing,
    count: &'a mut u32,
}

pub struct Tx<'a> {
    ring: &'a mut NetmapRing,
    scratch: &'a mut [u8],
    count: &'a mut u32,
}

impl phy::Device for RingDevice<'_> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        if self.rx.is_empty() {
            return None;
        }
        Some((
            Rx {
                ring: self.rx,
                count: &mut self.received,
            },
            Tx {
                ring: self.tx,
                scratch: self.scratch,
                count: &mut self.sent,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        if self.tx.is_empty() {
            return None;
        }
        Some(Tx {
            ring: self.tx,
            scratch: self.scratch,
            count: &mut self.sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(64);
        caps
    }
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let i = self.ring.head;
        let r = f(self.ring.frame(i).unwrap_or(&[]));
        self.ring.advance(1);
        *self.count += 1;
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let i = self.ring.head;
        // A tx slot the application holds always has a buffer; a frame
        // that does not fit goes to the scratch buffer and is not sent.
        match self.ring.buf_mut(i) {
            Ok(buf) if len <= buf.len() => {
                let r = f(&mut buf[..len]);
                let slot = &mut self.ring.slot[i as usize];
                slot.len = len as u16;
                slot.flags = 0;
                self.ring.advance(1);
                *self.count += 1;
                r
            }
            _ => {
                let n = len.min(self.scratch.len());
                f(&mut self.scratch[..n])
            }
        }
    }
}

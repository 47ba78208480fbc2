//! Configuration space: function addresses, the access mechanisms'
//! common interface, and the standard header layout.

use core::fmt;

/// Bus, device and function of one PCI function (segment 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PciAddress {
    pub bus: u8,
    /// 0..32
    pub device: u8,
    /// 0..8
    pub function: u8,
}

impl PciAddress {
    pub const fn new(bus: u8, device: u8, function: u8) -> Self {
        Self {
            bus,
            device,
            function,
        }
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{:x}",
            self.bus, self.device, self.function
        )
    }
}

// Offsets into the common configuration header.
pub const VENDOR_ID: u16 = 0x00;
pub const COMMAND: u16 = 0x04;
/// Revision (byte 0), programming interface, subclass, class (byte 3).
pub const CLASS_REVISION: u16 = 0x08;
pub const HEADER_TYPE: u16 = 0x0e;
pub const BAR0: u16 = 0x10;
/// Bridges (header type 1): primary, secondary, subordinate bus numbers.
pub const BRIDGE_BUSES: u16 = 0x18;
pub const INTERRUPT_LINE: u16 = 0x3c;

/// Command register bits.
pub const COMMAND_IO: u16 = 1 << 0;
pub const COMMAND_MEMORY: u16 = 1 << 1;
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// Vendor ID of an absent function.
pub const NO_VENDOR: u16 = 0xffff;

/// A configuration space access mechanism: port I/O (CAM) or memory
/// mapped (ECAM). Accesses are whole, aligned dwords; narrower reads are
/// derived. Implementations serialize internally, so `&self` suffices.
pub trait ConfigAccess: Send + Sync {
    /// Reads the dword at `offset` (4-byte aligned). Absent functions and
    /// out-of-range offsets read as all ones.
    fn read32(&self, address: PciAddress, offset: u16) -> u32;

    /// Writes the dword at `offset` (4-byte aligned); ignored for offsets
    /// the mechanism cannot reach.
    fn write32(&self, address: PciAddress, offset: u16, value: u32);

    /// Short name for logs: "port I/O" or "ECAM".
    fn name(&self) -> &'static str;

    fn read16(&self, address: PciAddress, offset: u16) -> u16 {
        (self.read32(address, offset & !3) >> ((offset & 2) * 8)) as u16
    }

    fn read8(&self, address: PciAddress, offset: u16) -> u8 {
        (self.read32(address, offset & !3) >> ((offset & 3) * 8)) as u8
    }

    /// Writes the command register. The status register shares its dword;
    /// its bits are write-one-to-clear, so writing zeros there is a no-op.
    fn write_command(&self, address: PciAddress, command: u16) {
        self.write32(address, COMMAND, u32::from(command));
    }
}

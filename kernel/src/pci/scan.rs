//! Bus enumeration: a depth-first walk from the host bridges through
//! PCI-to-PCI bridges, recording every function found.

use super::bar::{self, Bar};
use super::config::{
    ConfigAccess, PciAddress, BRIDGE_BUSES, CLASS_REVISION, HEADER_TYPE, INTERRUPT_LINE, NO_VENDOR,
    VENDOR_ID,
};
use alloc::vec::Vec;

const MULTI_FUNCTION: u8 = 0x80;
const HEADER_LAYOUT: u8 = 0x7f;
const LAYOUT_DEVICE: u8 = 0x00;
const LAYOUT_PCI_BRIDGE: u8 = 0x01;
const CLASS_BRIDGE: u8 = 0x06;
const SUBCLASS_HOST_BRIDGE: u8 = 0x00;
const NO_INTERRUPT_LINE: u8 = 0xff;

/// One function found on the bus, with its decoded BARs.
#[derive(Debug, Clone)]
#[allow(
    dead_code,
    reason = "fields for drivers; first used by the virtio-net driver"
)]
pub struct PciFunction {
    pub address: PciAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    /// Header layout: 0 device, 1 PCI-to-PCI bridge, 2 CardBus bridge.
    pub header_layout: u8,
    /// Interrupt pin: 1..=4 for INTA#..INTD#, `None` if the function has
    /// no legacy interrupt.
    pub interrupt_pin: Option<u8>,
    /// The legacy (8259) IRQ the firmware routed the pin to, if any.
    pub interrupt_line: Option<u8>,
    pub bars: [Option<Bar>; 6],
}

impl PciFunction {
    /// Implemented BARs with their indices.
    pub fn bars(&self) -> impl Iterator<Item = (usize, &Bar)> {
        self.bars
            .iter()
            .enumerate()
            .filter_map(|(index, bar)| Some((index, bar.as_ref()?)))
    }
}

struct Scanner<'a> {
    cfg: &'a dyn ConfigAccess,
    found: Vec<PciFunction>,
    /// Buses already walked: a misconfigured bridge must not loop us.
    visited: [bool; 256],
}

impl Scanner<'_> {
    fn bus(&mut self, bus: u8) {
        if core::mem::replace(&mut self.visited[usize::from(bus)], true) {
            return;
        }
        for device in 0..32 {
            self.device(bus, device);
        }
    }

    fn device(&mut self, bus: u8, device: u8) {
        let first = PciAddress::new(bus, device, 0);
        if self.cfg.read16(first, VENDOR_ID) == NO_VENDOR {
            return;
        }
        let functions = if self.cfg.read8(first, HEADER_TYPE) & MULTI_FUNCTION != 0 {
            8
        } else {
            1
        };
        for function in 0..functions {
            let address = PciAddress::new(bus, device, function);
            if self.cfg.read16(address, VENDOR_ID) != NO_VENDOR {
                self.function(address);
            }
        }
    }

    fn function(&mut self, address: PciAddress) {
        let id = self.cfg.read32(address, VENDOR_ID);
        let [revision, prog_if, subclass, class] =
            self.cfg.read32(address, CLASS_REVISION).to_le_bytes();
        let header_layout = self.cfg.read8(address, HEADER_TYPE) & HEADER_LAYOUT;
        let [line, pin, ..] = self.cfg.read32(address, INTERRUPT_LINE).to_le_bytes();
        let bar_count = match header_layout {
            LAYOUT_DEVICE => 6,
            LAYOUT_PCI_BRIDGE => 2,
            _ => 0,
        };
        let host_bridge = class == CLASS_BRIDGE && subclass == SUBCLASS_HOST_BRIDGE;
        let interrupt_pin = (1..=4).contains(&pin).then_some(pin);
        self.found.push(PciFunction {
            address,
            vendor_id: id as u16,
            device_id: (id >> 16) as u16,
            class,
            subclass,
            prog_if,
            revision,
            header_layout,
            interrupt_pin,
            interrupt_line: interrupt_pin.and((line != NO_INTERRUPT_LINE).then_some(line)),
            bars: bar::probe_all(self.cfg, address, bar_count, host_bridge),
        });
        if header_layout == LAYOUT_PCI_BRIDGE {
            let [_primary, secondary, ..] = self.cfg.read32(address, BRIDGE_BUSES).to_le_bytes();
            // Secondary bus 0 means the firmware left the bridge unconfigured.
            if secondary != 0 {
                self.bus(secondary);
            }
        }
    }
}

/// Enumerates every function reachable from the host bridges.
pub fn scan(cfg: &dyn ConfigAccess) -> Vec<PciFunction> {
    let mut scanner = Scanner {
        cfg,
        found: Vec::new(),
        visited: [false; 256],
    };
    let root = PciAddress::new(0, 0, 0);
    if cfg.read8(root, HEADER_TYPE) & MULTI_FUNCTION == 0 {
        scanner.bus(0);
    } else {
        // A multi-function host bridge: function N is the host bridge of
        // bus N.
        for function in 0..8 {
            if cfg.read16(PciAddress::new(0, 0, function), VENDOR_ID) != NO_VENDOR {
                scanner.bus(function);
            }
        }
    }
    scanner.found.sort_by_key(|function| function.address);
    scanner.found
}

//! `virtio-drivers`' PCI configuration access over the kernel's PCI layer
//! (port I/O on `pc`, ECAM on `q35`: whichever [`crate::pci::config`] is).

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

use crate::pci::{self, PciAddress};

/// Configuration access for `virtio-drivers`' `PciRoot`.
pub struct KernelCam;

impl ConfigurationAccess for KernelCam {
    fn read_word(&self, df: DeviceFunction, register_offset: u8) -> u32 {
        pci::config().read32(address(df), u16::from(register_offset))
    }

    fn write_word(&mut self, df: DeviceFunction, register_offset: u8, data: u32) {
        pci::config().write32(address(df), u16::from(register_offset), data);
    }

    unsafe fn unsafe_clone(&self) -> Self {
        // Stateless: the kernel's mechanism serialises accesses itself.
        KernelCam
    }
}

fn address(df: DeviceFunction) -> PciAddress {
    PciAddress::new(df.bus, df.device, df.function)
}

/// The `virtio-drivers` name of a function.
pub fn device_function(a: PciAddress) -> DeviceFunction {
    DeviceFunction {
        bus: a.bus,
        device: a.device,
        function: a.function,
    }
}

//! virtio-net PCI devices driven as netmap NIC ports.
//!
//! `virtio-drivers`' [`PciTransport`](virtio_drivers::transport::pci::PciTransport)
//! finds the device's capabilities, negotiates features and programs the
//! queue addresses; the queues themselves are ours (`virtq`), laid out so
//! that descriptor chain *i* is kring slot *i* (`netmap-virtio`). The 12-byte
//! virtio-net header travels in its own descriptor, fixed per slot, so
//! netmap buffers hold the frame from byte 0 and nothing is ever copied
//! between the ring and the device.
//!
//! Interrupts (INTx, level-triggered, through the I/O APIC) only wake the
//! idle loop: the handler masks the line and records the wake-up; the loop
//! acknowledges the device (reading the ISR de-asserts INTx), unmasks, and
//! polls. While traffic flows the queues run with interrupts suppressed.

pub mod cam;
pub mod device;
pub mod features;
pub mod hal;
pub mod notify;

//! virtio-net PCI devices driven as netmap NIC ports.
//!
//! `virtio-drivers`' [`PciTransport`](virtio_drivers::transport::pci::PciTransport)
//! finds the device's capabilities, negotiates features and programs the
//! queue addresses; the queues themselves are ours (`virtq`), laid out as
//! fixed two-descriptor chains, each carrying one kring slot's buffer and
//! handed out in ring order (`netmap-virtio`). The 12-byte virtio-net
//! header travels in its own descriptor, fixed per chain, so netmap
//! buffers hold the frame from byte 0 and nothing is ever copied between
//! the ring and the device. Used elements may come back in any order
//! (and, with `VIRTIO_F_IN_ORDER`, in batches); the krings still move in
//! ring order.
//!
//! Interrupts only wake an idle loop. With MSI-X ([`vectors`]) each queue
//! pair's message goes to the CPU that polls the pair, and configuration
//! changes to CPU 0. Without it, INTx (level-triggered, through the I/O
//! APIC) goes to CPU 0, which then polls every pair: the handler masks the
//! line and records the wake-up; the loop acknowledges the device (reading
//! the ISR de-asserts INTx), unmasks, and polls. While traffic flows the
//! queues run with interrupts suppressed.

pub mod cam;
pub mod caps;
pub mod device;
pub mod features;
pub mod hal;
pub mod notify;
pub mod vectors;

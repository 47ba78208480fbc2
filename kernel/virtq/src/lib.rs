//! Split virtqueues, seen from the driver (virtio 1.2, section 2.7).
//!
//! This crate knows the memory layout of a split virtqueue and the rules
//! for publishing buffers to a device and taking them back; it knows
//! nothing about PCI, features negotiation or any device type. The kernel
//! sets a queue up through `virtio-drivers`' transport, hands the queue's
//! memory to [`QueueMem::new`], and drives it with [`Virtqueue`].
//!
//! Why not `virtio-drivers`' own `VirtQueue`: it allocates descriptor
//! indices itself, kicks once per buffer and cannot suppress interrupts
//! under `VIRTIO_F_EVENT_IDX`. A netmap NIC port needs the opposite: the
//! descriptor chains are fixed and handed out in ring order by the caller
//! (each carries one ring slot's buffer; the same order is what
//! `VIRTIO_F_IN_ORDER` asks of a driver), the driver publishes a whole
//! batch and kicks once, and interrupts are off while the datapath is
//! busy.
//!
//! # Trust
//!
//! The device writes the used ring. Nothing it writes is trusted: a used
//! index that runs ahead of what was made available is reported as
//! [`UsedError`], and the caller validates ids and lengths against what it
//! posted (see [`UsedElem`]).
//!
//! # Memory model
//!
//! Queue memory is shared with a device that is not part of the Rust
//! abstract machine. Every field is accessed through atomics (the
//! Linux-kernel equivalent of `READ_ONCE`/`WRITE_ONCE`), with the
//! barriers section 2.7.13 asks for: a release store publishes the
//! avail index after the ring entries, an acquire load of the used index
//! precedes reading used elements, and a full fence separates publishing
//! from reading the device's notification-suppression fields.
//!
//! `unsafe` is confined to [`mem`], where a raw region becomes typed views.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "sim"))]
extern crate alloc;

pub mod event;
pub mod layout;
pub mod mem;
pub mod queue;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use layout::QueueLayout;
pub use mem::QueueMem;
pub use queue::{QueueState, UsedElem, UsedError, Virtqueue};

/// Descriptor flag: the buffer continues in the descriptor named by `next`.
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (otherwise it reads it).
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Avail flag: the driver does not want interrupts (only without EVENT_IDX).
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used flag: the device does not want notifications (only without EVENT_IDX).
pub const VIRTQ_USED_F_NO_NOTIFY: u16 = 1;
/// The largest queue size a split virtqueue may have (2.7: "Queue Size ... 32768").
pub const MAX_QUEUE_SIZE: u16 = 32768;

//! vhost-user: the packet generator as the device side of a virtio-net NIC.
//!
//! With `--nic vhost-user:PATH` QEMU connects to PATH and hands this
//! backend the guest's RAM and the NIC's virtqueues; frames then move
//! between the generator and the guest's rings in shared memory, and
//! QEMU's main loop is out of the per-frame path.
//!
//! - [`backend`]: the protocol, through rust-vmm's `vhost-user-backend`
//!   (features offered, how the rings reach the datapath);
//! - [`server`]: the listening socket, one daemon per connection, so the
//!   backend outlives a guest reboot or a QEMU exit;
//! - [`proxy`]: a relay in front of the daemon for QEMU's early
//!   `SET_VRING_ENABLE`;
//! - [`mem`]: guest RAM and the bounds check for every guest address;
//! - [`ring`]: the split virtqueue read and written in place, validated;
//! - [`port`]: the batched datapath an [`Endpoint`](super::Endpoint) uses;
//! - [`model`]: a guest driver model (QEMU's and the guest's side) for host
//!   tests and the generator's benchmark.

pub mod backend;
pub mod mem;
pub mod model;
mod port;
mod proxy;
pub mod ring;
mod server;

pub use backend::{BackendOptions, MAX_QUEUE_PAIRS, RX_QUEUE, TX_QUEUE};
pub use port::{flow_queue, PairFrames, VhostPort, VhostStats, NET_HDR_LEN};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mq;
#[cfg(test)]
mod tests_protocol;

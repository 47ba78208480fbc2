//! The buffer-pool audit in the running kernel (`mem`'s `buffers` line):
//! every buffer of the pool is on the free list or owned by exactly one
//! slot of a kring or of an in-kernel application's handle. The soak
//! (`cargo xtask soak`) reads it at every report.
//!
//! Control plane only: it takes the registry lock and each application's
//! lock, in the order host stack, applications, capture (nothing else
//! takes two of them), and allocates its list of owned buffers.

use alloc::vec::Vec;

use netmap::{AuditError, Handle};

/// Usable buffers (the two reserved ones left out), free buffers, and the
/// audit's verdict.
pub struct Audit {
    pub total: usize,
    pub free: usize,
    pub result: Result<(), AuditError>,
}

/// Audits the pool against every owner: the registry's krings and the
/// handles the host stack, the applications and the capture hold.
pub fn run() -> Option<Audit> {
    let net = super::get()?;
    super::host::with_handle(|host| {
        crate::apps::with_handles(|apps| {
            super::pcap::with_handle(|capture| {
                let mut handles: Vec<&Handle> = [host, capture].into_iter().flatten().collect();
                handles.extend_from_slice(apps);
                let pool = net.registry.pool();
                Some(Audit {
                    total: pool.nbufs() as usize - 2,
                    free: pool.free_count(),
                    result: net.registry.audit(&handles),
                })
            })
        })
    })
}

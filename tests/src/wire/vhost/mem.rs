//! Guest memory as the backend reaches it.
//!
//! QEMU shares the guest's RAM (`SET_MEM_TABLE`: one file descriptor per
//! region); vm-memory maps it ([`GuestMemoryMmap`]). The datapath takes a
//! [`GuestRam`] snapshot of that mapping once per memory-table change: a
//! short table of `(guest address, length, host pointer)` that it searches
//! for every address the guest hands over. Every descriptor, every ring is
//! checked against it before a byte is touched; an address outside guest
//! RAM is the guest's error, never a host crash.

use std::sync::Arc;

use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

#[derive(Clone, Copy, Debug)]
struct Region {
    gpa: u64,
    len: u64,
    host: *mut u8,
}

/// One mapping of guest RAM, kept alive while the snapshot exists.
pub struct GuestRam {
    regions: Vec<Region>,
    /// The mapping the host pointers point into: holding it keeps QEMU's
    /// regions mapped even after the protocol thread installs a new table.
    _map: Arc<GuestMemoryMmap<()>>,
}

// SAFETY: the raw pointers point into `_map`, which is shared memory owned
// by the Arc this struct holds; GuestMemoryMmap itself is Send + Sync.
unsafe impl Send for GuestRam {}
// SAFETY: as above; nothing here is mutated through `&self`.
unsafe impl Sync for GuestRam {}

impl GuestRam {
    pub fn new(map: Arc<GuestMemoryMmap<()>>) -> Self {
        let regions = map
            .iter()
            .map(|r| Region {
                gpa: r.start_addr().0,
                len: r.len(),
                host: r.as_ptr(),
            })
            .collect();
        Self { regions, _map: map }
    }

    /// The host address of guest range `[gpa, gpa + len)`, if all of it is
    /// guest RAM in one region. `len` may be zero.
    #[inline]
    pub fn translate(&self, gpa: u64, len: u64) -> Option<*mut u8> {
        let end = gpa.checked_add(len)?;
        for r in &self.regions {
            if gpa >= r.gpa && end <= r.gpa + r.len {
                // In bounds of a live mapping: checked just above.
                return Some(r.host.wrapping_add((gpa - r.gpa) as usize));
            }
        }
        None
    }

    /// Bytes of guest RAM in all regions.
    pub fn size(&self) -> u64 {
        self.regions.iter().map(|r| r.len).sum()
    }
}

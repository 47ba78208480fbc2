//! Physically contiguous, page-aligned, zeroed memory for devices: virtqueues
//! and packet buffer pools.
//!
//! DMA memory comes from a zone reserved at boot, so that large contiguous
//! requests do not fail just because the general frame pool got fragmented,
//! and so its use is visible on its own in `mem`. x86 DMA is cache
//! coherent, so regions are ordinary write-back memory, reached through the
//! physical memory window.

use super::bitmap::Bitmap;
use super::{frames, paging};
use alloc::vec;
use core::fmt;
use core::ptr::NonNull;
use spin::Mutex;
use x86_64::PhysAddr;

/// Granule of DMA allocations.
pub const PAGE_SIZE: usize = frames::FRAME_SIZE as usize;

struct Zone {
    /// Physical address of the zone's first page.
    base: PhysAddr,
    pages: Bitmap<'static>,
}

static ZONE: Mutex<Option<Zone>> = Mutex::new(None);

/// Why a DMA allocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// A request for zero bytes.
    ZeroSize,
    /// No contiguous run of free pages that large.
    OutOfMemory,
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            DmaError::ZeroSize => "zero-sized DMA request",
            DmaError::OutOfMemory => "out of DMA memory",
        })
    }
}

/// An owned DMA region: `len` bytes (whole pages) at physical `phys`,
/// visible to the CPU at `virt`. Freed when dropped.
pub struct DmaRegion {
    phys: PhysAddr,
    virt: NonNull<u8>,
    len: usize,
}

// SAFETY: a DmaRegion is the unique owner of its memory (like a Box), so
// moving it to another context is sound.
unsafe impl Send for DmaRegion {}

impl DmaRegion {
    /// Physical (bus) address of the first byte, for the device.
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }

    /// Virtual address of the first byte, for the CPU.
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// Length in bytes (a multiple of [`PAGE_SIZE`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty regions cannot be allocated.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region as bytes. A device may write it concurrently, so a driver
    /// reads device-written parts with volatile accesses or after the
    /// device has handed them back.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the region is `len` bytes of mapped memory owned by self;
        // the &mut borrow of self makes the slice unique on the CPU side.
        unsafe { core::slice::from_raw_parts_mut(self.virt.as_ptr(), self.len) }
    }

    /// Gives up ownership without freeing, for APIs that track regions by
    /// address (virtio-drivers' `Hal`). Pair with [`DmaRegion::from_raw`].
    pub fn into_raw(self) -> (PhysAddr, NonNull<u8>, usize) {
        let raw = (self.phys, self.virt, self.len);
        core::mem::forget(self);
        raw
    }

    /// Takes back ownership of a region released with [`DmaRegion::into_raw`].
    ///
    /// # Safety
    /// `phys` and `len` must come from one `into_raw` call, and the region
    /// must not have been reclaimed already.
    pub unsafe fn from_raw(phys: PhysAddr, len: usize) -> Self {
        let virt =
            NonNull::new(paging::phys_to_virt(phys).as_mut_ptr()).expect("DMA region at null");
        Self { phys, virt, len }
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        let mut zone = ZONE.lock();
        let zone = zone.as_mut().expect("DMA zone not initialized");
        let first = ((self.phys - zone.base) / frames::FRAME_SIZE) as usize;
        zone.pages.mark_free(first, self.len / PAGE_SIZE);
    }
}

impl fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DmaRegion {{ phys: {:#x}, len: {:#x} }}",
            self.phys.as_u64(),
            self.len
        )
    }
}

/// Reserves up to `bytes` for DMA (halving on failure); returns the size
/// obtained. Needs the heap (for the zone's bitmap).
pub fn init(bytes: usize) -> usize {
    let mut pages = bytes / PAGE_SIZE;
    let base = loop {
        assert!(pages > 0, "no memory for the DMA zone");
        // 2 MiB alignment lets large pools start on a huge-page boundary.
        match frames::alloc_contiguous(pages, 512).or_else(|| frames::alloc_contiguous(pages, 1)) {
            Some(base) => break base,
            None => pages /= 2,
        }
    };
    let words = vec![0u64; Bitmap::words_for(pages)].leak();
    let mut bitmap = Bitmap::new_all_used(words, pages);
    bitmap.mark_free(0, pages);
    *ZONE.lock() = Some(Zone {
        base,
        pages: bitmap,
    });
    pages * PAGE_SIZE
}

/// Allocates at least `bytes` (rounded up to whole pages), zeroed.
pub fn alloc(bytes: usize) -> Result<DmaRegion, DmaError> {
    alloc_pages(bytes.div_ceil(PAGE_SIZE))
}

/// Allocates `pages` contiguous pages, zeroed.
pub fn alloc_pages(pages: usize) -> Result<DmaRegion, DmaError> {
    if pages == 0 {
        return Err(DmaError::ZeroSize);
    }
    let phys = {
        let mut zone = ZONE.lock();
        let zone = zone.as_mut().expect("DMA zone not initialized");
        let first = zone.pages.alloc(pages, 1).ok_or(DmaError::OutOfMemory)?;
        zone.base + (first * PAGE_SIZE) as u64
    };
    // frames::init reserved frame 0, so no region can start at address 0.
    debug_assert!(!phys.is_null());
    // SAFETY: the pages were just allocated from the zone for this region.
    let mut region = unsafe { DmaRegion::from_raw(phys, pages * PAGE_SIZE) };
    region.as_mut_slice().fill(0);
    Ok(region)
}

/// Frees a region (the same as dropping it; spelled out for readability).
pub fn free(region: DmaRegion) {
    drop(region);
}

/// Allocates, inspects and frees a few regions at boot, so a broken
/// allocator stops the kernel before it hands a device bad memory.
pub fn self_check() {
    let before = stats();
    let one = alloc(1).expect("DMA self-check: 1 byte");
    let mut three = alloc_pages(3).expect("DMA self-check: 3 pages");
    assert_eq!((one.len(), three.len()), (PAGE_SIZE, 3 * PAGE_SIZE));
    for region in [&one, &three] {
        assert!(
            !region.is_empty()
                && !region.phys().is_null()
                && region.phys().is_aligned(PAGE_SIZE as u64)
        );
        let virt = x86_64::VirtAddr::from_ptr(region.virt().as_ptr());
        assert_eq!(
            paging::virt_to_phys(virt),
            Some(region.phys()),
            "DMA virt/phys disagree"
        );
    }
    let (low, high) = if one.phys() < three.phys() {
        (&one, &three)
    } else {
        (&three, &one)
    };
    assert!(
        low.phys() + low.len() as u64 <= high.phys(),
        "DMA regions overlap"
    );
    assert!(
        three.as_mut_slice().iter().all(|&byte| byte == 0),
        "DMA memory not zeroed"
    );
    assert_eq!(alloc(0).unwrap_err(), DmaError::ZeroSize);
    let (phys, _, len) = three.into_raw();
    // SAFETY: phys and len come straight from into_raw above.
    drop(unsafe { DmaRegion::from_raw(phys, len) });
    free(one);
    assert_eq!(stats(), before, "DMA self-check leaked");
}

/// DMA bytes in use and free.
pub fn stats() -> (usize, usize) {
    let zone = ZONE.lock();
    zone.as_ref().map_or((0, 0), |zone| {
        let free = zone.pages.free();
        ((zone.pages.units() - free) * PAGE_SIZE, free * PAGE_SIZE)
    })
}

//! The memory a [`BufferPool`](super::BufferPool) carves into buffers.
//!
//! In the kernel this is a physically contiguous DMA region whose physical
//! address the NIC drivers know; on the host it is heap memory. Either way the
//! pool only needs a base pointer and a length, plus the promise that nobody
//! else touches the bytes except through the pool's ownership rules.

use core::ptr::NonNull;

/// Alignment of regions allocated by [`Region::alloc`]: a page, so that every
/// buffer (a power of two >= 64 bytes) starts on a cache line.
pub const REGION_ALIGN: usize = 4096;

/// A contiguous, exclusively owned span of memory.
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    /// Set when the region came from [`Region::alloc`] and must be freed.
    owned: Option<core::alloc::Layout>,
}

// SAFETY: a Region is an address range with exclusive ownership (see the
// constructors' contracts). Sending it to another thread moves that ownership;
// sharing `&Region` only allows reading `base`/`len`. All byte access goes
// through the pool, whose slot arrays guarantee one owner per buffer.
unsafe impl Send for Region {}
// SAFETY: see `Send` above; `&Region` exposes no byte access by itself.
unsafe impl Sync for Region {}

impl Region {
    /// A region over static memory, e.g. a `static mut` array or memory the
    /// boot loader handed over and that the kernel will never free.
    pub fn from_static(mem: &'static mut [u8]) -> Self {
        let len = mem.len();
        Region {
            base: NonNull::new(mem.as_mut_ptr()).unwrap_or(NonNull::dangling()),
            len,
            owned: None,
        }
    }

    /// A region over raw memory, e.g. a DMA window mapped by the kernel.
    ///
    /// # Safety
    ///
    /// - `base` must be valid for reads and writes of `len` bytes for as long
    ///   as the region (and the pool built on it) exists, and initialised
    ///   (zero it once: buffers are handed out as `&[u8]`);
    /// - no Rust reference to that memory may exist, and no code may access it
    ///   except through the pool built on this region — devices may, but only
    ///   into buffers the kernel has handed to them (posted descriptors).
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Self {
        Region {
            base,
            len,
            owned: None,
        }
    }

    /// A page-aligned, zeroed region on the heap (host tests, benchmarks, and
    /// kernels that map their heap for DMA). Returns `None` if `len` is zero
    /// or the allocation fails.
    pub fn alloc(len: usize) -> Option<Self> {
        let layout = core::alloc::Layout::from_size_align(len, REGION_ALIGN).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size, as `alloc_zeroed` requires.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        Some(Region {
            base: NonNull::new(ptr)?,
            len,
            owned: Some(layout),
        })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Base address (virtual). The kernel adds a buffer's offset to the
    /// region's physical base to program a device.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Some(layout) = self.owned {
            // SAFETY: `base` was returned by `alloc_zeroed(layout)` in
            // `Region::alloc` and is freed exactly once, here.
            unsafe { alloc::alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

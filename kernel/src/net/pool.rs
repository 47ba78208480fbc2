//! The buffer pool every port shares: one physically contiguous DMA
//! region, so a buffer's device address is the region's plus its offset.

use alloc::sync::Arc;

use netmap::{BufferPool, Region, DEFAULT_BUF_SIZE};

use crate::mem::dma;

/// Buffers in the pool: enough for 8 NICs (512 rx + 128 tx slots each,
/// plus a 1024-slot bridge queue) and a few hundred more for VALE ports,
/// pipes and monitors: 32 MiB of 2 KiB buffers.
pub const POOL_BUFFERS: usize = 16 * 1024;

/// Allocates the pool; returns it with its device address. If the DMA zone
/// is smaller, the pool shrinks by halves.
pub fn create() -> (Arc<BufferPool>, u64) {
    let mut nbufs = POOL_BUFFERS;
    let region = loop {
        match dma::alloc(nbufs * DEFAULT_BUF_SIZE) {
            Ok(r) => break r,
            Err(_) if nbufs > 256 => nbufs /= 2,
            Err(e) => panic!("no DMA memory for the buffer pool: {e}"),
        }
    };
    let (phys, virt, len) = region.into_raw();
    // SAFETY: the region was just allocated for us alone and into_raw gave
    // up its ownership, so these `len` mapped bytes are referenced by
    // nothing else for the rest of the kernel's life; devices only reach
    // them through addresses the pool hands out.
    let bytes: &'static mut [u8] = unsafe { core::slice::from_raw_parts_mut(virt.as_ptr(), len) };
    let pool = BufferPool::new(Region::from_static(bytes), DEFAULT_BUF_SIZE)
        .unwrap_or_else(|e| panic!("cannot build the buffer pool: {e}"));
    log::info!(
        "buffer pool: {} buffers of {} bytes at {:#x}",
        pool.nbufs(),
        DEFAULT_BUF_SIZE,
        phys.as_u64()
    );
    (Arc::new(pool), phys.as_u64())
}

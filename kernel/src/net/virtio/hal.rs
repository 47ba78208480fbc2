//! `virtio-drivers`' [`Hal`] over the kernel's DMA zone and MMIO mapper.
//!
//! The transport uses it to map the device's capability regions (common
//! configuration, notify, ISR, device configuration) and, through
//! `virtio-drivers`' own queues, for DMA. Our NIC queues allocate their
//! memory directly from [`crate::mem::dma`], so `share`/`unshare` only run
//! if some other `virtio-drivers` device is used.

use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PhysAddr};
use x86_64::{PhysAddr as X86Phys, VirtAddr};

use crate::mem::{dma, paging};

/// The kernel's HAL for `virtio-drivers`.
pub struct KernelHal;

// SAFETY: dma_alloc returns zeroed, page-aligned memory from the DMA zone
// that nothing else references until dma_dealloc gives it back (DmaRegion
// ownership is handed over with into_raw/from_raw); mmio_phys_to_virt
// returns a fresh uncached mapping private to the caller.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma::alloc_pages(pages) {
            Ok(region) => {
                let (phys, virt, _len) = region.into_raw();
                (phys.as_u64(), virt)
            }
            // virtio-drivers turns a zero physical address into Error::DmaError.
            Err(_) => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes back what dma_alloc returned, once.
        drop(unsafe { dma::DmaRegion::from_raw(X86Phys::new(paddr), pages * dma::PAGE_SIZE) });
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // The transport has no way to fail here. BARs were sized and
        // assigned by firmware and the MMIO window is large, so a failure is
        // a kernel configuration bug, not device input.
        // SAFETY: virtio-drivers passes a region of one of the device's
        // memory BARs (the transport's capability windows), device memory
        // as map_mmio requires; that is this method's own contract.
        let virt = unsafe { paging::map_mmio(X86Phys::new(paddr), size as u64) }
            .unwrap_or_else(|e| panic!("cannot map virtio MMIO {paddr:#x}+{size:#x}: {e:?}"));
        NonNull::new(virt.as_mut_ptr()).expect("MMIO mapped at null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let virt = VirtAddr::from_ptr(buffer.as_ptr().cast::<u8>());
        paging::virt_to_phys(virt)
            .expect("buffer shared with a device is not mapped")
            .as_u64()
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Identity: the device reads and writes the buffer in place.
    }
}

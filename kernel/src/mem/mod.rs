//! Memory management: physical frames, page tables, the kernel heap and the
//! DMA zone, all sized from the boot memory map.

mod bitmap;
pub mod dma;
pub mod frames;
pub mod heap;
pub mod mmio;
pub mod paging;

use bootloader_api::BootInfo;
use x86_64::{PhysAddr, VirtAddr};

const MIB: usize = 1 << 20;
/// Heap: an eighth of usable RAM, within these bounds.
const HEAP_MIN: usize = 4 * MIB;
const HEAP_MAX: usize = 32 * MIB;
/// DMA zone: a quarter of usable RAM, within these bounds.
const DMA_MIN: usize = 2 * MIB;
const DMA_MAX: usize = 256 * MIB;

/// The bootloader maps at least the first 4 GiB into its physical memory
/// window, whatever the RAM size (see bootloader `max_phys_addr`).
const MIN_WINDOW: u64 = 1 << 32;

/// Usage counters for the `mem` command.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub frames_used: usize,
    pub frames_free: usize,
    pub heap_used: usize,
    pub heap_free: usize,
    pub dma_used: usize,
    pub dma_free: usize,
}

fn page_align_down(bytes: usize) -> usize {
    bytes & !(frames::FRAME_SIZE as usize - 1)
}

/// Brings up paging, frames, heap and DMA zone, in that order.
pub fn init(boot_info: &BootInfo) {
    let offset = boot_info
        .physical_memory_offset
        .into_option()
        .expect("bootloader did not map physical memory (BootloaderConfig)");
    let ram_end = boot_info
        .memory_regions
        .iter()
        .map(|region| region.end)
        .max()
        .unwrap_or(0);
    // SAFETY: BOOTLOADER_CONFIG asks for the physical memory mapping and the
    // bootloader reported its offset; it covers all regions of the memory
    // map and at least 4 GiB. Nothing has touched the page tables yet.
    unsafe {
        paging::init(
            VirtAddr::new(offset),
            PhysAddr::new(ram_end.max(MIN_WINDOW)),
        )
    };
    frames::init(&boot_info.memory_regions);

    let usable = frames::usable_bytes() as usize;
    let heap = heap::init(page_align_down((usable / 8).clamp(HEAP_MIN, HEAP_MAX)));
    let dma = dma::init(page_align_down((usable / 4).clamp(DMA_MIN, DMA_MAX)));
    dma::self_check();
    log::info!(
        "{} MiB usable, heap {} KiB, DMA zone {} KiB",
        usable / MIB,
        heap / 1024,
        dma / 1024
    );
}

/// Current usage of frames, heap and DMA zone.
pub fn stats() -> Stats {
    let (frames_used, frames_free) = frames::stats();
    let (heap_used, heap_free) = heap::stats();
    let (dma_used, dma_free) = dma::stats();
    Stats {
        frames_used,
        frames_free,
        heap_used,
        heap_free,
        dma_used,
        dma_free,
    }
}

//! The physical frame allocator: one bit per 4 KiB frame of the boot memory
//! map, first fit, with contiguous and aligned runs for the heap and DMA.
//!
//! Frame 0 is never handed out: a zero physical address reads as "null" to
//! devices and drivers alike.

use super::bitmap::Bitmap;
use super::paging;
use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use spin::Mutex;
use x86_64::structures::paging::{PhysFrame, Size4KiB};
use x86_64::PhysAddr;

pub const FRAME_SIZE: u64 = 4096;

struct Frames {
    bitmap: Bitmap<'static>,
    /// Frames the memory map calls usable; the rest of the bitmap stays
    /// marked used forever.
    usable: usize,
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

/// Frame-aligned usable ranges `[start, end)` in frame numbers.
fn usable_ranges(regions: &MemoryRegions) -> impl Iterator<Item = (usize, usize)> + '_ {
    regions
        .iter()
        .filter(|region| region.kind == MemoryRegionKind::Usable)
        .map(|region| {
            let start = region.start.div_ceil(FRAME_SIZE) as usize;
            let end = (region.end / FRAME_SIZE) as usize;
            (start, end.max(start))
        })
}

/// Builds the allocator from the boot memory map. Its own bitmap is carved
/// out of the first usable range large enough to hold it.
pub fn init(regions: &MemoryRegions) {
    let frame_count = usable_ranges(regions)
        .map(|(_, end)| end)
        .max()
        .unwrap_or(0);
    let words = Bitmap::words_for(frame_count);
    let bitmap_frames = (words * 8).div_ceil(FRAME_SIZE as usize);
    let (home, _) = usable_ranges(regions)
        .find(|&(start, end)| start > 0 && end - start >= bitmap_frames)
        .expect("no usable memory for the frame bitmap");

    let storage = paging::phys_to_virt(PhysAddr::new(home as u64 * FRAME_SIZE));
    // SAFETY: `home..home + bitmap_frames` is usable RAM that nothing else
    // owns yet (the memory map says so and this is the first allocator),
    // it lies inside the physical memory mapping, is 8-byte aligned (frame
    // aligned), and is marked used below so it is never handed out.
    let words = unsafe { core::slice::from_raw_parts_mut(storage.as_mut_ptr::<u64>(), words) };

    let mut bitmap = Bitmap::new_all_used(words, frame_count);
    let mut usable = 0;
    for (start, end) in usable_ranges(regions) {
        bitmap.mark_free(start, end - start);
        usable += end - start;
    }
    bitmap.mark_used(home, bitmap_frames);
    bitmap.mark_used(0, 1);
    *FRAMES.lock() = Some(Frames { bitmap, usable });
}

fn with<R>(f: impl FnOnce(&mut Frames) -> R) -> R {
    f(FRAMES
        .lock()
        .as_mut()
        .expect("frame allocator not initialized"))
}

/// One frame, not zeroed.
pub fn alloc() -> Option<PhysFrame<Size4KiB>> {
    alloc_contiguous(1, 1).map(PhysFrame::containing_address)
}

/// One frame below `limit`, if there is one (the allocator is first fit,
/// so the frame it hands out is the lowest free one).
pub fn alloc_below(limit: PhysAddr) -> Option<PhysFrame<Size4KiB>> {
    with(|frames| {
        let frame = frames.bitmap.alloc(1, 1)?;
        let start = PhysAddr::new(frame as u64 * FRAME_SIZE);
        if start + FRAME_SIZE <= limit {
            Some(PhysFrame::containing_address(start))
        } else {
            frames.bitmap.mark_free(frame, 1);
            None
        }
    })
}

/// `count` physically contiguous frames whose first frame number is a
/// multiple of `align` (a power of two); returns the start address.
pub fn alloc_contiguous(count: usize, align: usize) -> Option<PhysAddr> {
    with(|frames| frames.bitmap.alloc(count, align))
        .map(|frame| PhysAddr::new(frame as u64 * FRAME_SIZE))
}

/// Returns `count` frames starting at `start` (frame aligned).
#[allow(
    dead_code,
    reason = "nothing gives frames back yet (page tables and zones are permanent)"
)]
pub fn free(start: PhysAddr, count: usize) {
    debug_assert!(start.is_aligned(FRAME_SIZE) && !start.is_null());
    with(|frames| {
        frames
            .bitmap
            .mark_free((start.as_u64() / FRAME_SIZE) as usize, count)
    });
}

/// Usable frames in use and free.
pub fn stats() -> (usize, usize) {
    with(|frames| {
        let free = frames.bitmap.free();
        (frames.usable - free, free)
    })
}

/// Total usable RAM in bytes.
pub fn usable_bytes() -> u64 {
    with(|frames| frames.usable as u64 * FRAME_SIZE)
}

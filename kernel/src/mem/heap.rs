//! The kernel heap: one physically contiguous block of frames, reached
//! through the physical memory window, managed by `linked_list_allocator`.

use super::{frames, paging};
use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Carves `bytes` (a multiple of 4 KiB) out of the frame allocator and
/// hands it to the global allocator. Returns the size actually obtained,
/// halving the request until the frame allocator can satisfy it.
pub fn init(bytes: usize) -> usize {
    let mut frame_count = bytes / frames::FRAME_SIZE as usize;
    let start = loop {
        assert!(frame_count > 0, "no memory for the heap");
        match frames::alloc_contiguous(frame_count, 1) {
            Some(start) => break start,
            None => frame_count /= 2,
        }
    };
    let size = frame_count * frames::FRAME_SIZE as usize;
    let bottom = paging::phys_to_virt(start).as_mut_ptr::<u8>();
    // SAFETY: the frames were just allocated for the heap alone, are mapped
    // writable through the physical memory window, and init runs once.
    unsafe { HEAP.lock().init(bottom, size) };
    size
}

/// Heap bytes in use and free.
pub fn stats() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.used(), heap.free())
}

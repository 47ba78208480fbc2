//! Address translation.
//!
//! Two kinds of mappings exist:
//! - the bootloader's *physical memory window*: all RAM (and at least the
//!   first 4 GiB) mapped write-back at a fixed offset. RAM-backed memory
//!   (frames, heap, DMA regions, ACPI tables) is reached through it.
//! - *MMIO mappings*, made on demand by [`map_mmio`] in a 512 GiB window of
//!   our own (one free top-level slot), uncached. Device registers must not
//!   be cached, and 64-bit BARs may lie above the physical memory window.
//!   The same window holds the application processors' stacks
//!   ([`map_stack`]: RAM, write-back, each above a guard page).

use super::frames;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::page_table::PageTableLevel;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame,
    Size2MiB, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

const HUGE: u64 = Size2MiB::SIZE;
const PAGE: u64 = Size4KiB::SIZE;

/// Virtual address of physical address 0 in the physical memory window.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);
/// Physical addresses below this are inside the window.
static WINDOW_END: AtomicU64 = AtomicU64::new(0);

struct MmioSpace {
    table: OffsetPageTable<'static>,
    /// Next free virtual address of the MMIO window.
    next: u64,
    /// End of the window (exclusive).
    end: u64,
}

static MMIO: Mutex<Option<MmioSpace>> = Mutex::new(None);

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Zero length, or an address range that wraps.
    BadRange,
    /// The MMIO window is exhausted.
    OutOfVirtualSpace,
    /// No frame left for a page table.
    OutOfFrames,
    /// The page table already had an entry there (a kernel bug).
    AlreadyMapped,
}

/// Hands page-table frames to the mapper, zeroed by the mapper itself.
struct PageTableFrames;

// SAFETY: frames::alloc returns frames that are unused and exclusively ours.
unsafe impl FrameAllocator<Size4KiB> for PageTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        frames::alloc()
    }
}

/// Takes over the active page tables. `window_end` is the end of the
/// physical memory window the bootloader mapped at `phys_offset`.
///
/// # Safety
/// `phys_offset` must be where the bootloader mapped all physical memory
/// below `window_end`, and this must be called once, before anything else
/// edits the page tables.
pub unsafe fn init(phys_offset: VirtAddr, window_end: PhysAddr) {
    PHYS_OFFSET.store(phys_offset.as_u64(), Ordering::Relaxed);
    WINDOW_END.store(window_end.as_u64(), Ordering::Relaxed);

    let (l4_frame, _) = Cr3::read();
    let l4_ptr = phys_to_virt(l4_frame.start_address()).as_mut_ptr::<PageTable>();
    // SAFETY: CR3 points at the active, valid level-4 table, reachable
    // through the physical memory window (caller's contract); this is the
    // only reference made to it, owned from now on by `MMIO`.
    let l4 = unsafe { &mut *l4_ptr };
    // Slot 511 is skipped so the window's end address fits in a u64.
    let slot = (256..511u16)
        .rev()
        .find(|&index| l4[usize::from(index)].is_unused())
        .expect("no free top-level page table slot for MMIO");
    // Each top-level slot covers 512 GiB; upper-half addresses are sign
    // extended, which new_truncate does.
    let start = VirtAddr::new_truncate(u64::from(slot) << 39);
    // SAFETY: same contract as above: the offset maps all physical memory.
    let table = unsafe { OffsetPageTable::new(l4, phys_offset) };
    let window = PageTableLevel::Four.entry_address_space_alignment();
    let (next, end) = (start.as_u64(), start.as_u64() + window);
    *MMIO.lock() = Some(MmioSpace { table, next, end });
}

/// Virtual address of `phys` inside the physical memory window.
///
/// Panics if `phys` is outside the window: callers only pass RAM.
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    assert!(
        phys.as_u64() < WINDOW_END.load(Ordering::Relaxed),
        "{phys:?} outside the physical memory window"
    );
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
}

/// Whether `[phys, phys + len)` lies inside the physical memory window.
pub fn in_window(phys: PhysAddr, len: u64) -> bool {
    phys.as_u64()
        .checked_add(len)
        .is_some_and(|end| end <= WINDOW_END.load(Ordering::Relaxed))
}

/// Physical address behind a mapped virtual address (any mapping).
pub fn virt_to_phys(virt: VirtAddr) -> Option<PhysAddr> {
    MMIO.lock().as_ref()?.table.translate_addr(virt)
}

/// Maps `len` bytes of device memory at `phys` uncached and returns the
/// virtual address of `phys`. Every call makes a new mapping; 2 MiB pages
/// are used where alignment allows, so large windows (ECAM) stay cheap.
///
/// # Safety
///
/// `[phys, phys + len)` must be device memory, or firmware memory the
/// kernel never allocates (ACPI tables): not RAM the frame allocator, the
/// heap, a DMA region, the kernel image or a page table uses. The mapping
/// is uncached and aliases whatever lies there, and callers (`Mmio`'s safe
/// accessors, the `acpi` crate, `virtio-drivers`) read and write through it
/// as device registers, which on RAM would alias Rust objects and mix
/// cached and uncached access to one frame.
pub unsafe fn map_mmio(phys: PhysAddr, len: u64) -> Result<VirtAddr, MapError> {
    let end = phys
        .as_u64()
        .checked_add(len)
        .filter(|_| len > 0)
        .ok_or(MapError::BadRange)?;
    let start = phys.align_down(PAGE);
    let end = PhysAddr::try_new(end)
        .map_err(|_| MapError::BadRange)?
        .align_up(PAGE);
    let size = end - start;

    let mut guard = MMIO.lock();
    let space = guard.as_mut().expect("paging not initialized");
    // Give the virtual range the same offset within a 2 MiB page as the
    // physical one, so their 2 MiB-aligned middles line up.
    let mut virt = space.next;
    if size >= HUGE {
        let aligned = virt / HUGE * HUGE + start.as_u64() % HUGE;
        virt = if aligned >= virt {
            aligned
        } else {
            aligned + HUGE
        };
    }
    let virt_end = virt + size;
    if virt_end > space.end {
        return Err(MapError::OutOfVirtualSpace);
    }
    let virt = VirtAddr::new(virt);

    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE;
    let mut offset = 0;
    while offset < size {
        let (p, v) = (start + offset, virt + offset);
        let step = if p.is_aligned(HUGE) && size - offset >= HUGE {
            let page = Page::<Size2MiB>::containing_address(v);
            let frame = PhysFrame::<Size2MiB>::containing_address(p);
            // SAFETY: `v` is in our private MMIO window and unused (the
            // window only grows), and the frame is device memory, so no
            // existing Rust object is aliased or changed.
            unsafe { space.table.map_to(page, frame, flags, &mut PageTableFrames) }
                .map_err(map_error)?
                .flush();
            HUGE
        } else {
            let page = Page::<Size4KiB>::containing_address(v);
            let frame = PhysFrame::<Size4KiB>::containing_address(p);
            // SAFETY: as above.
            unsafe { space.table.map_to(page, frame, flags, &mut PageTableFrames) }
                .map_err(map_error)?
                .flush();
            PAGE
        };
        offset += step;
    }
    space.next = virt_end;
    Ok(virt + (phys - start))
}

/// A kernel stack of `size` bytes (rounded up to pages) of fresh zeroed
/// frames, mapped write-back and not executable in the private window
/// above an unmapped guard page, so an overflow faults (and, the fault
/// having no stack to push its frame on, ends in the double-fault report)
/// instead of running into other memory. Returns the top (page aligned).
/// Stacks are never unmapped.
pub fn map_stack(size: u64) -> Result<VirtAddr, MapError> {
    let pages = size.div_ceil(PAGE);
    if pages == 0 {
        return Err(MapError::BadRange);
    }
    let mut guard = MMIO.lock();
    let space = guard.as_mut().expect("paging not initialized");
    let bottom = space.next + PAGE;
    let top = bottom + pages * PAGE;
    if top > space.end {
        return Err(MapError::OutOfVirtualSpace);
    }
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    for i in 0..pages {
        let frame = frames::alloc().ok_or(MapError::OutOfFrames)?;
        // SAFETY: the frame was just allocated (ours alone) and lies in the
        // physical memory window.
        unsafe {
            core::ptr::write_bytes(
                phys_to_virt(frame.start_address()).as_mut_ptr::<u8>(),
                0,
                PAGE as usize,
            )
        };
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(bottom + i * PAGE));
        // SAFETY: the page is in our private window past everything mapped
        // so far (the window only grows), and the frame is fresh RAM: no
        // existing Rust object is aliased or changed.
        unsafe { space.table.map_to(page, frame, flags, &mut PageTableFrames) }
            .map_err(map_error)?
            .flush();
    }
    space.next = top;
    Ok(VirtAddr::new(top))
}

/// Maps the 4 KiB page at virtual address `frame`'s physical address onto
/// `frame` (an identity mapping), present, writable and executable: where
/// application processors run their first instructions after enabling
/// paging ([`crate::smp`]). A page already mapped onto itself is left as is.
///
/// # Safety
///
/// `frame` must be RAM the caller owns (allocated from [`frames`] and used
/// by nothing else), and the virtual page at its physical address must be
/// unused by the kernel (low addresses are: the kernel, its heap and its
/// windows live elsewhere; a page mapped to another frame is refused).
pub unsafe fn identity_map(frame: PhysFrame<Size4KiB>) -> Result<(), MapError> {
    let mut guard = MMIO.lock();
    let space = guard.as_mut().expect("paging not initialized");
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(frame.start_address().as_u64()));
    match space.table.translate_addr(page.start_address()) {
        Some(phys) if phys == frame.start_address() => return Ok(()),
        Some(_) => return Err(MapError::AlreadyMapped),
        None => {}
    }
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    // SAFETY: the page is unmapped (checked) and the frame is the caller's
    // (contract), so no existing Rust object is aliased or changed.
    unsafe { space.table.map_to(page, frame, flags, &mut PageTableFrames) }
        .map_err(map_error)?
        .flush();
    Ok(())
}

/// Removes an [`identity_map`] mapping of `frame` (the frame stays the
/// caller's). Only this CPU's TLB is flushed: other CPUs must not use the
/// page any more.
pub fn identity_unmap(frame: PhysFrame<Size4KiB>) {
    let mut guard = MMIO.lock();
    let space = guard.as_mut().expect("paging not initialized");
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(frame.start_address().as_u64()));
    if let Ok((_, flush)) = space.table.unmap(page) {
        flush.flush();
    }
}

fn map_error<S: PageSize>(error: x86_64::structures::paging::mapper::MapToError<S>) -> MapError {
    use x86_64::structures::paging::mapper::MapToError;
    match error {
        MapToError::FrameAllocationFailed => MapError::OutOfFrames,
        MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_) => {
            MapError::AlreadyMapped
        }
    }
}

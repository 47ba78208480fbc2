//! The application processors' first instructions: a real-mode stub that
//! goes straight to long mode with the kernel's page tables and calls a
//! Rust entry point on a stack of its own.
//!
//! A startup IPI starts a processor in real mode at `page << 12` (CS =
//! `page << 8`, IP = 0), so the stub is copied to a free page below 1 MiB
//! ([`Trampoline::install`]) and identity mapped: the instruction after
//! the write to CR0 that turns paging on is fetched through the kernel's
//! page tables at the page's physical address. The stub is position
//! independent (every address it uses is an offset from its start, or
//! RIP-relative, or patched in [`Params`]); it
//!
//! 1. loads CR4 (PAE), CR3 (the kernel's top-level table, below 4 GiB) and
//!    EFER (LME, NXE) with the bootstrap processor's values, and a GDT of
//!    its own (a 64-bit code and a data segment);
//! 2. sets CR0 to the bootstrap processor's value (PE and PG at once: the
//!    CPU enters long mode's compatibility mode) and far-jumps to the
//!    64-bit code segment;
//! 3. in 64-bit mode loads the data segments, the stack pointer and the
//!    argument, and calls the entry point (which never returns).
//!
//! The entry point loads the CPU's own GDT before it reports itself
//! online, so the page is free for the next processor from then on.

use core::arch::global_asm;
use core::mem::size_of;
use core::ptr;

use x86_64::structures::paging::{PhysFrame, Size4KiB};

use crate::mem::paging;

// AT&T syntax: the far forms (`ljmpl *`, `lgdtl`) say their operand size.
global_asm!(
    r#"
    .pushsection .rodata.ap_trampoline, "a"
    .code16
    .balign 16
    .global ap_trampoline_start
ap_trampoline_start:
.Ltr_start:
    jmp .Ltr_code
    .balign 8
    .global ap_trampoline_params
ap_trampoline_params:
.Ltr_params:
    .skip 56
    .balign 8
    .global ap_trampoline_gdt
ap_trampoline_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
.Ltr_code:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    movl (.Ltr_params - .Ltr_start + 16), %eax
    mov %eax, %cr4
    movl (.Ltr_params - .Ltr_start + 20), %eax
    mov %eax, %cr3
    movl (.Ltr_params - .Ltr_start + 24), %eax
    xor %edx, %edx
    mov $0xc0000080, %ecx
    wrmsr
    lgdtl (.Ltr_params - .Ltr_start + 2)
    movl (.Ltr_params - .Ltr_start + 28), %eax
    mov %eax, %cr0
    ljmpl *(.Ltr_params - .Ltr_start + 8)
    .code64
.Ltr_long:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov .Ltr_params+32(%rip), %rsp
    mov .Ltr_params+48(%rip), %rdi
    mov .Ltr_params+40(%rip), %rax
    call *%rax
    ud2
    .global ap_trampoline_long
ap_trampoline_long = .Ltr_long
    .global ap_trampoline_end
ap_trampoline_end:
    .popsection
"#,
    options(att_syntax)
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_params: u8;
    static ap_trampoline_gdt: u8;
    static ap_trampoline_long: u8;
    static ap_trampoline_end: u8;
}

/// The stub's parameter block, at `ap_trampoline_params` (the offsets are
/// the ones the assembly reads).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Params {
    _pad: u16,
    /// `lgdtl` operand: limit and 32-bit base (offset 2).
    gdtr_limit: u16,
    gdtr_base: u32,
    /// `ljmpl *` operand: 32-bit offset and selector (offset 8).
    far_offset: u32,
    far_selector: u16,
    _pad2: u16,
    /// Offsets 16, 20, 24, 28.
    pub cr4: u32,
    pub cr3: u32,
    pub efer: u32,
    pub cr0: u32,
    /// Offsets 32, 40, 48: initial stack pointer (16-byte aligned), entry
    /// point (`extern "C" fn(u64) -> !`), its argument.
    pub stack_top: u64,
    pub entry: u64,
    pub arg: u64,
}

const _: () = assert!(size_of::<Params>() == 56);

/// Offset of `symbol` from the stub's start.
fn offset(symbol: *const u8) -> usize {
    symbol as usize - (&raw const ap_trampoline_start) as usize
}

/// The stub, installed in a low page.
pub struct Trampoline {
    frame: PhysFrame<Size4KiB>,
}

/// Why the stub could not be installed.
#[derive(Debug)]
pub enum Error {
    /// The page must lie below 1 MiB (a startup IPI names it in 8 bits).
    NotLow,
    Map(#[allow(dead_code, reason = "read through Debug, in the log")] paging::MapError),
}

impl Trampoline {
    /// Copies the stub into `frame` and identity maps it.
    ///
    /// # Safety
    ///
    /// `frame` must be usable RAM the caller owns for as long as any
    /// processor may run the stub (allocated and never freed).
    pub unsafe fn install(frame: PhysFrame<Size4KiB>) -> Result<Trampoline, Error> {
        let phys = frame.start_address().as_u64();
        if phys == 0 || phys + frame.size() > 0x10_0000 {
            return Err(Error::NotLow);
        }
        let len = offset(&raw const ap_trampoline_end);
        assert!(len <= 4096, "AP trampoline larger than a page");
        // SAFETY: the frame is ours (caller's contract); the physical
        // window maps it.
        unsafe { paging::identity_map(frame) }.map_err(Error::Map)?;
        let dst = paging::phys_to_virt(frame.start_address()).as_mut_ptr::<u8>();
        // SAFETY: the source is the stub in the kernel image (`len` bytes
        // from its start symbol), the destination the frame the caller owns
        // (4 KiB, checked against `len`), reached through the window; they
        // do not overlap.
        unsafe { ptr::copy_nonoverlapping(&raw const ap_trampoline_start, dst, len) };
        Ok(Trampoline { frame })
    }

    /// The page number a startup IPI carries.
    pub fn page(&self) -> u8 {
        (self.frame.start_address().as_u64() >> 12) as u8
    }

    /// Fills in the stub's parameters for the next processor to start:
    /// the GDT and far-jump addresses for this page, and `params`' control
    /// register values, stack, entry point and argument.
    pub fn set(&self, mut params: Params) {
        let base = self.frame.start_address().as_u64() as u32;
        params.gdtr_limit = 3 * 8 - 1;
        params.gdtr_base = base + offset(&raw const ap_trampoline_gdt) as u32;
        params.far_offset = base + offset(&raw const ap_trampoline_long) as u32;
        params.far_selector = 0x08;
        let at = paging::phys_to_virt(self.frame.start_address())
            + offset(&raw const ap_trampoline_params) as u64;
        // SAFETY: the block lies inside the installed copy of the stub (the
        // frame is ours), 8-byte aligned (`.balign 8`); no processor runs
        // the stub while it is written (the caller starts one at a time and
        // waits for it to leave the page).
        unsafe { ptr::write_volatile(at.as_mut_ptr::<Params>(), params) };
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }

    /// Removes the identity mapping (the frame stays reserved: a processor
    /// that failed to start might still wake up in it).
    pub fn uninstall(self) {
        paging::identity_unmap(self.frame);
    }
}

impl Params {
    /// Parameters with the control registers given and the rest zero.
    pub fn new(cr0: u32, cr3: u32, cr4: u32, efer: u32) -> Params {
        Params {
            _pad: 0,
            gdtr_limit: 0,
            gdtr_base: 0,
            far_offset: 0,
            far_selector: 0,
            _pad2: 0,
            cr4,
            cr3,
            efer,
            cr0,
            stack_top: 0,
            entry: 0,
            arg: 0,
        }
    }
}

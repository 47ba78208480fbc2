//! Deliberate CPU exceptions, for testing the exception path.
//!
//! Each function executes one faulting instruction. The exception handlers
//! never return, so these functions only return if the fault did not
//! happen (e.g. the probe address turned out to be mapped).

use crate::mem::paging;
use core::arch::asm;
use x86_64::VirtAddr;

/// Canonical (bit 47 clear, so the access is a #PF and not a #GP), near
/// the top of the lower half, far from anything the bootloader or the
/// kernel maps; [`page_fault`] checks anyway.
const UNMAPPED: u64 = 0x7dea_d000_0000;
/// Not canonical: bits 47..63 disagree, so any access is a #GP.
const NON_CANONICAL: u64 = 0x8000_0000_0000;

/// #PF: reads an unmapped address (checked unmapped first).
pub fn page_fault() {
    if paging::virt_to_phys(VirtAddr::new(UNMAPPED)).is_some() {
        return;
    }
    // SAFETY: the read targets an unmapped page and faults; the page fault
    // handler ends the kernel, so no state is observed afterwards.
    unsafe {
        asm!("mov {tmp}, qword ptr [{addr}]", addr = in(reg) UNMAPPED, tmp = out(reg) _, options(nostack, readonly))
    };
}

/// #GP: reads a non-canonical address.
pub fn general_protection() {
    // SAFETY: a non-canonical access faults before touching memory; the
    // handler ends the kernel.
    unsafe {
        asm!("mov {tmp}, qword ptr [{addr}]", addr = in(reg) NON_CANONICAL, tmp = out(reg) _, options(nostack, readonly))
    };
}

/// #UD: executes `ud2`.
pub fn invalid_opcode() {
    // SAFETY: ud2 only raises #UD; the handler ends the kernel.
    unsafe { asm!("ud2", options(nomem, nostack)) };
}

/// #DE: divides by zero.
pub fn divide_error() {
    // SAFETY: the division faults before writing its outputs (declared
    // clobbered anyway); the handler ends the kernel.
    unsafe {
        asm!(
            "div {divisor:e}",
            divisor = in(reg) 0u32,
            inout("eax") 1u32 => _,
            inout("edx") 0u32 => _,
            options(nomem, nostack),
        )
    };
}

//! Which CPU is running: a per-CPU block found through the GS base.
//!
//! Each CPU's `IA32_GS_BASE` points at its own [`Block`], whose first word
//! is the CPU's number (0 for the bootstrap processor, 1.. for application
//! processors in the order they were started). [`index`] is one `gs`-relative
//! load: no MSR read, no local APIC access (both would be VM exits under
//! KVM), so the per-CPU counters can use it on every port access and
//! doorbell. Everything else that is per CPU lives in arrays indexed by
//! this number.
//!
//! Nothing uses `swapgs` (there is no user mode), so the GS base is set
//! once per CPU, before anything on that CPU calls [`index`].

use core::arch::asm;
use x86_64::registers::model_specific::GsBase;
use x86_64::VirtAddr;

/// CPUs the kernel can run on. Processors past this in the MADT stay
/// asleep (and are logged).
pub const MAX_CPUS: usize = 16;

/// One CPU's block; `gs:[0]` is its `index`.
#[repr(C, align(64))]
struct Block {
    index: usize,
}

static BLOCKS: [Block; MAX_CPUS] = {
    let mut blocks = [const { Block { index: 0 } }; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        blocks[i].index = i;
        i += 1;
    }
    blocks
};

/// Points this CPU's GS base at block `index`. The first thing each CPU
/// does (the bootstrap processor before its console, an application
/// processor on entering Rust).
///
/// Panics if `index` is not below [`MAX_CPUS`].
pub fn init(index: usize) {
    GsBase::write(VirtAddr::from_ptr(&BLOCKS[index]));
}

/// The number of the CPU running this code (0 = the bootstrap processor).
#[inline]
pub fn index() -> usize {
    let index: usize;
    // SAFETY: every CPU points its GS base at its 'static `Block` (whose
    // first word is the index) in `init`, before anything else runs on it;
    // the load reads that word and nothing else.
    unsafe {
        asm!(
            "mov {}, qword ptr gs:[0]",
            out(reg) index,
            options(nostack, readonly, preserves_flags, pure)
        )
    };
    index
}

//! Global descriptor table and task state segment.
//!
//! Long mode ignores segmentation, but the CPU still needs a code segment
//! and a TSS: the TSS's interrupt stack table gives the double-fault and NMI
//! handlers known-good stacks, so a kernel stack overflow (whose page fault
//! cannot push a frame) ends in a readable report instead of a triple fault.
//! Every CPU has its own GDT, TSS and IST stacks (the bootstrap
//! processor's are static, the application processors' come from
//! [`crate::smp`]).

use super::percpu::MAX_CPUS;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot used by the NMI handler.
pub const NMI_IST: u16 = 1;

pub const IST_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

/// One TSS and one GDT per CPU (a TSS descriptor is marked busy once
/// loaded, so CPUs cannot share one), indexed by the CPU's number.
static TSS: [Once<TaskStateSegment>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];
static GDT: [Once<(GlobalDescriptorTable, Selectors)>; MAX_CPUS] =
    [const { Once::new() }; MAX_CPUS];

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

/// The top (initial stack pointer) of an IST stack.
fn stack_top(stack: *const IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + IST_STACK_SIZE as u64
}

/// The bootstrap processor's GDT and TSS (CPU 0, with the static IST
/// stacks). Call once, early, with interrupts off.
pub fn init() {
    load(
        0,
        stack_top(&raw const DOUBLE_FAULT_STACK),
        stack_top(&raw const NMI_STACK),
    );
}

/// Builds and loads CPU `index`'s GDT and TSS, its double-fault and NMI
/// handlers running on the stacks whose tops are given. Call once per CPU,
/// on that CPU, with interrupts off.
///
/// # Safety
///
/// `double_fault` and `nmi` must be the tops of two distinct stacks of at
/// least [`IST_STACK_SIZE`] bytes each, mapped, writable, used by nothing
/// else and never freed: from now on the CPU alone writes to them, when
/// it delivers a double fault or an NMI.
pub unsafe fn init_ap(index: usize, double_fault: VirtAddr, nmi: VirtAddr) {
    load(index, double_fault, nmi);
}

fn load(index: usize, double_fault: VirtAddr, nmi: VirtAddr) {
    let tss = TSS[index].call_once(|| {
        let mut tss = TaskStateSegment::new();
        // Only the addresses are taken here; from now on the CPU alone writes
        // to these stacks, when it delivers a double fault or an NMI.
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = double_fault;
        tss.interrupt_stack_table[usize::from(NMI_IST)] = nmi;
        tss
    });
    let (gdt, selectors) = GDT[index].call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // is 'static; the code segment is a valid 64-bit ring-0 segment and the
    // TSS descriptor points at this CPU's 'static TSS, loaded by no other
    // CPU (one per index, and each CPU loads its own index once).
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}

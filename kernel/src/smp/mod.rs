//! Several CPUs: the application processors the MADT lists are started at
//! boot, one at a time, by the bootstrap processor (INIT, then startup
//! IPIs to a real-mode stub, [`trampoline`]). Each gets a number (1.. in
//! start order; the bootstrap processor is 0, see
//! [`crate::arch::percpu`]), its own stacks, GDT, TSS and IST stacks, the
//! shared IDT, its local APIC and timer at the bootstrap processor's rate,
//! and runs the idle loop over the NIC queue pairs it owns ([`ap`],
//! [`crate::net`]). The shell, the control plane, the host stack and the
//! in-kernel applications stay on CPU 0.

mod ap;
mod trampoline;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use spin::Once;
use x86_64::registers::control::{Cr0, Cr3, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::{PhysAddr, VirtAddr};

use crate::arch::gdt::IST_STACK_SIZE;
use crate::arch::percpu::MAX_CPUS;
use crate::firmware::acpi::Platform;
use crate::irq::lapic;
use crate::mem::{frames, paging};
use crate::time;
use trampoline::{Params, Trampoline};

pub use ap::{request, Request};

/// Each application processor's kernel stack.
const STACK_SIZE: u64 = 256 * 1024;
/// How long a processor may take from INIT to online: generous, since
/// under TCG on a busy host a vCPU thread may wait for a core.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// CPUs online: numbers `0..COUNT`.
static COUNT: AtomicUsize = AtomicUsize::new(1);
/// Set by each application processor once it runs on its own GDT (the
/// trampoline page is free again) with its local APIC and timer on.
static ONLINE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Each CPU's local APIC ID.
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Tops of an application processor's double-fault and NMI stacks,
/// published before its startup IPI.
#[derive(Clone, Copy)]
struct IstTops {
    double_fault: VirtAddr,
    nmi: VirtAddr,
}
static IST_TOPS: [Once<IstTops>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

/// CPUs online (1 with `-smp 1`).
pub fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// CPU `index`'s local APIC ID (where its MSI-X messages go).
pub fn apic_id(index: usize) -> Option<u32> {
    (index < count()).then(|| APIC_IDS[index].load(Ordering::Relaxed))
}

/// A stack of `size` bytes above a guard page; its top. Never freed.
fn alloc_stack(size: u64) -> Option<VirtAddr> {
    paging::map_stack(size).ok()
}

/// Starts the application processors `platform` lists (after
/// [`crate::irq::init`]: the local APIC is mapped and the timer measured).
/// A processor that does not come up is logged and the rest are not
/// tried; the kernel goes on with the CPUs it has.
pub fn start(platform: &Platform) {
    let bsp = lapic::id();
    APIC_IDS[0].store(u32::from(bsp), Ordering::Relaxed);
    let mut aps = platform
        .application_processors
        .iter()
        .copied()
        .filter(|&id| id != u32::from(bsp));
    if platform.application_processors.is_empty() {
        return;
    }
    let cr3 = Cr3::read_raw().0.start_address().as_u64();
    let Ok(cr3) = u32::try_from(cr3) else {
        log::warn!("page tables above 4 GiB: application processors not started");
        return;
    };
    let Some(frame) = frames::alloc_below(PhysAddr::new(0x10_0000)) else {
        log::warn!("no free page below 1 MiB: application processors not started");
        return;
    };
    // SAFETY: the frame was just allocated and is never freed.
    let trampoline = match unsafe { Trampoline::install(frame) } {
        Ok(t) => t,
        Err(error) => {
            log::warn!("AP trampoline: {error:?}: application processors not started");
            return;
        }
    };
    // The bootstrap processor's modes, minus what needs long mode active
    // (PCIDE) or is read only (LMA).
    let cr4 = Cr4::read_raw() & !Cr4Flags::PCID.bits();
    let efer = Efer::read_raw()
        & (EferFlags::SYSTEM_CALL_EXTENSIONS
            | EferFlags::LONG_MODE_ENABLE
            | EferFlags::NO_EXECUTE_ENABLE)
            .bits();
    let base = Params::new(Cr0::read_raw() as u32, cr3, cr4 as u32, efer as u32);

    let mut all_up = true;
    for apic_id in aps.by_ref() {
        let index = count();
        if index >= MAX_CPUS {
            log::warn!("more than {MAX_CPUS} CPUs: APIC ID {apic_id} and later left off");
            break;
        }
        let Ok(apic_id) = u8::try_from(apic_id) else {
            log::warn!("APIC ID {apic_id} needs x2APIC: left off");
            continue;
        };
        let (Some(stack), Some(double_fault), Some(nmi)) = (
            alloc_stack(STACK_SIZE),
            alloc_stack(IST_STACK_SIZE as u64),
            alloc_stack(IST_STACK_SIZE as u64),
        ) else {
            log::warn!("no memory for cpu{index}'s stacks");
            break;
        };
        IST_TOPS[index].call_once(|| IstTops { double_fault, nmi });
        let mut params = base;
        params.stack_top = stack.as_u64();
        params.entry = ap::entry as extern "C" fn(u64) -> ! as usize as u64;
        params.arg = index as u64;
        trampoline.set(params);
        if !wake(apic_id, trampoline.page(), index) {
            log::warn!("cpu{index} (APIC ID {apic_id}) did not start: the rest are left off");
            all_up = false;
            break;
        }
        APIC_IDS[index].store(u32::from(apic_id), Ordering::Relaxed);
        COUNT.store(index + 1, Ordering::Release);
    }
    // A processor that never answered might still run the stub later: its
    // page stays mapped (and reserved) then.
    if all_up {
        trampoline.uninstall();
    }
    log::info!("{} CPU(s) online", count());
}

/// INIT, then startup IPIs (the second only if the first went unanswered),
/// then waits for CPU `index` to report itself online.
fn wake(apic_id: u8, page: u8, index: usize) -> bool {
    let online = || ONLINE[index].load(Ordering::Acquire);
    let wait = |limit: Duration| {
        let start = time::since_boot();
        while !online() {
            if time::since_boot() - start > limit {
                return false;
            }
            core::hint::spin_loop();
        }
        true
    };
    lapic::send_init(apic_id);
    time::busy_wait(Duration::from_millis(10));
    lapic::send_startup(apic_id, page);
    if wait(Duration::from_millis(1)) {
        return true;
    }
    lapic::send_startup(apic_id, page);
    wait(START_TIMEOUT)
}

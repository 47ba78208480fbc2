//! An application processor's life: its Rust entry point (called by the
//! trampoline on its own stack) and its idle loop.
//!
//! For now an application processor has no queue to poll: it halts with
//! interrupts on and wakes on its timer tick (or any interrupt), counting
//! passes and halts. At each wake-up it looks for a request from another
//! CPU ([`request`]: the shell's `panic cpuN`, `fault KIND cpuN`), so a
//! request is acted on within one tick (10 ms).

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use x86_64::instructions::interrupts;

use super::{IST_TOPS, ONLINE};
use crate::arch::percpu::{self, MAX_CPUS};
use crate::arch::{cpu, faults, gdt, idt};
use crate::irq::{lapic, timer};

/// Entered from the trampoline with interrupts off, on this CPU's stack,
/// `index` its number.
pub(super) extern "C" fn entry(index: u64) -> ! {
    let index = index as usize;
    percpu::init(index);
    let tops = IST_TOPS[index]
        .get()
        .expect("application processor started without IST stacks");
    // SAFETY: `start` allocated both stacks for this CPU alone (fresh
    // frames, never freed) and published their tops before waking it.
    unsafe { gdt::init_ap(index, tops.double_fault, tops.nmi) };
    idt::load();
    lapic::enable_this_cpu();
    timer::start_this_cpu();
    ONLINE[index].store(true, core::sync::atomic::Ordering::Release);
    idle(index)
}

/// One application processor's idle-loop counters (`stats`' `cpuN` line).
pub struct Counters {
    /// Turns of the loop (one per wake-up).
    pub passes: AtomicU64,
    /// Halts (`sti; hlt`).
    pub halts: AtomicU64,
}

/// Indexed by CPU number; entry 0 is unused (CPU 0's loop is
/// [`crate::idle`], with its own counters).
pub static COUNTERS: [Counters; MAX_CPUS] = [const {
    Counters {
        passes: AtomicU64::new(0),
        halts: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Zeroes every application processor's counters (`stats reset`).
pub fn reset_counters() {
    for c in &COUNTERS {
        c.passes.store(0, Relaxed);
        c.halts.store(0, Relaxed);
    }
}

/// What another CPU may ask an application processor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Request {
    Panic = 1,
    PageFault,
    GeneralProtection,
    InvalidOpcode,
    DivideError,
}

impl Request {
    fn from_u8(value: u8) -> Option<Request> {
        [
            Request::Panic,
            Request::PageFault,
            Request::GeneralProtection,
            Request::InvalidOpcode,
            Request::DivideError,
        ]
        .into_iter()
        .find(|r| *r as u8 == value)
    }
}

/// Pending requests, one per CPU (0 = none).
static REQUESTS: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// No application processor has that number.
    NoSuchCpu,
}

/// Asks application processor `cpu` to act on `what` at its next wake-up.
pub fn request(cpu: usize, what: Request) -> Result<(), RequestError> {
    if cpu == 0 || cpu >= super::count() {
        return Err(RequestError::NoSuchCpu);
    }
    REQUESTS[cpu].store(what as u8, Relaxed);
    Ok(())
}

fn act(what: Request) {
    match what {
        Request::Panic => panic!("panic requested from the shell"),
        Request::PageFault => faults::page_fault(),
        Request::GeneralProtection => faults::general_protection(),
        Request::InvalidOpcode => faults::invalid_opcode(),
        Request::DivideError => faults::divide_error(),
    }
    log::warn!("cpu{}: {what:?} did not fault", percpu::index());
}

/// The loop: act on a request if there is one, else halt until the next
/// interrupt. Interrupts are off from the check to the halt (`sti; hlt`),
/// so nothing that arrives in between is slept through.
fn idle(index: usize) -> ! {
    let counters = &COUNTERS[index];
    loop {
        interrupts::disable();
        counters.passes.fetch_add(1, Relaxed);
        if let Some(what) = Request::from_u8(REQUESTS[index].swap(0, Relaxed)) {
            act(what);
            continue;
        }
        counters.halts.fetch_add(1, Relaxed);
        cpu::wait_for_interrupt();
    }
}

//! An application processor's life: its Rust entry point (called by the
//! trampoline on its own stack) and its idle loop.
//!
//! An application processor runs the same idle loop as CPU 0
//! ([`crate::idle`]) over its share of the datapath: the NIC queue pairs
//! it owns (see [`crate::net`]); their MSI-X interrupts wake it. Between
//! passes it looks for a request from another CPU ([`request`]: the
//! shell's `panic cpuN`, `fault KIND cpuN`); a halted CPU sees one at its
//! next timer tick (10 ms) at the latest.

use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use x86_64::instructions::interrupts;

use super::{IST_TOPS, ONLINE};
use crate::arch::percpu::{self, MAX_CPUS};
use crate::arch::{faults, gdt, idt};
use crate::idle::Idle;
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

/// The loop: act on a request if there is one, else one pass of the
/// idle loop (which halts when there is nothing to do). Interrupts are off
/// from the check through the halt (`sti; hlt`), so nothing that arrives
/// in between is slept through.
fn idle(index: usize) -> ! {
    let mut idle = Idle::new();
    loop {
        interrupts::disable();
        if let Some(what) = Request::from_u8(REQUESTS[index].swap(0, Relaxed)) {
            act(what);
            idle.restart();
            continue;
        }
        idle.run_once();
    }
}

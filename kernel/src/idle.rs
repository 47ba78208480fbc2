//! The idle loop: the one place the CPU waits.
//!
//! `kmain` ends in this loop: it runs passes of [`Idle`] and hands the
//! shell each byte that comes in between them. A command that waits for
//! something (`ping`, `dhcp`, `tap read`) waits here too ([`wait_for`]),
//! and while it waits the datapath runs. Policy, as NAPI's:
//!
//! 1. poll the datapath; while frames move, keep polling with device
//!    interrupts off (no interrupt per packet);
//! 2. once idle, keep polling a little longer ([`BUSY_POLL`]) so a
//!    request-response exchange is not slowed by an interrupt round trip;
//! 3. then arm the NICs' interrupts, check once more (the re-arm race:
//!    a frame that arrived before arming raises nothing), and halt.
//!
//! The halt is `sti; hlt` with interrupts off until then, so a wake-up
//! between the last check and the halt is never lost.
//!
//! Every CPU runs this loop: CPU 0 from `kmain` (with the shell between
//! passes), an application processor from [`crate::smp`]. [`net::poll`]
//! and [`net::arm`] work on the calling CPU's share of the datapath (the
//! queue pairs it owns); each CPU keeps its own [`Stats`].

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use core::time::Duration;

use x86_64::instructions::interrupts;

use crate::arch::cpu;
use crate::arch::percpu::{self, MAX_CPUS};
use crate::net;
use crate::time;

/// How long to keep polling after the last frame before sleeping.
const BUSY_POLL: Duration = Duration::from_micros(200);

/// Where one CPU's loop time goes, in TSC ticks (under TCG the guest TSC runs
/// at host wall-clock speed, so this is the vCPU's wall time). Cheap: two
/// TSC reads and a few relaxed adds per pass. Shown by `stats`.
#[repr(align(64))]
pub struct Stats {
    /// Datapath passes, and those that moved something.
    pub passes: AtomicU64,
    pub busy_passes: AtomicU64,
    /// Ticks in passes that moved something, and in passes that did not
    /// (busy polling, arming).
    pub busy_ticks: AtomicU64,
    pub idle_ticks: AtomicU64,
    /// Halts, and ticks spent halted.
    pub halts: AtomicU64,
    pub halted_ticks: AtomicU64,
    /// Passes entered with interrupts enabled, against the contract of
    /// [`Idle::run_once`] (a wake-up between the caller's check and the
    /// halt could be slept through); the pass disables them and goes on.
    pub irq_on_passes: AtomicU64,
    /// TSC when the counters were last reset.
    pub since: AtomicU64,
}

/// Indexed by CPU number; each on its own cache line, so CPUs counting
/// their passes do not bounce one line between them.
pub static STATS: [Stats; MAX_CPUS] = [const {
    Stats {
        passes: AtomicU64::new(0),
        busy_passes: AtomicU64::new(0),
        busy_ticks: AtomicU64::new(0),
        idle_ticks: AtomicU64::new(0),
        halts: AtomicU64::new(0),
        halted_ticks: AtomicU64::new(0),
        irq_on_passes: AtomicU64::new(0),
        since: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// This CPU's counters.
pub fn this_cpu() -> &'static Stats {
    &STATS[percpu::index()]
}

/// Zeroes every CPU's counters (`stats reset`).
pub fn reset_all() {
    for s in &STATS {
        s.reset();
    }
}

impl Stats {
    pub fn reset(&self) {
        for c in [
            &self.passes,
            &self.busy_passes,
            &self.busy_ticks,
            &self.idle_ticks,
            &self.halts,
            &self.halted_ticks,
            &self.irq_on_passes,
        ] {
            c.store(0, Relaxed);
        }
        self.since.store(cpu::rdtsc(), Relaxed);
    }
}

/// [`BUSY_POLL`] in TSC ticks (computed once: no division per pass).
fn busy_poll_ticks() -> u64 {
    static TICKS: AtomicU64 = AtomicU64::new(0);
    match TICKS.load(Relaxed) {
        0 => {
            let t =
                (u128::from(time::tsc_hz()) * BUSY_POLL.as_nanos() / 1_000_000_000).max(1) as u64;
            TICKS.store(t, Relaxed);
            t
        }
        t => t,
    }
}

/// The idle loop, one pass at a time: [`Idle::run_once`] is one turn of
/// the policy above. `kmain` runs it as the kernel's main loop, checking
/// for shell input between passes; [`wait_for`] runs it for a command that
/// waits (`ping`, `dhcp`, `tap read` with a timeout).
pub struct Idle {
    /// [`BUSY_POLL`] in TSC ticks.
    busy_poll: u64,
    /// TSC at the end of the last pass that moved something (or of the last
    /// halt, or when the caller last had work of its own: [`Idle::restart`]).
    last_work: u64,
}

impl Idle {
    pub fn new() -> Self {
        // This CPU's first wait: its counters start now.
        let _ = this_cpu()
            .since
            .compare_exchange(0, cpu::rdtsc(), Relaxed, Relaxed);
        Self {
            busy_poll: busy_poll_ticks(),
            last_work: cpu::rdtsc(),
        }
    }

    /// The caller just had work of its own (input, a command): busy poll
    /// for [`BUSY_POLL`] from now before sleeping.
    pub fn restart(&mut self) {
        self.last_work = cpu::rdtsc();
    }

    /// One pass: poll the datapath; if nothing moved for [`BUSY_POLL`],
    /// arm interrupts and, if nothing arrived meanwhile, halt until the
    /// next interrupt. Call with interrupts disabled, after checking for
    /// the caller's own work (a byte, a reply): an interrupt that comes
    /// after that check then wakes the halt instead of being slept
    /// through. Returns with interrupts disabled.
    pub fn run_once(&mut self) {
        let stats = this_cpu();
        // `pushf`: no VM exit, a few cycles per pass.
        if interrupts::are_enabled() {
            stats.irq_on_passes.fetch_add(1, Relaxed);
            interrupts::disable();
        }
        let t0 = cpu::rdtsc();
        let worked = net::poll();
        let t1 = cpu::rdtsc();
        stats.passes.fetch_add(1, Relaxed);
        if worked {
            stats.busy_passes.fetch_add(1, Relaxed);
            stats.busy_ticks.fetch_add(t1.wrapping_sub(t0), Relaxed);
            net::disarm();
            self.last_work = t1;
            if percpu::index() == 0 {
                // CPU 0 takes the NICs' INTx (and passes it on to CPUs
                // asleep on their pairs, `net::wake`): while busy it polls
                // with interrupts off, so it lets them in between passes.
                cpu::interrupt_window();
            }
            return;
        }
        stats.idle_ticks.fetch_add(t1.wrapping_sub(t0), Relaxed);
        if t1.wrapping_sub(self.last_work) < self.busy_poll {
            return;
        }
        if net::arm() {
            return;
        }
        stats.halts.fetch_add(1, Relaxed);
        cpu::wait_for_interrupt();
        net::woke();
        // Woken: poll from the top; the next busy pass disarms.
        self.last_work = cpu::rdtsc();
        stats
            .halted_ticks
            .fetch_add(self.last_work.wrapping_sub(t1), Relaxed);
    }
}

/// Runs the datapath until `ready` yields a value. Callable with
/// interrupts on or off: it saves their state, disables them for the whole
/// wait (`ready` is checked and each pass runs with them off, so a wake-up
/// between the check and the halt wakes the halt instead of being slept
/// through) and restores the saved state before returning, so no caller
/// can get the contract of [`Idle::run_once`] wrong.
pub fn wait_for<T>(mut ready: impl FnMut() -> Option<T>) -> T {
    let were_enabled = interrupts::are_enabled();
    interrupts::disable();
    let mut idle = Idle::new();
    let value = loop {
        if let Some(value) = ready() {
            break value;
        }
        idle.run_once();
    };
    if were_enabled {
        interrupts::enable();
    }
    value
}

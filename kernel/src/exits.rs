//! Events that cost a VM exit under KVM, counted from the guest's side.
//!
//! Under TCG none of these is expensive; under KVM each one leaves the
//! guest (or, for an interrupt, is the reason it was kicked or re-entered),
//! which is what `cargo xtask bench` wants to divide by frames. Counted:
//!
//! - `doorbells`: virtio queue notifications (`net/virtio/notify.rs`, or
//!   the transport's `notify` when the notify capability is unusable);
//!   one MMIO write each, counted here and *not* in `mmio`;
//! - `irqs`, split `nic` (the NICs' INTx lines), `timer` (the local APIC
//!   tick) and `other` (the serial receive interrupt, spurious vectors).
//!   Exceptions are not counted;
//! - `halts`: `hlt` in the idle loop ([`crate::arch::cpu::wait_for_interrupt`]);
//! - `ticks`: timer ticks, the same events as `timer` (a tick is a timer
//!   interrupt): listed on its own as the exits an idle guest pays anyway
//!   (100 Hz), not as extra exits;
//! - `pio`: every `in`/`out` ([`crate::arch::pio`] is the one place that
//!   executes them: the UARTs, PCI configuration at 0xCF8/0xCFC, the PIT,
//!   the PICs and port 0x80, the exit device);
//! - `mmio`: device-register accesses other than doorbells: everything
//!   through [`crate::mem::mmio::Mmio`] (local APIC EOI and timer, I/O APIC
//!   masking, ECAM configuration, virtio common configuration) and, of
//!   `virtio-drivers`' own accesses, the ones on the running datapath: the
//!   ISR read that acknowledges a NIC interrupt, the link status read after
//!   a configuration interrupt, the fallback doorbell's extra two. The
//!   transport's accesses while a device is brought up or reset, MSR
//!   accesses and `cpuid` (boot only) are not counted.
//!
//! The counters are plain relaxed atomics, one set per CPU
//! ([`this_cpu`], found through [`crate::arch::percpu`]); readers sum
//! them ([`total`]) or read one CPU's ([`cpu`], `stats`' `cpuN` lines).
//! All of them are zeroed by `stats reset`.

use crate::arch::percpu::{self, MAX_CPUS};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What raised an interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irq {
    /// A NIC's INTx line.
    Nic,
    /// The local APIC timer (the tick).
    Timer,
    /// Anything else: other devices, spurious vectors.
    Other,
}

/// One CPU's counters.
pub struct Counters {
    doorbells: AtomicU64,
    irq_nic: AtomicU64,
    irq_timer: AtomicU64,
    irq_other: AtomicU64,
    halts: AtomicU64,
    pio: AtomicU64,
    mmio: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            doorbells: AtomicU64::new(0),
            irq_nic: AtomicU64::new(0),
            irq_timer: AtomicU64::new(0),
            irq_other: AtomicU64::new(0),
            halts: AtomicU64::new(0),
            pio: AtomicU64::new(0),
            mmio: AtomicU64::new(0),
        }
    }

    fn all(&self) -> [&AtomicU64; 7] {
        [
            &self.doorbells,
            &self.irq_nic,
            &self.irq_timer,
            &self.irq_other,
            &self.halts,
            &self.pio,
            &self.mmio,
        ]
    }

    #[inline]
    pub fn doorbell(&self) {
        self.doorbells.fetch_add(1, Relaxed);
    }

    #[inline]
    pub fn irq(&self, kind: Irq) {
        match kind {
            Irq::Nic => &self.irq_nic,
            Irq::Timer => &self.irq_timer,
            Irq::Other => &self.irq_other,
        }
        .fetch_add(1, Relaxed);
    }

    #[inline]
    pub fn halt(&self) {
        self.halts.fetch_add(1, Relaxed);
    }

    #[inline]
    pub fn pio(&self) {
        self.pio.fetch_add(1, Relaxed);
    }

    #[inline]
    pub fn mmio(&self, accesses: u64) {
        self.mmio.fetch_add(accesses, Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            doorbells: self.doorbells.load(Relaxed),
            irq_nic: self.irq_nic.load(Relaxed),
            irq_timer: self.irq_timer.load(Relaxed),
            irq_other: self.irq_other.load(Relaxed),
            halts: self.halts.load(Relaxed),
            pio: self.pio.load(Relaxed),
            mmio: self.mmio.load(Relaxed),
        }
    }
}

/// CPUs with counters. Index = the CPU's number.
static CPUS: [Counters; MAX_CPUS] = [const { Counters::new() }; MAX_CPUS];

/// The counters of the CPU running this code (one `gs`-relative load).
#[inline]
pub fn this_cpu() -> &'static Counters {
    &CPUS[percpu::index()]
}

/// CPU `index`'s counters (zero for a CPU that never ran).
pub fn cpu(index: usize) -> Snapshot {
    CPUS.get(index)
        .map_or_else(Snapshot::default, Counters::snapshot)
}

/// The counters summed over all CPUs.
pub fn total() -> Snapshot {
    let mut sum = Snapshot::default();
    for cpu in &CPUS {
        sum.add(&cpu.snapshot());
    }
    sum
}

/// Zeroes every CPU's counters (`stats reset`).
pub fn reset() {
    for cpu in &CPUS {
        for c in cpu.all() {
            c.store(0, Relaxed);
        }
    }
}

/// The counters at one moment, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub doorbells: u64,
    pub irq_nic: u64,
    pub irq_timer: u64,
    pub irq_other: u64,
    pub halts: u64,
    pub pio: u64,
    pub mmio: u64,
}

impl Snapshot {
    fn add(&mut self, o: &Snapshot) {
        self.doorbells += o.doorbells;
        self.irq_nic += o.irq_nic;
        self.irq_timer += o.irq_timer;
        self.irq_other += o.irq_other;
        self.halts += o.halts;
        self.pio += o.pio;
        self.mmio += o.mmio;
    }

    /// Interrupts of every kind.
    pub fn irqs(&self) -> u64 {
        self.irq_nic + self.irq_timer + self.irq_other
    }

    /// Timer ticks: the timer's interrupts.
    pub fn ticks(&self) -> u64 {
        self.irq_timer
    }

    /// The names shown by `stats` and `/stats`, with their values, in order.
    pub fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("doorbells", self.doorbells),
            ("irqs", self.irqs()),
            ("nic", self.irq_nic),
            ("timer", self.irq_timer),
            ("other", self.irq_other),
            ("halts", self.halts),
            ("ticks", self.ticks()),
            ("pio", self.pio),
            ("mmio", self.mmio),
        ]
    }
}

/// `doorbells=N irqs=N (nic=N timer=N other=N) halts=N ticks=N pio=N mmio=N`
/// (the `stats` line after its `exits ` prefix).
impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "doorbells={} irqs={} (nic={} timer={} other={}) halts={} ticks={} pio={} mmio={}",
            self.doorbells,
            self.irqs(),
            self.irq_nic,
            self.irq_timer,
            self.irq_other,
            self.halts,
            self.ticks(),
            self.pio,
            self.mmio
        )
    }
}

//! stats: where the idle loop's time goes (see [`crate::idle::Stats`]).
//!
//! ```text
//! passes P busy B halts H frames F
//! ticks total T busy X idle-poll Y halted Z other O tsc-hz N
//! per-frame C ticks, N ns; per-busy-pass F/B frames
//! exits doorbells=N irqs=N (nic=N timer=N other=N) halts=N ticks=N pio=N mmio=N
//! irq-on-passes N
//! cpu0 passes P halts H ticks T irqs I busy B frames F busy-ticks X idle-ticks Y
//! cpu1 passes P halts H ticks T irqs I busy B frames F busy-ticks X idle-ticks Y
//! ```
//!
//! `irq-on-passes` counts idle-loop passes entered with interrupts on,
//! against the loop's contract (0 unless a caller gets it wrong).
//!
//! `other` (on the `ticks` line) is what no pass measured: the shell,
//! interrupt handlers outside a halt. The `exits` line counts the events
//! that cost a VM exit under KVM (see [`crate::exits`]). The first lines
//! sum every CPU's idle loop (each CPU polls its own queue pairs, see
//! [`crate::net`]); `total` is CPU 0's wall time, so with several CPUs
//! busy, idle-poll and halted add up to more than it and `other` reads 0.
//! Then one line per CPU online (`cpu0` first): its loop's passes and
//! halts, its timer ticks and all its interrupts, its busy passes, the
//! frames it moved, and its TSC ticks in passes that moved frames and in
//! passes that did not (polling empty rings). `stats reset` zeroes everything
//! (and the frame counts).

use core::sync::atomic::Ordering::Relaxed;

use super::{optional_arg, Command, CommandError, CommandResult};
use crate::arch::cpu;
use crate::exits;
use crate::idle;
use crate::net;
use crate::println;
use crate::smp;
use crate::time;

pub const COMMANDS: &[Command] = &[Command {
    name: "stats",
    usage: "[reset]",
    help: "datapath time budget: passes, frames, TSC ticks busy/idle/halted, ticks per frame; events that cost a VM exit",
    run: stats,
}];

/// One CPU's loop counters, or their sum.
#[derive(Clone, Copy, Default)]
struct Loop {
    passes: u64,
    busy: u64,
    halts: u64,
    frames: u64,
    busy_ticks: u64,
    idle_ticks: u64,
    halted_ticks: u64,
    irq_on_passes: u64,
}

impl Loop {
    fn of(cpu: usize) -> Self {
        let s = &idle::STATS[cpu];
        Self {
            passes: s.passes.load(Relaxed),
            busy: s.busy_passes.load(Relaxed),
            halts: s.halts.load(Relaxed),
            frames: net::frames(cpu),
            busy_ticks: s.busy_ticks.load(Relaxed),
            idle_ticks: s.idle_ticks.load(Relaxed),
            halted_ticks: s.halted_ticks.load(Relaxed),
            irq_on_passes: s.irq_on_passes.load(Relaxed),
        }
    }

    fn add(self, o: Self) -> Self {
        Self {
            passes: self.passes + o.passes,
            busy: self.busy + o.busy,
            halts: self.halts + o.halts,
            frames: self.frames + o.frames,
            busy_ticks: self.busy_ticks + o.busy_ticks,
            idle_ticks: self.idle_ticks + o.idle_ticks,
            halted_ticks: self.halted_ticks + o.halted_ticks,
            irq_on_passes: self.irq_on_passes + o.irq_on_passes,
        }
    }
}

fn stats(args: &[&str]) -> CommandResult {
    match optional_arg(args)? {
        Some("reset") => {
            idle::reset_all();
            exits::reset();
            net::reset_frames();
            println!("stats reset");
            Ok(())
        }
        Some(_) => Err(CommandError::Usage),
        None => {
            // Taken before this command prints: its own output (each byte
            // on the UART is two port accesses, an LSR read and a THR
            // write) shows in `pio` on the next read, not this one.
            let exits = exits::total();
            let cpus: alloc::vec::Vec<Loop> = (0..smp::count()).map(Loop::of).collect();
            let all = cpus.iter().fold(Loop::default(), |a, &c| a.add(c));
            let (passes, busy, halts, frames) = (all.passes, all.busy, all.halts, all.frames);
            let total = cpu::rdtsc().wrapping_sub(idle::STATS[0].since.load(Relaxed));
            let (bt, it, ht) = (all.busy_ticks, all.idle_ticks, all.halted_ticks);
            let other = total.saturating_sub(bt + it + ht);
            let hz = time::tsc_hz();
            println!("passes {passes} busy {busy} halts {halts} frames {frames}");
            println!("ticks total {total} busy {bt} idle-poll {it} halted {ht} other {other} tsc-hz {hz}");
            let per_frame = bt.checked_div(frames).unwrap_or(0);
            let ns = (u128::from(per_frame) * 1_000_000_000)
                .checked_div(u128::from(hz))
                .unwrap_or(0);
            let per_pass = frames.checked_div(busy).unwrap_or(0);
            println!("per-frame {per_frame} ticks, {ns} ns; per-busy-pass {per_pass} frames");
            println!("exits {exits}");
            println!("irq-on-passes {}", all.irq_on_passes);
            for (cpu, c) in cpus.iter().enumerate() {
                let e = exits::cpu(cpu);
                println!(
                    "cpu{cpu} passes {} halts {} ticks {} irqs {} busy {} frames {} busy-ticks {} idle-ticks {}",
                    c.passes,
                    c.halts,
                    e.ticks(),
                    e.irqs(),
                    c.busy,
                    c.frames,
                    c.busy_ticks,
                    c.idle_ticks
                );
            }
            Ok(())
        }
    }
}

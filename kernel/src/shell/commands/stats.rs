//! stats: where the idle loop's time goes (see [`crate::idle::Stats`]).
//!
//! ```text
//! passes P busy B halts H frames F
//! ticks total T busy X idle-poll Y halted Z other O tsc-hz N
//! per-frame C ticks, N ns; per-busy-pass F/B frames
//! exits doorbells=N irqs=N (nic=N timer=N other=N) halts=N ticks=N pio=N mmio=N
//! irq-on-passes N
//! cpu0 passes P halts H ticks T irqs I
//! cpu1 passes P halts H ticks T irqs I
//! ```
//!
//! `irq-on-passes` counts idle-loop passes entered with interrupts on,
//! against the loop's contract (0 unless a caller gets it wrong).
//!
//! `other` (on the `ticks` line) is what no pass measured: the shell,
//! interrupt handlers outside a halt. The `exits` line counts the events
//! that cost a VM exit under KVM (see [`crate::exits`]). Then one line
//! per CPU online (`cpu0` first): its idle loop's passes and halts (CPU 0's
//! are the first line's; an application processor's, its own loop's, see
//! [`crate::smp`]), its timer ticks and all its interrupts. `stats reset`
//! zeroes everything (and the frame count).

use core::sync::atomic::Ordering::Relaxed;

use super::{optional_arg, Command, CommandError, CommandResult};
use crate::arch::cpu;
use crate::exits;
use crate::idle::STATS;
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

fn stats(args: &[&str]) -> CommandResult {
    match optional_arg(args)? {
        Some("reset") => {
            STATS.reset();
            smp::reset_counters();
            exits::reset();
            net::FRAMES.store(0, Relaxed);
            println!("stats reset");
            Ok(())
        }
        Some(_) => Err(CommandError::Usage),
        None => {
            // Taken before this command prints: its own output (each byte
            // on the UART is two port accesses, an LSR read and a THR
            // write) shows in `pio` on the next read, not this one.
            let exits = exits::total();
            let s = &STATS;
            let (passes, busy, halts) = (
                s.passes.load(Relaxed),
                s.busy_passes.load(Relaxed),
                s.halts.load(Relaxed),
            );
            let frames = net::FRAMES.load(Relaxed);
            let total = cpu::rdtsc().wrapping_sub(s.since.load(Relaxed));
            let (bt, it, ht) = (
                s.busy_ticks.load(Relaxed),
                s.idle_ticks.load(Relaxed),
                s.halted_ticks.load(Relaxed),
            );
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
            println!("irq-on-passes {}", s.irq_on_passes.load(Relaxed));
            for cpu in 0..smp::count() {
                let (passes, halts) = match cpu {
                    0 => (passes, halts),
                    n => (
                        smp::COUNTERS[n].passes.load(Relaxed),
                        smp::COUNTERS[n].halts.load(Relaxed),
                    ),
                };
                let e = exits::cpu(cpu);
                println!(
                    "cpu{cpu} passes {passes} halts {halts} ticks {} irqs {}",
                    e.ticks(),
                    e.irqs()
                );
            }
            Ok(())
        }
    }
}

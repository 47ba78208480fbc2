//! mem: frame, heap and DMA usage.

use super::{no_args, Command, CommandResult};
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "mem",
    usage: "",
    help: "frame, heap and DMA usage",
    run: mem,
}];

fn mem(args: &[&str]) -> CommandResult {
    no_args(args)?;
    let stats = crate::mem::stats();
    println!(
        "frames: {} used, {} free (4 KiB)",
        stats.frames_used, stats.frames_free
    );
    println!(
        "heap: {} used, {} free (bytes)",
        stats.heap_used, stats.heap_free
    );
    println!(
        "dma: {} used, {} free (bytes)",
        stats.dma_used, stats.dma_free
    );
    Ok(())
}

//! mem: frame, heap and DMA usage, and the buffer pool with its audit
//! ([`crate::net::audit`]).

use super::{no_args, Command, CommandResult};
use crate::println;

pub const COMMANDS: &[Command] = &[Command {
    name: "mem",
    usage: "",
    help: "frame, heap and DMA usage; netmap buffers and their audit",
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
    if let Some(a) = crate::net::audit::run() {
        match a.result {
            Ok(()) => println!("buffers: {} total, {} free, audit ok", a.total, a.free),
            Err(e) => println!(
                "buffers: {} total, {} free, audit FAILED: {e:?}",
                a.total, a.free
            ),
        }
    }
    Ok(())
}

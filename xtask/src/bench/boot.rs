//! `cargo xtask bench boot`: how fast and how small the kernel is.
//!
//! * time from spawning QEMU to the ready line on serial, BIOS and UEFI,
//!   over N boots each (median, max), next to the kernel's own figure;
//! * the release kernel ELF's size (file, and loaded segments);
//! * host CPU used by an idle guest sitting at its prompt, from
//!   `/proc/<qemu pid>/stat` (utime + stime), as % of one core.

use std::thread;
use std::time::{Duration, Instant};

use integration::timeouts::{scaled, COMMAND, EXIT};
use integration::{Firmware, KernelExit, Vm, VmOptions, PROMPT};
use serde_json::json;

use super::elf;
use super::report::{self, max, median, min};
use crate::build;
use crate::cli::BootBenchArgs;
use crate::setup;

/// One boot: host milliseconds to the ready line, and the kernel's.
struct Boot {
    host_ms: f64,
    kernel_ms: f64,
}

fn boot_once(options: &VmOptions) -> Result<Boot, String> {
    let mut vm = Vm::boot(options.clone()).map_err(|e| e.to_string())?;
    let kernel_ms = vm.wait_ready().map_err(|e| e.to_string())? as f64;
    let host_ms = vm.started().elapsed().as_secs_f64() * 1000.0;
    // A clean shutdown proves the boot was a whole one.
    vm.expect(PROMPT, scaled(COMMAND))
        .map_err(|e| e.to_string())?;
    vm.send_line("shutdown 0").map_err(|e| e.to_string())?;
    match vm.wait_exit(scaled(EXIT)).map_err(|e| e.to_string())? {
        KernelExit::Code(0) => Ok(Boot { host_ms, kernel_ms }),
        other => Err(format!(
            "boot bench: the guest ended with {}",
            other.describe()
        )),
    }
}

/// Size of the kernel as `boot::image` packs it (debug info stripped).
fn packed_size(elf: &std::path::Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("xtask-bench-packed-{}", std::process::id()));
    if !boot::strip::strip_debug(elf, &out) {
        return None;
    }
    let len = std::fs::metadata(&out).ok().map(|m| m.len());
    let _ = std::fs::remove_file(&out);
    len
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields 14 and 15 are the 12th and 13th after the closing one.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(utime), Some(stime)) => Ok(utime + stime),
        _ => Err(format!("unexpected /proc/{pid}/stat: {stat}")),
    }
}

/// Percent of one core an idle guest costs the host.
fn idle_cpu(options: &VmOptions, secs: f64) -> Result<f64, String> {
    let mut vm = Vm::boot_to_prompt(options.clone()).map_err(|e| e.to_string())?;
    // Let the boot's own work settle before sampling.
    thread::sleep(Duration::from_secs(1));
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let pid = vm.pid();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    thread::sleep(Duration::from_secs_f64(secs));
    let (t1, c1) = (Instant::now(), cpu_ticks(pid)?);
    vm.send_line("shutdown 0").map_err(|e| e.to_string())?;
    vm.wait_exit(scaled(EXIT)).map_err(|e| e.to_string())?;
    Ok((c1 - c0) as f64 / hz / (t1 - t0).as_secs_f64() * 100.0)
}

pub fn run(args: &BootBenchArgs) -> Result<(), String> {
    if args.boots == 0 {
        return Err("--boots must be at least 1".into());
    }
    setup::ensure_qemu(!args.no_uefi)?;
    let elf = match &args.kernel {
        Some(elf) => elf.clone(),
        None => build::kernel(true)?,
    };
    let size = elf::size(&elf)?;
    let packed = packed_size(&elf);
    let load_before = report::load_average();
    let base = VmOptions::default().kernel(&elf);

    let mut firmwares = vec![Firmware::Bios];
    if !args.no_uefi {
        firmwares.push(Firmware::Uefi);
    }
    let mut rows = vec![vec![
        "firmware".to_string(),
        "boots".into(),
        "to ready, min".into(),
        "median".into(),
        "max".into(),
        "kernel's own, median".into(),
        "max".into(),
    ]];
    let mut results = Vec::new();
    for fw in firmwares {
        let options = VmOptions {
            firmware: fw,
            ..base.clone()
        }
        .name(format!("bench-boot-{}", fw.name()));
        let mut boots = Vec::new();
        for i in 0..args.boots {
            let b = boot_once(&options)?;
            eprintln!(
                "bench boot: {} {}/{}: {:.0} ms (kernel {:.0} ms)",
                fw.name(),
                i + 1,
                args.boots,
                b.host_ms,
                b.kernel_ms
            );
            boots.push(b);
        }
        let host: Vec<f64> = boots.iter().map(|b| b.host_ms).collect();
        let kernel: Vec<f64> = boots.iter().map(|b| b.kernel_ms).collect();
        rows.push(vec![
            fw.name().into(),
            boots.len().to_string(),
            format!("{:.0} ms", min(&host)),
            format!("{:.0} ms", median(&host)),
            format!("{:.0} ms", max(&host)),
            format!("{:.0} ms", median(&kernel)),
            format!("{:.0} ms", max(&kernel)),
        ]);
        results.push(json!({
            "firmware": fw.name(),
            "boots": boots.len(),
            "host_ms": { "min": min(&host), "median": median(&host), "max": max(&host), "all": host },
            "kernel_ms": { "median": median(&kernel), "max": max(&kernel), "all": kernel },
        }));
    }
    let idle = idle_cpu(&base.clone().name("bench-boot-idle"), args.idle_secs)?;

    println!("boot: QEMU start -> `kernel ready` on serial (TCG, pc, 512 MiB, no NIC)");
    report::table(&rows);
    println!(
        "kernel ELF: {} bytes on disk, {} packed into the image (no debug info), {} loaded",
        size.file,
        packed.map_or("?".to_string(), |p| p.to_string()),
        size.loaded
    );
    println!(
        "idle guest at the prompt: {idle:.1} % of one host core ({:.0} s sample)",
        args.idle_secs
    );
    let load_after = report::load_average();
    let show = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.1}"));
    println!(
        "host load average (1 min) {} before, {} after, on {} CPUs",
        show(load_before),
        show(load_after),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    if let Some(path) = &args.json {
        let value = json!({
            "bench": "boot",
            "machine": report::machine(),
            "config": { "accel": "tcg", "machine": "pc", "mem_mb": base.mem_mb, "nics": 0 },
            "boots": results,
            "kernel_elf": {
                "path": elf,
                "file_bytes": size.file,
                "packed_bytes": packed,
                "loaded_bytes": size.loaded,
            },
            "idle_cpu_percent": idle,
            "idle_sample_secs": args.idle_secs,
            "load_average": { "before": load_before, "after": load_after },
        });
        report::write_json(path, &value)?;
    }
    Ok(())
}

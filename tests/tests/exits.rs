//! The events that cost a VM exit under KVM, as the guest counts them:
//! the `exits` line of `stats` (the `/stats` JSON object is checked in
//! host_stack.rs), and the source rule that keeps the port I/O count
//! complete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::{timeouts::COMMAND, Vm, VmOptions};
use regex_lite::Regex;

use integration::contract::STATS_EXITS as EXITS_LINE;
use integration::lab::Exits;

fn exits(vm: &mut Vm) -> Exits {
    let lines = vm.command_ok("stats", COMMAND).unwrap();
    let found: Vec<_> = lines.iter().filter(|l| l.starts_with("exits ")).collect();
    assert_eq!(found.len(), 1, "one exits line in {lines:?}");
    // The older lines stay first: `bench e2e` and other tests read them.
    assert!(lines[0].starts_with("passes "), "{lines:?}");
    let e = Exits::parse(found[0]).unwrap_or_else(|| panic!("{:?} !~ {EXITS_LINE}", found[0]));
    assert_eq!(e.irqs, e.nic + e.timer + e.other, "{e:?}");
    assert_eq!(e.ticks, e.timer, "a tick is a timer interrupt: {e:?}");
    e
}

#[test]
fn the_parser_reads_the_documented_line() {
    let e = Exits::parse(
        "exits doorbells=1 irqs=12 (nic=2 timer=9 other=1) halts=7 ticks=9 pio=4225 mmio=298",
    )
    .unwrap();
    assert_eq!(
        (e.doorbells, e.irqs, e.nic, e.timer, e.other),
        (1, 12, 2, 9, 1)
    );
    assert_eq!((e.halts, e.ticks, e.pio, e.mmio), (7, 9, 4225, 298));
    assert!(Exits::parse("exits doorbells=1 irqs=12").is_none());
}

#[test]
fn stats_counts_ticks_port_io_and_halts_between_two_reads() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    let first = exits(&mut vm);
    // Booting scanned PCI through 0xcf8/0xcfc and printed on the UART.
    assert!(first.pio > 1000, "{first:?}");
    // 100 Hz: half a second is many ticks even on a slow TCG host.
    std::thread::sleep(Duration::from_millis(500));
    let second = exits(&mut vm);
    assert!(second.ticks > first.ticks, "{first:?} -> {second:?}");
    // At least the first `stats` output and the prompt: 2 accesses a byte.
    assert!(second.pio > first.pio + 200, "{first:?} -> {second:?}");
    // The shell waits for the keystrokes in the idle loop, which halts;
    // every tick ends with an EOI, an MMIO write.
    assert!(second.halts > first.halts, "{first:?} -> {second:?}");
    assert!(second.mmio > first.mmio, "{first:?} -> {second:?}");
    assert!(second.doorbells >= first.doorbells && second.nic >= first.nic);

    // `stats reset` starts them all again.
    vm.command_ok("stats reset", COMMAND).unwrap();
    let reset = exits(&mut vm);
    assert!(
        reset.pio < second.pio && reset.ticks < second.ticks && reset.mmio < second.mmio,
        "{second:?} then reset: {reset:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `pio` counts the accesses made through `arch::pio`; one made anywhere
/// else would be an uncounted exit.
#[test]
fn every_port_access_in_the_kernel_goes_through_arch_pio() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "kernel sources not found at {src:?}");
    // `in al, dx`, `out dx, eax`, `rep insw`... in an asm string.
    let asm_io = Regex::new(r#""\s*(rep\s+)?(in|out)s?[bwld]?\s[^"]*\bdx\b"#).unwrap();
    let mut offenders = Vec::new();
    for path in files {
        if path.ends_with("arch/pio.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("instructions::port")
                || code.contains("PortRead")
                || code.contains("PortWrite")
                || asm_io.is_match(code)
            {
                offenders.push(format!("{}:{}: {line}", path.display(), i + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "port I/O outside kernel/src/arch/pio.rs:\n{}",
        offenders.join("\n")
    );
}

/// Datapath passes so far (`stats`' first line).
fn passes(vm: &mut Vm) -> u64 {
    integration::lab::idle_counters(vm, COMMAND).unwrap().passes
}

/// While frames flow the idle loop makes a datapath pass per batch with
/// interrupts off; the console must not read the UART (port I/O: a VM
/// exit under KVM) on every one of them, only now and then.
#[test]
fn frames_flowing_cost_no_port_io_per_datapath_pass() {
    use integration::pktgen::{self, Config, Mode};
    use integration::wire::{Endpoint, Options, Spec};
    let dir = std::env::temp_dir().join(format!("nm-exits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("v0.sock");
    let spec = Spec::VhostUser {
        path: sock.clone(),
        queues: 1,
    };
    let mut ep = Endpoint::open_with(&spec, &Options::default()).unwrap();
    let mut vm =
        Vm::boot_to_prompt(VmOptions::default().nic(boot::Nic::vhost_user(&sock))).unwrap();
    ep.wait_connected(Duration::from_secs(30)).unwrap();
    vm.command_ok("reflect virtio0", COMMAND).unwrap();
    // What printing one `stats` costs in port I/O (two accesses a byte):
    // the reads below print three of them inside the measured window.
    let (ea, eb) = (exits(&mut vm), exits(&mut vm));
    let one_print = eb.pio - ea.pio;
    let started = std::time::Instant::now();
    let (e0, p0) = (exits(&mut vm), passes(&mut vm));
    let mut cfg = Config::new(Mode::Ping);
    cfg.tx = Some(spec);
    cfg.count = Some(30_000);
    cfg.inflight = 8;
    cfg.batch = 8;
    let report = pktgen::run_with(&cfg, Some(&mut ep), None).unwrap();
    assert_eq!(report.received, 30_000, "{}", report.summary());
    let (p1, e1) = (passes(&mut vm), exits(&mut vm));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let dp = p1 - p0;
    let dpio = (e1.pio - e0.pio).saturating_sub(3 * one_print);
    // A few thousand passes at least (8 frames in flight). The console may
    // look at the UART once a millisecond: bounded by the time, not by the
    // passes. Reading the UART on every pass was 1.4 accesses per pass.
    assert!(dp > 3000, "only {dp} datapath passes for 30000 frames");
    // Slack for the prints: their length varies with the counters' digits.
    let budget = elapsed_ms * 6 / 5 + 500;
    assert!(
        dpio < dp / 10 && dpio <= budget,
        "{dpio} port accesses in {dp} datapath passes over {elapsed_ms} ms (budget {budget}): the console polls the UART per pass"
    );
    drop(vm);
    drop(ep);
    let _ = std::fs::remove_dir_all(&dir);
}

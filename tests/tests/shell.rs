//! The serial shell: every command, its output format and its errors.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use integration::{contract, timeouts::COMMAND, Vm, VmOptions, PROMPT};
use regex_lite::Regex;

fn vm() -> Vm {
    Vm::boot_to_prompt(VmOptions::default()).unwrap()
}

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

#[test]
fn help_lists_every_command_once() {
    let mut vm = vm();
    let lines = vm.command_ok("help", COMMAND).unwrap();
    let line_re = re(contract::HELP_LINE);
    let mut names = Vec::new();
    for line in &lines {
        let caps = line_re
            .captures(line)
            .unwrap_or_else(|| panic!("bad help line {line:?}"));
        names.push(caps[1].to_string());
    }
    let listed: BTreeSet<_> = names.iter().map(String::as_str).collect();
    // Later issues add commands (ifconfig, vale, ...); these must stay.
    let missing: Vec<_> = contract::COMMANDS
        .into_iter()
        .filter(|c| !listed.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "help does not list {missing:?}; it lists {names:?}"
    );
    assert_eq!(
        names.len(),
        listed.len(),
        "a command is listed twice: {names:?}"
    );
}

#[test]
fn version_names_the_crate_version_and_profile() {
    let mut vm = vm();
    let lines = vm.command_ok("version", COMMAND).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let caps = re(contract::VERSION)
        .captures(&lines[0])
        .expect("version format");
    // The kernel shares the workspace version with this crate.
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
    assert_eq!(&caps[2], "release", "the tests boot the release kernel");
}

fn uptime_ms(vm: &mut Vm) -> u64 {
    let lines = vm.command_ok("uptime", COMMAND).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let caps = re(contract::UPTIME)
        .captures(&lines[0])
        .expect("uptime format");
    caps[1].parse::<u64>().unwrap() * 1000 + caps[2].parse::<u64>().unwrap()
}

#[test]
fn uptime_increases_with_wall_time() {
    let mut vm = vm();
    let host = Instant::now();
    let first = uptime_ms(&mut vm);
    std::thread::sleep(Duration::from_millis(1500));
    let second = uptime_ms(&mut vm);
    let host_ms = host.elapsed().as_millis() as u64;
    assert!(second > first, "uptime went from {first} to {second} ms");
    // Loose bounds: TCG guests' clocks lag a busy host, but not by half.
    let delta = second - first;
    assert!(
        delta >= 700 && delta <= host_ms + 2000,
        "uptime advanced {delta} ms in {host_ms} ms"
    );
}

#[test]
fn mem_prints_frames_heap_and_dma() {
    let mut vm = vm();
    let lines = vm.command_ok("mem", COMMAND).unwrap();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let caps = re(contract::MEM_BUFFERS)
        .captures(&lines[3])
        .unwrap_or_else(|| panic!("{:?} !~ {}", lines[3], contract::MEM_BUFFERS));
    let (total, free): (u64, u64) = (caps[1].parse().unwrap(), caps[2].parse().unwrap());
    assert!(free > 0 && free <= total, "{lines:?}");
    assert_eq!(&caps[3], "ok", "{lines:?}");
    for (line, pattern) in lines.iter().zip(contract::MEM) {
        let caps = re(pattern)
            .captures(line)
            .unwrap_or_else(|| panic!("{line:?} !~ {pattern}"));
        let used: u64 = caps[1].parse().unwrap();
        let free: u64 = caps[2].parse().unwrap();
        assert!(free > 0, "nothing free in {line:?}");
        assert!(used + free > 0);
    }
    // 512 MiB of guest RAM: the frame allocator must see most of it.
    let caps = re(contract::MEM[0]).captures(&lines[0]).unwrap();
    let frames: u64 = caps[1].parse::<u64>().unwrap() + caps[2].parse::<u64>().unwrap();
    assert!(
        frames * 4096 >= 256 << 20,
        "only {frames} frames for 512 MiB"
    );
    assert!(frames * 4096 <= 512 << 20, "{frames} frames exceed 512 MiB");
}

#[test]
fn log_accepts_the_five_levels_and_rejects_others() {
    let mut vm = vm();
    for level in ["error", "warn", "info", "debug", "trace"] {
        let lines = vm.command_ok(&format!("log {level}"), COMMAND).unwrap();
        assert_eq!(lines, [format!("log level: {level}")]);
    }
    for bad in ["log loud", "log verbose"] {
        let err = vm.command_err(bad, COMMAND).unwrap();
        assert!(err.len() > "error: ".len(), "empty error for {bad:?}");
    }
    // Still alive and still at the last valid level.
    assert_eq!(
        vm.command_ok("log info", COMMAND).unwrap(),
        ["log level: info"]
    );
}

#[test]
fn unknown_command_is_one_error_line() {
    let mut vm = vm();
    let err = vm.command_err("frobnicate now", COMMAND).unwrap();
    assert!(
        err.contains("frobnicate"),
        "the error should name the command: {err:?}"
    );
    assert_eq!(vm.command_ok("version", COMMAND).unwrap().len(), 1);
}

#[test]
fn an_empty_line_just_prompts_again() {
    let mut vm = vm();
    assert!(vm.command("", COMMAND).unwrap().is_empty());
    assert_eq!(vm.command_ok("version", COMMAND).unwrap().len(), 1);
}

#[test]
fn an_overlong_line_is_rejected_without_a_crash() {
    let mut vm = vm();
    // Far beyond any sane line buffer, and sent in one write.
    let long = "x".repeat(4096);
    vm.send_line(&long).unwrap();
    let caps = vm
        .expect_regex(r"(?m)^error: ([^\r]*)\r?$", COMMAND)
        .unwrap();
    assert!(!caps[1].is_empty());
    vm.expect(PROMPT, COMMAND).unwrap();
    // The rest of the long line must not leak into the next command.
    assert_eq!(vm.command_ok("version", COMMAND).unwrap().len(), 1);
}

fn backspace_edits_the_line(erase: &str) {
    let mut vm = vm();
    // "verx", erase the x, "sion": the shell must run `version`.
    vm.send(format!("verx{erase}sion\r").as_bytes()).unwrap();
    let out = vm.expect(PROMPT, COMMAND).unwrap();
    assert!(
        re(r"(?m)^kernel \S+ \((debug|release)\)\r?$").is_match(&out),
        "{out:?}"
    );
    assert!(!out.contains("error: "), "{out:?}");
    // Erasing past the start of the line is harmless.
    vm.send(format!("{erase}{erase}{erase}uptime\r").as_bytes())
        .unwrap();
    let out = vm.expect(PROMPT, COMMAND).unwrap();
    assert!(re(r"(?m)^up \d+\.\d{3} s\r?$").is_match(&out), "{out:?}");
}

#[test]
fn backspace_edits_the_line_with_del() {
    backspace_edits_the_line("\x7f");
}

#[test]
fn backspace_edits_the_line_with_ctrl_h() {
    backspace_edits_the_line("\x08");
}

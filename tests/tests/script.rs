//! The startup script (the bootloader's ramdisk) runs before the prompt.

use integration::timeouts::{COMMAND, EXIT};
use integration::{KernelExit, Vm, VmOptions, PROMPT};
use regex_lite::Regex;

#[test]
fn script_commands_run_in_order_and_comments_are_skipped() {
    let script = "# set up\nlog warn\n\n  # indented comment\nversion\nuptime\n";
    let mut vm = Vm::boot(VmOptions::default().script(script)).unwrap();
    vm.wait_ready().unwrap();
    let out = vm.expect(PROMPT, COMMAND).unwrap();
    let echoes: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("script> "))
        .collect();
    assert_eq!(echoes, ["log warn", "version", "uptime"], "{out}");
    // Each command's output follows its own echo.
    let order = Regex::new(
        r"script> log warn\r?\nlog level: warn\r?\nscript> version\r?\nkernel \S+ \(\w+\)\r?\nscript> uptime\r?\nup \d+\.\d{3} s\r?\n",
    )
    .unwrap();
    assert!(order.is_match(&out), "{out}");
    assert!(
        !out.contains("set up") && !out.contains("indented"),
        "a comment ran: {out}"
    );
    // The shell is interactive afterwards.
    vm.command_ok("mem", COMMAND).unwrap();
}

#[test]
fn semicolons_separate_commands_like_lines() {
    let mut vm = Vm::boot(VmOptions::default().script("version; log error")).unwrap();
    vm.wait_ready().unwrap();
    vm.expect("script> version", COMMAND).unwrap();
    vm.expect("script> log error", COMMAND).unwrap();
    vm.expect("log level: error", COMMAND).unwrap();
    vm.expect(PROMPT, COMMAND).unwrap();
}

#[test]
fn a_script_can_shut_the_kernel_down() {
    let mut vm = Vm::boot(VmOptions::default().script("version\nshutdown 5\nuptime\n")).unwrap();
    vm.wait_ready().unwrap();
    vm.expect("script> shutdown 5", COMMAND).unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(5));
    // Nothing after the shutdown ran.
    assert!(!vm.output().contains("script> uptime"), "{}", vm.output());
}

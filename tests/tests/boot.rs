//! Booting: BIOS and UEFI reach the ready line and a working prompt.

use integration::{contract, timeouts, Vm, VmOptions, PROMPT};
use regex_lite::Regex;

fn boots_to_a_working_shell(options: VmOptions) {
    let mut vm = Vm::boot(options).unwrap();
    let ms = vm.wait_ready().unwrap();
    // The kernel measures from its own entry; anything near the harness's
    // timeout means its clock is wrong.
    assert!(ms < 60_000, "kernel claims {ms} ms to boot");
    // Nothing but the prompt may follow the ready line without a script.
    let between = vm.expect(PROMPT, timeouts::COMMAND).unwrap();
    assert_eq!(between.trim_start_matches(['\r', '\n']), PROMPT);
    let version = vm.command("version", timeouts::COMMAND).unwrap();
    assert!(
        Regex::new(contract::VERSION).unwrap().is_match(&version[0]),
        "{version:?}"
    );
}

#[test]
fn bios_boot_reaches_the_ready_line() {
    boots_to_a_working_shell(VmOptions::default());
}

#[test]
fn uefi_boot_reaches_the_ready_line() {
    boots_to_a_working_shell(VmOptions::default().uefi());
}

#[test]
fn the_ready_line_is_printed_once() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    vm.command("version", timeouts::COMMAND).unwrap();
    let ready = Regex::new(contract::READY).unwrap();
    assert_eq!(ready.find_iter(&vm.output()).count(), 1, "{}", vm.output());
}

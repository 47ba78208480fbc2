//! `shutdown [code]`: the code reaches the host through the exit device.

use integration::timeouts::{COMMAND, EXIT};
use integration::{KernelExit, Vm, VmOptions};

fn shutdown_exits_with(cmd: &str, code: u8) {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    vm.send_line(cmd).unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(code));
}

#[test]
fn shutdown_0() {
    shutdown_exits_with("shutdown 0", 0);
}

#[test]
fn shutdown_7() {
    shutdown_exits_with("shutdown 7", 7);
}

#[test]
fn shutdown_126_the_largest_code() {
    shutdown_exits_with("shutdown 126", 126);
}

#[test]
fn shutdown_without_a_code_exits_0() {
    shutdown_exits_with("shutdown", 0);
}

#[test]
fn bad_codes_are_refused_and_the_shell_goes_on() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    for bad in [
        "shutdown 127",
        "shutdown 255",
        "shutdown -1",
        "shutdown abc",
        "shutdown 1x",
    ] {
        let err = vm.command_err(bad, COMMAND).unwrap();
        assert!(err.len() > "error: ".len(), "empty error for {bad:?}");
    }
    vm.send_line("shutdown 3").unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(3));
}

//! Panics and CPU exceptions end the VM with their exit codes and say
//! where on serial.

use integration::boot_exit::{EXCEPTION_CODE, PANIC_CODE};
use integration::timeouts::{COMMAND, EXIT};
use integration::{contract, paths, KernelExit, Vm, VmOptions};

#[test]
fn panic_reports_its_location_and_exits_101() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    vm.send_line("panic").unwrap();
    let caps = vm.expect_regex(contract::PANIC, EXIT).unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(PANIC_CODE));
    // The location is a real line of a real kernel source file.
    let file = paths::workspace_root().join(&caps[1]);
    let source = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("panic location {} unreadable: {e}", file.display()));
    let line: usize = caps[2].parse().unwrap();
    assert!(
        line >= 1 && line <= source.lines().count(),
        "{}:{line} is past the end",
        caps[1]
    );
}

/// `fault <kind>` must report `vector` and whether the CPU pushed an error
/// code, then exit with the exception code.
fn fault_is_reported(kind: &str, vector: u8, has_error_code: bool) {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    vm.send_line(&format!("fault {kind}")).unwrap();
    let caps = vm.expect_regex(contract::EXCEPTION, EXIT).unwrap();
    assert_eq!(
        caps[2],
        vector.to_string(),
        "wrong vector for `fault {kind}`: {}",
        caps[0]
    );
    assert_eq!(
        caps[3] != "none",
        has_error_code,
        "error code of `fault {kind}`: {}",
        caps[0]
    );
    let rip = u64::from_str_radix(caps[4].trim_start_matches("0x"), 16).unwrap();
    assert_ne!(rip, 0, "rip=0 for `fault {kind}`");
    if kind == "pf" {
        vm.expect_regex(r" cr2=0x[0-9a-f]+", COMMAND).unwrap();
    }
    assert_eq!(
        vm.wait_exit(EXIT).unwrap(),
        KernelExit::Code(EXCEPTION_CODE)
    );
}

#[test]
fn page_fault_is_vector_14() {
    fault_is_reported("pf", 14, true);
}

#[test]
fn general_protection_is_vector_13() {
    fault_is_reported("gp", 13, true);
}

#[test]
fn invalid_opcode_is_vector_6() {
    fault_is_reported("ud", 6, false);
}

#[test]
fn divide_error_is_vector_0() {
    fault_is_reported("de", 0, false);
}

#[test]
fn unknown_fault_kinds_are_refused() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    for bad in ["fault", "fault xx"] {
        vm.command_err(bad, COMMAND).unwrap();
    }
    vm.command_ok("version", COMMAND).unwrap();
}

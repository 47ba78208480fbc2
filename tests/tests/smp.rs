//! Several CPUs (issue 13): the application processors start at boot,
//! each ticks and halts in its own idle loop, `stats` has a `cpuN` line per
//! CPU, and a panic or exception on any CPU is reported with its number
//! and ends the VM with the usual code. TCG runs the vCPUs on host threads.

use std::thread::sleep;
use std::time::Duration;

use integration::boot_exit::{EXCEPTION_CODE, PANIC_CODE};
use integration::lab::{self, CpuStats};
use integration::timeouts::{COMMAND, EXIT};
use integration::{contract, KernelExit, Vm, VmOptions};

/// `stats`' `cpuN` lines, in order; checks the older lines still lead.
fn cpus(vm: &mut Vm) -> Vec<CpuStats> {
    let lines = vm.command_ok("stats", COMMAND).unwrap();
    assert!(lines[0].starts_with("passes "), "{lines:?}");
    lab::cpu_stats(&lines).unwrap()
}

/// Boots with `n` CPUs: every one is listed, and every one's timer ticks
/// between two looks; an application processor halts between ticks (its
/// loop has no work) and is woken by them.
fn every_cpu_ticks(n: u32) {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().smp(n)).unwrap();
    let before = cpus(&mut vm);
    assert_eq!(before.len(), n as usize, "{before:?}");
    sleep(Duration::from_millis(500));
    let after = cpus(&mut vm);
    assert_eq!(after.len(), n as usize, "{after:?}");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a.ticks > b.ticks, "cpu{i} did not tick: {b:?} then {a:?}");
        assert!(a.irqs >= a.ticks, "cpu{i}: {a:?}");
        if i > 0 {
            assert!(a.halts > b.halts, "cpu{i} did not halt: {b:?} then {a:?}");
            assert!(a.passes >= a.halts, "cpu{i}: {a:?}");
        }
    }
    // `stats reset` zeroes every CPU's counters.
    vm.command_ok("stats reset", COMMAND).unwrap();
    let reset = cpus(&mut vm);
    for (i, (a, r)) in after.iter().zip(&reset).enumerate() {
        assert!(r.ticks < a.ticks, "cpu{i} not reset: {a:?} then {r:?}");
    }
    vm.command_ok("version", COMMAND).unwrap();
}

#[test]
fn two_cpus_start_and_tick() {
    every_cpu_ticks(2);
}

#[test]
fn four_cpus_start_and_tick() {
    every_cpu_ticks(4);
}

/// One CPU: one `cpu0` line, and no application processor to ask.
#[test]
fn one_cpu_has_only_cpu0() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    let cpus = cpus(&mut vm);
    assert_eq!(cpus.len(), 1, "{cpus:?}");
    for bad in [
        "panic cpu1",
        "fault pf cpu1",
        "panic cpu0",
        "panic cpux",
        "fault pf cpu",
    ] {
        vm.command_err(bad, COMMAND).unwrap();
    }
    vm.command_ok("version", COMMAND).unwrap();
}

/// `panic cpuN`: the report names the application processor and the VM
/// exits with the panic code.
#[test]
fn a_panic_on_an_application_processor_names_its_cpu() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().smp(2)).unwrap();
    vm.send_line("panic cpu1").unwrap();
    vm.expect_regex(contract::PANIC, EXIT).unwrap();
    let cpu = vm.expect_regex(contract::ON_CPU, COMMAND).unwrap();
    assert_eq!(cpu[1], "1");
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(PANIC_CODE));
}

/// A panic on the bootstrap processor with others running says cpu0.
#[test]
fn a_panic_on_cpu0_names_cpu0() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().smp(2)).unwrap();
    vm.send_line("panic").unwrap();
    vm.expect_regex(contract::PANIC, EXIT).unwrap();
    let cpu = vm.expect_regex(contract::ON_CPU, COMMAND).unwrap();
    assert_eq!(cpu[1], "0");
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(PANIC_CODE));
}

/// `fault pf cpuN` on the last of four CPUs: the exception report (vector
/// 14, its error code and CR2, as on CPU 0) names that CPU, exit code 102.
#[test]
fn an_exception_on_an_application_processor_names_its_cpu() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().smp(4)).unwrap();
    vm.send_line("fault pf cpu3").unwrap();
    let caps = vm.expect_regex(contract::EXCEPTION, EXIT).unwrap();
    assert_eq!(caps[2], "14", "{}", caps[0]);
    assert_ne!(caps[3], "none", "{}", caps[0]);
    vm.expect_regex(r" cr2=0x[0-9a-f]+", COMMAND).unwrap();
    let cpu = vm.expect_regex(contract::ON_CPU, COMMAND).unwrap();
    assert_eq!(cpu[1], "3");
    assert_eq!(
        vm.wait_exit(EXIT).unwrap(),
        KernelExit::Code(EXCEPTION_CODE)
    );
}

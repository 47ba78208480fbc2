//! Defects of issue 11 seen from the shell of the real image: each test
//! failed before its fix.

use std::time::Duration;

use integration::timeouts::COMMAND;
use integration::{Vm, VmOptions};

fn ok(vm: &mut Vm, cmd: &str) -> Vec<String> {
    vm.command_ok(cmd, COMMAND).unwrap()
}

/// `vale-ctl -m SWITCH` as (mac, port name, age in ms).
fn mac_ages(vm: &mut Vm, switch: &str) -> Vec<(String, String, u64)> {
    ok(vm, &format!("vale-ctl -m {switch}"))
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "a MAC table line: {l:?}");
            (f[0].to_string(), f[2].to_string(), f[3].parse().unwrap())
        })
        .collect()
}

/// Defect 3: the switch clock advanced only on switches with a bridged
/// NIC, so a switch of tap ports never aged (every age read 0).
#[test]
fn a_switch_without_a_nic_ages_its_mac_table() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    ok(&mut vm, "ifconfig tap0 create");
    // Taps that must be opened before writes (issue 12) are opened; on a
    // kernel without `tap open` this is one ignored error line.
    vm.command("tap open tap0", COMMAND).unwrap();
    ok(&mut vm, "ifconfig tap0 up");
    ok(&mut vm, "vale-ctl -a vale1:tap0");
    ok(
        &mut vm,
        "tap write tap0 eth ff:ff:ff:ff:ff:ff 02:54:00:00:00:00 88b5 01 02 03 04",
    );
    let age = |vm: &mut Vm| {
        let t = mac_ages(vm, "vale1");
        t.iter()
            .find(|e| e.0 == "02:54:00:00:00:00")
            .unwrap_or_else(|| panic!("tap0's MAC not learnt: {t:?}"))
            .2
    };
    let first = age(&mut vm);
    std::thread::sleep(Duration::from_millis(1500));
    let second = age(&mut vm);
    assert!(
        second >= first + 100,
        "the entry does not age: {first} ms, then {second} ms 1.5 s later"
    );
}

//! `pci`: enumeration on `pc` (port I/O) and `q35` (ECAM), with and
//! without a virtio-net NIC.

use integration::timeouts::COMMAND;
use integration::{contract, Nic, Vm, VmOptions};
use regex_lite::Regex;

/// One parsed function line.
#[derive(Debug)]
struct Function {
    bdf: String,
    id: String,
    class: String,
    line: String,
}

/// Run `pci`; every line is a `#` header or a well-formed function line.
fn pci(vm: &mut Vm) -> (Vec<String>, Vec<Function>) {
    let lines = vm.command_ok("pci", COMMAND).unwrap();
    let line_re = Regex::new(contract::PCI_LINE).unwrap();
    let (headers, functions): (Vec<_>, Vec<_>) =
        lines.into_iter().partition(|l| l.starts_with('#'));
    let functions = functions
        .into_iter()
        .map(|line| {
            let c = line_re
                .captures(&line)
                .unwrap_or_else(|| panic!("bad pci line {line:?}"));
            Function {
                bdf: format!("{}:{}.{}", &c[1], &c[2], &c[3]).to_lowercase(),
                id: format!("{}:{}", &c[4], &c[5]).to_lowercase(),
                class: format!("{}.{}", &c[6], &c[7]).to_lowercase(),
                line: line.clone(),
            }
        })
        .collect::<Vec<_>>();
    assert!(!functions.is_empty(), "pci listed no function");
    (headers, functions)
}

fn find<'a>(functions: &'a [Function], id: &str) -> Option<&'a Function> {
    functions.iter().find(|f| f.id == id)
}

#[test]
fn pc_lists_the_i440fx_host_bridge() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default()).unwrap();
    let (_, functions) = pci(&mut vm);
    let host = find(&functions, "8086:1237").expect("no 8086:1237 host bridge");
    assert_eq!(host.bdf, "00:00.0");
    assert_eq!(host.class, "06.00", "host bridge class: {}", host.line);
    // i440FX has no MCFG table: configuration space goes through 0xCF8.
    assert!(
        vm.output().contains("functions found through port I/O"),
        "{}",
        vm.output()
    );
    // No NIC was given, so no virtio-net may appear.
    assert!(find(&functions, "1af4:1041").is_none());
    // Every function is listed once.
    let mut bdfs: Vec<_> = functions.iter().map(|f| &f.bdf).collect();
    bdfs.dedup();
    assert_eq!(bdfs.len(), functions.len(), "a function is listed twice");
}

#[test]
fn pc_with_a_nic_lists_virtio_net() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().nic(Nic::user())).unwrap();
    let (_, functions) = pci(&mut vm);
    let nic = find(&functions, "1af4:1041").expect("no modern virtio-net 1af4:1041");
    assert_eq!(
        nic.class, "02.00",
        "virtio-net is an Ethernet controller: {}",
        nic.line
    );
    assert!(find(&functions, "8086:1237").is_some());
}

#[test]
fn q35_enumerates_through_ecam() {
    let mut vm = Vm::boot_to_prompt(VmOptions::default().q35().nic(Nic::user())).unwrap();
    let (headers, functions) = pci(&mut vm);
    let host = find(&functions, "8086:29c0").expect("no 8086:29c0 q35 host bridge");
    assert_eq!(host.bdf, "00:00.0");
    // The ICH9 LPC bridge exists only on q35.
    assert!(
        find(&functions, "8086:2918").is_some(),
        "no ICH9 LPC 8086:2918"
    );
    assert!(
        find(&functions, "1af4:1041").is_some(),
        "no virtio-net on q35"
    );
    // Port I/O (0xCF8) also works on q35; the kernel says which it used.
    let boot_log = vm.output();
    let caps = Regex::new(r"pci: (\d+) functions found through ECAM")
        .unwrap()
        .captures(&boot_log)
        .unwrap_or_else(|| {
            panic!("q35 was not enumerated through ECAM (headers {headers:?}):\n{boot_log}")
        });
    assert_eq!(
        caps[1].parse::<usize>().unwrap(),
        functions.len(),
        "boot scan and `pci` disagree"
    );
}

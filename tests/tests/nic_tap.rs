//! Real taps, real host stacks: two network namespaces ping each other
//! through the guest's switch.
//!
//! ```text
//!  ns A (10.201.x.1) tap A ==QEMU== virtio0 \
//!                                            vale0 (guest)
//!  ns B (10.201.x.2) tap B ==QEMU== virtio1 /
//! ```
//!
//! QEMU runs in a namespace of its own, where it creates both taps; each
//! tap then moves into its own namespace (QEMU keeps its file descriptor)
//! and gets an address there. Needs root (namespaces, taps) and `ping`
//! (iputils-ping): skipped with a message when not root. Every namespace
//! is deleted at the end, also when the test fails; traffic never leaves
//! them.

use std::process::Command;
use std::time::Duration;

use integration::lab;
use integration::process::run_with_timeout;
use integration::skip::{find_tool, skip};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::netns::{is_root, NetNs};
use integration::{Nic, Vm, VmOptions};

/// `ip netns exec NS ping ...`; returns ping's output, or fails the test.
fn ping(ns: &NetNs, dst: &str, count: u32) -> String {
    let mut cmd = Command::new("ip");
    let count = count.to_string();
    // -W: per-reply wait, generous (ARP first, a loaded host, TCG).
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "ping",
        "-n",
        "-c",
        &count,
        "-i",
        "0.2",
        "-W",
        "5",
        dst,
    ]);
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(90))).unwrap();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !text.contains("No such file") && !text.contains("not found"),
        "cannot run ping in {}: install iputils-ping\n{text}",
        ns.name()
    );
    assert!(
        out.status.success(),
        "ping {dst} from {} failed:\n{text}",
        ns.name()
    );
    text
}

#[test]
fn ping_between_two_namespaces_through_the_switch() {
    if !is_root() {
        skip(
            "nic_tap::ping_between_two_namespaces_through_the_switch",
            "needs root (network namespaces and taps)",
        );
        return;
    }
    if find_tool("ping").is_none() {
        skip(
            "nic_tap::ping_between_two_namespaces_through_the_switch",
            "ping is not installed (Debian package iputils-ping)",
        );
        return;
    }
    // Unique per run: CI and a developer may share the machine.
    let tag = std::process::id() % 100_000;
    let subnet = format!("10.201.{}", tag % 250);
    let (a_ip, b_ip) = (format!("{subnet}.1"), format!("{subnet}.2"));
    // Declared before the VM, so dropped after it: QEMU dies first, then
    // the namespaces go (also on a panic).
    let qemu_ns = NetNs::create(&format!("nmq{tag}")).unwrap();
    let ns_a = NetNs::create(&format!("nma{tag}")).unwrap();
    let ns_b = NetNs::create(&format!("nmb{tag}")).unwrap();
    let (tap_a, tap_b) = (format!("nmta{tag}"), format!("nmtb{tag}"));

    let options = VmOptions::default()
        .netns(qemu_ns.name())
        .nic(Nic::tap(&tap_a))
        .nic(Nic::tap(&tap_b));
    let mut vm = Vm::boot_to_prompt(options).unwrap();
    for (tap, ns, ip) in [(&tap_a, &ns_a, &a_ip), (&tap_b, &ns_b, &b_ip)] {
        qemu_ns
            .ip(&["link", "set", tap, "netns", ns.name()])
            .unwrap();
        ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", tap])
            .unwrap();
        ns.ip(&["link", "set", tap, "up"]).unwrap();
        ns.ip(&["link", "set", "lo", "up"]).unwrap();
    }
    // No switch yet: nothing gets through (ARP goes unanswered).
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns_a.name(),
        "ping",
        "-n",
        "-c",
        "1",
        "-W",
        "1",
        &b_ip,
    ]);
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(30))).unwrap();
    assert!(
        !out.status.success(),
        "a reply without a switch?\n{}",
        out.stdout
    );

    for i in 0..2 {
        vm.command_ok(&format!("vale-ctl -a vale0:virtio{i}"), COMMAND)
            .unwrap();
    }
    let text = ping(&ns_a, &b_ip, 5);
    assert!(text.contains("5 received"), "{text}");
    let text = ping(&ns_b, &a_ip, 5);
    assert!(text.contains("5 received"), "{text}");

    // The switch learnt both hosts' MACs, each on its own port.
    let table = lab::mac_table(&mut vm, "vale0", COMMAND).unwrap();
    for (i, ns, tap) in [(0, &ns_a, &tap_a), (1, &ns_b, &tap_b)] {
        let out = Command::new("ip")
            .args(["-n", ns.name(), "-br", "link", "show", tap])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let mac = line
            .split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no MAC in {line:?}"))
            .to_string();
        assert!(
            table
                .iter()
                .any(|e| e.mac == mac && e.name == format!("vale0:virtio{i}")),
            "{mac} ({tap}) not learnt on virtio{i}: {table:?}"
        );
    }
    // Ten echo requests and ten replies each way at least (plus ARP).
    for i in 0..2 {
        let c = lab::port_counters(&mut vm, &format!("vale0:virtio{i}"), COMMAND)
            .unwrap()
            .unwrap();
        assert!(c.tx_pkts >= 10 && c.rx_pkts >= 10, "virtio{i}: {c:?}");
    }
}

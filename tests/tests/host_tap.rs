//! As root: the host's own `ping` (iputils) gets replies from the guest's
//! IP stack (`host0` on `vale0` with a tap NIC). QEMU runs inside a network
//! namespace the test creates; its tap is configured there and everything
//! is deleted afterwards. Skipped, with a message, when not root.

use std::process::Command;
use std::time::Duration;

use integration::process::run_with_timeout;
use integration::skip::{find_tool, skip};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::netns::{is_root, NetNs};
use integration::{lab, Nic, Vm, VmOptions};

#[test]
fn host_ping_gets_replies_from_host0_through_a_tap() {
    if !is_root() {
        skip(
            "host_tap::host_ping_gets_replies_from_host0_through_a_tap",
            "needs root (network namespace and tap)",
        );
        return;
    }
    if find_tool("ping").is_none() {
        skip(
            "host_tap::host_ping_gets_replies_from_host0_through_a_tap",
            "ping is not installed (Debian package iputils-ping)",
        );
        return;
    }
    let tag = std::process::id() % 100_000;
    let subnet = format!("10.202.{}", tag % 250);
    let (host_ip, guest_ip) = (format!("{subnet}.1"), format!("{subnet}.2"));
    // Declared before the VM, so dropped after it: QEMU dies first.
    let ns = NetNs::create(&format!("nmh{tag}")).unwrap();
    let tap = format!("nmth{tag}");
    let script = format!("vale-ctl -h vale0:virtio0\nifconfig host0 inet {guest_ip}/24\n");
    let options = VmOptions::default()
        .netns(ns.name())
        .nic(Nic::tap(&tap))
        .script(script);
    let mut vm = Vm::boot_to_prompt(options).unwrap();
    ns.ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &tap])
        .unwrap();
    ns.ip(&["link", "set", &tap, "up"]).unwrap();
    ns.ip(&["link", "set", "lo", "up"]).unwrap();

    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "ping",
        "-n",
        "-c",
        "5",
        "-i",
        "0.2",
        "-W",
        "5",
        "-s",
        "200",
        &guest_ip,
    ]);
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(90))).unwrap();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !text.contains("No such file") && !text.contains("not found"),
        "install iputils-ping:\n{text}"
    );
    assert!(
        out.status.success() && text.contains("5 received"),
        "ping {guest_ip}:\n{text}"
    );
    assert!(
        text.contains("208 bytes from"),
        "full-size replies:\n{text}"
    );

    // And back: the guest pings the host.
    let lines = vm
        .command_ok(
            &format!("ping {host_ip} 3"),
            COMMAND + Duration::from_secs(5),
        )
        .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l == "3 packets transmitted, 3 received, 0% packet loss"),
        "{lines:?}"
    );
    let c = lab::port_counters(&mut vm, "vale0:host0", COMMAND)
        .unwrap()
        .unwrap();
    assert!(c.rx_pkts >= 8 && c.tx_pkts >= 8, "host0: {c:?}");
}

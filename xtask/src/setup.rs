//! Making sure QEMU (and OVMF for UEFI), and the tools the tests use, are there.

use std::process::Command;

use boot::qemu::find_qemu;

const PACKAGES: [&str; 2] = ["qemu-system-x86", "ovmf"];

fn is_root() -> bool {
    // SAFETY-free check: the effective uid is what apt-get cares about.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Find QEMU; install it with apt-get when we are root and it is missing.
pub fn ensure_qemu(need_ovmf: bool) -> Result<(), String> {
    let ovmf_ok = !need_ovmf || boot::image::find_ovmf().is_ok();
    if find_qemu().is_ok() && ovmf_ok {
        return Ok(());
    }
    let install = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        PACKAGES.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "QEMU (or OVMF) is missing: run `sudo sh -c '{install}'`"
        ));
    }
    eprintln!("xtask: QEMU or OVMF missing; running `{install}`");
    let ok = Command::new("sh")
        .args(["-c", &format!("{install} >/tmp/xtask-apt.log 2>&1")])
        .stdin(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "installing {} failed; see /tmp/xtask-apt.log",
            PACKAGES.join(" ")
        ));
    }
    find_qemu().map(|_| ()).map_err(|e| e.to_string())
}

/// Host tools the integration tests use, with the Debian package of each.
/// A test whose tool is missing reports itself skipped.
pub const TEST_TOOLS: [(&str, &str); 5] = [
    ("ping", "iputils-ping"),
    ("tcpdump", "tcpdump"),
    ("ip", "iproute2"),
    // The vhost-user interoperability test's other backend.
    ("dpdk-testpmd", "dpdk-dev"),
    // The dashboard test's browser engine.
    ("chromium", "chromium"),
];

/// Install the tools the tests use when they are missing and we are root
/// (as for QEMU); otherwise say which tests will be skipped and how to
/// install what they need. Never fails: a missing tool skips its tests.
pub fn ensure_test_tools() {
    let missing: Vec<(&str, &str)> = TEST_TOOLS
        .iter()
        .copied()
        .filter(|(tool, _)| integration::skip::find_tool(tool).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    let install = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    let tools: Vec<&str> = missing.iter().map(|(t, _)| *t).collect();
    if !is_root() {
        eprintln!(
            "xtask: {} not installed and not root: the tests that need them will be skipped; install with `sudo sh -c '{install}'`",
            tools.join(", ")
        );
        return;
    }
    eprintln!("xtask: installing what the tests use: `{install}`");
    let ok = Command::new("sh")
        .args(["-c", &format!("{install} >/tmp/xtask-apt-tools.log 2>&1")])
        .stdin(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "xtask: installing {} failed (see /tmp/xtask-apt-tools.log): the tests that need them will be skipped",
            packages.join(" ")
        );
    }
}

//! Interoperability with a vhost-user backend the project did not write:
//! DPDK's `dpdk-testpmd` serves `virtio1` (its vhost PMD as the server,
//! `macswap` forwarding: every frame goes back with its MACs swapped),
//! pktgen's backend serves `virtio0`, and the kernel's switch joins them.
//! A frame from the host crosses vale0 to testpmd and comes back through
//! the switch, byte for byte but for the swapped addresses.
//!
//! Skipped, with the reason in `cargo xtask test`'s summary, when
//! `dpdk-testpmd` (Debian `dpdk-dev`) is not installed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::lab::{self, frame, host_mac};
use integration::skip::{find_tool, skip};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::{Endpoint, Options, Spec};
use integration::{Vm, VmOptions};

/// testpmd, killed with the test.
struct Testpmd {
    child: Child,
    log: std::path::PathBuf,
}

impl Testpmd {
    fn start(tool: &std::path::Path, sock: &std::path::Path, dir: &std::path::Path) -> Testpmd {
        let log = dir.join("testpmd.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(tool);
        // Two lcores (main + one forwarding), no hugepages, no PCI; a
        // private file prefix so parallel runs don't meet in /var/run/dpdk.
        cmd.args(["-l", "0,1", "--no-huge", "-m", "1024", "--no-pci"])
            .arg(format!("--file-prefix=nmtest{}", std::process::id()))
            .arg(format!(
                "--vdev=net_vhost0,iface={},queues=1",
                sock.display()
            ))
            .args([
                "--",
                "--forward-mode=macswap",
                "--auto-start",
                "--stats-period=1",
                "--nb-cores=1",
                "--total-num-mbufs=8192",
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        integration::process::die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("start dpdk-testpmd");
        let mut t = Testpmd { child, log };
        let deadline = Instant::now() + scaled(Duration::from_secs(30));
        while !sock.exists() {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!(
                    "dpdk-testpmd exited ({status}) before listening:\n{}",
                    t.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "dpdk-testpmd never listened on {}:\n{}",
                sock.display(),
                t.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn frames_cross_the_switch_to_dpdk_testpmd_and_back() {
    let Some(tool) = find_tool("dpdk-testpmd") else {
        skip(
            "nic_dpdk::frames_cross_the_switch_to_dpdk_testpmd_and_back",
            "dpdk-testpmd is not installed (Debian package dpdk-dev)",
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("nm-dpdk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (ours, theirs) = (dir.join("ours.sock"), dir.join("testpmd.sock"));
    // Both backends listen before QEMU starts: QEMU connects to each at once.
    let mut ep = Endpoint::open_with(
        &Spec::VhostUser {
            path: ours.clone(),
            queues: 1,
        },
        &Options::default(),
    )
    .unwrap();
    let testpmd = Testpmd::start(&tool, &theirs, &dir);
    let mut vm = Vm::boot_to_prompt(
        VmOptions::default()
            .nic(boot::Nic::vhost_user(&ours))
            .nic(boot::Nic::vhost_user(&theirs)),
    )
    .unwrap();
    ep.wait_connected(scaled(Duration::from_secs(30))).unwrap();
    vm.command_ok("vale-ctl -a vale0:virtio0", COMMAND).unwrap();
    vm.command_ok("vale-ctl -a vale0:virtio1", COMMAND).unwrap();
    let info = lab::nic_info(&mut vm, "virtio1", COMMAND).unwrap();
    assert!(
        info.link_up,
        "testpmd's NIC is down: {info:?}\n{}",
        testpmd.log()
    );

    // A station behind testpmd, unknown to the switch at first (flooded to
    // virtio1); its swapped reply teaches the switch where it is.
    let station = [0x02, 0x74, 0x00, 0x00, 0x00, 0x99];
    let sizes = [60usize, 64, 128, 512, 1000, 1514];
    let wait = scaled(Duration::from_secs(15));
    for round in 0..3u32 {
        for (k, &size) in sizes.iter().enumerate() {
            let seq = round * 100 + k as u32;
            let sent = frame(station, host_mac(0), seq, size);
            ep.send_all(&[&sent], wait).unwrap();
            let back = ep.recv(wait).unwrap().unwrap_or_else(|| {
                panic!(
                    "frame {seq} ({size} B) never came back from testpmd; guest: {:?}\ntestpmd:\n{}",
                    vm.command("vale-ctl", COMMAND),
                    testpmd.log()
                )
            });
            let mut want = sent.clone();
            want[..6].copy_from_slice(&sent[6..12]);
            want[6..12].copy_from_slice(&sent[..6]);
            assert_eq!(back.len(), want.len(), "frame {seq}: length");
            assert!(back == want, "frame {seq} ({size} B) came back changed");
        }
    }
    // After the first reply the station is learnt behind virtio1: unicast.
    let ports = lab::switch_ports(&mut vm, COMMAND).unwrap();
    let p1 = ports
        .iter()
        .find(|p| p.name.ends_with("virtio1"))
        .expect("virtio1 on vale0");
    assert_eq!(
        p1.counters.tx_pkts, 18,
        "every frame went to testpmd exactly once: {ports:?}"
    );
    drop(vm);
    drop(testpmd);
    let _ = std::fs::remove_dir_all(&dir);
}

//! In-kernel applications (`netmap-apps`) through the real image: two
//! pkt-gens through vale0 with exact counts, the bridge app between two
//! NICs end to end from the host, start/list/stop with two instances at
//! once, an app that fails stopped cleanly with the pool audit exact, and
//! bad arguments as one `error:` line each.

use std::time::Duration;

use integration::lab::{self, frame, host_mac, BROADCAST};
use integration::timeouts::{scaled, COMMAND};
use integration::Vm;

fn app_wait() -> Duration {
    scaled(Duration::from_secs(60))
}

/// The id `NAME ...` printed (`started NAME as app ID`).
fn start(vm: &mut Vm, line: &str) -> u32 {
    lab::start_app(vm, line, COMMAND).unwrap()
}

/// `mem`'s audit line says every buffer is free or owned once.
fn audit_ok(vm: &mut Vm) {
    let out = vm.command_ok("mem", COMMAND).unwrap();
    assert!(
        out.iter()
            .any(|l| l.starts_with("buffers: ") && l.ends_with("audit ok")),
        "{out:?}"
    );
}

#[test]
fn two_pkt_gens_through_vale0_count_exactly_and_finish() {
    let (mut vm, _ends, _w) = lab::boot_dgram(0).unwrap();
    let rx = start(&mut vm, "pkt-gen -i vale0:b -f rxseq -n 200000 -T 0");
    let tx = start(&mut vm, "pkt-gen -i vale0:a -f txseq -n 200000 -l 60 -T 0");
    // Both finish by themselves and print their summaries.
    let done_tx = vm
        .expect_regex(
            &format!(r"app {tx} \(pkt-gen\) done: vale0:a txseq: (\d+) frames[^\n]*\n"),
            app_wait(),
        )
        .unwrap();
    assert_eq!(done_tx[1], "200000");
    let done_rx = vm
        .expect_regex(
            &format!(r"app {rx} \(pkt-gen\) done: vale0:b rxseq: (\d+) frames [^\n]*lost (\d+) dup (\d+) reordered (\d+)[^\n]*\n"),
            app_wait(),
        )
        .unwrap();
    assert_eq!(
        (&*done_rx[1], &*done_rx[2], &*done_rx[3], &*done_rx[4]),
        ("200000", "0", "0", "0"),
        "{done_rx:?}"
    );
    assert_eq!(vm.command_ok("app", COMMAND).unwrap(), ["no apps running"]);
    audit_ok(&mut vm);
}

#[test]
fn start_list_stop_two_instances_and_bad_arguments() {
    let (mut vm, _ends, _w) = lab::boot_dgram(0).unwrap();
    let a = start(&mut vm, "pkt-gen -i x{1 -f tx -T 0");
    let b = start(&mut vm, "pkt-gen -i x}1 -f rx -T 0");
    let c = start(&mut vm, "bridge -i x{2 -i x}3");
    assert!(a != b && b != c && a != c);
    let list = vm.command_ok("app list", COMMAND).unwrap();
    assert_eq!(
        list,
        [
            format!("{a} pkt-gen -i x{{1 -f tx -T 0"),
            format!("{b} pkt-gen -i x}}1 -f rx -T 0"),
            format!("{c} bridge -i x{{2 -i x}}3"),
        ]
    );
    // Frames flow from a to b while the shell runs.
    std::thread::sleep(Duration::from_millis(500));
    let status = vm.command_ok("app", COMMAND).unwrap();
    let rx_frames: u64 = status
        .iter()
        .find_map(|l| {
            l.strip_prefix(&format!("{b} pkt-gen x}}1 rx: "))?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{status:?}"));
    assert!(rx_frames > 0, "{status:?}");
    audit_ok(&mut vm);
    let out = vm.command_ok(&format!("app stop {a}"), COMMAND).unwrap();
    assert!(
        out[0].starts_with(&format!("stopped app {a} (pkt-gen): x{{1 tx: ")),
        "{out:?}"
    );
    vm.command_ok(&format!("app stop {b}"), COMMAND).unwrap();
    vm.command_ok(&format!("app stop {c}"), COMMAND).unwrap();
    assert_eq!(vm.command_ok("app", COMMAND).unwrap(), ["no apps running"]);
    audit_ok(&mut vm);
    // The ports are free again.
    let d = start(&mut vm, "pkt-gen -i x{1 -f tx -n 10 -T 0");
    vm.expect_regex(&format!(r"app {d} \(pkt-gen\) done: [^\n]*\n"), app_wait())
        .unwrap();

    for bad in [
        "pkt-gen",
        "pkt-gen -i",
        "pkt-gen -i vale0:z -f nope",
        "pkt-gen -i vale0:z -l 5",
        "pkt-gen -i vale0:z -R x",
        "pkt-gen -i nosuchport0 -f rx",
        "bridge -i x{5",
        "bridge -i x{6 -i x{6",
        "lb -i x{7 -p 0",
        "app stop",
        "app stop 999",
        "app stop x",
        "app bogus",
    ] {
        let err = vm.command_err(bad, COMMAND).unwrap();
        assert!(!err.is_empty(), "{bad}");
        let lines = vm.command("version", COMMAND).unwrap();
        assert_eq!(lines.len(), 1, "after `{bad}`: {lines:?}");
    }
    audit_ok(&mut vm);
}

/// An app that fails (`inject app-fail`: the same path as an error from
/// its `poll`) is stopped with its error on the console, leaves the table,
/// and every buffer it held is back in the pool; the others run on.
#[test]
fn a_failing_app_is_stopped_and_its_buffers_return() {
    let (mut vm, _ends, _w) = lab::boot_dgram(0).unwrap();
    let tx = start(&mut vm, "pkt-gen -i x{1 -f tx -T 0");
    let rx = start(&mut vm, "pkt-gen -i x}1 -f rx -T 0");
    std::thread::sleep(Duration::from_millis(300));
    vm.command_ok(&format!("inject app-fail {tx}"), COMMAND)
        .unwrap();
    vm.expect_regex(
        &format!(r"app {tx} \(pkt-gen\) stopped: error: injected failure[^\n]*\n"),
        app_wait(),
    )
    .unwrap();
    let left = vm.command_ok("app list", COMMAND).unwrap();
    assert_eq!(left, [format!("{rx} pkt-gen -i x}}1 -f rx -T 0")]);
    audit_ok(&mut vm);
    // Its port is free again.
    let d = start(&mut vm, "pkt-gen -i x{1 -f tx -n 10 -T 0");
    vm.expect_regex(&format!(r"app {d} \(pkt-gen\) done: [^\n]*\n"), app_wait())
        .unwrap();
    assert!(vm
        .command_err("inject app-fail 999", COMMAND)
        .unwrap()
        .contains("no app 999"));
}

/// `bridge` between two NICs: what the host sends into one comes out of
/// the other, byte for byte, both ways, by buffer swap.
#[test]
fn bridge_joins_two_nics_end_to_end() {
    let (mut vm, mut ends, _w) = lab::boot_dgram(2).unwrap();
    start(&mut vm, "bridge -i virtio0 -i virtio1");
    for (from, to) in [(0usize, 1usize), (1, 0)] {
        let sent: Vec<Vec<u8>> = (0..300u32)
            .map(|k| frame(BROADCAST, host_mac(from), k, 60 + (k as usize * 7) % 1400))
            .collect();
        for chunk in sent.chunks(50) {
            ends[from]
                .send_all(chunk, scaled(Duration::from_secs(15)))
                .unwrap();
            for want in chunk {
                let got = ends[to]
                    .recv(scaled(Duration::from_secs(15)))
                    .unwrap()
                    .unwrap_or_else(|| panic!("nothing from virtio{to}"));
                assert_eq!(&got, want);
            }
        }
    }
    let status = vm.command_ok("app", COMMAND).unwrap();
    assert!(
        status
            .iter()
            .any(|l| l.contains("virtio0 > virtio1 300 frames")
                && l.contains("virtio1 > virtio0 300 frames")),
        "{status:?}"
    );
    audit_ok(&mut vm);
}

/// `bridge` between a NIC and a pipe: frames from the host reach a pkt-gen
/// on the pipe's other end, and that pkt-gen's frames reach the host.
#[test]
fn bridge_joins_a_nic_and_a_pipe() {
    let (mut vm, mut ends, _w) = lab::boot_dgram(1).unwrap();
    start(&mut vm, "bridge -i virtio0 -i x{4");
    let rx = start(&mut vm, "pkt-gen -i x}4 -f rx -n 200 -T 0");
    let sent: Vec<Vec<u8>> = (0..200u32)
        .map(|k| frame(BROADCAST, host_mac(0), k, 60 + k as usize))
        .collect();
    for chunk in sent.chunks(50) {
        ends[0]
            .send_all(chunk, scaled(Duration::from_secs(15)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let caps = vm
        .expect_regex(
            &format!(r"app {rx} \(pkt-gen\) done: x\}}4 rx: (\d+) frames (\d+) bytes[^\n]*\n"),
            app_wait(),
        )
        .unwrap();
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(
        (&*caps[1], caps[2].parse::<usize>().unwrap()),
        ("200", bytes)
    );
    // And back: a pkt-gen on the pipe sends out of the NIC.
    let tx = start(&mut vm, "pkt-gen -i x}4 -f tx -n 100 -l 100 -T 0");
    vm.expect_regex(&format!(r"app {tx} \(pkt-gen\) done: [^\n]*\n"), app_wait())
        .unwrap();
    let mut got = 0;
    while got < 100 {
        let f = ends[0]
            .recv(scaled(Duration::from_secs(15)))
            .unwrap()
            .unwrap_or_else(|| panic!("only {got} of 100 frames out of virtio0"));
        assert_eq!(f.len(), 100);
        got += 1;
    }
    audit_ok(&mut vm);
}

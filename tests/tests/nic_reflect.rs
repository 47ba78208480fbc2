//! The in-kernel reflector (`reflect IF`): every frame NIC IF receives
//! goes back out of IF, byte for byte; the NIC is opened in native mode,
//! so a NIC on a switch is refused and vice versa.

use std::time::Duration;

use integration::lab::{self, frame, host_mac, DgramWires, BROADCAST};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::Endpoint;
use integration::Vm;

fn frame_wait() -> Duration {
    scaled(Duration::from_secs(15))
}

fn boot(n: usize) -> (Vm, Vec<Endpoint>, DgramWires) {
    lab::boot_dgram(n).unwrap()
}

fn expect(ep: &mut Endpoint, want: &[Vec<u8>]) {
    for (k, w) in want.iter().enumerate() {
        match ep.recv(frame_wait()).unwrap() {
            Some(g) if &g == w => {}
            Some(g) => panic!(
                "frame {k}: expected {} bytes (seq {:?}), got {} (seq {:?})",
                w.len(),
                lab::seq_of(w),
                g.len(),
                lab::seq_of(&g)
            ),
            None => panic!("frame {k} of {} never came back", want.len()),
        }
    }
}

#[test]
fn reflector_sends_every_frame_back_byte_for_byte() {
    let (mut vm, mut ends, _wires) = boot(1);
    let ep = &mut ends[0];
    // Waiting in the ring when the reflector starts: dropped, as at an
    // attach.
    let stale: Vec<Vec<u8>> = (0..3)
        .map(|s| frame(BROADCAST, host_mac(0), s, 60))
        .collect();
    ep.send_all(&stale, frame_wait()).unwrap();
    assert!(
        lab::wait_taken(ep, frame_wait()).unwrap(),
        "QEMU does not read the wire"
    );
    let out = vm.command_ok("reflect virtio0", COMMAND).unwrap();
    assert_eq!(out, ["reflecting on virtio0, dropped 3 stale frames"]);

    let sizes = [
        60usize, 61, 64, 100, 128, 256, 511, 512, 513, 1000, 1024, 1500, 1514, 2000, 2048,
    ];
    let sent: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| frame(BROADCAST, host_mac(0), 10 + i as u32, n))
        .collect();
    ep.send_all(&sent, frame_wait()).unwrap();
    expect(ep, &sent);
    let mut total = sent.len();
    let mut bytes: usize = sizes.iter().sum();

    // Many ring wraps (512 rx slots, 128 tx slots), a window of frames
    // in flight: every one comes back, in order.
    const WINDOW: usize = 200;
    let count = 12 * 512;
    let (mut next, mut got) = (0usize, 0usize);
    while got < count {
        if next < count && next - got < WINDOW {
            let n = (count - next).min(WINDOW - (next - got));
            let batch: Vec<Vec<u8>> = (next..next + n)
                .map(|k| frame(BROADCAST, host_mac(0), 1000 + k as u32, 60 + k % 200))
                .collect();
            ep.send_all(&batch, frame_wait()).unwrap();
            next += n;
        }
        let f = ep
            .recv(frame_wait())
            .unwrap()
            .unwrap_or_else(|| panic!("stalled after {got} of {count}"));
        assert_eq!(
            f,
            frame(BROADCAST, host_mac(0), 1000 + got as u32, 60 + got % 200),
            "frame {got}"
        );
        got += 1;
    }
    total += count;
    bytes += (0..count).map(|k| 60 + k % 200).sum::<usize>();

    let status = vm.command_ok("reflect", COMMAND).unwrap();
    let want = format!("reflecting on virtio0: {total} frames {bytes} bytes in ");
    assert!(
        status.len() == 1 && status[0].starts_with(&want),
        "{status:?}, expected {want:?}..."
    );
    let nic = lab::nic_info(&mut vm, "virtio0", COMMAND).unwrap();
    assert_eq!(
        nic.counters.rx_pkts,
        (total + stale.len()) as u64,
        "{nic:?}"
    );
    assert_eq!(
        (nic.counters.tx_pkts, nic.counters.tx_bytes),
        (total as u64, bytes as u64),
        "{nic:?}"
    );
    assert_eq!((nic.device_errors, nic.resets), (0, 0));

    let out = vm.command_ok("reflect stop", COMMAND).unwrap();
    assert!(
        out.len() == 1
            && out[0].starts_with(&format!("stopped reflecting on virtio0: {total} frames")),
        "{out:?}"
    );
    assert_eq!(
        vm.command_ok("reflect", COMMAND).unwrap(),
        ["not reflecting"]
    );
    ep.send_all(&[frame(BROADCAST, host_mac(0), 5, 60)], frame_wait())
        .unwrap();
    assert!(
        ep.recv(Duration::from_millis(800)).unwrap().is_none(),
        "reflected after stop"
    );
}

#[test]
fn reflector_and_switch_exclude_each_other() {
    let (mut vm, _ends, _wires) = boot(2);
    vm.command_ok("vale-ctl -a vale0:virtio0", COMMAND).unwrap();
    let err = vm.command_err("reflect virtio0", COMMAND).unwrap();
    assert!(err.contains("busy"), "{err}");
    let err = vm.command_err("reflect nosuch0", COMMAND).unwrap();
    assert!(err.contains("no NIC nosuch0"), "{err}");
    assert_eq!(
        vm.command_ok("reflect virtio1", COMMAND).unwrap(),
        ["reflecting on virtio1"]
    );
    let err = vm.command_err("reflect virtio1", COMMAND).unwrap();
    assert!(err.contains("already reflecting on virtio1"), "{err}");
    let err = vm
        .command_err("vale-ctl -a vale0:virtio1", COMMAND)
        .unwrap();
    assert!(err.contains("busy"), "{err}");
    let err = vm.command_err("reflect a b", COMMAND).unwrap();
    assert!(err.contains("usage"), "{err}");
    vm.command_ok("reflect stop", COMMAND).unwrap();
    let err = vm.command_err("reflect stop", COMMAND).unwrap();
    assert!(err.contains("not reflecting"), "{err}");
    // Closed: the switch may have it now, and the reflector the other.
    vm.command_ok("vale-ctl -a vale0:virtio1", COMMAND).unwrap();
    vm.command_ok("vale-ctl -d vale0:virtio0", COMMAND).unwrap();
    assert_eq!(
        vm.command_ok("reflect virtio0", COMMAND).unwrap(),
        ["reflecting on virtio0"]
    );
    let help = vm.command_ok("help", COMMAND).unwrap();
    assert!(
        help.iter().any(|l| l.starts_with("reflect [IF|stop] - ")),
        "{help:?}"
    );
}

#[test]
fn an_idle_reflector_lets_the_cpu_halt() {
    let (mut vm, mut ends, _wires) = boot(1);
    let ep = &mut ends[0];
    vm.command_ok("reflect virtio0", COMMAND).unwrap();
    let sent: Vec<Vec<u8>> = (0..100)
        .map(|s| frame(BROADCAST, host_mac(0), s, 60))
        .collect();
    ep.send_all(&sent, frame_wait()).unwrap();
    expect(ep, &sent);
    // Traffic over. Completions of the last frames sent are pending until
    // reclaimed: they must not keep the CPU polling. `stats` counts halts;
    // the shell itself waits for input in the same loop.
    vm.command_ok("stats reset", COMMAND).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let stats = vm.command_ok("stats", COMMAND).unwrap();
    let halts: u64 = stats[0]
        .split_whitespace()
        .skip_while(|w| *w != "halts")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no halts in {stats:?}"));
    assert!(halts > 0, "the CPU never halted while idle: {stats:?}");
}

//! The idle loop keeps halting (issue 12): after frames arrive on a NIC
//! that nothing polls, and after a shell command that waited in the idle
//! loop (`tap read` with a timeout).

use std::time::{Duration, Instant};

use integration::lab::{self, frame, host_mac, DgramWires, BROADCAST};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::Endpoint;
use integration::Vm;

fn frame_wait() -> Duration {
    scaled(Duration::from_secs(15))
}

fn boot() -> (Vm, Endpoint, DgramWires) {
    let (vm, mut ends, wires) = lab::boot_dgram(1).unwrap();
    (vm, ends.remove(0), wires)
}

/// `halts` from `stats`.
fn halts(vm: &mut Vm) -> u64 {
    lab::idle_counters(vm, COMMAND).unwrap().halts
}

/// Halts go up across a second of an idle guest.
fn assert_halting(vm: &mut Vm, what: &str) {
    let h0 = halts(vm);
    std::thread::sleep(Duration::from_secs(1));
    let h1 = halts(vm);
    // A 100 Hz tick wakes the idle CPU ~100 times a second; the shell's own
    // commands add a few. A spinning loop adds none.
    assert!(
        h1 > h0 + 20,
        "{what}: the CPU stopped halting (halts {h0} -> {h1})"
    );
}

#[test]
fn frames_on_a_nic_nothing_polls_do_not_stop_the_cpu_halting() {
    let (mut vm, mut end, _wires) = boot();
    assert_halting(&mut vm, "at boot");
    // virtio0 is not attached to anything and no reflector runs.
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|s| frame(BROADCAST, host_mac(0), s, 60))
        .collect();
    end.send_all(&sent, frame_wait()).unwrap();
    assert!(
        lab::wait_taken(&end, frame_wait()).unwrap(),
        "QEMU does not read the wire"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_halting(&mut vm, "after frames on an unused NIC");
    // The frames are counted (received, waiting in the ring).
    let nic = lab::nic_info(&mut vm, "virtio0", COMMAND).unwrap();
    assert_eq!(nic.counters.rx_pkts, 5, "{nic:?}");
}

/// Issue 12: `ifconfig` shows whether a NIC is working or how its
/// re-initialisation after a reset is failing (retried with backoff).
#[test]
fn ifconfig_shows_the_nic_recovery_state() {
    let (mut vm, _end, _wires) = boot();
    let out = vm.command_ok("ifconfig virtio0", COMMAND).unwrap();
    assert!(out.iter().any(|l| l == "  state ok"), "{out:?}");
}

/// `irq-on-passes` from `stats`: idle-loop passes entered with interrupts
/// on (against the loop's contract).
fn irq_on_passes(vm: &mut Vm) -> u64 {
    let out = vm.command_ok("stats", COMMAND).unwrap();
    out.iter()
        .find_map(|l| l.strip_prefix("irq-on-passes "))
        .unwrap_or_else(|| panic!("no irq-on-passes line in {out:?}"))
        .parse()
        .unwrap()
}

/// Issue 12: `tap read` waits in the idle loop through `idle::wait_for`,
/// which must run its passes with interrupts off (the halt's `sti; hlt`
/// then cannot sleep through a wake-up) and restore them after. A timed
/// out read answers, the CPU still halts afterwards, and a frame arriving
/// mid-wait ends the read at once.
#[test]
fn tap_read_waits_with_interrupts_off_and_the_cpu_halts_after() {
    let (mut vm, mut end, _wires) = boot();
    vm.command_ok("ifconfig tap0 create", COMMAND).unwrap();
    vm.command_ok("tap open tap0", COMMAND).unwrap();
    vm.command_ok("ifconfig tap0 up", COMMAND).unwrap();
    vm.command_ok("vale-ctl -a vale0:tap0", COMMAND).unwrap();
    vm.command_ok("vale-ctl -a vale0:virtio0", COMMAND).unwrap();
    let before = irq_on_passes(&mut vm);

    let t = Instant::now();
    assert_eq!(
        vm.command_ok("tap read tap0 2048 2000", COMMAND).unwrap(),
        ["no frame"]
    );
    assert!(t.elapsed() >= Duration::from_millis(2000));
    assert_halting(&mut vm, "after a timed-out tap read");

    // A frame 500 ms into a 10 s wait: the read ends with it.
    let f = frame(BROADCAST, host_mac(0), 1, 60);
    let t = Instant::now();
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            end.send_all(&[&f], frame_wait()).unwrap();
        });
        vm.command_ok("tap read tap0 2048 10000", COMMAND).unwrap()
    });
    let took = t.elapsed();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with("frame 60: "), "{out:?}");
    assert!(
        took < Duration::from_millis(500) + scaled(Duration::from_secs(2)),
        "the read took {took:?}, the frame came at 500 ms"
    );
    assert_halting(&mut vm, "after a tap read that got a frame");

    assert_eq!(
        irq_on_passes(&mut vm),
        before,
        "idle-loop passes ran with interrupts on during tap read"
    );
}

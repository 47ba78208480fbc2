//! Tap and tun ports in the real image, on switch `vale0` with a dgram NIC
//! whose host end the test holds: frames byte for byte both ways through a
//! tap; ARP and ICMP through a tun; one `error:` line per refused
//! operation. Assertions are on bytes and counts, never on time; every
//! wait has a timeout (reads in the guest wait up to 10 s for a frame).

use std::time::Duration;

use integration::frames::{
    arp, eth, icmp_echo, ipv4, ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, PROTO_ICMP,
};
use integration::lab::{self, frame, host_mac, DgramWires, BROADCAST};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::Endpoint;
use integration::Vm;

const TAP_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 0];
const TUN_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 0];
const TUN1_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 1];
const TUN_IP: [u8; 4] = [10, 0, 0, 1];
const HOST_IP: [u8; 4] = [10, 0, 0, 2];

fn frame_wait() -> Duration {
    scaled(Duration::from_secs(15))
}

/// Boots with one dgram NIC; the wires (socket files) must outlive the VM.
fn boot() -> (Vm, Endpoint, DgramWires) {
    let (vm, mut ends, wires) = lab::boot_dgram(1).unwrap();
    (vm, ends.remove(0), wires)
}

fn ok(vm: &mut Vm, cmd: &str) -> Vec<String> {
    vm.command_ok(cmd, COMMAND).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The next frame from the guest that `pick` accepts (others are skipped).
fn recv_where(end: &mut Endpoint, pick: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = std::time::Instant::now() + frame_wait();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let f = end
            .recv(left)
            .unwrap()
            .expect("no frame from the guest in time");
        if pick(&f) {
            return f;
        }
    }
}

/// An IPv4 ICMP echo (8 request, 0 reply), identifier 0x4242, with 32
/// payload bytes.
fn icmp(ty: u8, src: [u8; 4], dst: [u8; 4], seq: u16) -> Vec<u8> {
    icmp_sized(ty, src, dst, seq, 32)
}

fn icmp_sized(ty: u8, src: [u8; 4], dst: [u8; 4], seq: u16, payload: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..payload).map(|i| i as u8 ^ 0x5a).collect();
    ipv4(PROTO_ICMP, src, dst, &icmp_echo(ty, 0x4242, seq, &data))
}

#[test]
fn tap_frames_byte_for_byte_both_ways_and_errors() {
    let (mut vm, mut end, _wires) = boot();
    assert_eq!(
        ok(&mut vm, "ifconfig tap0 create")[0],
        "tap0: mac 02:54:00:00:00:00 mtu 1500 down switch none queued 0"
    );
    assert_eq!(ok(&mut vm, "tap open tap0"), ["tap0: opened"]);
    ok(&mut vm, "ifconfig tap0 up");
    assert_eq!(
        ok(&mut vm, "vale-ctl -a vale0:tap0"),
        ["attached tap0 to vale0"]
    );
    assert_eq!(
        ok(&mut vm, "vale-ctl -a vale0:virtio0"),
        ["attached virtio0 to vale0"]
    );

    // Host -> NIC0 -> switch -> tap0 read.
    let f = frame(BROADCAST, host_mac(0), 7, 98);
    end.send_all(&[&f], frame_wait()).unwrap();
    let out = ok(&mut vm, "tap read tap0 2048 10000");
    assert_eq!(out, [format!("frame {}: {}", f.len(), hex(&f))]);
    // A short read truncates and says so.
    let g = frame(TAP_MAC, host_mac(0), 8, 60);
    end.send_all(&[&g], frame_wait()).unwrap();
    assert_eq!(
        ok(&mut vm, "tap read tap0 20 10000"),
        [format!("frame 60 truncated 20: {}", hex(&g[..20]))]
    );
    assert_eq!(ok(&mut vm, "tap read tap0 2048 0"), ["no frame"]);

    // tap write -> NIC0 -> host, byte for byte (raw hex, then the builder).
    let w = frame(host_mac(0), TAP_MAC, 9, 64);
    assert_eq!(
        ok(&mut vm, &format!("tap write tap0 {}", hex(&w))),
        ["wrote 64"]
    );
    assert_eq!(recv_where(&mut end, |x| x[6..12] == TAP_MAC), w);
    // A full-size frame fits on one shell line (3028 hex digits).
    let full = frame(host_mac(0), TAP_MAC, 11, 1514);
    assert_eq!(
        ok(&mut vm, &format!("tap write tap0 {}", hex(&full))),
        ["wrote 1514"]
    );
    assert_eq!(recv_where(&mut end, |x| x[6..12] == TAP_MAC), full);
    let out = ok(
        &mut vm,
        "tap write tap0 eth ff:ff:ff:ff:ff:ff 02:54:00:00:00:00 88b5 01 02 03 04",
    );
    assert_eq!(out, ["wrote 18"]);
    let got = recv_where(&mut end, |x| x[6..12] == TAP_MAC);
    assert_eq!(got, eth(BROADCAST, TAP_MAC, 0x88b5, &[1, 2, 3, 4]));

    // Errors: one line each.
    assert_eq!(
        vm.command_err("tap write tap0 00112233", COMMAND).unwrap(),
        "error: tap0: invalid argument (EINVAL)"
    );
    ok(&mut vm, "ifconfig tap0 mtu 68");
    let big = frame(host_mac(0), TAP_MAC, 10, 83);
    assert_eq!(
        vm.command_err(&format!("tap write tap0 {}", hex(&big)), COMMAND)
            .unwrap(),
        "error: tap0: larger than the maximum frame (EIO)"
    );
    ok(&mut vm, "ifconfig tap0 down");
    assert_eq!(
        vm.command_err(&format!("tap write tap0 {}", hex(&w)), COMMAND)
            .unwrap(),
        "error: tap0: interface down (EHOSTDOWN)"
    );
    assert_eq!(
        vm.command_err("tap read tap0", COMMAND).unwrap(),
        "error: tap0: interface down (EHOSTDOWN)"
    );
    assert_eq!(
        vm.command_err("tap read tap9", COMMAND).unwrap(),
        "error: no interface tap9"
    );
    assert_eq!(
        vm.command_err("ifconfig tap9 up", COMMAND).unwrap(),
        "error: no interface tap9"
    );
    assert!(vm
        .command_err("ifconfig tap0 create", COMMAND)
        .unwrap()
        .starts_with("error: tap0: "));
    // Counters: 2 frames read, 3 written, one drop of each kind.
    let out = ok(&mut vm, "ifconfig tap0");
    assert_eq!(
        out[1],
        format!(
            "  rx packets 2 bytes {} tx packets 3 bytes {}",
            98 + 60,
            64 + 1514 + 18
        )
    );
    assert_eq!(
        out[2],
        "  drops down 1 oversize 1 short 1 no-link 0 queue-full 0 truncated 1"
    );
    assert!(ok(&mut vm, "ifconfig")
        .iter()
        .any(|l| l.starts_with("tap0: ")));
    assert_eq!(ok(&mut vm, "ifconfig tap0 destroy"), ["tap0: destroyed"]);
    assert_eq!(
        vm.command_err("ifconfig tap0", COMMAND).unwrap(),
        "error: no interface tap0"
    );
}

#[test]
fn tun_answers_arp_delivers_ip_and_sends_by_arp() {
    let (mut vm, mut end, _wires) = boot();
    ok(&mut vm, "ifconfig tun0 create");
    ok(&mut vm, "tun open tun0");
    let out = ok(&mut vm, "ifconfig tun0 inet 10.0.0.1/24 peer 10.0.0.2");
    assert!(
        out[0].contains("inet 10.0.0.1/24 peer 10.0.0.2 gateway none mode p2p ifhead off"),
        "{out:?}"
    );
    ok(&mut vm, "ifconfig tun0 up");
    ok(&mut vm, "vale-ctl -a vale0:tun0");
    ok(&mut vm, "vale-ctl -a vale0:virtio0");
    let host = host_mac(0);

    // ARP for the tun's address gets a reply.
    end.send_all(
        &[eth(
            BROADCAST,
            host,
            ETHERTYPE_ARP,
            &arp(ARP_REQUEST, host, HOST_IP, [0; 6], TUN_IP),
        )],
        frame_wait(),
    )
    .unwrap();
    let reply = recv_where(&mut end, |x| x[12..14] == [8, 6]);
    assert_eq!(
        reply,
        eth(
            host,
            TUN_MAC,
            ETHERTYPE_ARP,
            &arp(ARP_REPLY, TUN_MAC, TUN_IP, host, HOST_IP)
        )
    );

    // An echo request to the tun comes up at `tun read` as the IP packet.
    let req = icmp(ICMP_ECHO_REQUEST, HOST_IP, TUN_IP, 1);
    end.send_all(&[eth(TUN_MAC, host, ETHERTYPE_IPV4, &req)], frame_wait())
        .unwrap();
    assert_eq!(
        ok(&mut vm, "tun read tun0 2048 10000"),
        [format!("packet {}: {}", req.len(), hex(&req))]
    );

    // The reply written to the tun reaches the host, to the MAC ARP taught.
    let rep = icmp(ICMP_ECHO_REPLY, TUN_IP, HOST_IP, 1);
    assert_eq!(
        ok(&mut vm, &format!("tun write tun0 {}", hex(&rep))),
        [format!("wrote {}", rep.len())]
    );
    assert_eq!(
        recv_where(&mut end, |x| x[12..14] == [8, 0]),
        eth(host, TUN_MAC, ETHERTYPE_IPV4, &rep)
    );

    // tun1's peer is unknown: its echo request waits for ARP, then goes.
    ok(&mut vm, "ifconfig tun1 create");
    ok(&mut vm, "tun open tun1");
    ok(&mut vm, "ifconfig tun1 inet 10.0.1.1/24 peer 10.0.1.2");
    ok(&mut vm, "ifconfig tun1 up");
    ok(&mut vm, "vale-ctl -a vale0:tun1");
    ok(&mut vm, "tun ping tun1 10.0.1.1 10.0.1.2 7 3");
    let who = recv_where(&mut end, |x| x[12..14] == [8, 6] && x[6..12] == TUN1_MAC);
    assert_eq!(
        who,
        eth(
            BROADCAST,
            TUN1_MAC,
            ETHERTYPE_ARP,
            &arp(ARP_REQUEST, TUN1_MAC, [10, 0, 1, 1], [0; 6], [10, 0, 1, 2])
        )
    );
    end.send_all(
        &[eth(
            TUN1_MAC,
            host,
            ETHERTYPE_ARP,
            &arp(ARP_REPLY, host, [10, 0, 1, 2], TUN1_MAC, [10, 0, 1, 1]),
        )],
        frame_wait(),
    )
    .unwrap();
    let ping = recv_where(&mut end, |x| x[12..14] == [8, 0] && x[6..12] == TUN1_MAC);
    assert_eq!(&ping[..12], &[host, TUN1_MAC].concat()[..]);
    assert_eq!(
        (ping[14 + 9], &ping[14 + 12..14 + 20]),
        (1, &[10, 0, 1, 1, 10, 0, 1, 2][..])
    );
    assert_eq!(ping[14 + 20], 8, "an echo request");

    // Errors: one line each.
    assert_eq!(
        vm.command_err("ifconfig tun0 mode broadcast", COMMAND)
            .unwrap(),
        "error: tun0: busy (interface up) (EBUSY)"
    );
    let v6 = format!("60{}", "00".repeat(39));
    assert_eq!(
        vm.command_err(&format!("tun write tun0 {v6}"), COMMAND)
            .unwrap(),
        "error: tun0: address family not supported (EAFNOSUPPORT)"
    );
    assert_eq!(
        vm.command_err(&format!("tun write tun0 55{}", "00".repeat(30)), COMMAND)
            .unwrap(),
        "error: tun0: invalid argument (EINVAL)"
    );
    ok(&mut vm, "ifconfig tun0 mtu 68");
    let big = icmp_sized(ICMP_ECHO_REPLY, TUN_IP, HOST_IP, 2, 41); // 69 bytes
    assert_eq!(
        vm.command_err(&format!("tun write tun0 {}", hex(&big)), COMMAND)
            .unwrap(),
        "error: tun0: larger than the maximum frame (EIO)"
    );
    ok(&mut vm, "ifconfig tun0 down");
    assert_eq!(
        vm.command_err(&format!("tun write tun0 {}", hex(&rep)), COMMAND)
            .unwrap(),
        "error: tun0: interface down (EHOSTDOWN)"
    );
    assert!(ok(&mut vm, "ifconfig tun0 mode broadcast")[0].contains("mode broadcast"));
    assert_eq!(
        vm.command_err("tun read tun7", COMMAND).unwrap(),
        "error: no interface tun7"
    );
    let out = ok(&mut vm, "ifconfig tun0");
    assert_eq!(
        out[1],
        format!(
            "  rx packets 1 bytes {} tx packets 1 bytes {}",
            req.len(),
            rep.len()
        )
    );
    assert_eq!(
        out[2],
        "  drops down 1 oversize 1 invalid 1 af 1 no-link 0 queue-full 0 truncated 0"
    );
    assert!(out[3].ends_with("arp requests 0 replies 1"), "{out:?}");
}

/// `halts` from `stats`.
fn halts(vm: &mut Vm) -> u64 {
    lab::idle_counters(vm, COMMAND).unwrap().halts
}

/// Issue 12: the open/close lifecycle of `/dev/tapN` and `/dev/tunN` in
/// the shell. Not open: reads and writes are EBADF and frames from the
/// switch find no reader; one opener at a time (EBUSY); close brings the
/// interface down and flushes its queue, and a tun forgets its
/// addresses; `ifconfig tunN inet` brings the tun up.
#[test]
fn tap_tun_open_close_lifecycle() {
    let (mut vm, mut end, _wires) = boot();
    ok(&mut vm, "ifconfig tap0 create");
    ok(&mut vm, "ifconfig tap0 up");
    ok(&mut vm, "vale-ctl -a vale0:tap0");
    ok(&mut vm, "vale-ctl -a vale0:virtio0");
    assert_eq!(
        vm.command_err("tap read tap0 2048 0", COMMAND).unwrap(),
        "error: tap0: not open (EBADF)"
    );
    let w = frame(host_mac(0), TAP_MAC, 1, 60);
    assert_eq!(
        vm.command_err(&format!("tap write tap0 {}", hex(&w)), COMMAND)
            .unwrap(),
        "error: tap0: not open (EBADF)"
    );
    assert_eq!(
        vm.command_err("tap close tap0", COMMAND).unwrap(),
        "error: tap0: not open (EBADF)"
    );
    // Up but not open: a frame from the host is dropped (counted as down).
    end.send_all(&[frame(BROADCAST, host_mac(0), 2, 60)], frame_wait())
        .unwrap();
    let deadline = std::time::Instant::now() + frame_wait();
    while !ok(&mut vm, "ifconfig tap0")[2].starts_with("  drops down 1 ") {
        assert!(std::time::Instant::now() < deadline, "the frame never came");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(ok(&mut vm, "tap open tap0"), ["tap0: opened"]);
    assert_eq!(
        vm.command_err("tap open tap0", COMMAND).unwrap(),
        "error: tap0: busy (already open) (EBUSY)"
    );
    assert_eq!(ok(&mut vm, "tap read tap0 2048 0"), ["no frame"]);
    assert_eq!(
        ok(&mut vm, &format!("tap write tap0 {}", hex(&w))),
        ["wrote 60"]
    );
    assert_eq!(recv_where(&mut end, |x| x[6..12] == TAP_MAC), w);
    // Three frames: one read (so they have arrived), two left queued.
    let fs: Vec<Vec<u8>> = (3..6)
        .map(|s| frame(BROADCAST, host_mac(0), s, 70))
        .collect();
    end.send_all(&fs, frame_wait()).unwrap();
    assert_eq!(
        ok(&mut vm, "tap read tap0 2048 10000"),
        [format!("frame 70: {}", hex(&fs[0]))]
    );
    let deadline = std::time::Instant::now() + frame_wait();
    while !ok(&mut vm, "ifconfig tap0")[0].ends_with(" queued 2") {
        assert!(
            std::time::Instant::now() < deadline,
            "two frames never queued"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok(&mut vm, "tap close tap0"), ["tap0: closed"]);
    let out = ok(&mut vm, "ifconfig tap0");
    assert_eq!(
        out[0],
        "tap0: mac 02:54:00:00:00:00 mtu 1500 down switch vale0 queued 0"
    );
    assert!(out[2].starts_with("  drops down 3 "), "{out:?}");
    assert_eq!(
        vm.command_err("tap read tap0", COMMAND).unwrap(),
        "error: tap0: not open (EBADF)"
    );
    // Reopened: a new opener, nothing left from the last one.
    assert_eq!(ok(&mut vm, "tap open tap0"), ["tap0: opened"]);
    ok(&mut vm, "ifconfig tap0 up");
    assert_eq!(ok(&mut vm, "tap read tap0 2048 0"), ["no frame"]);

    // tun: the address brings it up; close forgets it and goes down.
    ok(&mut vm, "ifconfig tun0 create");
    assert_eq!(ok(&mut vm, "tun open tun0"), ["tun0: opened"]);
    assert_eq!(
        vm.command_err("tun open tun0", COMMAND).unwrap(),
        "error: tun0: busy (already open) (EBUSY)"
    );
    let out = ok(&mut vm, "ifconfig tun0 inet 10.0.0.1/24 peer 10.0.0.2");
    assert!(
        out[0].contains(" up inet 10.0.0.1/24 peer 10.0.0.2 gateway none "),
        "{out:?}"
    );
    ok(&mut vm, "ifconfig tun0 gateway 10.0.0.254");
    assert_eq!(ok(&mut vm, "tun close tun0"), ["tun0: closed"]);
    let out = ok(&mut vm, "ifconfig tun0");
    assert!(
        out[0].contains(" down inet none peer none gateway none "),
        "{out:?}"
    );
    let rep = icmp(ICMP_ECHO_REPLY, TUN_IP, HOST_IP, 1);
    assert_eq!(
        vm.command_err(&format!("tun write tun0 {}", hex(&rep)), COMMAND)
            .unwrap(),
        "error: tun0: not open (EBADF)"
    );
    assert_eq!(ok(&mut vm, "tun open tun0"), ["tun0: opened"]);
    ok(&mut vm, "ifconfig tun0 up");
    assert_eq!(
        vm.command_err(&format!("tun write tun0 {}", hex(&rep)), COMMAND)
            .unwrap(),
        "error: tun0: no route to host (EHOSTUNREACH)",
        "the address went with the close"
    );
}

/// Issue 12: a blocked `tun read` (and `tap read`) sleeps: the CPU halts
/// while it waits (a read that spun would add no halts), and the frame a
/// writer (the host, through the NIC and the switch) delivers ends the
/// wait at once.
#[test]
fn a_blocked_read_halts_the_cpu_and_a_writer_wakes_it() {
    let (mut vm, mut end, _wires) = boot();
    ok(&mut vm, "ifconfig tap0 create");
    ok(&mut vm, "tap open tap0");
    ok(&mut vm, "ifconfig tap0 up");
    ok(&mut vm, "ifconfig tun0 create");
    ok(&mut vm, "tun open tun0");
    ok(&mut vm, "ifconfig tun0 inet 10.0.0.1/24 peer 10.0.0.2");
    ok(&mut vm, "vale-ctl -a vale0:tap0");
    ok(&mut vm, "vale-ctl -a vale0:tun0");
    ok(&mut vm, "vale-ctl -a vale0:virtio0");

    // Blocked for 2 s with nothing arriving: ~200 timer ticks, each a halt.
    for cmd in ["tap read tap0 2048 2000", "tun read tun0 2048 2000"] {
        let h0 = halts(&mut vm);
        let out = ok(&mut vm, cmd);
        let h1 = halts(&mut vm);
        assert!(out[0].starts_with("no "), "{out:?}");
        assert!(
            h1 > h0 + 40,
            "`{cmd}` spun instead of halting (halts {h0} -> {h1})"
        );
    }

    // A packet for the tun 500 ms into a 10 s read ends it.
    let req = icmp(ICMP_ECHO_REQUEST, HOST_IP, TUN_IP, 9);
    let t = std::time::Instant::now();
    let h0 = halts(&mut vm);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            end.send_all(
                &[eth(TUN_MAC, host_mac(0), ETHERTYPE_IPV4, &req)],
                frame_wait(),
            )
            .unwrap();
        });
        ok(&mut vm, "tun read tun0 2048 10000")
    });
    let took = t.elapsed();
    assert_eq!(out, [format!("packet {}: {}", req.len(), hex(&req))]);
    assert!(
        took < Duration::from_millis(500) + scaled(Duration::from_secs(2)),
        "the read took {took:?}, the packet came at 500 ms"
    );
    let h1 = halts(&mut vm);
    assert!(h1 > h0 + 10, "halted while waiting (halts {h0} -> {h1})");
}

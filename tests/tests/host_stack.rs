//! The kernel's IP stack (`host0`, smoltcp on the VALE port `vale0:host0`)
//! through the real image. Without privileges: the test is the other end
//! of a unix-datagram NIC and speaks ARP, ICMP and UDP itself; HTTP goes
//! through QEMU's user networking and a hostfwd rule. As root: the host's
//! own `ping` through a tap in a network namespace the test makes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::frames::{
    arp, checksum, eth, icmp_echo, ipv4, udp, ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP,
    ETHERTYPE_IPV4, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, PROTO_ICMP, PROTO_UDP,
};
use integration::lab::{host_mac, Counters, DgramWires, BROADCAST};
use integration::timeouts::{scaled, COMMAND, EXIT};
use integration::wire::Endpoint;
use integration::{lab, KernelExit, Vm, VmOptions};
use regex_lite::Regex;

const HOST0_MAC: [u8; 6] = [0x02, 0x6e, 0x6d, 0x00, 0x00, 0x01];
const GUEST_IP: [u8; 4] = [10, 9, 0, 2];
const TEST_IP: [u8; 4] = [10, 9, 0, 1];
const STATIC_SCRIPT: &str = "vale-ctl -h vale0:virtio0\nifconfig host0 inet 10.9.0.2/24\n";

fn frame_wait() -> Duration {
    scaled(Duration::from_secs(15))
}

// ---- frames -------------------------------------------------------------

fn arp_request_for_guest() -> Vec<u8> {
    eth(
        BROADCAST,
        host_mac(0),
        ETHERTYPE_ARP,
        &arp(ARP_REQUEST, host_mac(0), TEST_IP, [0; 6], GUEST_IP),
    )
}

fn echo_request(seq: u16, data: &[u8]) -> Vec<u8> {
    eth(
        HOST0_MAC,
        host_mac(0),
        ETHERTYPE_IPV4,
        &ipv4(
            PROTO_ICMP,
            TEST_IP,
            GUEST_IP,
            &icmp_echo(ICMP_ECHO_REQUEST, 0x4242, seq, data),
        ),
    )
}

fn payload(seq: u16, n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u16).wrapping_add(seq) as u8).collect()
}

/// The next frame on `ep` that `accept` takes (others are skipped).
fn recv_matching(ep: &mut Endpoint, what: &str, mut accept: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + frame_wait();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what} came");
        if let Some(f) = ep.recv(left).unwrap() {
            if accept(&f) {
                return f;
            }
        }
    }
}

fn is_arp_reply(f: &[u8]) -> bool {
    f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2]
}

fn is_echo_reply(f: &[u8], seq: u16) -> bool {
    f.len() >= 42
        && f[12..14] == [8, 0]
        && f[23] == 1
        && f[34] == 0
        && f[38..40] == 0x4242u16.to_be_bytes()
        && f[40..42] == seq.to_be_bytes()
}

fn boot_static(extra: &str, options: VmOptions) -> (Vm, Endpoint, DgramWires) {
    let wires = DgramWires::new(1).unwrap();
    let ep = wires.open(0).unwrap();
    let script = format!("{extra}{STATIC_SCRIPT}");
    let vm = Vm::boot_to_prompt(wires.options(options.script(script))).unwrap();
    (vm, ep, wires)
}

fn host0_counters(vm: &mut Vm) -> Counters {
    let out = vm.command_ok("ifconfig host0", COMMAND).unwrap();
    out.iter()
        .find_map(|l| Counters::parse(l))
        .unwrap_or_else(|| panic!("no counters in {out:?}"))
}

fn shutdown(mut vm: Vm) {
    vm.send_line("shutdown 0").unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(0));
}

// ---- without privileges: dgram NIC ---------------------------------------

#[test]
fn host0_answers_arp_icmp_echo_and_udp_echo() {
    let (mut vm, mut ep, _w) = boot_static("", VmOptions::default());
    let shown = vm.command_ok("ifconfig host0", COMMAND).unwrap().join("\n");
    assert!(
        shown.contains("mac 02:6e:6d:00:00:01 inet 10.9.0.2/24"),
        "{shown}"
    );

    // ARP.
    ep.send_all(&[arp_request_for_guest()], frame_wait())
        .unwrap();
    let r = recv_matching(&mut ep, "ARP reply", is_arp_reply);
    assert_eq!(r[0..6], host_mac(0), "to us");
    assert_eq!(r[6..12], HOST0_MAC, "from host0");
    assert_eq!(r[22..28], HOST0_MAC, "sender hardware address");
    assert_eq!(r[28..32], GUEST_IP, "sender protocol address");
    assert_eq!(r[32..38], host_mac(0), "target hardware address");
    assert_eq!(r[38..42], TEST_IP, "target protocol address");

    // ICMP echo: same identifier, sequence and payload, valid checksums.
    let data = payload(7, 300);
    ep.send_all(&[echo_request(7, &data)], frame_wait())
        .unwrap();
    let r = recv_matching(&mut ep, "echo reply", |f| is_echo_reply(f, 7));
    assert_eq!(r[26..30], GUEST_IP);
    assert_eq!(r[30..34], TEST_IP);
    assert_eq!(checksum(&r[14..34]), 0, "IP header checksum");
    assert_eq!(checksum(&r[34..]), 0, "ICMP checksum");
    assert_eq!(&r[42..], &data[..], "payload");

    // UDP echo (port 7).
    let data = b"echo through the switch, one copy each way".to_vec();
    let f = eth(
        HOST0_MAC,
        host_mac(0),
        ETHERTYPE_IPV4,
        &ipv4(
            PROTO_UDP,
            TEST_IP,
            GUEST_IP,
            &udp(TEST_IP, GUEST_IP, 40000, 7, &data),
        ),
    );
    ep.send_all(&[f], frame_wait()).unwrap();
    let r = recv_matching(&mut ep, "UDP echo", |f| {
        f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 17
    });
    assert_eq!(r[34..36], 7u16.to_be_bytes(), "source port");
    assert_eq!(r[36..38], 40000u16.to_be_bytes(), "destination port");
    assert_eq!(&r[42..], &data[..]);

    // Three frames each way, seen by host0's port.
    let c = host0_counters(&mut vm);
    assert_eq!((c.rx_pkts, c.tx_pkts), (3, 3), "{c:?}");
    shutdown(vm);
}

/// The test side of `ping`: answers ARP for TEST_IP and echo requests,
/// until told to stop. Returns how many echo requests it answered.
fn responder(mut ep: Endpoint, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Endpoint, u32)> {
    std::thread::spawn(move || {
        let mut answered = 0;
        while !stop.load(Ordering::Relaxed) {
            let Some(f) = ep.recv(Duration::from_millis(100)).unwrap() else {
                continue;
            };
            if f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 1] && f[38..42] == TEST_IP {
                let sha: [u8; 6] = f[22..28].try_into().unwrap();
                let spa: [u8; 4] = f[28..32].try_into().unwrap();
                let reply = eth(
                    sha,
                    host_mac(0),
                    ETHERTYPE_ARP,
                    &arp(ARP_REPLY, host_mac(0), TEST_IP, sha, spa),
                );
                ep.send_all(&[reply], frame_wait()).unwrap();
            } else if f.len() >= 42
                && f[12..14] == [8, 0]
                && f[23] == 1
                && f[34] == 8
                && f[30..34] == TEST_IP
            {
                let src: [u8; 6] = f[6..12].try_into().unwrap();
                let from: [u8; 4] = f[26..30].try_into().unwrap();
                // The request's identifier, sequence number and data.
                let id = u16::from_be_bytes([f[38], f[39]]);
                let seq = u16::from_be_bytes([f[40], f[41]]);
                let icmp = icmp_echo(ICMP_ECHO_REPLY, id, seq, &f[42..]);
                let ip = ipv4(PROTO_ICMP, TEST_IP, from, &icmp);
                let reply = eth(src, host_mac(0), ETHERTYPE_IPV4, &ip);
                ep.send_all(&[reply], frame_wait()).unwrap();
                answered += 1;
            }
        }
        (ep, answered)
    })
}

#[test]
fn shell_ping_reaches_the_wire_and_reports_each_reply() {
    let (mut vm, ep, _w) = boot_static("", VmOptions::default());
    let stop = Arc::new(AtomicBool::new(false));
    let t = responder(ep, stop.clone());
    let out = vm
        .command_ok("ping 10.9.0.1 3", COMMAND + Duration::from_secs(5))
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (_ep, answered) = t.join().unwrap();
    let re = Regex::new(r"^64 bytes from 10\.9\.0\.1: icmp_seq=(\d+) time=\d+\.\d{3} ms$").unwrap();
    let seqs: Vec<String> = out
        .iter()
        .filter_map(|l| re.captures(l).map(|c| c[1].to_string()))
        .collect();
    assert_eq!(seqs, ["0", "1", "2"], "{out:?}");
    assert!(
        out.iter()
            .any(|l| l == "3 packets transmitted, 3 received, 0% packet loss"),
        "{out:?}"
    );
    assert_eq!(answered, 3);

    // No answer: one line per probe, a summary, and an error.
    let out = vm
        .command("ping 10.9.0.77 2", COMMAND + Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        out.iter()
            .filter(|l| l.starts_with("no reply from 10.9.0.77"))
            .count(),
        2,
        "{out:?}"
    );
    assert!(out.iter().any(|l| l.starts_with("error: ")), "{out:?}");
    shutdown(vm);
}

/// Reads a classic pcap file: (link type, records).
fn read_pcap(path: &std::path::Path) -> (u32, Vec<Vec<u8>>) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() >= 24, "pcap file too short: {} bytes", b.len());
    let u32le = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(u32le(0), 0xa1b2_c3d4, "magic");
    assert_eq!((b[4], b[6]), (2, 4), "version 2.4");
    let linktype = u32le(20);
    let mut recs = Vec::new();
    let mut i = 24;
    while i < b.len() {
        assert!(i + 16 <= b.len(), "truncated record header at {i}");
        let (incl, orig) = (u32le(i + 8) as usize, u32le(i + 12) as usize);
        assert_eq!(incl, orig);
        assert!(i + 16 + incl <= b.len(), "truncated record at {i}");
        recs.push(b[i + 16..i + 16 + incl].to_vec());
        i += 16 + incl;
    }
    (linktype, recs)
}

#[test]
fn pcap_capture_of_host0_holds_exactly_the_frames_exchanged() {
    let dir = std::env::temp_dir().join(format!("nm-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("host0.pcap");
    let options = VmOptions::default()
        .arg("-serial")
        .arg(format!("file:{}", file.display()));
    let (mut vm, mut ep, _w) = boot_static("pcap start vale0:host0\n", options);

    let mut want = Vec::new();
    let req = arp_request_for_guest();
    ep.send_all(std::slice::from_ref(&req), frame_wait())
        .unwrap();
    want.push(req);
    want.push(recv_matching(&mut ep, "ARP reply", is_arp_reply));
    for seq in 0..5u16 {
        let req = echo_request(seq, &payload(seq, 64 + 100 * usize::from(seq)));
        ep.send_all(std::slice::from_ref(&req), frame_wait())
            .unwrap();
        want.push(req);
        want.push(recv_matching(&mut ep, "echo reply", |f| {
            is_echo_reply(f, seq)
        }));
    }
    let out = vm.command_ok("pcap stop", COMMAND).unwrap();
    let bytes: usize = want.iter().map(Vec::len).sum();
    assert_eq!(
        out,
        [format!(
            "pcap: vale0:host0: {} frames {bytes} bytes",
            want.len()
        )]
    );
    shutdown(vm);

    let (linktype, recs) = read_pcap(&file);
    assert_eq!(linktype, 1, "Ethernet");
    assert_eq!(recs.len(), want.len());
    for (k, (r, w)) in recs.iter().zip(&want).enumerate() {
        assert_eq!(r, w, "record {k}");
    }
    if let Ok(st) = std::process::Command::new("tcpdump")
        .arg("-n")
        .arg("-r")
        .arg(&file)
        .output()
    {
        assert!(
            st.status.success(),
            "tcpdump -r: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&st.stdout).lines().count(),
            want.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- HTTP through QEMU's user networking --------------------------------

fn http_get(port: u16, request: &str) -> String {
    let deadline = Instant::now() + frame_wait();
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(frame_wait()))?;
            s.write_all(request.as_bytes())?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(r) if !r.is_empty() => return r,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            other => panic!("GET through 127.0.0.1:{port}: {other:?}"),
        }
    }
}

fn get(port: u16, path: &str) -> (u16, String) {
    let r = http_get(port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let (head, body) = r
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {r:?}"));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
    {
        assert_eq!(len.parse::<usize>().unwrap(), body.len(), "Content-Length");
    }
    (code, body.to_string())
}

/// A counter of the JSON object that starts at `"name":"NAME"`.
fn json_counter(json: &str, name: &str, dir: &str) -> u64 {
    let re = Regex::new(&format!(
        r#""name":"{}"[^\]]*?"{dir}":\{{"packets":(\d+)"#,
        regex_lite::escape(name)
    ))
    .unwrap();
    re.captures(json)
        .unwrap_or_else(|| panic!("no {name} {dir} in {json}"))[1]
        .parse()
        .unwrap()
}

#[test]
fn http_stats_through_user_networking_hostfwd_match_the_traffic() {
    let port = lab::free_port();
    let mut vm = Vm::boot_to_prompt(lab::xtask_run_defaults(port)).unwrap();
    assert!(
        vm.output().contains("host0: inet 10.0.2.15/24 gw 10.0.2.2"),
        "{}",
        vm.output()
    );

    let (code, json) = get(port, "/stats");
    assert_eq!(code, 200, "{json}");
    assert!(
        json.starts_with('{') && json.trim_end().ends_with('}'),
        "{json}"
    );
    assert_eq!(
        json.matches('{').count(),
        json.matches('}').count(),
        "balanced: {json}"
    );
    assert!(json.contains(r#""addr":"10.0.2.15/24""#), "{json}");
    // The VM-exit counters, named as on `stats`' `exits` line (exits.rs).
    let exits = Regex::new(
        r#""exits":\{"doorbells":(\d+),"irqs":(\d+),"nic":\d+,"timer":\d+,"other":\d+,"halts":\d+,"ticks":(\d+),"pio":(\d+),"mmio":\d+\}"#,
    )
    .unwrap()
    .captures(&json)
    .unwrap_or_else(|| panic!("no exits object in {json}"));
    let n = |i: usize| exits[i].parse::<u64>().unwrap();
    assert!(n(1) > 0 && n(2) >= n(3) && n(3) > 0 && n(4) > 0, "{json}");
    assert!(json.contains(r#""name":"vale0:host0""#), "{json}");
    assert!(
        json.contains(r#""mac":"02:6e:6d:00:00:01","port":"#),
        "host0 learned: {json}"
    );
    // One switch, two ports: what host0 sends is what the NIC transmits.
    let host_tx = json_counter(&json, "vale0:host0", "tx");
    assert_eq!(json_counter(&json, "virtio0", "tx"), host_tx, "{json}");
    assert_eq!(
        json_counter(&json, "vale0:virtio0", "rx"),
        host_tx,
        "{json}"
    );

    // Pings out of the NIC show in the counters (slirp may or may not
    // answer them: that depends on the host's ping sockets).
    let before = json_counter(&json, "virtio0", "tx");
    let _ = vm
        .command("ping 10.0.2.2 5", COMMAND + Duration::from_secs(8))
        .unwrap();
    let (_, json) = get(port, "/stats");
    let after = json_counter(&json, "virtio0", "tx");
    assert!(after >= before + 5, "NIC tx {before} -> {after}");
    assert_eq!(json_counter(&json, "vale0:host0", "tx"), after);

    let (code, html) = get(port, "/");
    assert_eq!(code, 200);
    assert!(
        // A static page whose script polls /stats (tests/tests/dashboard.rs
        // runs it in a browser).
        html.contains("<title>netmap unikernel</title>") && html.contains("fetch(\"/stats\""),
        "{html}"
    );
    assert_eq!(get(port, "/nope").0, 404);
    let r = http_get(port, "garbage\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    let r = http_get(port, &format!("GET /{} HTTP/1.1\r\n", "a".repeat(3000)));
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    // Several connections at once, more than the listening sockets.
    let threads: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || get(port, "/stats").0))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    shutdown(vm);
}

/// Clients that connect and never send a request: each is answered 408
/// once the request deadline passes, and while they fill every listening
/// socket a new client is still served (the oldest idle connection makes
/// room), not refused until they close. Before the fix, 60 such clients
/// locked every new client out for as long as they stayed connected.
#[test]
fn http_idle_clients_time_out_and_never_lock_out_a_new_client() {
    let port = lab::free_port();
    let vm = Vm::boot_to_prompt(lab::xtask_run_defaults(port)).unwrap();
    assert_eq!(get(port, "/stats").0, 200);

    let idle: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Let slirp hand them all to the guest.
    std::thread::sleep(Duration::from_secs(1));
    // A new client, while the 60 are still open: answered well within the
    // request deadline of the idle ones (so it is eviction, not the
    // deadline, that let it in).
    let started = Instant::now();
    let deadline = started + scaled(Duration::from_millis(1500));
    let answered = loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(r) if r.starts_with("HTTP/1.1 200 ") => break true,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => break false,
        }
    };
    assert!(
        answered,
        "a new client was locked out for {:?} by 60 idle connections",
        started.elapsed()
    );
    drop(idle);

    // One idle client alone: 408 after the deadline, then closed.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(scaled(Duration::from_secs(20))))
        .unwrap();
    let t = Instant::now();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 408 "),
        "idle client after {:?}: {out:?}",
        t.elapsed()
    );
    // Still serving.
    assert_eq!(get(port, "/stats").0, 200);
    shutdown(vm);
}

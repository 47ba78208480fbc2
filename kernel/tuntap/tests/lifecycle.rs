//! Issue 12: the open/close lifecycle of the reference devices (tapopen,
//! tapclose, tunopen, tunclose), a tun's address bringing it up
//! (SIOCSIFADDR), readiness for writing always true, and a blocked reader
//! woken by the frame that makes it ready (no polling loop).

mod common;

use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use tuntap::{Error, Mode, TapPort, TunPort};

const TAP_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 1];
const TAP2_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 2];
const TUN_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 1];
const TUN_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];

/// A tap on `vale0`, linked, neither open nor up.
fn tap_on(reg: &netmap::Registry, name: &str, mac: [u8; 6], queue: u32) -> Arc<TapPort> {
    let tap = TapPort::with_queue(reg.pool(), name, mac, queue).unwrap();
    let (sw, a) = attach(reg, tap.clone());
    tap.link(sw, a);
    tap
}

/// A tun on `vale0`, linked, neither open nor up, no address.
fn tun_on(reg: &netmap::Registry) -> Arc<TunPort> {
    let tun = TunPort::new(reg.pool(), "tun0", TUN_MAC).unwrap();
    let (sw, a) = attach(reg, tun.clone());
    tun.link(sw, a);
    tun
}

#[test]
fn tap_one_opener_at_a_time_and_reopen_after_close() {
    let reg = registry();
    let tap = tap_on(&reg, "tap0", TAP_MAC, 16);
    assert!(!tap.is_open(), "a new port is closed");
    tap.open().unwrap();
    assert!(tap.is_open());
    assert_eq!(tap.open(), Err(Error::InUse));
    assert_eq!(Error::InUse.errno(), "EBUSY");
    assert_eq!(tap.open(), Err(Error::InUse), "still busy");
    tap.close();
    assert!(!tap.is_open());
    tap.open().unwrap();
    tap.set_up(true);
    let mut h = peer(&reg, "a");
    let f = eth(TAP_MAC, PEER_MAC, 0x88b5, &[4; 40]);
    send(&mut h, &f);
    let mut buf = [0u8; 128];
    let r = tap.read(&mut buf).unwrap();
    assert_eq!(&buf[..r.copied], &f[..], "the reopened port reads");
}

#[test]
fn tun_one_opener_at_a_time_and_reopen_after_close() {
    let reg = registry();
    let tun = tun_on(&reg);
    tun.open().unwrap();
    assert_eq!(tun.open(), Err(Error::InUse));
    tun.close();
    tun.open().unwrap();
    assert!(tun.is_open());
}

#[test]
fn not_open_reads_and_writes_are_ebadf_and_frames_find_no_reader() {
    let reg = registry();
    let tap = tap_on(&reg, "tap0", TAP_MAC, 16);
    let mut h = peer(&reg, "a");
    tap.set_up(true);
    let f = eth(TAP_MAC, PEER_MAC, 0x88b5, &[1; 30]);
    assert_eq!(tap.write(&f), Err(Error::NotOpen));
    assert_eq!(tap.write(&[]), Err(Error::NotOpen));
    assert_eq!(tap.read(&mut [0; 64]), Err(Error::NotOpen));
    assert_eq!(
        tap.read_wait(&mut [0; 64], &mut spin_wait(1)),
        Err(Error::NotOpen)
    );
    assert_eq!(Error::NotOpen.errno(), "EBADF");
    assert!(recv(&mut h).is_empty(), "nothing was sent");
    // Up but nobody reads: frames from the switch are dropped at once.
    send(&mut h, &f);
    assert_eq!(tap.queued(), 0);
    assert!(!tap.readable());
    let c = tap.counters();
    assert_eq!((c.drop_down, c.tx_packets), (1, 0));

    let tun = tun_on(&reg);
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    let pkt = icmp_echo(TUN_IP, PEER_IP, 0);
    assert_eq!(tun.write(&pkt, 0), Err(Error::NotOpen));
    assert_eq!(tun.read(&mut [0; 64]), Err(Error::NotOpen));
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    tun.poll(0);
    assert!(!tun.readable(), "no reader: not queued");
    assert_eq!(tun.counters().drop_down, 1);
}

#[test]
fn tap_close_brings_down_flushes_the_queue_and_loses_no_buffer() {
    let reg = registry();
    let tap = tap_on(&reg, "tap0", TAP_MAC, 4);
    let mut h = peer(&reg, "a");
    let free0 = reg.pool().free_count();
    tap.open().unwrap();
    tap.set_up(true);
    tap.set_nonblocking(true);
    for i in 0..4u8 {
        send(&mut h, &eth(TAP_MAC, PEER_MAC, 0x88b5, &[i; 60]));
    }
    assert_eq!(tap.queued(), 4);
    tap.close();
    assert!(!tap.is_up(), "close brings the interface down");
    assert!(!tap.is_nonblocking(), "the next opener starts blocking");
    assert_eq!(tap.queued(), 0, "close flushes the read queue");
    assert!(!tap.readable());
    assert_eq!(tap.counters().drop_down, 4);
    reg.audit(&[&h]).unwrap();
    assert_eq!(reg.pool().free_count(), free0, "every buffer accounted");
    // The flushed slots take frames again: a whole queue's worth.
    tap.open().unwrap();
    tap.set_up(true);
    for i in 0..4u8 {
        send(&mut h, &eth(TAP_MAC, PEER_MAC, 0x88b5, &[i; 60]));
    }
    assert_eq!(tap.queued(), 4);
    assert_eq!(tap.counters().drop_queue_full, 0);
    let mut buf = [0u8; 128];
    let r = tap.read(&mut buf).unwrap();
    assert_eq!(
        buf[14..r.copied],
        [0; 60],
        "the oldest new frame, not an old one"
    );
    reg.audit(&[&h]).unwrap();
}

#[test]
fn tun_close_brings_down_and_forgets_addresses_arp_and_queues() {
    let reg = registry();
    let tun = tun_on(&reg);
    let mut h = peer(&reg, "a");
    let free0 = reg.pool().free_count();
    tun.open().unwrap();
    tun.set_mode(Mode::Broadcast).unwrap();
    tun.set_ifhead(true);
    tun.set_mtu(1400).unwrap();
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    tun.set_gateway(Some([10, 0, 0, 254]));
    // An ARP entry for the peer (it asks for our address).
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, PEER_IP, [0; 6], TUN_IP),
        ),
    );
    tun.poll(0);
    assert_eq!(tun.arp_entries(0).count(), 1);
    // A packet held for an unresolved next hop, one queued for the reader.
    let mut held = 2u32.to_be_bytes().to_vec();
    held.extend(icmp_echo(TUN_IP, [10, 0, 0, 7], 0));
    tun.write(&held, 0).unwrap();
    assert_eq!(tun.held(), 1);
    send(
        &mut h,
        &eth(TUN_MAC, PEER_MAC, 0x0800, &icmp_echo(PEER_IP, TUN_IP, 0)),
    );
    tun.poll(0);
    assert!(tun.readable());
    recv(&mut h);

    tun.close();
    assert!(!tun.is_up(), "close brings the interface down");
    let cfg = tun.config();
    assert_eq!((cfg.addr, cfg.peer, cfg.gateway), (None, None, None));
    assert_eq!(tun.arp_entries(0).count(), 0, "the ARP cache is forgotten");
    assert_eq!(tun.held(), 0);
    assert!(!tun.readable());
    assert_eq!(tun.counters().drop_down, 2, "held and queued packets");
    // What close keeps: MAC, mode, IFHEAD, MTU.
    assert_eq!(
        (cfg.mac, cfg.mode, cfg.ifhead, cfg.mtu),
        (TUN_MAC, Mode::Broadcast, true, 1400)
    );
    reg.audit(&[&h]).unwrap();
    assert_eq!(reg.pool().free_count(), free0);
    // Reopened and up, it has no address to send from, and asks nobody.
    tun.open().unwrap();
    tun.set_up(true);
    assert_eq!(tun.write(&held, 0), Err(Error::HostUnreach));
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, PEER_IP, [0; 6], TUN_IP),
        ),
    );
    tun.poll(0);
    assert!(recv(&mut h).is_empty(), "the old address is not answered");
}

#[test]
fn tun_set_addr_brings_the_interface_up() {
    let reg = registry();
    let tun = tun_on(&reg);
    tun.open().unwrap();
    assert!(!tun.is_up());
    assert_eq!(tun.set_addr(TUN_IP, 33, None), Err(Error::Invalid));
    assert!(!tun.is_up(), "a refused address changes nothing");
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    assert!(tun.is_up(), "ifconfig tun0 A B brings it up");
    assert_eq!(tun.set_mode(Mode::Broadcast), Err(Error::Busy));
    // Up: a write goes out (an ARP request for the peer first).
    tun.write(&icmp_echo(TUN_IP, PEER_IP, 0), 0).unwrap();
    assert_eq!(tun.held(), 1);
}

#[test]
fn always_writable_as_the_reference() {
    let reg = registry();
    let lone = TapPort::new(reg.pool(), "tap9", TAP_MAC).unwrap();
    assert!(
        lone.writable(),
        "closed, down, not attached: still writable"
    );
    let tap = tap_on(&reg, "tap0", TAP_MAC, 16);
    tap.open().unwrap();
    tap.set_up(true);
    assert!(tap.writable());
    tap.set_up(false);
    assert!(tap.writable(), "down: a write fails at once, never waits");
    assert_eq!(
        tap.write(&eth(BCAST, TAP_MAC, 0x88b5, &[0; 10])),
        Err(Error::HostDown)
    );
    let tun = TunPort::new(reg.pool(), "tun9", TUN_MAC).unwrap();
    assert!(tun.writable());
    tun.open().unwrap();
    tun.set_up(true);
    assert!(tun.writable(), "no address, no switch: still writable");
    assert_eq!(
        tun.write(&icmp_echo(TUN_IP, PEER_IP, 0), 0),
        Err(Error::HostUnreach)
    );
}

/// Wakes a parked thread, counting the wakes.
struct Unpark(Thread, AtomicUsize);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.unpark();
    }
}

/// A wait function that sleeps (parks) until the port wakes it or
/// `timeout` passes, registering its waker with `register` before each
/// readiness check. Returns it and the number of readiness checks made.
fn parking_wait(
    register: impl Fn(Waker),
    timeout: Duration,
) -> impl FnMut(&mut dyn FnMut() -> bool) -> bool {
    let me = Arc::new(Unpark(thread::current(), AtomicUsize::new(0)));
    let deadline = Instant::now() + timeout;
    move |ready| loop {
        register(Waker::from(me.clone()));
        if ready() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        thread::park_timeout(left);
    }
}

const LONG: Duration = Duration::from_secs(10);

#[test]
fn a_blocked_tap_reader_is_woken_by_a_writer_on_another_tap() {
    let reg = registry();
    let tap = tap_on(&reg, "tap0", TAP_MAC, 16);
    let tap2 = tap_on(&reg, "tap1", TAP2_MAC, 16);
    for t in [&tap, &tap2] {
        t.open().unwrap();
        t.set_up(true);
    }
    let checks = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (tap, checks) = (tap.clone(), checks.clone());
        thread::spawn(move || {
            let t0 = Instant::now();
            let w = tap.clone();
            let mut wait = parking_wait(move |k| w.set_waker(Some(k)), LONG);
            let mut buf = [0u8; 256];
            let r = tap.read_wait(&mut buf, &mut |ready| {
                wait(&mut || {
                    checks.fetch_add(1, Ordering::SeqCst);
                    ready()
                })
            });
            (r.map(|r| buf[..r.copied].to_vec()), t0.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(200));
    let f = eth(TAP_MAC, TAP2_MAC, 0x88b5, b"wake up");
    tap2.write(&f).unwrap();
    let (got, took) = reader.join().unwrap();
    assert_eq!(got, Ok(f));
    assert!(took < LONG / 2, "the writer woke the reader ({took:?})");
    let n = checks.load(Ordering::SeqCst);
    assert!(n <= 4, "slept, not spun: {n} readiness checks");
}

#[test]
fn a_blocked_tun_reader_is_woken_by_a_packet_and_by_close() {
    let reg = registry();
    let tun = tun_on(&reg);
    let mut h = peer(&reg, "a");
    tun.open().unwrap();
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    let read = |tun: Arc<TunPort>| {
        thread::spawn(move || {
            let t0 = Instant::now();
            let w = tun.clone();
            let mut wait = parking_wait(move |k| w.set_waker(Some(k)), LONG);
            let mut buf = [0u8; 256];
            let r = tun.read_wait(&mut buf, &mut wait);
            (r.map(|r| buf[..r.copied].to_vec()), t0.elapsed())
        })
    };
    let reader = read(tun.clone());
    thread::sleep(Duration::from_millis(200));
    let pkt = icmp_echo(PEER_IP, TUN_IP, 8);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    let (got, took) = reader.join().unwrap();
    assert_eq!(got, Ok(pkt));
    assert!(took < LONG / 2, "the packet woke the reader ({took:?})");

    // Close ends a blocked read: the port is no longer open.
    let reader = read(tun.clone());
    thread::sleep(Duration::from_millis(200));
    tun.close();
    let (got, took) = reader.join().unwrap();
    assert_eq!(got, Err(Error::NotOpen));
    assert!(took < LONG / 2, "close woke the reader ({took:?})");
}

//! Tap ports on a real VALE switch, with VALE ports as peers.

mod common;

use common::*;
use std::sync::Arc;
use tuntap::{Error, IfInfo, TapPort, IFT_ETHER};

const TAP_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 1];

fn setup(queue: u32) -> (netmap::Registry, Arc<TapPort>, netmap::Handle) {
    let reg = registry();
    let tap = TapPort::with_queue(reg.pool(), "tap0", TAP_MAC, queue).unwrap();
    let (sw, a) = attach(&reg, tap.clone());
    tap.link(sw, a);
    let h = peer(&reg, "a");
    tap.open().unwrap();
    tap.set_up(true);
    (reg, tap, h)
}

#[test]
fn frame_from_switch_is_read_byte_for_byte_one_per_read() {
    let (_reg, tap, mut h) = setup(16);
    let f1 = eth(BCAST, PEER_MAC, 0x88b5, &[1, 2, 3, 4, 5]);
    let f2 = eth(TAP_MAC, PEER_MAC, 0x88b5, &[9; 100]);
    send(&mut h, &f1);
    send(&mut h, &f2);
    assert!(tap.readable());
    assert_eq!(tap.next_len(), f1.len());
    let mut buf = [0u8; 2048];
    let r = tap.read(&mut buf).unwrap();
    assert_eq!((r.len, r.copied, r.truncated), (f1.len(), f1.len(), false));
    assert_eq!(&buf[..r.copied], &f1[..]);
    let r = tap.read(&mut buf).unwrap();
    assert_eq!(&buf[..r.copied], &f2[..]);
    assert_eq!(tap.read(&mut buf), Err(Error::WouldBlock));
    assert!(!tap.readable());
    let c = tap.counters();
    assert_eq!(
        (c.rx_packets, c.rx_bytes),
        (2, (f1.len() + f2.len()) as u64)
    );
}

#[test]
fn short_buffer_truncates_and_says_so_zero_length_read_has_no_effect() {
    let (_reg, tap, mut h) = setup(16);
    let f = eth(BCAST, PEER_MAC, 0x88b5, &[7; 50]);
    send(&mut h, &f);
    let r = tap.read(&mut []).unwrap();
    assert_eq!((r.len, r.copied), (f.len(), 0));
    assert_eq!(tap.queued(), 1, "zero-length read consumed nothing");
    let mut small = [0u8; 20];
    let r = tap.read(&mut small).unwrap();
    assert_eq!((r.len, r.copied, r.truncated), (f.len(), 20, true));
    assert_eq!(&small[..], &f[..20]);
    assert_eq!(tap.queued(), 0);
    assert_eq!(tap.counters().rx_truncated, 1);
    assert_eq!(tap.read(&mut []), Err(Error::WouldBlock));
}

#[test]
fn write_reaches_the_peer_byte_for_byte() {
    let (_reg, tap, mut h) = setup(16);
    assert!(tap.writable());
    let f = eth(BCAST, TAP_MAC, 0x88b5, b"hello from tap");
    assert_eq!(tap.write(&f), Ok(f.len()));
    assert_eq!(recv(&mut h), vec![f.clone()]);
    let c = tap.counters();
    assert_eq!((c.tx_packets, c.tx_bytes), (1, f.len() as u64));
}

#[test]
fn write_errors_runt_oversize_down_and_unattached() {
    let (_reg, tap, mut h) = setup(16);
    assert_eq!(tap.write(&[]), Ok(0));
    assert_eq!(tap.write(&[0; 13]), Err(Error::Invalid));
    let max = tap.max_write();
    assert_eq!(max, 1514);
    assert_eq!(tap.write(&vec![0xff; max + 1]), Err(Error::TooBig));
    assert_eq!(
        tap.write(&eth(BCAST, TAP_MAC, 0x88b5, &vec![0; max - 14])),
        Ok(max)
    );
    assert_eq!(
        recv(&mut h).len(),
        1,
        "only the full-size frame went out, nothing truncated"
    );
    tap.set_up(false);
    assert!(
        tap.writable(),
        "always writable (the reference): the write fails at once"
    );
    assert_eq!(
        tap.write(&eth(BCAST, TAP_MAC, 0x88b5, &[0; 10])),
        Err(Error::HostDown)
    );
    let c = tap.counters();
    assert_eq!((c.drop_short, c.drop_oversize, c.drop_down), (1, 1, 1));
    assert!(recv(&mut h).is_empty());
    // Not on a switch: ENETDOWN.
    let reg = registry();
    let lone = TapPort::new(reg.pool(), "tap1", TAP_MAC).unwrap();
    lone.open().unwrap();
    lone.set_up(true);
    assert_eq!(
        lone.write(&eth(BCAST, TAP_MAC, 0x88b5, &[0; 10])),
        Err(Error::NetDown)
    );
    assert_eq!(lone.counters().drop_no_link, 1);
}

#[test]
fn detached_write_is_netdown() {
    let (reg, tap, _h) = setup(16);
    reg.detach("vale0", "tap0").unwrap();
    assert_eq!(
        tap.write(&eth(BCAST, TAP_MAC, 0x88b5, &[0; 10])),
        Err(Error::NetDown)
    );
}

#[test]
fn bounded_queue_counts_drops_and_going_down_flushes() {
    let (_reg, tap, mut h) = setup(4);
    for i in 0..6u8 {
        send(&mut h, &eth(BCAST, PEER_MAC, 0x88b5, &[i; 20]));
    }
    assert_eq!(tap.queued(), 4);
    assert_eq!(tap.counters().drop_queue_full, 2);
    tap.set_up(false);
    assert_eq!(tap.queued(), 0);
    assert_eq!(tap.counters().drop_down, 4);
    assert_eq!(tap.read(&mut [0; 64]), Err(Error::HostDown));
    // Frames arriving while down are dropped at once.
    send(&mut h, &eth(BCAST, PEER_MAC, 0x88b5, &[1; 20]));
    assert_eq!(tap.queued(), 0);
    assert_eq!(tap.counters().drop_down, 5);
}

#[test]
fn nonblocking_blocking_and_timeout() {
    let (_reg, tap, mut h) = setup(16);
    let mut buf = [0u8; 128];
    // Blocking, nothing arrives: the caller's wait gives up.
    assert_eq!(
        tap.read_wait(&mut buf, &mut spin_wait(3)),
        Err(Error::TimedOut)
    );
    // Non-blocking: WouldBlock without calling the wait function.
    tap.set_nonblocking(true);
    let mut called = false;
    let r = tap.read_wait(&mut buf, &mut |_| {
        called = true;
        true
    });
    assert_eq!(r, Err(Error::WouldBlock));
    assert!(!called);
    tap.set_nonblocking(false);
    // Blocking: the frame arrives while waiting.
    let f = eth(BCAST, PEER_MAC, 0x88b5, &[3; 30]);
    let mut sent = false;
    let r = tap
        .read_wait(&mut buf, &mut |ready| loop {
            if ready() {
                return true;
            }
            if !sent {
                send(&mut h, &f);
                sent = true;
            }
        })
        .unwrap();
    assert_eq!(&buf[..r.copied], &f[..]);
}

#[test]
fn mac_and_info() {
    let reg = registry();
    let tap = TapPort::new(reg.pool(), "tap0", TAP_MAC).unwrap();
    assert_eq!(tap.mac(), TAP_MAC);
    assert_eq!(tap.set_mac([1, 0, 0, 0, 0, 1]), Err(Error::Invalid));
    assert_eq!(tap.set_mac([0; 6]), Err(Error::Invalid));
    tap.set_mac([2, 1, 2, 3, 4, 5]).unwrap();
    assert_eq!(tap.mac(), [2, 1, 2, 3, 4, 5]);
    let info = tap.info();
    assert_eq!((info.mtu, info.if_type), (1500, IFT_ETHER));
    tap.set_info(IfInfo { mtu: 9000, ..info }).unwrap_err();
    tap.set_info(IfInfo { mtu: 67, ..info }).unwrap_err();
    tap.set_info(IfInfo { mtu: 1000, ..info }).unwrap();
    assert_eq!(tap.max_write(), 1014);
    assert_eq!(tap.set_mtu(2034), Ok(()));
    assert_eq!(tap.set_mtu(2035), Err(Error::Invalid));
}

#[test]
fn two_taps_talk_through_the_switch_and_the_pool_balances() {
    let (reg, tap, h) = setup(16);
    let tap2 = TapPort::new(reg.pool(), "tap1", [2, 0, 0, 0, 0, 2]).unwrap();
    let (sw, a) = attach(&reg, tap2.clone());
    tap2.link(sw, a);
    tap2.open().unwrap();
    tap2.set_up(true);
    let f = eth([2, 0, 0, 0, 0, 2], TAP_MAC, 0x88b5, &[5; 60]);
    tap.write(&f).unwrap();
    let mut buf = [0u8; 2048];
    let r = tap2.read(&mut buf).unwrap();
    assert_eq!(&buf[..r.copied], &f[..]);
    reg.audit(&[&h]).unwrap();
}

//! Issue 12 #4: a port's limits come from its pool (buffer size, the
//! 16-bit slot length) as well as its MTU; a write over them is
//! `TooBig` (EIO), never a panic or a wrapped length.

mod common;

use common::*;
use netmap::{BufferPool, Registry};
use std::sync::Arc;
use tuntap::{Error, TapPort, TunPort, ETH_HLEN};

const TAP_MAC: [u8; 6] = [0x02, 0x54, 0, 0, 0, 1];
const TUN_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 1];
const TUN_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];

fn reg(nbufs: u32, buf_size: usize) -> Registry {
    let cfg = netmap::port::PortConfig {
        num_slots: 64,
        max_frame: buf_size,
        ..Default::default()
    };
    Registry::with_defaults(BufferPool::on_heap(nbufs, buf_size).unwrap(), cfg)
}

fn tap_on(reg: &Registry) -> (Arc<TapPort>, netmap::Handle) {
    let tap = TapPort::with_queue(reg.pool(), "tap0", TAP_MAC, 8).unwrap();
    let (sw, a) = attach(reg, tap.clone());
    tap.link(sw, a);
    let h = peer(reg, "a");
    tap.open().unwrap();
    tap.set_up(true);
    (tap, h)
}

fn tun_on(reg: &Registry) -> (Arc<TunPort>, netmap::Handle) {
    let tun = TunPort::new(reg.pool(), "tun0", TUN_MAC).unwrap();
    let (sw, a) = attach(reg, tun.clone());
    tun.link(sw, a);
    let h = peer(reg, "a");
    tun.open().unwrap();
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    tun.set_up(true);
    (tun, h)
}

#[test]
fn tap_on_small_buffers_refuses_frames_over_the_buffer() {
    let reg = reg(1024, 256);
    let (tap, mut h) = tap_on(&reg);
    assert!(tap.max_write() <= 256);
    assert!(tap.info().mtu as usize + ETH_HLEN <= 256);
    assert_eq!(tap.set_mtu(1500), Err(Error::Invalid));
    let f = eth(BCAST, TAP_MAC, 0x88b5, &[7; 300]);
    assert_eq!(tap.write(&f), Err(Error::TooBig));
    assert_eq!(tap.counters().drop_oversize, 1);
    let f = eth(BCAST, TAP_MAC, 0x88b5, &[7; 256 - ETH_HLEN]);
    assert_eq!(tap.write(&f), Ok(256));
    assert_eq!(recv(&mut h), vec![f]);
}

#[test]
fn tap_on_64k_buffers_never_wraps_a_length() {
    let reg = reg(1024, 65536);
    let (tap, mut h) = tap_on(&reg);
    // The slot length is 16 bits: a 65536-byte frame is not representable.
    assert_eq!(tap.set_mtu(65536 - ETH_HLEN as u32), Err(Error::Invalid));
    assert_eq!(tap.set_mtu(65535 - ETH_HLEN as u32), Ok(()));
    assert_eq!(tap.max_write(), 65535);
    let f = vec![0x11u8; 65536];
    assert_eq!(tap.write(&f), Err(Error::TooBig));
    assert!(recv(&mut h).is_empty());
    let f = eth(BCAST, TAP_MAC, 0x88b5, &[7; 65535 - ETH_HLEN]);
    assert_eq!(tap.write(&f), Ok(65535));
    let got = recv(&mut h);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 65535);
}

#[test]
fn tun_on_small_buffers_refuses_packets_over_the_buffer_sent_or_held() {
    let reg = reg(1024, 256);
    let (tun, mut h) = tun_on(&reg);
    assert!(tun.info().mtu as usize + ETH_HLEN <= 256);
    assert_eq!(tun.set_mtu(1500), Err(Error::Invalid));
    // Unresolved peer: the packet would be held.
    let big = icmp_echo(TUN_IP, PEER_IP, 300);
    assert_eq!(tun.write(&big, 0), Err(Error::TooBig));
    assert_eq!(tun.held(), 0);
    // Multicast: sent at once.
    let big = icmp_echo(TUN_IP, [224, 0, 0, 1], 300);
    assert_eq!(tun.write(&big, 0), Err(Error::TooBig));
    assert_eq!(tun.counters().drop_oversize, 2);
    assert!(recv(&mut h).is_empty());
    // The largest that fits is held and later sent whole.
    let fit = icmp_echo(TUN_IP, PEER_IP, 256 - ETH_HLEN - 28);
    assert_eq!(tun.write(&fit, 0), Ok(fit.len()));
    let fit2 = icmp_echo(TUN_IP, PEER_IP, 10);
    assert_eq!(tun.write(&fit2, 0), Ok(fit2.len()));
    assert_eq!(tun.held(), 2);
    let _ = recv(&mut h); // the ARP request
    send(
        &mut h,
        &eth(
            TUN_MAC,
            PEER_MAC,
            0x0806,
            &arp(2, PEER_MAC, PEER_IP, TUN_MAC, TUN_IP),
        ),
    );
    tun.poll(1);
    let got = recv(&mut h);
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0][ETH_HLEN..], &fit[..]);
    assert_eq!(&got[1][ETH_HLEN..], &fit2[..]);
}

#[test]
fn tun_on_64k_buffers_caps_the_mtu_at_the_slot_length() {
    let reg = reg(1024, 65536);
    let (tun, _h) = tun_on(&reg);
    assert_eq!(tun.set_mtu(65536 - ETH_HLEN as u32), Err(Error::Invalid));
    assert_eq!(tun.set_mtu(65535 - ETH_HLEN as u32), Ok(()));
}

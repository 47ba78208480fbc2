//! Tun ports on a real VALE switch, with VALE ports as the Ethernet peers.

mod common;

use common::*;
use std::sync::Arc;
use tuntap::{Error, Mode, TunPort, AF_INET, AF_INET6};

const TUN_MAC: [u8; 6] = [0x02, 0x54, 0, 1, 0, 1];
const TUN_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];

fn setup() -> (netmap::Registry, Arc<TunPort>, netmap::Handle) {
    let reg = registry();
    let tun = TunPort::new(reg.pool(), "tun0", TUN_MAC).unwrap();
    let (sw, a) = attach(&reg, tun.clone());
    tun.link(sw, a);
    let h = peer(&reg, "a");
    tun.open().unwrap();
    tun.set_addr(TUN_IP, 24, Some(PEER_IP)).unwrap();
    tun.set_up(true);
    (reg, tun, h)
}

fn arp_reply_from_peer(h: &mut netmap::Handle) {
    send(
        h,
        &eth(
            TUN_MAC,
            PEER_MAC,
            0x0806,
            &arp(2, PEER_MAC, PEER_IP, TUN_MAC, TUN_IP),
        ),
    );
}

#[test]
fn answers_arp_for_its_address_only() {
    let (_reg, tun, mut h) = setup();
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, PEER_IP, [0; 6], TUN_IP),
        ),
    );
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, PEER_IP, [0; 6], [10, 0, 0, 9]),
        ),
    );
    tun.poll(0);
    let got = recv(&mut h);
    assert_eq!(
        got,
        vec![eth(
            PEER_MAC,
            TUN_MAC,
            0x0806,
            &arp(2, TUN_MAC, TUN_IP, PEER_MAC, PEER_IP)
        )]
    );
    assert_eq!(tun.counters().arp_replies, 1);
    // The request taught the tun the peer's MAC.
    assert!(tun.arp_entries(0).any(|e| e == (PEER_IP, PEER_MAC)));
}

#[test]
fn echo_request_frame_comes_up_as_an_ip_packet_without_padding() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(PEER_IP, TUN_IP, 0); // 28 bytes: the frame gets padded
    let mut payload = pkt.clone();
    payload.resize(46, 0);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &payload));
    tun.poll(0); // the idle loop's input pass (readiness has no side effects)
    assert!(tun.readable());
    assert_eq!(tun.next_len(), 28);
    let mut buf = [0u8; 2048];
    let r = tun.read(&mut buf).unwrap();
    assert_eq!(&buf[..r.copied], &pkt[..]);
    assert_eq!(tun.read(&mut buf), Err(Error::WouldBlock));
    // IFHEAD: the family comes first.
    tun.set_ifhead(true);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    let r = tun.read(&mut buf).unwrap();
    assert_eq!(&buf[..4], &AF_INET.to_be_bytes());
    assert_eq!(&buf[4..r.copied], &pkt[..]);
}

#[test]
fn frames_for_others_non_ip_and_ipv6_without_ifhead_are_dropped_and_counted() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(PEER_IP, TUN_IP, 8);
    send(&mut h, &eth([2, 9, 9, 9, 9, 9], PEER_MAC, 0x0800, &pkt));
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x88b5, &[0; 40]));
    let mut v6 = vec![0u8; 48];
    v6[0] = 0x60;
    v6[5] = 8;
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x86dd, &v6));
    send(
        &mut h,
        &eth(TUN_MAC, PEER_MAC, 0x0800, &[0x45, 0, 0, 200, 0, 0]),
    ); // truncated IP
    tun.poll(0);
    assert!(!tun.readable());
    let c = tun.counters();
    assert_eq!((c.drop_not_for_us, c.drop_af, c.drop_invalid), (1, 2, 1));
    // IPv6 comes up with IFHEAD.
    tun.set_ifhead(true);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x86dd, &v6));
    let mut buf = [0u8; 128];
    let r = tun.read(&mut buf).unwrap();
    assert_eq!(&buf[..4], &AF_INET6.to_be_bytes());
    assert_eq!(r.len, 52);
}

#[test]
fn short_and_malformed_arp_and_ipv4_are_dropped_as_invalid_never_a_panic() {
    let (_reg, tun, mut h) = setup();
    let req = arp(1, PEER_MAC, PEER_IP, [0; 6], TUN_IP);
    // ARP: cut short; protocol length 16 (not Ethernet/IPv4, and longer
    // than the frame); hardware type 6.
    send(&mut h, &eth(BCAST, PEER_MAC, 0x0806, &req[..27]));
    send(&mut h, &eth(BCAST, PEER_MAC, 0x0806, &req[..7]));
    let mut plen = req.clone();
    plen[5] = 16;
    send(&mut h, &eth(BCAST, PEER_MAC, 0x0806, &plen));
    let mut htype = req.clone();
    htype[1] = 6;
    send(&mut h, &eth(BCAST, PEER_MAC, 0x0806, &htype));
    // IPv4: 19 bytes; header length 4 words; header (60 bytes) longer
    // than the total length (40: queued before smoltcp's checked parse);
    // total length past the frame; version 5.
    let pkt = icmp_echo(PEER_IP, TUN_IP, 12); // 40 bytes
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt[..19]));
    for (i, v) in [(0, 0x44), (0, 0x4f), (3, 41), (0, 0x55)] {
        let mut bad = pkt.clone();
        bad[i] = v;
        if i == 0 && v == 0x4f {
            bad.resize(64, 0);
        }
        send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &bad));
    }
    tun.poll(0);
    assert!(!tun.readable());
    assert!(recv(&mut h).is_empty(), "no ARP reply");
    assert_eq!(tun.arp_entries(0).count(), 0);
    let c = tun.counters();
    assert_eq!((c.drop_invalid, c.arp_replies, c.rx_packets), (9, 0, 0));
    // The well-formed ones still pass.
    send(&mut h, &eth(BCAST, PEER_MAC, 0x0806, &req));
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    tun.poll(0);
    assert_eq!(recv(&mut h).len(), 1, "ARP reply");
    assert_eq!(tun.next_len(), pkt.len());
}

#[test]
fn write_to_unresolved_next_hop_arps_then_sends_once_the_reply_arrives() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(TUN_IP, PEER_IP, 16);
    assert_eq!(tun.write(&pkt, 0), Ok(pkt.len()));
    assert_eq!(tun.held(), 1);
    let got = recv(&mut h);
    assert_eq!(
        got,
        vec![eth(
            BCAST,
            TUN_MAC,
            0x0806,
            &arp(1, TUN_MAC, TUN_IP, [0; 6], PEER_IP)
        )]
    );
    // A second packet waits too, no second request yet.
    tun.write(&pkt, 10).unwrap();
    assert!(recv(&mut h).is_empty());
    arp_reply_from_peer(&mut h);
    tun.poll(20);
    let frame = eth(PEER_MAC, TUN_MAC, 0x0800, &pkt);
    assert_eq!(recv(&mut h), vec![frame.clone(), frame.clone()]);
    assert_eq!(tun.held(), 0);
    // Resolved: the next write goes straight out.
    tun.write(&pkt, 30).unwrap();
    assert_eq!(recv(&mut h), vec![frame]);
    let c = tun.counters();
    assert_eq!((c.tx_packets, c.arp_requests), (3, 1));
}

#[test]
fn hold_queue_is_bounded_and_unresolved_packets_time_out() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(TUN_IP, PEER_IP, 0);
    for _ in 0..tuntap::tun::HOLD_PER_ADDR {
        tun.write(&pkt, 0).unwrap();
    }
    assert_eq!(tun.write(&pkt, 0), Err(Error::NoBufs));
    assert_eq!(tun.counters().drop_hold_full, 1);
    recv(&mut h);
    // Retries every second, then gives up.
    tun.poll(tuntap::tun::ARP_RETRY_MS);
    assert_eq!(recv(&mut h).len(), 1, "one retried request");
    tun.poll(tuntap::tun::RESOLVE_TIMEOUT_MS);
    assert_eq!(tun.held(), 0);
    assert_eq!(tun.counters().drop_unresolved, 4);
    // A late reply sends nothing.
    arp_reply_from_peer(&mut h);
    tun.poll(tuntap::tun::RESOLVE_TIMEOUT_MS + 1);
    assert!(recv(&mut h).is_empty());
}

#[test]
fn arp_cache_expires() {
    let (_reg, tun, mut h) = setup();
    tun.set_arp_ttl(1000);
    let pkt = icmp_echo(TUN_IP, PEER_IP, 0);
    tun.write(&pkt, 0).unwrap();
    recv(&mut h);
    arp_reply_from_peer(&mut h);
    tun.poll(0);
    assert_eq!(recv(&mut h).len(), 1);
    tun.write(&pkt, 999).unwrap();
    assert_eq!(recv(&mut h)[0][12..14], [8, 0]);
    // Expired: ARP again.
    tun.write(&pkt, 1000).unwrap();
    assert_eq!(recv(&mut h)[0][12..14], [8, 6]);
}

#[test]
fn broadcast_mode_on_link_direct_off_link_via_gateway() {
    let (_reg, tun, mut h) = setup();
    assert_eq!(tun.set_mode(Mode::Broadcast), Err(Error::Busy));
    tun.set_up(false);
    tun.set_mode(Mode::Broadcast).unwrap();
    tun.set_up(true);
    let off = icmp_echo(TUN_IP, [192, 168, 1, 1], 0);
    assert_eq!(tun.write(&off, 0), Err(Error::HostUnreach));
    tun.set_gateway(Some([10, 0, 0, 254]));
    tun.write(&off, 0).unwrap();
    let on = icmp_echo(TUN_IP, [10, 0, 0, 7], 0);
    tun.write(&on, 0).unwrap();
    let got = recv(&mut h);
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0][38..42], &[10, 0, 0, 254], "ARP for the gateway");
    assert_eq!(
        &got[1][38..42],
        &[10, 0, 0, 7],
        "ARP for the on-link destination"
    );
    // Subnet and limited broadcast go out at once.
    tun.write(&icmp_echo(TUN_IP, [10, 0, 0, 255], 0), 0)
        .unwrap();
    tun.write(&icmp_echo(TUN_IP, [255, 255, 255, 255], 0), 0)
        .unwrap();
    let got = recv(&mut h);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|f| f[0..6] == BCAST && f[12..14] == [8, 0]));
    assert_eq!(tun.counters().drop_no_route, 1);
}

#[test]
fn write_errors() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(TUN_IP, PEER_IP, 0);
    assert_eq!(tun.write(&[], 0), Ok(0));
    let mut v6 = vec![0u8; 48];
    v6[0] = 0x60;
    v6[24] = 0xff;
    assert_eq!(tun.write(&v6, 0), Err(Error::AfNoSupport));
    assert_eq!(tun.write(&[0x55; 40], 0), Err(Error::Invalid));
    assert_eq!(tun.write(&pkt[..12], 0), Err(Error::Invalid));
    let mut big = icmp_echo(TUN_IP, PEER_IP, 1500 - 28 + 1);
    assert_eq!(tun.write(&big, 0), Err(Error::TooBig));
    big.truncate(1500);
    tun.set_mtu(1400).unwrap();
    assert_eq!(tun.write(&big, 0), Err(Error::TooBig));
    assert_eq!(tun.set_mtu(2040), Err(Error::Invalid));
    // IFHEAD: family checked and matched against the version.
    tun.set_ifhead(true);
    let mut hdr = AF_INET6.to_be_bytes().to_vec();
    hdr.extend_from_slice(&pkt);
    assert_eq!(tun.write(&hdr, 0), Err(Error::Invalid));
    let mut hdr = 10u32.to_be_bytes().to_vec();
    hdr.extend_from_slice(&v6);
    assert_eq!(tun.write(&hdr, 0), Err(Error::AfNoSupport));
    assert_eq!(tun.write(&[0, 0], 0), Err(Error::Invalid));
    let mut hdr = AF_INET6.to_be_bytes().to_vec();
    hdr.extend_from_slice(&v6);
    assert_eq!(
        tun.write(&hdr, 0),
        Ok(52),
        "IPv6 multicast goes out with IFHEAD"
    );
    assert_eq!(recv(&mut h)[0][0..2], [0x33, 0x33]);
    v6[24] = 0x20;
    let mut hdr = AF_INET6.to_be_bytes().to_vec();
    hdr.extend_from_slice(&v6);
    assert_eq!(tun.write(&hdr, 0), Err(Error::HostUnreach));
    tun.set_ifhead(false);
    // Point-to-point without a peer.
    let reg = registry();
    let lone = TunPort::new(reg.pool(), "tun1", TUN_MAC).unwrap();
    lone.open().unwrap();
    lone.set_up(true);
    assert_eq!(lone.write(&pkt, 0), Err(Error::HostUnreach), "no address");
    lone.set_addr(TUN_IP, 32, None).unwrap();
    assert_eq!(lone.write(&pkt, 0), Err(Error::HostUnreach), "no peer");
    lone.set_addr(TUN_IP, 32, Some(PEER_IP)).unwrap();
    assert_eq!(lone.write(&pkt, 0), Err(Error::NetDown), "not attached");
    // Down.
    tun.set_up(false);
    assert_eq!(tun.write(&pkt, 0), Err(Error::HostDown));
    assert_eq!(tun.read(&mut [0; 64]), Err(Error::HostDown));
    let c = tun.counters();
    assert_eq!(c.drop_down, 1);
    assert_eq!(c.drop_af, 2);
    assert_eq!(c.drop_oversize, 2);
}

#[test]
fn going_down_flushes_and_frames_while_down_are_dropped() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(PEER_IP, TUN_IP, 0);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    tun.poll(0);
    tun.set_up(false);
    assert_eq!(tun.counters().drop_down, 1);
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
    assert!(recv(&mut h).is_empty(), "no ARP reply while down");
    assert_eq!(tun.counters().drop_down, 2);
    tun.set_up(true);
    assert_eq!(tun.read(&mut [0; 64]), Err(Error::WouldBlock));
}

#[test]
fn short_reads_truncate_and_zero_length_reads_peek() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(PEER_IP, TUN_IP, 40);
    send(&mut h, &eth(TUN_MAC, PEER_MAC, 0x0800, &pkt));
    let r = tun.read(&mut []).unwrap();
    assert_eq!((r.len, r.copied), (pkt.len(), 0));
    let mut b = [0u8; 10];
    let r = tun.read(&mut b).unwrap();
    assert_eq!((r.len, r.copied, r.truncated), (pkt.len(), 10, true));
    assert_eq!(&b, &pkt[..10]);
    assert_eq!(tun.read(&mut b), Err(Error::WouldBlock));
    assert_eq!(
        tun.read_wait(&mut b, &mut spin_wait(2)),
        Err(Error::TimedOut)
    );
}

/// Issue 12 #5: IPv4 multicast sent by the tun is received by it too.
#[test]
fn received_ipv4_multicast_is_queued_for_the_reader() {
    let (_reg, tun, mut h) = setup();
    let group = [224, 0, 0, 251];
    let pkt = icmp_echo(PEER_IP, group, 8);
    send(
        &mut h,
        &eth([0x01, 0, 0x5e, 0, 0, 251], PEER_MAC, 0x0800, &pkt),
    );
    // A multicast MAC carrying a unicast IP destination is not for us.
    let uni = icmp_echo(PEER_IP, TUN_IP, 8);
    send(
        &mut h,
        &eth([0x01, 0, 0x5e, 0, 0, 251], PEER_MAC, 0x0800, &uni),
    );
    tun.poll(0);
    let mut buf = [0u8; 2048];
    let r = tun.read(&mut buf).unwrap();
    assert_eq!(&buf[..r.copied], &pkt[..]);
    assert_eq!(tun.read(&mut buf), Err(Error::WouldBlock));
    assert_eq!(tun.counters().drop_not_for_us, 1);
}

/// Issue 12 #5: an ARP probe (sender 0.0.0.0) is not cached, but one for
/// our address is answered (RFC 5227), to the prober's MAC.
#[test]
fn arp_probe_is_answered_but_not_cached() {
    let (_reg, tun, mut h) = setup();
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, [0; 4], [0; 6], TUN_IP),
        ),
    );
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, [0; 4], [0; 6], [10, 0, 0, 9]),
        ),
    );
    tun.poll(0);
    assert_eq!(tun.arp_entries(0).count(), 0, "probe cached");
    let got = recv(&mut h);
    assert_eq!(
        got,
        vec![eth(
            PEER_MAC,
            TUN_MAC,
            0x0806,
            &arp(2, TUN_MAC, TUN_IP, PEER_MAC, [0; 4])
        )]
    );
    assert_eq!(tun.counters().arp_replies, 1);
}

/// Issue 12 #5: readable() and FIONREAD (next_len) have no side effects:
/// no ARP reply, no ARP retry; poll (the idle loop) and read do that.
#[test]
fn readiness_sends_nothing() {
    let (_reg, tun, mut h) = setup();
    let pkt = icmp_echo(TUN_IP, PEER_IP, 8);
    tun.write(&pkt, 0).unwrap();
    assert_eq!(recv(&mut h).len(), 1, "first ARP request");
    tun.write(&pkt, 2_000).unwrap(); // held; the retry is due
    send(
        &mut h,
        &eth(
            BCAST,
            PEER_MAC,
            0x0806,
            &arp(1, PEER_MAC, PEER_IP, [0; 6], TUN_IP),
        ),
    );
    assert!(!tun.readable());
    assert_eq!(tun.next_len(), 0);
    assert!(recv(&mut h).is_empty(), "readiness sent a frame");
    let c = tun.counters();
    assert_eq!((c.arp_requests, c.arp_replies), (1, 0));
    // The idle loop's poll does it (the request resolves the peer, which
    // releases both held packets).
    tun.poll(2_000);
    assert_eq!(recv(&mut h).len(), 3);
    let c = tun.counters();
    assert_eq!((c.arp_replies, c.tx_packets), (1, 2));
}

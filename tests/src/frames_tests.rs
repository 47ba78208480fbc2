//! Byte-level checks of the frame builders (frames.rs; kept apart because
//! kernel/tuntap's host tests compile frames.rs too).

use crate::frames::*;

#[test]
fn arp_request_bytes() {
    let f = eth(
        [0xff; 6],
        [2, 0, 0, 0, 0, 1],
        ETHERTYPE_ARP,
        &arp(
            ARP_REQUEST,
            [2, 0, 0, 0, 0, 1],
            [10, 0, 0, 1],
            [0; 6],
            [10, 0, 0, 2],
        ),
    );
    let mut want = vec![0xff; 6];
    want.extend_from_slice(&[2, 0, 0, 0, 0, 1, 8, 6]);
    want.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    want.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    assert_eq!(f, want);
}

#[test]
fn ipv4_icmp_and_udp_bytes_and_checksums() {
    let icmp = icmp_echo(ICMP_ECHO_REQUEST, 0x4242, 7, &[1, 2, 3]);
    assert_eq!(icmp[..8], [8, 0, icmp[2], icmp[3], 0x42, 0x42, 0, 7]);
    assert_eq!(checksum(&icmp), 0);
    let p = ipv4(PROTO_ICMP, [10, 0, 0, 1], [10, 0, 0, 2], &icmp);
    assert_eq!(
        p[..20],
        [0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 1, p[10], p[11], 10, 0, 0, 1, 10, 0, 0, 2]
    );
    assert_eq!(checksum(&p[..20]), 0);
    assert_eq!(&p[20..], &icmp[..]);
    let u = udp([10, 0, 0, 1], [10, 0, 0, 2], 40000, 7, b"abc");
    assert_eq!(u[..6], [0x9c, 0x40, 0, 7, 0, 11]);
    let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 11];
    pseudo.extend_from_slice(&u);
    assert_eq!(checksum(&pseudo), 0);
}

//! Ethernet, ARP, IPv4, ICMP echo and UDP frames for the tests, built with
//! `smoltcp::wire` (the one copy of these builders; checksums filled in).
//!
//! ```
//! use integration::frames::{arp, eth, icmp_echo, ipv4, ARP_REQUEST, ETHERTYPE_ARP};
//! let req = eth([0xff; 6], [2, 0, 0, 0, 0, 1], ETHERTYPE_ARP,
//!     &arp(ARP_REQUEST, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [0; 6], [10, 0, 0, 2]));
//! assert_eq!(req.len(), 42);
//! let ping = ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &icmp_echo(8, 0x4242, 1, b"hi"));
//! assert_eq!(integration::frames::checksum(&ping[..20]), 0);
//! ```
//!
//! The file needs only `std` and smoltcp (features `medium-ethernet`,
//! `proto-ipv4`), so kernel/tuntap's host tests compile it too, by path
//! (kernel/tuntap/tests/common/mod.rs), rather than keep their own copy.

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, UdpPacket,
    IPV4_HEADER_LEN,
};

/// IPv4 ethertype.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// ARP ethertype.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// ICMP type: echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP type: echo reply.
pub const ICMP_ECHO_REPLY: u8 = 0;
/// The TTL of the IPv4 packets built here.
pub const TTL: u8 = 64;

/// An Ethernet II frame: header, then `payload` (no padding added).
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0; EthernetFrame::<&[u8]>::buffer_len(payload.len())];
    let mut frame = EthernetFrame::new_unchecked(&mut f[..]);
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype: EthernetProtocol::from(ethertype),
    }
    .emit(&mut frame);
    frame.payload_mut().copy_from_slice(payload);
    f
}

/// An Ethernet/IPv4 ARP packet (28 bytes, without the Ethernet header) of
/// operation `op` ([`ARP_REQUEST`], [`ARP_REPLY`], or any other number).
pub fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::from(op),
        source_hardware_addr: EthernetAddress(sha),
        source_protocol_addr: Ipv4Address::from(spa),
        target_hardware_addr: EthernetAddress(tha),
        target_protocol_addr: Ipv4Address::from(tpa),
    };
    let mut p = vec![0; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut p[..]));
    p
}

/// An IPv4 packet: a 20-byte header (identification 0, don't fragment,
/// TTL [`TTL`], checksum filled in), then `payload`.
pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = IPV4_HEADER_LEN + payload.len();
    let mut p = vec![0; total];
    let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
    ip.set_version(4);
    ip.set_header_len(IPV4_HEADER_LEN as u8);
    ip.set_total_len(u16::try_from(total).expect("an IPv4 packet holds 64 KiB"));
    ip.set_dont_frag(true);
    ip.set_hop_limit(TTL);
    ip.set_next_header(IpProtocol::from(proto));
    ip.set_src_addr(Ipv4Address::from(src));
    ip.set_dst_addr(Ipv4Address::from(dst));
    ip.fill_checksum();
    ip.payload_mut().copy_from_slice(payload);
    p
}

/// An ICMP echo message (without IP header) of type `kind`
/// ([`ICMP_ECHO_REQUEST`] or [`ICMP_ECHO_REPLY`]), code 0, checksum filled in.
pub fn icmp_echo(kind: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0; 8 + data.len()];
    let mut icmp = Icmpv4Packet::new_unchecked(&mut p[..]);
    icmp.set_msg_type(kind.into());
    icmp.set_msg_code(0);
    icmp.set_echo_ident(id);
    icmp.set_echo_seq_no(seq);
    icmp.data_mut().copy_from_slice(data);
    icmp.fill_checksum();
    p
}

/// A UDP datagram (without IP header) from `src`:`sport` to
/// `dst`:`dport`, checksum over the IPv4 pseudo-header filled in.
pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0; 8 + data.len()];
    let mut u = UdpPacket::new_unchecked(&mut p[..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len(u16::try_from(8 + data.len()).expect("a UDP datagram holds 64 KiB"));
    u.payload_mut().copy_from_slice(data);
    u.fill_checksum(
        &IpAddress::Ipv4(Ipv4Address::from(src)),
        &IpAddress::Ipv4(Ipv4Address::from(dst)),
    );
    p
}

/// The Internet checksum (RFC 1071) of `data`: 0 over a header or message
/// whose checksum field is right.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

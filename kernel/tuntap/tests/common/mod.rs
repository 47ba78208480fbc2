//! Helpers: a pool, a registry with switch `vale0`, VALE peers.
#![allow(dead_code)]

use std::sync::Arc;

use netmap::{BufferPool, Handle, Port, Registry};

pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
pub const BCAST: [u8; 6] = [0xff; 6];

pub fn registry() -> Registry {
    Registry::new(BufferPool::on_heap(8192, 2048).unwrap())
}

/// Registers `port` and attaches it to `vale0`; returns the attachment's switch.
pub fn attach(
    reg: &Registry,
    port: Arc<dyn Port>,
) -> (Arc<netmap::Switch>, netmap::vale::Attachment) {
    let name = port.name().to_string();
    reg.register(port).unwrap();
    reg.attach("vale0", &name).unwrap()
}

/// A VALE port `vale0:NAME` opened as an application.
pub fn peer(reg: &Registry, name: &str) -> Handle {
    reg.open(&format!("vale0:{name}")).unwrap()
}

pub fn send(h: &mut Handle, f: &[u8]) {
    let ring = h.tx_ring(0).unwrap();
    let i = ring.head;
    ring.write_frame(i, f).unwrap();
    ring.slot[i as usize].flags = 0;
    ring.advance(1);
    h.txsync(0).unwrap();
}

pub fn recv(h: &mut Handle) -> Vec<Vec<u8>> {
    h.rxsync(0).unwrap();
    let ring = h.rx_ring(0).unwrap();
    let mut out = Vec::new();
    while ring.head != ring.tail {
        out.push(ring.frame(ring.head).unwrap().to_vec());
        ring.advance(1);
    }
    h.rxsync(0).unwrap();
    out
}

/// The integration tests' frame builders (smoltcp::wire), compiled here
/// by path: one copy of eth/arp/ipv4/icmp_echo for both test suites.
#[path = "../../../../tests/src/frames.rs"]
pub mod frames;

#[allow(unused_imports)] // tap.rs uses only eth
pub use frames::{arp, eth};

/// An IPv4 ICMP echo request (identifier 0x1234, sequence 1, checksums
/// filled in) of `extra` payload bytes `0, 1, 2, ...`.
pub fn icmp_echo(src: [u8; 4], dst: [u8; 4], extra: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..extra).map(|i| i as u8).collect();
    let icmp = frames::icmp_echo(frames::ICMP_ECHO_REQUEST, 0x1234, 1, &data);
    frames::ipv4(frames::PROTO_ICMP, src, dst, &icmp)
}

/// A wait function that checks readiness a few times and gives up.
pub fn spin_wait(tries: usize) -> impl FnMut(&mut dyn FnMut() -> bool) -> bool {
    move |ready| (0..tries).any(|_| ready())
}

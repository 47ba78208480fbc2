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

pub fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa);
    p
}

/// An IPv4 ICMP echo request (checksums filled in) of `extra` payload bytes.
pub fn icmp_echo(src: [u8; 4], dst: [u8; 4], extra: usize) -> Vec<u8> {
    let total = 20 + 8 + extra;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = csum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8;
    p[24..28].copy_from_slice(&[0x12, 0x34, 0, 1]);
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = csum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

pub fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A wait function that checks readiness a few times and gives up.
pub fn spin_wait(tries: usize) -> impl FnMut(&mut dyn FnMut() -> bool) -> bool {
    move |ready| (0..tries).any(|_| ready())
}

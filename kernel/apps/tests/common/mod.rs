//! Shared by the apps' host tests: a registry on a heap pool, frames, and
//! the conservation audit.
#![allow(dead_code)]

use std::sync::Arc;

use netmap::mem::BufferPool;
use netmap::{Handle, Registry};
use netmap_apps::App;

/// Buffers in the test pool (reserved ones included).
pub const NBUFS: u32 = 16384;
pub const BUF_SIZE: usize = 2048;

pub fn registry() -> Registry {
    Registry::new(BufferPool::on_heap(NBUFS, BUF_SIZE).unwrap())
}

pub fn pool(reg: &Registry) -> &Arc<BufferPool> {
    reg.pool()
}

/// An Ethernet frame of `len` bytes from `src` to `dst`, `seq` in the
/// payload.
pub fn frame(dst: [u8; 6], src: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(len.max(18), 0xa5);
    f.truncate(len);
    f
}

pub fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

/// Send `frames` on ring 0 of `h` (as many as fit), then txsync.
pub fn send(h: &mut Handle, frames: &[Vec<u8>]) -> usize {
    let r = h.tx_ring(0).unwrap();
    let mut n = 0;
    for f in frames {
        if r.space() == 0 {
            break;
        }
        let i = r.cur;
        r.write_frame(i, f).unwrap();
        r.advance(1);
        n += 1;
    }
    h.txsync(0).unwrap();
    n
}

/// Everything ring 0 of `h` has received, released.
pub fn recv(h: &mut Handle) -> Vec<Vec<u8>> {
    h.rxsync(0).unwrap();
    let r = h.rx_ring(0).unwrap();
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.frame(r.cur).unwrap().to_vec());
        r.advance(1);
    }
    h.rxsync(0).unwrap();
    out
}

/// Every buffer free or owned exactly once: by the registry's krings, the
/// test's handles or the apps' handles.
pub fn audit(reg: &Registry, handles: &[&Handle], apps: &[&dyn App]) {
    let mut all: Vec<&Handle> = handles.to_vec();
    for a in apps {
        all.extend(a.handles());
    }
    reg.audit(&all).unwrap();
}

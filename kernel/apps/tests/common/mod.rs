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

/// A registry on a pool of `nbufs` buffers (a pipe takes 4096 by default).
pub fn registry_with(nbufs: u32) -> Registry {
    Registry::new(BufferPool::on_heap(nbufs, BUF_SIZE).unwrap())
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

/// One received slot: its bytes, flags and buffer index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rx {
    pub data: Vec<u8>,
    pub flags: u16,
    pub buf_idx: u32,
}

/// Send `frags` as one chain on ring 0 of `h` (`NS_MOREFRAG` on all but
/// the last), then txsync; returns the buffer indices sent, or `None` (and
/// only txsyncs) when the chain does not fit.
pub fn send_chain(h: &mut Handle, frags: &[Vec<u8>]) -> Option<Vec<u32>> {
    let r = h.tx_ring(0).unwrap();
    if (r.space() as usize) < frags.len() {
        h.txsync(0).unwrap();
        return None;
    }
    let mut idx = Vec::new();
    for (k, f) in frags.iter().enumerate() {
        let i = r.cur;
        r.write_frame(i, f).unwrap();
        if k + 1 < frags.len() {
            r.slot[i as usize].flags |= netmap::NS_MOREFRAG;
        } else {
            r.slot[i as usize].flags &= !netmap::NS_MOREFRAG;
        }
        idx.push(r.slot[i as usize].buf_idx());
        r.advance(1);
    }
    h.txsync(0).unwrap();
    Some(idx)
}

/// Every slot ring `ring` of `h` has received, released.
pub fn recv_slots(h: &mut Handle, ring: usize) -> Vec<Rx> {
    h.rxsync(ring).unwrap();
    let r = h.rx_ring(ring).unwrap();
    let mut out = Vec::new();
    while !r.is_empty() {
        let i = r.cur;
        out.push(Rx {
            data: r.frame(i).unwrap().to_vec(),
            flags: r.slot[i as usize].flags,
            buf_idx: r.slot[i as usize].buf_idx(),
        });
        r.advance(1);
    }
    h.rxsync(ring).unwrap();
    out
}

/// An app's status line.
pub fn status(app: &dyn App) -> String {
    let mut s = String::new();
    app.status(&mut s).unwrap();
    s
}

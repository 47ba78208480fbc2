//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use netmap::{BufferPool, Dir, Handle, Kring, Port, SyncError};

/// A pool of `n` buffers of 2048 bytes.
pub fn pool(n: u32) -> Arc<BufferPool> {
    BufferPool::on_heap(n, 2048).unwrap()
}

/// A port with the simplest possible device behind it: txsync consumes and
/// reclaims every pending slot at once (like a NIC that sends instantly),
/// frames for its rx rings are injected by the test.
pub struct SinkPort {
    pub tx: Box<[Kring]>,
    pub rx: Box<[Kring]>,
    pub sent: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl SinkPort {
    pub fn new(pool: &Arc<BufferPool>, rings: u16, slots: u32) -> Arc<Self> {
        Arc::new(SinkPort {
            tx: Kring::new_set(pool, Dir::Tx, rings, slots).unwrap(),
            rx: Kring::new_set(pool, Dir::Rx, rings, slots).unwrap(),
            sent: Default::default(),
        })
    }

    /// Device-side reception: copies frames into free slots of rx ring `r`.
    pub fn inject<F: AsRef<[u8]>>(&self, r: usize, frames: &[F]) -> usize {
        let mut k = self.rx[r].lock();
        let mut n = 0;
        for f in frames {
            let f = f.as_ref();
            if k.rx_direct_space() == 0 {
                break;
            }
            let j = k.hwtail() as usize;
            k.slots.buf_mut(j).unwrap()[..f.len()].copy_from_slice(f);
            k.slots.set_len(j, f.len() as u16).unwrap();
            k.slots.set_flags(j, 0);
            k.rx_publish_direct(1, 1, f.len() as u64);
            n += 1;
        }
        n
    }
}

impl Port for SinkPort {
    fn name(&self) -> &str {
        "sink"
    }
    fn krings(&self, dir: Dir) -> &[Kring] {
        match dir {
            Dir::Tx => &self.tx,
            Dir::Rx => &self.rx,
        }
    }
    fn max_frame(&self) -> usize {
        2048
    }
    fn txsync(&self, r: usize) -> Result<(), SyncError> {
        let mut k = self.tx[r].lock();
        while k.tx_pending() > 0 {
            let i = k.hwcur() as usize;
            let f = k.slots.frame(i).unwrap().to_vec();
            k.stats.packets += 1;
            k.stats.bytes += f.len() as u64;
            self.sent.lock().unwrap().push(f);
            k.tx_consume(1);
        }
        k.tx_reclaim(u32::MAX);
        Ok(())
    }
    fn rxsync(&self, r: usize) -> Result<(), SyncError> {
        self.rx[r].lock().rx_take_released();
        Ok(())
    }
}

/// An Ethernet frame of `len` bytes from `src` to `dst`, payload `fill`.
pub fn frame(dst: [u8; 6], src: [u8; 6], len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    if len >= 14 {
        f[12] = 0x08;
        f[13] = 0x00;
    }
    f
}

pub fn mac(last: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, last]
}

pub const BCAST: [u8; 6] = [0xff; 6];

/// Writes `frames` into tx ring `r` from `head` on, advances head/cur and
/// txsyncs. Returns how many fit.
pub fn send(h: &mut Handle, r: usize, frames: &[Vec<u8>]) -> usize {
    let ring = h.tx_ring(r).unwrap();
    let mut n = 0;
    for f in frames {
        if ring.space() == 0 {
            break;
        }
        let i = ring.head;
        ring.write_frame(i, f).unwrap();
        ring.slot[i as usize].flags = 0;
        ring.advance(1);
        n += 1;
    }
    h.txsync(r).unwrap();
    n
}

/// rxsyncs ring `r`, takes every frame reported, releases them and
/// rxsyncs again so the slots go back to the port.
pub fn recv(h: &mut Handle, r: usize) -> Vec<Vec<u8>> {
    h.rxsync(r).unwrap();
    let ring = h.rx_ring(r).unwrap();
    let mut out = Vec::new();
    while ring.head != ring.tail {
        out.push(ring.frame(ring.head).unwrap().to_vec());
        ring.advance(1);
    }
    h.rxsync(r).unwrap();
    out
}

/// Conservation over the given ports and handles.
pub fn audit(pool: &BufferPool, ports: &[&dyn Port], handles: &[&Handle]) {
    netmap::port::audit(pool, ports.iter().copied(), handles.iter().copied()).unwrap();
}

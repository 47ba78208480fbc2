//! A guest driver model that plays QEMU and the guest against a vhost-user
//! backend, in-process: shared memory from a memfd, the vhost crate's
//! frontend for the protocol, and the driver side of both queues written
//! through vm-memory. Host tests drive the real backend through it (frames
//! both ways, hostile rings, reconnects) without booting anything, and
//! the benchmark measures the generator against a driver that recycles
//! buffers as fast as it can (the generator's own ceiling).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::sync::atomic::Ordering;

use vhost::vhost_user::message::VhostUserProtocolFeatures;
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vm_memory::{Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::backend::{RX_QUEUE, TX_QUEUE};
use super::port::NET_HDR_LEN;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
/// Guest memory of the model per queue pair (a one-pair guest has this
/// much; pair k's rings and buffers sit in the k-th such block).
pub const RAM: usize = 16 << 20;
/// Bytes per buffer.
pub const BUF: u64 = 2048;

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The driver side of one split queue.
pub struct DriverQueue {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    bufs: u64,
    /// Next free-running avail index to publish.
    pub avail_idx: u16,
    /// Used elements consumed so far.
    pub last_used: u16,
    /// Descriptors the device holds (TX: buffers in flight).
    pub in_flight: u16,
    pub kick: EventFd,
    pub call: EventFd,
}

impl DriverQueue {
    fn new(q: usize, size: u16) -> io::Result<Self> {
        let block = (q / 2) as u64 * RAM as u64;
        let (q, base) = (q % 2, 0x10_0000 * (q as u64 % 2 + 1) + block);
        Ok(Self {
            size,
            desc: base,
            avail: base + 0x4000,
            used: base + 0x8000,
            bufs: block + 0x40_0000 + (q as u64) * 0x40_0000,
            avail_idx: 0,
            last_used: 0,
            in_flight: 0,
            kick: EventFd::new(EFD_NONBLOCK)?,
            call: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// The buffer of descriptor `i`.
    pub fn buf(&self, i: u16) -> u64 {
        self.bufs + i as u64 * BUF
    }
}

/// A connected guest: memory, the frontend, the queues (pair k's receive
/// queue is `q[2k]`, its transmit queue `q[2k + 1]`).
pub struct GuestModel {
    pub mem: GuestMemoryMmap<()>,
    pub frontend: Frontend,
    pub q: Vec<DriverQueue>,
    pub features: u64,
    /// Per pair: transmit descriptor pairs not in flight.
    tx_free: Vec<std::collections::VecDeque<u16>>,
}

impl GuestModel {
    /// Connect to the backend at `path` and set up both queues of `size`
    /// entries (as QEMU does when the guest's driver starts), with the
    /// features the backend offers.
    pub fn connect(path: &Path, size: u16) -> io::Result<Self> {
        Self::connect_pairs(path, size, 1)
    }

    /// [`Self::connect`] with `pairs` queue pairs, every one set up and
    /// enabled (as QEMU does once the guest asked for them all).
    pub fn connect_pairs(path: &Path, size: u16, pairs: usize) -> io::Result<Self> {
        let ram = RAM * pairs;
        // SAFETY: memfd_create with a valid C string; the new descriptor is
        // owned by the File right after.
        let fd = unsafe { libc::memfd_create(c"nm-guest-model".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(ram as u64)?;
        let mem = GuestMemoryMmap::<()>::from_ranges_with_files([(
            GuestAddress(0),
            ram,
            Some(FileOffset::new(file.try_clone()?, 0)),
        )])
        .map_err(err)?;
        let mut frontend = Frontend::connect(path, 2 * pairs as u64).map_err(err)?;
        frontend.set_owner().map_err(err)?;
        let features = frontend.get_features().map_err(err)?;
        frontend.set_features(features).map_err(err)?;
        let proto = frontend.get_protocol_features().map_err(err)?;
        frontend
            .set_protocol_features(proto & VhostUserProtocolFeatures::MQ)
            .map_err(err)?;
        // Ring addresses go over the wire as the frontend's own virtual
        // addresses (QEMU's), which the backend maps back through the table.
        let va = mem.iter().next().expect("one region").as_ptr() as u64;
        frontend
            .set_mem_table(&[VhostUserMemoryRegionInfo {
                guest_phys_addr: 0,
                memory_size: ram as u64,
                userspace_addr: va,
                mmap_offset: 0,
                mmap_handle: file.as_raw_fd(),
            }])
            .map_err(err)?;
        let q = (0..2 * pairs)
            .map(|i| DriverQueue::new(i, size))
            .collect::<io::Result<Vec<_>>>()?;
        for (i, dq) in q.iter().enumerate() {
            frontend.set_vring_num(i, dq.size).map_err(err)?;
            frontend
                .set_vring_addr(
                    i,
                    &VringConfigData {
                        queue_max_size: dq.size,
                        queue_size: dq.size,
                        flags: 0,
                        desc_table_addr: va + dq.desc,
                        used_ring_addr: va + dq.used,
                        avail_ring_addr: va + dq.avail,
                        log_addr: None,
                    },
                )
                .map_err(err)?;
            frontend.set_vring_base(i, 0).map_err(err)?;
            frontend.set_vring_call(i, &dq.call).map_err(err)?;
            frontend.set_vring_kick(i, &dq.kick).map_err(err)?;
        }
        for i in 0..2 * pairs {
            frontend.set_vring_enable(i, true).map_err(err)?;
        }
        drop(file); // the mapping and the backend keep the memory
        let tx_free = (0..pairs).map(|_| (0..size / 2).collect()).collect();
        Ok(Self {
            mem,
            frontend,
            q,
            features,
            tx_free,
        })
    }

    pub fn write_desc(&self, q: usize, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = self.q[q].desc + 16 * i as u64;
        self.mem.write_obj(addr, GuestAddress(at)).unwrap();
        self.mem.write_obj(len, GuestAddress(at + 8)).unwrap();
        self.mem.write_obj(flags, GuestAddress(at + 12)).unwrap();
        self.mem.write_obj(next, GuestAddress(at + 14)).unwrap();
    }

    /// Put `head` in the next available slot (not published).
    pub fn push_avail(&mut self, q: usize, head: u16) {
        let dq = &mut self.q[q];
        let slot = (dq.avail_idx % dq.size) as u64;
        self.mem
            .write_obj(head, GuestAddress(dq.avail + 4 + 2 * slot))
            .unwrap();
        dq.avail_idx = dq.avail_idx.wrapping_add(1);
        dq.in_flight += 1;
    }

    /// Kick as a driver with EVENT_IDX does: only when the entries made
    /// available since `old` cross the device's `avail_event`.
    fn kick_if_asked(&self, q: usize, old: u16) {
        let dq = &self.q[q];
        std::sync::atomic::fence(Ordering::SeqCst);
        let event: u16 = self
            .mem
            .load(
                GuestAddress(dq.used + 4 + 8 * dq.size as u64),
                Ordering::Relaxed,
            )
            .unwrap();
        let new = dq.avail_idx;
        if new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old) {
            let _ = dq.kick.write(1);
        }
    }

    /// Publish the avail index and kick.
    pub fn publish(&mut self, q: usize) {
        let dq = &self.q[q];
        self.mem
            .store(dq.avail_idx, GuestAddress(dq.avail + 2), Ordering::Release)
            .unwrap();
        let _ = dq.kick.write(1);
    }

    /// Write an arbitrary avail index (a hostile driver).
    pub fn set_avail_idx(&mut self, q: usize, idx: u16) {
        self.mem
            .store(idx, GuestAddress(self.q[q].avail + 2), Ordering::Release)
            .unwrap();
        let _ = self.q[q].kick.write(1);
    }

    /// Used elements the device returned since the last call: `(id, len)`.
    pub fn take_used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let dq = &mut self.q[q];
        let idx: u16 = self
            .mem
            .load(GuestAddress(dq.used + 2), Ordering::Acquire)
            .unwrap();
        let mut out = Vec::new();
        while dq.last_used != idx {
            let at = dq.used + 4 + 8 * (dq.last_used % dq.size) as u64;
            let id: u32 = self.mem.read_obj(GuestAddress(at)).unwrap();
            let len: u32 = self.mem.read_obj(GuestAddress(at + 4)).unwrap();
            out.push((id, len));
            dq.last_used = dq.last_used.wrapping_add(1);
            dq.in_flight -= 1;
        }
        out
    }

    /// Queue pairs set up.
    pub fn pairs(&self) -> usize {
        self.q.len() / 2
    }

    /// Give the device every receive buffer (one descriptor each).
    pub fn post_rx_all(&mut self) {
        self.post_rx_all_on(0)
    }

    /// [`Self::post_rx_all`] on pair `pair`'s receive queue.
    pub fn post_rx_all_on(&mut self, pair: usize) {
        let q = 2 * pair + RX_QUEUE;
        for i in 0..self.q[q].size {
            let buf = self.q[q].buf(i);
            self.write_desc(q, i, buf, BUF as u32, DESC_F_WRITE, 0);
            self.push_avail(q, i);
        }
        self.publish(q);
    }

    /// Switch pair `pair`'s two queues on or off (`SET_VRING_ENABLE`).
    pub fn enable_pair(&mut self, pair: usize, on: bool) -> io::Result<()> {
        for q in [2 * pair + RX_QUEUE, 2 * pair + TX_QUEUE] {
            self.frontend.set_vring_enable(q, on).map_err(err)?;
        }
        Ok(())
    }

    /// Post every receive buffer the device filled again, without looking
    /// at it (a guest that drops everything); returns how many. No
    /// allocation: the generator's benchmark runs this in a loop.
    pub fn recycle_rx(&mut self) -> usize {
        let dq = &self.q[RX_QUEUE];
        let idx: u16 = self
            .mem
            .load(GuestAddress(dq.used + 2), Ordering::Acquire)
            .unwrap();
        let n = idx.wrapping_sub(dq.last_used);
        for k in 0..n {
            let dq = &self.q[RX_QUEUE];
            let at = dq.used + 4 + 8 * (dq.last_used.wrapping_add(k) % dq.size) as u64;
            let id: u32 = self.mem.read_obj(GuestAddress(at)).unwrap();
            let slot = (dq.avail_idx.wrapping_add(k) % dq.size) as u64;
            self.mem
                .write_obj(id as u16, GuestAddress(dq.avail + 4 + 2 * slot))
                .unwrap();
        }
        if n > 0 {
            let dq = &mut self.q[RX_QUEUE];
            let old = dq.avail_idx;
            dq.last_used = idx;
            dq.avail_idx = dq.avail_idx.wrapping_add(n);
            self.mem
                .store(dq.avail_idx, GuestAddress(dq.avail + 2), Ordering::Release)
                .unwrap();
            self.kick_if_asked(RX_QUEUE, old);
        }
        n as usize
    }

    /// Frames the device wrote into receive buffers (header stripped); the
    /// buffers are posted again.
    pub fn receive(&mut self) -> Vec<Vec<u8>> {
        self.receive_on(0)
    }

    /// [`Self::receive`] from pair `pair`'s receive queue.
    pub fn receive_on(&mut self, pair: usize) -> Vec<Vec<u8>> {
        let rxq = 2 * pair + RX_QUEUE;
        let used = self.take_used(rxq);
        let mut frames = Vec::new();
        for &(id, len) in &used {
            let id = id as u16;
            let mut f = vec![0u8; (len as usize).saturating_sub(NET_HDR_LEN)];
            self.mem
                .read_slice(
                    &mut f,
                    GuestAddress(self.q[rxq].buf(id) + NET_HDR_LEN as u64),
                )
                .unwrap();
            frames.push(f);
            self.push_avail(rxq, id);
        }
        if !used.is_empty() {
            self.publish(rxq);
        }
        frames
    }

    /// Transmit `frames` (a header and the frame in two descriptors each,
    /// as a driver may chain them); returns how many went (free descriptor
    /// pairs). Reclaims what the device has used first.
    pub fn transmit(&mut self, frames: &[&[u8]]) -> usize {
        self.transmit_on(0, frames)
    }

    /// [`Self::transmit`] on pair `pair`'s transmit queue.
    pub fn transmit_on(&mut self, pair: usize, frames: &[&[u8]]) -> usize {
        let txq = 2 * pair + TX_QUEUE;
        for (id, _) in self.take_used(txq) {
            self.tx_free[pair].push_back(id as u16 / 2);
        }
        let mut sent = 0;
        for f in frames {
            let Some(k) = self.tx_free[pair].pop_front() else {
                break;
            };
            let (h, d) = (2 * k, 2 * k + 1);
            let (hdr, buf) = (self.q[txq].buf(h), self.q[txq].buf(d));
            self.mem.write_slice(f, GuestAddress(buf)).unwrap();
            self.mem
                .write_slice(&[0u8; NET_HDR_LEN], GuestAddress(hdr))
                .unwrap();
            self.write_desc(txq, h, hdr, NET_HDR_LEN as u32, DESC_F_NEXT, d);
            self.write_desc(txq, d, buf, f.len() as u32, 0, 0);
            self.push_avail(txq, h);
            sent += 1;
        }
        if sent > 0 {
            self.publish(txq);
        }
        sent
    }
}

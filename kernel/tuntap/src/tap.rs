//! Tap ports (`tapN`): Ethernet frames between a file-like handle and a
//! VALE switch.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Waker;

use netmap::port::{Port, PortCounters};
use netmap::vale::Attachment;
use netmap::{BufferPool, Dir, Kring, OpenError, Switch, SyncError};
use spin::Mutex;

use crate::opener::Opener;
use crate::wire::Wire;
use crate::{Counters, Error, IfInfo, ReadInfo, ETH_HLEN, IFT_ETHER};

/// Frames a tap port queues for its reader by default.
pub const TAP_QUEUE: u32 = 256;
/// Default MTU.
pub const DEFAULT_MTU: u32 = 1500;
/// Smallest MTU `set_info` accepts (IPv4's minimum datagram).
pub const MIN_MTU: u32 = 68;

struct State {
    mac: [u8; 6],
    info: IfInfo,
    c: Counters,
}

/// A tap port: on the switch side a netmap [`Port`] carrying Ethernet
/// frames; on the other side a file-like handle, one frame per
/// [`read`](Self::read) and per [`write`](Self::write).
pub struct TapPort {
    name: String,
    wire: Wire,
    up: AtomicBool,
    opener: Opener,
    st: Mutex<State>,
}

impl core::fmt::Debug for TapPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TapPort")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TapPort {
    /// A tap port called `name` with `mac`, its buffers from `pool`,
    /// queueing at most [`TAP_QUEUE`] frames for its reader. It starts
    /// closed, down, blocking, MTU 1500 (less if the pool's buffers cannot hold a
    /// 1514-byte frame: see [`max_mtu`](Self::max_mtu)). A pool whose
    /// buffers cannot hold a frame of the minimum MTU is
    /// `OpenError::BadConfig`.
    pub fn new(
        pool: &Arc<BufferPool>,
        name: &str,
        mac: [u8; 6],
    ) -> Result<Arc<TapPort>, OpenError> {
        Self::with_queue(pool, name, mac, TAP_QUEUE)
    }

    /// Like [`new`](Self::new) with a queue of `queue` frames (1..=65535).
    pub fn with_queue(
        pool: &Arc<BufferPool>,
        name: &str,
        mac: [u8; 6],
        queue: u32,
    ) -> Result<Arc<TapPort>, OpenError> {
        let wire = Wire::new(pool, queue)?;
        let mtu = DEFAULT_MTU.min((wire.max_frame - ETH_HLEN) as u32);
        Ok(Arc::new(TapPort {
            name: name.into(),
            wire,
            up: AtomicBool::new(false),
            opener: Opener::default(),
            st: Mutex::new(State {
                mac,
                info: IfInfo {
                    mtu,
                    if_type: IFT_ETHER,
                    baudrate: 10_000_000,
                },
                c: Counters::default(),
            }),
        }))
    }

    /// Records the attachment `Registry::attach` (or `Switch::attach`)
    /// returned: from now on writes go into that switch.
    pub fn link(&self, sw: Arc<Switch>, a: Attachment) {
        self.wire.link(sw, a);
    }

    /// Forget the switch (after a detach); writes fail with
    /// [`Error::NetDown`].
    pub fn unlink(&self) {
        self.wire.unlink();
    }

    /// The switch the port is linked to.
    pub fn switch(&self) -> Option<Arc<Switch>> {
        self.wire.switch()
    }

    /// Whether the interface is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Brings the interface up or down. Going down drops every queued
    /// frame (counted as `drop_down`) and wakes a blocked reader.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            let n = self.wire.flush();
            self.st.lock().c.drop_down += n;
            self.wake_reader();
        }
    }

    /// Opens the port (the reference's `tapopen`): from now on
    /// [`read`](Self::read) and [`write`](Self::write) work (while up) and
    /// frames from the switch are queued for the reader. One opener at a
    /// time: a second open is [`Error::InUse`] (`EBUSY`) until
    /// [`close`](Self::close).
    pub fn open(&self) -> Result<(), Error> {
        self.opener.open()
    }

    /// Closes the port (the reference's `tapclose`): brings the interface
    /// down, which drops every queued frame (counted as `drop_down`; their
    /// slots are free for the switch again), returns the handle to
    /// blocking mode, wakes and forgets a blocked reader's waker, and lets
    /// the next [`open`](Self::open) succeed. The MAC, MTU and switch
    /// attachment stay. Closing a port that is not open does the same.
    pub fn close(&self) {
        self.set_up(false);
        self.opener.close();
    }

    /// Whether the port is open.
    pub fn is_open(&self) -> bool {
        self.opener.is_open()
    }

    /// Registers the waker of a reader about to sleep (the last one
    /// registered wins; `None` forgets it). The port wakes it when the
    /// switch delivers a frame, when the interface goes down and on
    /// [`close`](Self::close): a wait function can sleep until then
    /// instead of checking readiness in a loop. A waker is woken at most
    /// once per registration.
    pub fn set_waker(&self, w: Option<Waker>) {
        self.opener.set_waker(w);
    }

    fn wake_reader(&self) {
        self.opener.wake();
    }

    /// Non-blocking mode (FIONBIO): [`read_wait`](Self::read_wait) behaves
    /// as [`read`](Self::read).
    pub fn set_nonblocking(&self, on: bool) {
        self.opener.set_nonblocking(on);
    }

    /// Whether the handle is in non-blocking mode.
    pub fn is_nonblocking(&self) -> bool {
        self.opener.is_nonblocking()
    }

    /// The port's MAC address (SIOCGIFADDR's link-layer address).
    pub fn mac(&self) -> [u8; 6] {
        self.st.lock().mac
    }

    /// Sets the MAC; multicast and all-zero addresses are [`Error::Invalid`].
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), Error> {
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return Err(Error::Invalid);
        }
        self.st.lock().mac = mac;
        Ok(())
    }

    /// TAPGIFINFO.
    pub fn info(&self) -> IfInfo {
        self.st.lock().info
    }

    /// The largest MTU the pool allows: a buffer (at most 65535 bytes, a
    /// slot's length being 16 bits) minus the Ethernet header.
    pub fn max_mtu(&self) -> u32 {
        (self.wire.max_frame - ETH_HLEN) as u32
    }

    /// TAPSIFINFO: MTU (from [`MIN_MTU`] to [`max_mtu`](Self::max_mtu);
    /// outside that range refused with [`Error::Invalid`], never clamped),
    /// interface type and baud rate.
    pub fn set_info(&self, info: IfInfo) -> Result<(), Error> {
        if info.mtu < MIN_MTU || info.mtu > self.max_mtu() {
            return Err(Error::Invalid);
        }
        self.st.lock().info = info;
        Ok(())
    }

    /// Sets only the MTU (as [`set_info`](Self::set_info)).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), Error> {
        let mut info = self.info();
        info.mtu = mtu;
        self.set_info(info)
    }

    /// The largest frame a write may carry: MTU plus the Ethernet header
    /// (a VLAN tag counts against the MTU), never more than a buffer or a
    /// 16-bit slot length.
    pub fn max_write(&self) -> usize {
        (self.info().mtu as usize + ETH_HLEN).min(self.wire.max_frame)
    }

    /// Readiness for reading: a frame is queued.
    pub fn readable(&self) -> bool {
        self.wire.peek_len().is_some()
    }

    /// Readiness for writing: always, as the reference's poll and
    /// kqueue filter report. A write never waits: it goes through the
    /// switch at once (a full destination drops there, counted by the
    /// switch) or fails at once with its error (down, not attached, ...).
    pub fn writable(&self) -> bool {
        true
    }

    /// FIONREAD: length of the next frame (0 when none is queued).
    pub fn next_len(&self) -> usize {
        self.wire.peek_len().unwrap_or(0)
    }

    /// Frames queued for the reader.
    pub fn queued(&self) -> usize {
        self.wire.queued()
    }

    /// Reads one frame into `buf` without waiting. A frame longer than
    /// `buf` is truncated ([`ReadInfo::truncated`]; `len` is the full
    /// length) and consumed. A zero-length `buf` has no side effect: it
    /// returns the next frame's length without consuming it. Not open:
    /// [`Error::NotOpen`]; down: [`Error::HostDown`].
    pub fn read(&self, buf: &mut [u8]) -> Result<ReadInfo, Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        if !self.is_up() {
            return Err(Error::HostDown);
        }
        if buf.is_empty() {
            return self
                .wire
                .peek_len()
                .map(|len| ReadInfo {
                    len,
                    copied: 0,
                    truncated: len > 0,
                })
                .ok_or(Error::WouldBlock);
        }
        let r = self.wire.pop(|f| {
            let n = f.len().min(buf.len());
            buf[..n].copy_from_slice(&f[..n]);
            ReadInfo {
                len: f.len(),
                copied: n,
                truncated: n < f.len(),
            }
        });
        match r {
            Some(r) => {
                let mut st = self.st.lock();
                st.c.rx_packets += 1;
                st.c.rx_bytes += r.len as u64;
                if r.truncated {
                    st.c.rx_truncated += 1;
                }
                Ok(r)
            }
            None => Err(Error::WouldBlock),
        }
    }

    /// Reads one frame, waiting with `wait` while none is queued (unless
    /// non-blocking). `wait(ready)` must return once `ready()` is true
    /// (`true`) or when the caller's deadline passed (`false`, then
    /// [`Error::TimedOut`]). Going down while waiting ends the wait with
    /// [`Error::HostDown`], a close with [`Error::NotOpen`]. A `wait` that
    /// sleeps registers a waker first ([`set_waker`](Self::set_waker)),
    /// then checks `ready()`, then sleeps: a frame delivered in between
    /// wakes it.
    pub fn read_wait(
        &self,
        buf: &mut [u8],
        wait: &mut dyn FnMut(&mut dyn FnMut() -> bool) -> bool,
    ) -> Result<ReadInfo, Error> {
        match self.read(buf) {
            Err(Error::WouldBlock) if !self.is_nonblocking() => {}
            r => return r,
        }
        if !wait(&mut || self.readable() || !self.is_up() || !self.is_open()) {
            return Err(Error::TimedOut);
        }
        self.read(buf)
    }

    /// Writes one Ethernet frame into the switch. Errors: down
    /// ([`Error::HostDown`], counted), longer than [`max_write`](Self::max_write)
    /// ([`Error::TooBig`], counted, nothing sent), 1 to 13 bytes
    /// ([`Error::Invalid`], counted), not attached ([`Error::NetDown`]),
    /// not open ([`Error::NotOpen`], not counted: nothing reached the
    /// interface). A zero-length write is a no-op returning 0, as in BSD.
    pub fn write(&self, frame: &[u8]) -> Result<usize, Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        if frame.is_empty() {
            return Ok(0);
        }
        let err = if !self.is_up() {
            Some((Error::HostDown, 0))
        } else if frame.len() > self.max_write() {
            Some((Error::TooBig, 1))
        } else if frame.len() < ETH_HLEN {
            Some((Error::Invalid, 2))
        } else {
            None
        };
        if let Some((e, which)) = err {
            let mut st = self.st.lock();
            match which {
                0 => st.c.drop_down += 1,
                1 => st.c.drop_oversize += 1,
                _ => st.c.drop_short += 1,
            }
            return Err(e);
        }
        match self.wire.send(|b| {
            b[..frame.len()].copy_from_slice(frame);
            frame.len()
        }) {
            Ok(()) => {
                let mut st = self.st.lock();
                st.c.tx_packets += 1;
                st.c.tx_bytes += frame.len() as u64;
                Ok(frame.len())
            }
            Err(e) => {
                self.st.lock().c.record_send_error(e);
                Err(e)
            }
        }
    }

    /// The port's counters (handle side, plus the queue's overflow drops).
    pub fn counters(&self) -> Counters {
        let mut c = self.st.lock().c;
        c.drop_queue_full = self.wire.queue_drops();
        c
    }
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn krings(&self, dir: Dir) -> &[Kring] {
        self.wire.krings(dir)
    }

    fn max_frame(&self) -> usize {
        self.wire.max_frame
    }

    /// Frames move by `read`/`write`, not by netmap syncs: no native open.
    fn native_open(&self) -> bool {
        false
    }

    /// The handle drives the tx kring itself ([`TapPort::write`]).
    fn txsync(&self, _ring: usize) -> Result<(), SyncError> {
        Ok(())
    }

    /// The handle consumes the rx kring itself ([`TapPort::read`]).
    fn rxsync(&self, _ring: usize) -> Result<(), SyncError> {
        Ok(())
    }

    /// Frames delivered while the interface is down or the port not open
    /// (no reader: the reference drops them too) are dropped at once
    /// (counted as `drop_down`); otherwise the reader's waker is woken.
    fn notify(&self, dir: Dir, ring: usize) {
        if dir == Dir::Rx {
            if !self.is_up() || !self.is_open() {
                let n = self.wire.flush();
                self.st.lock().c.drop_down += n;
            } else {
                self.wake_reader();
            }
        }
        if let Some(k) = self.wire.krings(dir).get(ring) {
            k.wake();
        }
    }

    fn counters(&self) -> PortCounters {
        let mut c = PortCounters::default();
        c.tx.accumulate(&self.wire.tx[0].lock().stats);
        c.rx.accumulate(&self.wire.rx[0].lock().stats);
        c
    }
}

//! Tun ports (`tunN`): IP packets between a file-like handle and a layer-2
//! VALE switch, which the port joins with its own MAC address.
//!
//! Receive: frames for the port's MAC (or broadcast; IPv4 and IPv6
//! multicast too) carrying IPv4 (or IPv6 in IFHEAD mode) lose their
//! Ethernet header (and any padding past the IP length) and wait in a
//! bounded read queue. ARP requests for the port's address are answered
//! (probes from 0.0.0.0 too, but never cached); ARP replies fill the
//! cache. Input and ARP timers run in [`TunPort::poll`] (the idle loop)
//! and reads; readiness checks (`readable`, `next_len`) change nothing. Send: the next hop (point-to-point: the peer; broadcast mode: the
//! destination if on-link, else the gateway) is resolved by ARP; while it
//! is unresolved a few packets per address wait in a hold queue.
//!
//! The crate has no clock: [`TunPort::poll`] and [`TunPort::write`] take
//! `now` in milliseconds of the caller's clock (monotonic).
//!
//! Ethernet, ARP and IPv4 are parsed and built with `smoltcp::wire`, the
//! received ones through its checked constructors (`new_checked`): a frame
//! too short for its headers, an ARP packet that is not Ethernet/IPv4, an
//! IPv4 packet whose header is not within its total length or whose total
//! length is past the frame are dropped (`drop_invalid`),
//! never read past their end. IPv6 (IFHEAD only) is checked by hand.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::Waker;

use netmap::port::{Port, PortCounters};
use netmap::vale::Attachment;
use netmap::{BufferPool, Dir, Kring, OpenError, Switch, SyncError};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Ipv4Address, Ipv4Packet, IPV4_HEADER_LEN,
};
use spin::Mutex;

use crate::opener::Opener;
use crate::wire::Wire;
use crate::{Counters, Error, IfInfo, ReadInfo, AF_INET, AF_INET6, ETH_HLEN, IFT_PPP};

/// IP packets queued for the reader.
pub const TUN_QUEUE: usize = 64;
/// Packets held per unresolved next hop.
pub const HOLD_PER_ADDR: usize = 4;
/// Packets held in all.
pub const HOLD_TOTAL: usize = 16;
/// ARP cache entries.
pub const ARP_CACHE: usize = 32;
/// How long a resolved address stays valid (ms), unless configured.
pub const ARP_TTL_MS: u64 = 1_200_000;
/// How long to wait for an ARP reply before dropping the held packets (ms).
pub const RESOLVE_TIMEOUT_MS: u64 = 3_000;
/// Interval between ARP requests for an unresolved address (ms).
pub const ARP_RETRY_MS: u64 = 1_000;
/// Default MTU.
pub const DEFAULT_MTU: u32 = 1500;
/// Smallest MTU.
pub const MIN_MTU: u32 = 68;

const BROADCAST: [u8; 6] = [0xff; 6];
/// Fixed IPv6 header (parsed by hand: smoltcp's IPv6 support is left out,
/// its features being shared with the kernel's own stack).
const IPV6_HLEN: usize = 40;

/// Point-to-point or broadcast (TUNSIFMODE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every packet goes to the configured peer (BSD's default).
    PointToPoint,
    /// On-link destinations directly, others through the gateway.
    Broadcast,
}

/// The tun's layer-3 configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunConfig {
    pub mac: [u8; 6],
    /// Address and prefix length.
    pub addr: Option<([u8; 4], u8)>,
    /// Point-to-point peer.
    pub peer: Option<[u8; 4]>,
    /// Broadcast-mode gateway for off-link destinations.
    pub gateway: Option<[u8; 4]>,
    pub mode: Mode,
    /// 4-byte address-family header on reads and writes (TUNSIFHEAD).
    pub ifhead: bool,
    pub mtu: u32,
    /// ARP cache lifetime (ms).
    pub arp_ttl: u64,
}

#[derive(Clone, Copy)]
struct ArpEntry {
    ip: [u8; 4],
    mac: [u8; 6],
    expires: u64,
}

#[derive(Clone, Copy)]
struct Resolving {
    ip: [u8; 4],
    started: u64,
    last_request: u64,
}

#[derive(Clone, Copy)]
struct Held {
    ip: [u8; 4],
    seq: u64,
    len: usize,
}

struct State {
    cfg: TunConfig,
    c: Counters,
    cache: [Option<ArpEntry>; ARP_CACHE],
    resolving: [Option<Resolving>; HOLD_TOTAL],
    /// Held Ethernet frames (destination MAC still to fill in).
    hold: Box<[u8]>,
    held: [Option<Held>; HOLD_TOTAL],
    seq: u64,
    /// Read queue: IP packets (with their family), `TUN_QUEUE` buffers.
    readq: Box<[u8]>,
    readq_meta: [(u32, usize); TUN_QUEUE],
    rq_head: usize,
    rq_len: usize,
}

/// A tun port. See the module docs.
pub struct TunPort {
    name: String,
    wire: Wire,
    up: AtomicBool,
    opener: Opener,
    last_now: AtomicU64,
    st: Mutex<State>,
}

impl core::fmt::Debug for TunPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunPort")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn in_subnet(a: [u8; 4], net: [u8; 4], prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    };
    u32::from_be_bytes(a) & mask == u32::from_be_bytes(net) & mask
}

fn subnet_broadcast(net: [u8; 4], prefix: u8) -> [u8; 4] {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    };
    (u32::from_be_bytes(net) | !mask).to_be_bytes()
}

impl TunPort {
    /// A tun port called `name` with `mac`, buffers from `pool` (the
    /// switch-facing queue holds 256 frames). It starts closed, down,
    /// point-to-point, without IFHEAD, MTU 1500 (less if the pool's
    /// buffers cannot hold 1514 bytes: see [`max_mtu`](Self::max_mtu)), no
    /// address. A pool whose buffers cannot hold a frame of the minimum
    /// MTU is `OpenError::BadConfig`.
    pub fn new(
        pool: &Arc<BufferPool>,
        name: &str,
        mac: [u8; 6],
    ) -> Result<Arc<TunPort>, OpenError> {
        let bs = pool.buf_size();
        let wire = Wire::new(pool, 256)?;
        let mtu = DEFAULT_MTU.min((wire.max_frame - ETH_HLEN) as u32);
        Ok(Arc::new(TunPort {
            name: name.into(),
            wire,
            up: AtomicBool::new(false),
            opener: Opener::default(),
            last_now: AtomicU64::new(0),
            st: Mutex::new(State {
                cfg: TunConfig {
                    mac,
                    addr: None,
                    peer: None,
                    gateway: None,
                    mode: Mode::PointToPoint,
                    ifhead: false,
                    mtu,
                    arp_ttl: ARP_TTL_MS,
                },
                c: Counters::default(),
                cache: [None; ARP_CACHE],
                resolving: [None; HOLD_TOTAL],
                hold: vec![0; HOLD_TOTAL * bs].into_boxed_slice(),
                held: [None; HOLD_TOTAL],
                seq: 0,
                readq: vec![0; TUN_QUEUE * bs].into_boxed_slice(),
                readq_meta: [(0, 0); TUN_QUEUE],
                rq_head: 0,
                rq_len: 0,
            }),
        }))
    }

    /// Records the attachment `Registry::attach` returned: sends go there.
    pub fn link(&self, sw: Arc<Switch>, a: Attachment) {
        self.wire.link(sw, a);
    }

    /// Forgets the switch (after a detach).
    pub fn unlink(&self) {
        self.wire.unlink();
    }

    /// The switch the port is linked to.
    pub fn switch(&self) -> Option<Arc<Switch>> {
        self.wire.switch()
    }

    /// The configuration.
    pub fn config(&self) -> TunConfig {
        self.st.lock().cfg
    }

    /// Whether the interface is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Up or down. Going down drops queued packets (read queue, hold
    /// queue, frames from the switch), counted as `drop_down`, and wakes
    /// a blocked reader.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            let n = self.wire.flush();
            {
                let mut st = self.st.lock();
                let held = st.held.iter().filter(|h| h.is_some()).count() as u64;
                st.c.drop_down += n + st.rq_len as u64 + held;
                st.rq_len = 0;
                st.held = [None; HOLD_TOTAL];
                st.resolving = [None; HOLD_TOTAL];
            }
            self.wake_reader();
        }
    }

    /// Opens the port (the reference's `tunopen`): from now on
    /// [`read`](Self::read) and [`write`](Self::write) work (while up) and
    /// input from the switch is handled. One opener at a time: a second
    /// open is [`Error::InUse`] (`EBUSY`) until [`close`](Self::close).
    pub fn open(&self) -> Result<(), Error> {
        self.opener.open()
    }

    /// Closes the port (the reference's `tunclose`): brings the interface
    /// down (the read queue, the hold queue and the frames from the switch
    /// are dropped, counted as `drop_down`), forgets its addresses (local
    /// address and prefix, peer, gateway) and every ARP entry, returns the
    /// handle to blocking mode, wakes and forgets a blocked reader's waker,
    /// and lets the next [`open`](Self::open) succeed. The MAC, MTU, mode,
    /// IFHEAD and switch attachment stay. Closing a port that is not open
    /// does the same.
    pub fn close(&self) {
        self.set_up(false);
        {
            let mut st = self.st.lock();
            st.cfg.addr = None;
            st.cfg.peer = None;
            st.cfg.gateway = None;
            st.cache = [None; ARP_CACHE];
        }
        self.opener.close();
    }

    /// Whether the port is open.
    pub fn is_open(&self) -> bool {
        self.opener.is_open()
    }

    /// Registers the waker of a reader about to sleep, as
    /// [`TapPort::set_waker`](crate::TapPort::set_waker): woken when the
    /// switch delivers a frame (which the reader's `ready` then handles
    /// with [`poll`](Self::poll)), when the interface goes down and on
    /// [`close`](Self::close).
    pub fn set_waker(&self, w: Option<Waker>) {
        self.opener.set_waker(w);
    }

    fn wake_reader(&self) {
        self.opener.wake();
    }

    /// Non-blocking mode (FIONBIO).
    pub fn set_nonblocking(&self, on: bool) {
        self.opener.set_nonblocking(on);
    }

    /// TUNSIFMODE: only while down ([`Error::Busy`] otherwise).
    pub fn set_mode(&self, mode: Mode) -> Result<(), Error> {
        if self.is_up() {
            return Err(Error::Busy);
        }
        self.st.lock().cfg.mode = mode;
        Ok(())
    }

    /// TUNSIFHEAD: allowed at any time, as in BSD.
    pub fn set_ifhead(&self, on: bool) {
        self.st.lock().cfg.ifhead = on;
    }

    /// The largest MTU the pool allows: a buffer (at most 65535 bytes, a
    /// slot's length being 16 bits) minus the Ethernet header.
    pub fn max_mtu(&self) -> u32 {
        (self.wire.max_frame - ETH_HLEN) as u32
    }

    /// TUNSIFINFO's MTU: [`MIN_MTU`] to [`max_mtu`](Self::max_mtu);
    /// outside that range refused with [`Error::Invalid`], never clamped.
    pub fn set_mtu(&self, mtu: u32) -> Result<(), Error> {
        if mtu < MIN_MTU || mtu > self.max_mtu() {
            return Err(Error::Invalid);
        }
        self.st.lock().cfg.mtu = mtu;
        Ok(())
    }

    /// TUNGIFINFO.
    pub fn info(&self) -> IfInfo {
        IfInfo {
            mtu: self.st.lock().cfg.mtu,
            if_type: IFT_PPP,
            baudrate: 0,
        }
    }

    /// Sets the MAC the port uses on the switch (unicast, non-zero).
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), Error> {
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return Err(Error::Invalid);
        }
        self.st.lock().cfg.mac = mac;
        Ok(())
    }

    /// The local address and prefix (prefix 0..=32), and the peer. Brings
    /// the interface up, as `ifconfig tun0 A B` does (the reference's
    /// SIOCSIFADDR and SIOCSIFDSTADDR); a refused address changes nothing.
    pub fn set_addr(&self, addr: [u8; 4], prefix: u8, peer: Option<[u8; 4]>) -> Result<(), Error> {
        if prefix > 32 {
            return Err(Error::Invalid);
        }
        {
            let mut st = self.st.lock();
            st.cfg.addr = Some((addr, prefix));
            if peer.is_some() {
                st.cfg.peer = peer;
            }
        }
        self.set_up(true);
        Ok(())
    }

    /// The broadcast-mode gateway.
    pub fn set_gateway(&self, gw: Option<[u8; 4]>) {
        self.st.lock().cfg.gateway = gw;
    }

    /// The ARP cache lifetime in ms.
    pub fn set_arp_ttl(&self, ms: u64) {
        self.st.lock().cfg.arp_ttl = ms;
    }

    /// Resolved addresses still valid at `now`.
    pub fn arp_entries(&self, now: u64) -> impl Iterator<Item = ([u8; 4], [u8; 6])> {
        let st = self.st.lock();
        let v: alloc::vec::Vec<_> = st
            .cache
            .iter()
            .flatten()
            .filter(|e| e.expires > now)
            .map(|e| (e.ip, e.mac))
            .collect();
        v.into_iter()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        let mut c = self.st.lock().c;
        c.drop_queue_full += self.wire.queue_drops();
        c
    }

    /// Packets waiting for ARP.
    pub fn held(&self) -> usize {
        self.st.lock().held.iter().filter(|h| h.is_some()).count()
    }

    /// Runs the port's timers and input: handles every frame the switch
    /// delivered (ARP answered, IP queued for the reader), retries ARP
    /// requests and drops packets whose next hop did not resolve within
    /// [`RESOLVE_TIMEOUT_MS`]. Returns whether anything happened. Frames
    /// from the switch while down or not open (no reader) are dropped
    /// (`drop_down`).
    pub fn poll(&self, now: u64) -> bool {
        self.last_now.fetch_max(now, Ordering::Relaxed);
        let mut worked = false;
        loop {
            let up = self.is_up() && self.is_open();
            let r = {
                let mut st = self.st.lock();
                let st = &mut *st;
                self.wire.pop(|f| {
                    if !up {
                        st.c.drop_down += 1;
                        return None;
                    }
                    classify(st, f, self.wire.buf_size)
                })
            };
            match r {
                None => break,
                Some(None) => worked = true,
                Some(Some(arp)) => {
                    worked = true;
                    self.arp_input(arp, now);
                }
            }
        }
        // Timers.
        let mut guard = self.st.lock();
        let st = &mut *guard;
        let (addr, mac) = (st.cfg.addr, st.cfg.mac);
        for i in 0..HOLD_TOTAL {
            let Some(r) = st.resolving[i] else { continue };
            if now.saturating_sub(r.started) >= RESOLVE_TIMEOUT_MS {
                st.resolving[i] = None;
                for h in st.held.iter_mut() {
                    if h.is_some_and(|h| h.ip == r.ip) {
                        *h = None;
                        st.c.drop_unresolved += 1;
                    }
                }
                worked = true;
            } else if now.saturating_sub(r.last_request) >= ARP_RETRY_MS {
                if let Some((src, _)) = addr {
                    st.resolving[i] = Some(Resolving {
                        last_request: now,
                        ..r
                    });
                    let req = ArpOperation::Request;
                    if self
                        .send_arp(req, mac, src, [0; 6], r.ip, BROADCAST)
                        .is_ok()
                    {
                        st.c.arp_requests += 1;
                    }
                    worked = true;
                }
            }
        }
        worked
    }

    fn send_arp(
        &self,
        op: ArpOperation,
        mac: [u8; 6],
        spa: [u8; 4],
        tha: [u8; 6],
        tpa: [u8; 4],
        dst: [u8; 6],
    ) -> Result<(), Error> {
        let arp = ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: EthernetAddress(mac),
            source_protocol_addr: Ipv4Address::from(spa),
            target_hardware_addr: EthernetAddress(tha),
            target_protocol_addr: Ipv4Address::from(tpa),
        };
        self.wire.send(|b| {
            emit_frame(b, dst, mac, EthernetProtocol::Arp, arp.buffer_len(), |p| {
                arp.emit(&mut ArpPacket::new_unchecked(p))
            })
        })
    }

    /// An Ethernet/IPv4 ARP packet (parsed and checked by [`classify`]).
    fn arp_input(&self, a: ArpRepr, now: u64) {
        let ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: EthernetAddress(sha),
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = a
        else {
            return;
        };
        let (spa, tpa) = (source_protocol_addr.octets(), target_protocol_addr.octets());
        let mut st = self.st.lock();
        let Some((ours, _)) = st.cfg.addr else { return };
        let ttl = st.cfg.arp_ttl;
        let known = st.cache.iter().any(|e| e.is_some_and(|e| e.ip == spa));
        let resolving = st.resolving.iter().any(|r| r.is_some_and(|r| r.ip == spa));
        // A probe (RFC 5227: sender 0.0.0.0) binds no address: never cached,
        // but answered if it asks for ours (to the prober's MAC).
        let probe = spa == [0; 4];
        if !probe && (known || tpa == ours || resolving) {
            update_cache(&mut st, spa, sha, now.saturating_add(ttl));
        }
        if op == ArpOperation::Request && tpa == ours {
            let mac = st.cfg.mac;
            if self
                .send_arp(ArpOperation::Reply, mac, ours, sha, spa, sha)
                .is_ok()
            {
                st.c.arp_replies += 1;
            }
        }
        if resolving && !probe {
            self.release_held(&mut st, spa, sha);
        }
    }

    /// Sends the packets held for `ip`, oldest first, to `mac`.
    fn release_held(&self, st: &mut State, ip: [u8; 4], mac: [u8; 6]) {
        for r in st.resolving.iter_mut() {
            if r.is_some_and(|r| r.ip == ip) {
                *r = None;
            }
        }
        let bs = self.wire.buf_size;
        loop {
            let next = (0..HOLD_TOTAL)
                .filter_map(|i| st.held[i].filter(|h| h.ip == ip).map(|h| (h.seq, i)))
                .min();
            let Some((_, i)) = next else { break };
            let Some(h) = st.held[i].take() else { break };
            let src = &st.hold[i * bs..i * bs + h.len];
            let res = self.wire.send(|b| {
                b[..h.len].copy_from_slice(src);
                EthernetFrame::new_unchecked(&mut b[..h.len]).set_dst_addr(EthernetAddress(mac));
                h.len
            });
            match res {
                Ok(()) => {
                    st.c.tx_packets += 1;
                    st.c.tx_bytes += (h.len - ETH_HLEN) as u64;
                }
                Err(e) => st.c.record_send_error(e),
            }
        }
    }

    /// Whether an IP packet is queued for reading. No side effects: the
    /// frames the switch delivered are handled (ARP answered, IP queued)
    /// by [`poll`](Self::poll), which the idle loop runs, and by reads.
    pub fn readable(&self) -> bool {
        self.st.lock().rq_len > 0
    }

    /// Readiness for writing: always, as the reference's poll reports. A
    /// write never waits: the packet goes out at once or into the hold
    /// queue, or the write fails at once with its error.
    pub fn writable(&self) -> bool {
        true
    }

    /// FIONREAD: bytes the next read returns in full (IFHEAD included), or
    /// 0. No side effects, as [`readable`](Self::readable).
    pub fn next_len(&self) -> usize {
        let st = self.st.lock();
        if st.rq_len == 0 {
            return 0;
        }
        let (_, len) = st.readq_meta[st.rq_head];
        len + if st.cfg.ifhead { 4 } else { 0 }
    }

    /// Reads one IP packet without waiting; in IFHEAD mode it is preceded
    /// by its family as a 4-byte big-endian word. Truncation and
    /// zero-length reads as for tap. Not open: [`Error::NotOpen`]; down:
    /// [`Error::HostDown`].
    pub fn read(&self, buf: &mut [u8]) -> Result<ReadInfo, Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        if !self.is_up() {
            return Err(Error::HostDown);
        }
        self.poll(self.last_now.load(Ordering::Relaxed));
        let mut st = self.st.lock();
        if st.rq_len == 0 {
            return Err(Error::WouldBlock);
        }
        let bs = self.wire.buf_size;
        let (af, len) = st.readq_meta[st.rq_head];
        let hdr = if st.cfg.ifhead { 4 } else { 0 };
        let total = len + hdr;
        if buf.is_empty() {
            return Ok(ReadInfo {
                len: total,
                copied: 0,
                truncated: true,
            });
        }
        let mut whole = [0u8; 4];
        whole.copy_from_slice(&af.to_be_bytes());
        let pkt = &st.readq[st.rq_head * bs..st.rq_head * bs + len];
        let mut copied = 0;
        for (i, b) in buf.iter_mut().take(total).enumerate() {
            *b = if i < hdr { whole[i] } else { pkt[i - hdr] };
            copied += 1;
        }
        st.rq_head = (st.rq_head + 1) % TUN_QUEUE;
        st.rq_len -= 1;
        st.c.rx_packets += 1;
        st.c.rx_bytes += len as u64;
        if copied < total {
            st.c.rx_truncated += 1;
        }
        Ok(ReadInfo {
            len: total,
            copied,
            truncated: copied < total,
        })
    }

    /// Reads one packet, waiting with `wait` as [`TapPort::read_wait`](crate::TapPort::read_wait).
    pub fn read_wait(
        &self,
        buf: &mut [u8],
        wait: &mut dyn FnMut(&mut dyn FnMut() -> bool) -> bool,
    ) -> Result<ReadInfo, Error> {
        match self.read(buf) {
            Err(Error::WouldBlock) if !self.opener.is_nonblocking() => {}
            r => return r,
        }
        // The blocking read handles input while it waits (as `read` does).
        let mut ready = || {
            self.poll(self.last_now.load(Ordering::Relaxed));
            self.readable() || !self.is_up() || !self.is_open()
        };
        if !wait(&mut ready) {
            return Err(Error::TimedOut);
        }
        self.read(buf)
    }

    /// Writes one IP packet (with its 4-byte family in IFHEAD mode) at
    /// time `now`. Returns the bytes accepted: the packet is on the switch,
    /// or held until its next hop resolves. Errors (each counted): down
    /// ([`Error::HostDown`]); IFHEAD shorter than 4 bytes, an IP version
    /// that is not 4 (or 6 with IFHEAD), a version that does not match the
    /// family, IPv4 shorter than 20 bytes ([`Error::Invalid`]); IPv6
    /// without IFHEAD or an unknown family ([`Error::AfNoSupport`]); over
    /// the MTU ([`Error::TooBig`]); no next hop ([`Error::HostUnreach`]);
    /// hold queue full ([`Error::NoBufs`]); not attached
    /// ([`Error::NetDown`]); not open ([`Error::NotOpen`], not counted).
    /// A zero-length write is a no-op.
    pub fn write(&self, pkt: &[u8], now: u64) -> Result<usize, Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        self.last_now.fetch_max(now, Ordering::Relaxed);
        if pkt.is_empty() {
            return Ok(0);
        }
        let mut st = self.st.lock();
        let r = self.output(&mut st, pkt, now);
        if let Err(e) = r {
            st.c.record_send_error(e);
        }
        r.map(|_| pkt.len())
    }

    fn output(&self, st: &mut State, pkt: &[u8], now: u64) -> Result<(), Error> {
        if !self.is_up() {
            return Err(Error::HostDown);
        }
        let cfg = st.cfg;
        let (af, body) = if cfg.ifhead {
            if pkt.len() < 4 {
                return Err(Error::Invalid);
            }
            let af = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
            if af != AF_INET && af != AF_INET6 {
                return Err(Error::AfNoSupport);
            }
            (af, &pkt[4..])
        } else {
            (AF_INET, pkt)
        };
        let version = body.first().map(|b| b >> 4).unwrap_or(0);
        match (version, af) {
            (4, AF_INET) | (6, AF_INET6) => {}
            (6, _) if !cfg.ifhead => return Err(Error::AfNoSupport),
            _ => return Err(Error::Invalid),
        }
        // The MTU never exceeds what a buffer (and a 16-bit slot length)
        // holds after the Ethernet header; checked again here.
        if body.len() > cfg.mtu as usize || ETH_HLEN + body.len() > self.wire.max_frame {
            return Err(Error::TooBig);
        }
        let (ethertype, dst_mac) = if version == 4 {
            // Only the fixed header is required (as before the switch to
            // smoltcp): the header checked alone, not its lengths.
            let Some(hdr) = body.get(..IPV4_HEADER_LEN) else {
                return Err(Error::Invalid);
            };
            let dst = Ipv4Packet::new_unchecked(hdr).dst_addr().octets();
            (EthernetProtocol::Ipv4, self.ipv4_dest_mac(st, dst, now)?)
        } else {
            if body.len() < IPV6_HLEN {
                return Err(Error::Invalid);
            }
            if body[24] != 0xff {
                // Unicast IPv6 needs neighbour discovery, which this port
                // does not do.
                return Err(Error::HostUnreach);
            }
            (
                EthernetProtocol::Ipv6,
                Ok([0x33, 0x33, body[36], body[37], body[38], body[39]]),
            )
        };
        let len = ETH_HLEN + body.len();
        match dst_mac {
            Ok(mac) => {
                self.wire.send(|b| {
                    emit_frame(b, mac, cfg.mac, ethertype, body.len(), |p| {
                        p.copy_from_slice(body)
                    })
                })?;
                st.c.tx_packets += 1;
                st.c.tx_bytes += body.len() as u64;
                Ok(())
            }
            Err(hop) => {
                // Hold until `hop` resolves.
                if st.held.iter().flatten().filter(|h| h.ip == hop).count() >= HOLD_PER_ADDR {
                    return Err(Error::NoBufs);
                }
                let slot = st
                    .held
                    .iter()
                    .position(|h| h.is_none())
                    .ok_or(Error::NoBufs)?;
                let new = !st.resolving.iter().any(|r| r.is_some_and(|r| r.ip == hop));
                let ri = if new {
                    Some(
                        st.resolving
                            .iter()
                            .position(|r| r.is_none())
                            .ok_or(Error::NoBufs)?,
                    )
                } else {
                    None
                };
                let bs = self.wire.buf_size;
                // The destination MAC is filled in on release.
                let b = &mut st.hold[slot * bs..(slot + 1) * bs];
                emit_frame(b, [0; 6], cfg.mac, ethertype, body.len(), |p| {
                    p.copy_from_slice(body)
                });
                st.seq += 1;
                st.held[slot] = Some(Held {
                    ip: hop,
                    seq: st.seq,
                    len,
                });
                if let Some(ri) = ri {
                    st.resolving[ri] = Some(Resolving {
                        ip: hop,
                        started: now,
                        last_request: now,
                    });
                    let src = cfg.addr.map(|a| a.0).unwrap_or_default();
                    let req = ArpOperation::Request;
                    match self.send_arp(req, cfg.mac, src, [0; 6], hop, BROADCAST) {
                        Ok(()) => st.c.arp_requests += 1,
                        Err(e) => {
                            st.held[slot] = None;
                            st.resolving[ri] = None;
                            return Err(e);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The destination MAC for IPv4 `dst`: `Ok(mac)` when known, `Err(hop)`
    /// with the next hop to resolve, or an error when there is none.
    #[allow(clippy::type_complexity)]
    fn ipv4_dest_mac(
        &self,
        st: &State,
        dst: [u8; 4],
        now: u64,
    ) -> Result<Result<[u8; 6], [u8; 4]>, Error> {
        let cfg = &st.cfg;
        let Some((ours, prefix)) = cfg.addr else {
            return Err(Error::HostUnreach);
        };
        if dst == [255; 4] {
            return Ok(Ok(BROADCAST));
        }
        if dst[0] & 0xf0 == 0xe0 {
            return Ok(Ok([0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]]));
        }
        let hop = match cfg.mode {
            Mode::PointToPoint => cfg.peer.ok_or(Error::HostUnreach)?,
            Mode::Broadcast => {
                if prefix < 31
                    && in_subnet(dst, ours, prefix)
                    && dst == subnet_broadcast(ours, prefix)
                {
                    return Ok(Ok(BROADCAST));
                }
                if in_subnet(dst, ours, prefix) {
                    dst
                } else {
                    cfg.gateway.ok_or(Error::HostUnreach)?
                }
            }
        };
        Ok(
            match st
                .cache
                .iter()
                .flatten()
                .find(|e| e.ip == hop && e.expires > now)
            {
                Some(e) => Ok(e.mac),
                None => Err(hop),
            },
        )
    }
}

fn update_cache(st: &mut State, ip: [u8; 4], mac: [u8; 6], expires: u64) {
    let e = ArpEntry { ip, mac, expires };
    let i = st
        .cache
        .iter()
        .position(|x| x.is_some_and(|x| x.ip == ip))
        .or_else(|| st.cache.iter().position(|x| x.is_none()))
        .unwrap_or_else(|| {
            // Full: replace the entry closest to expiry.
            (0..ARP_CACHE)
                .min_by_key(|&i| st.cache[i].map(|x| x.expires).unwrap_or(0))
                .unwrap_or(0)
        });
    st.cache[i] = Some(e);
}

/// Writes an Ethernet header (`dst`, `src`, `ethertype`) at the front of
/// `b` and a payload of `payload_len` bytes after it with `payload`;
/// returns the frame's length. `b` must hold it (a buffer holds the MTU
/// plus the header).
fn emit_frame(
    b: &mut [u8],
    dst: [u8; 6],
    src: [u8; 6],
    ethertype: EthernetProtocol,
    payload_len: usize,
    payload: impl FnOnce(&mut [u8]),
) -> usize {
    let len = EthernetFrame::<&[u8]>::buffer_len(payload_len);
    let mut f = EthernetFrame::new_unchecked(&mut b[..len]);
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype,
    }
    .emit(&mut f);
    payload(f.payload_mut());
    len
}

/// Handles one frame from the switch: IP goes to the read queue (`None`),
/// ARP (Ethernet/IPv4, length checked) is returned for
/// [`TunPort::arp_input`]; the rest is dropped and counted (`None`).
fn classify(st: &mut State, f: &[u8], bs: usize) -> Option<ArpRepr> {
    // The switch drops runts before delivery: a frame too short for its
    // Ethernet header here would be a switch bug, counted as invalid.
    let Ok(eth) = EthernetFrame::new_checked(f) else {
        st.c.drop_invalid += 1;
        return None;
    };
    let EthernetAddress(dst) = eth.dst_addr();
    let ethertype = eth.ethertype();
    let v6mcast = dst[0] == 0x33 && dst[1] == 0x33;
    // IPv4 multicast MAC (01:00:5e, RFC 1112): the IP destination must
    // then be a group (224.0.0.0/4), checked below.
    let v4mcast = dst[..3] == [0x01, 0x00, 0x5e] && dst[3] & 0x80 == 0;
    if dst != st.cfg.mac
        && dst != BROADCAST
        && !(v6mcast && ethertype == EthernetProtocol::Ipv6)
        && !(v4mcast && ethertype == EthernetProtocol::Ipv4)
    {
        st.c.drop_not_for_us += 1;
        return None;
    }
    let p = eth.payload();
    match ethertype {
        EthernetProtocol::Arp => {
            // Ethernet/IPv4 (hardware 1, protocol 0x0800, lengths 6 and 4)
            // and at least 28 bytes; any operation.
            let arp = ArpPacket::new_checked(p).and_then(|a| ArpRepr::parse(&a));
            let Ok(arp) = arp else {
                st.c.drop_invalid += 1;
                return None;
            };
            Some(arp)
        }
        EthernetProtocol::Ipv4 => {
            // Checked: at least 20 bytes, header within the total length,
            // total length within the frame (the rest is padding).
            let ip = Ipv4Packet::new_checked(p)
                .ok()
                .filter(|ip| ip.version() == 4 && usize::from(ip.header_len()) >= IPV4_HEADER_LEN);
            let Some(ip) = ip else {
                st.c.drop_invalid += 1;
                return None;
            };
            if v4mcast && ip.dst_addr().octets()[0] & 0xf0 != 0xe0 {
                st.c.drop_not_for_us += 1;
                return None;
            }
            enqueue(st, AF_INET, &p[..usize::from(ip.total_len())], bs);
            None
        }
        EthernetProtocol::Ipv6 => {
            if !st.cfg.ifhead {
                st.c.drop_af += 1;
                return None;
            }
            let ok = p.len() >= IPV6_HLEN && p[0] >> 4 == 6;
            let total = if ok {
                IPV6_HLEN + usize::from(u16::from_be_bytes([p[4], p[5]]))
            } else {
                0
            };
            if !ok || total > p.len() {
                st.c.drop_invalid += 1;
                return None;
            }
            enqueue(st, AF_INET6, &p[..total], bs);
            None
        }
        _ => {
            st.c.drop_af += 1;
            None
        }
    }
}

fn enqueue(st: &mut State, af: u32, pkt: &[u8], bs: usize) {
    if st.rq_len == TUN_QUEUE {
        st.c.drop_queue_full += 1;
        return;
    }
    let i = (st.rq_head + st.rq_len) % TUN_QUEUE;
    st.readq[i * bs..i * bs + pkt.len()].copy_from_slice(pkt);
    st.readq_meta[i] = (af, pkt.len());
    st.rq_len += 1;
}

impl Port for TunPort {
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

    /// The handle drives the tx kring itself.
    fn txsync(&self, _ring: usize) -> Result<(), SyncError> {
        Ok(())
    }

    /// [`TunPort::poll`] consumes the rx kring.
    fn rxsync(&self, _ring: usize) -> Result<(), SyncError> {
        Ok(())
    }

    /// Frames from the switch wake the reader's waker (its `ready` polls
    /// them in); [`TunPort::poll`] handles them otherwise.
    fn notify(&self, dir: Dir, ring: usize) {
        if dir == Dir::Rx {
            self.wake_reader();
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

//! # tuntap: tap and tun ports on a VALE switch
//!
//! Portable (`no_std`, host-tested) virtual interfaces in the style of the
//! BSD `tap(4)` and `tun(4)` devices, rebuilt as netmap ports:
//!
//! - a [`TapPort`] (`tapN`) carries Ethernet frames: the switch delivers
//!   into its rx kring (a bounded queue) and a file-like handle reads one
//!   frame per [`TapPort::read`] and sends one per [`TapPort::write`];
//! - a [`TunPort`] (`tunN`) carries IP packets: it joins the layer-2
//!   switch with its own MAC, answers ARP for its address, strips the
//!   Ethernet header on receive and adds it on send, resolving the next
//!   hop by ARP (see [`tun`]).
//!
//! Both implement [`netmap::Port`]: register them with
//! `Registry::register`, attach them with `Registry::attach` (or
//! `Switch::attach`) and hand the returned attachment to the port with
//! `link`. Their krings are driven by the handle, so they must not be
//! opened by name through the registry as well.
//!
//! The crate has no clock and never sleeps: blocking reads take a
//! caller-supplied wait function (`read_wait`), the tun's ARP timers a
//! caller-supplied `now` in milliseconds. A wait function that sleeps
//! registers a [`Waker`](core::task::Waker) with `set_waker`: the port
//! wakes it when the switch delivers a frame, when the interface goes
//! down and on `close`, so a blocked reader needs no polling loop.
//!
//! ## Lifecycle (open/close)
//!
//! As the reference devices (`/dev/tapN`, `/dev/tunN`): a port has at
//! most one opener. `open` claims it (a second open is [`Error::InUse`],
//! `EBUSY`); `close` releases it, brings the interface down (dropping
//! what its queues held, counted as `drop_down`; the slots are the
//! switch's again), returns the handle to blocking mode and, for a tun,
//! forgets its address, peer, gateway and ARP entries (MAC, MTU, mode and
//! IFHEAD stay). A port that is not open has no reader or writer: `read`,
//! `read_wait` and `write` are [`Error::NotOpen`] (`EBADF`), and frames
//! the switch delivers are dropped (`drop_down`). Being up is separate:
//! `set_up`, or for a tun `set_addr` (as `ifconfig tun0 A B` brings the
//! interface up). Readiness for writing (`writable`) is always true, as
//! the reference's poll says: a write never waits, it succeeds or fails
//! at once.
//!
//! ## Address families (IFHEAD)
//!
//! In IFHEAD mode every tun read and write starts with the packet's
//! address family as a 4-byte big-endian word, with the BSD numbers:
//! [`AF_INET`] = 2, [`AF_INET6`] = 28 (FreeBSD and DragonFly; Linux's 10
//! is not accepted). Without IFHEAD a tun carries IPv4 only.
//!
//! ## Errors
//!
//! | error | errno | raised by | when |
//! | --- | --- | --- | --- |
//! | [`Error::WouldBlock`] | `EWOULDBLOCK` | `read`, `read_wait` in non-blocking mode | nothing queued |
//! | [`Error::TimedOut`] | `ETIMEDOUT` | `read_wait` | the wait function gave up (caller's deadline) |
//! | [`Error::HostDown`] | `EHOSTDOWN` | `read`, `read_wait`, `write` | open but interface down (writes also counted as `drop_down`); a blocked `read_wait` whose interface goes down |
//! | [`Error::NetDown`] | `ENETDOWN` | `write` | port not attached to a switch (`drop_no_link`) |
//! | [`Error::TooBig`] | `EIO` (as the reference) | `write` | tap: frame over MTU + 14; tun: packet over the MTU. The MTU itself is at most the pool's buffer (and a 16-bit slot length, 65535) minus 14: `set_mtu` refuses more (`EINVAL`), a port on small buffers starts below 1500. Nothing is sent (`drop_oversize`) |
//! | [`Error::AfNoSupport`] | `EAFNOSUPPORT` | tun `write` | IPv6 without IFHEAD, IFHEAD family neither 2 nor 28 (`drop_af`) |
//! | [`Error::Busy`] | `EBUSY` | tun `set_mode` | mode change while up |
//! | [`Error::InUse`] | `EBUSY` | `open` | already open (one opener at a time, until `close`) |
//! | [`Error::NotOpen`] | `EBADF` | `read`, `read_wait`, `write` | the port is not open (checked first; not counted); a blocked `read_wait` whose port is closed |
//! | [`Error::Invalid`] | `EINVAL` | `write`, `set_mac`, `set_info`, `set_mtu`, `set_addr` | tap frame of 1-13 bytes (`drop_short`); tun: IP version not 4 (or 6 with IFHEAD), version not matching the family, truncated header (`drop_invalid`); multicast/zero MAC; MTU out of range; prefix over 32 |
//! | [`Error::HostUnreach`] | `EHOSTUNREACH` | tun `write` | no address, p2p without peer, off-link without gateway, IPv6 unicast (no neighbour discovery) (`drop_no_route`) |
//! | [`Error::NoBufs`] | `ENOBUFS` | tun `write` | hold queue for the unresolved next hop full (`drop_hold_full`) |
//!
//! Where the references differ this crate picks what tells the caller
//! most: writes while down fail (BSD tun accepts them silently), a tun
//! write over the MTU fails (BSD checks only its 16 KiB MRU), a read into a
//! short buffer reports the full length, and a zero-length read returns
//! the next frame's length without consuming it. A zero-length write is a
//! no-op returning 0, as in BSD.
//!
//! Drops without a caller to tell (frames from the switch) are counted:
//! queue full (`drop_queue_full`, also the switch's `drop_ring_full` on
//! the port), arrived while down (`drop_down`), not for the tun's MAC
//! (`drop_not_for_us`), bad IP/ARP (`drop_invalid`), other families
//! (`drop_af`), next hop unresolved after
//! [`RESOLVE_TIMEOUT_MS`](tun::RESOLVE_TIMEOUT_MS) (`drop_unresolved`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

extern crate alloc;

mod error;
mod opener;
pub mod tap;
pub mod tun;
mod wire;

pub use error::Error;
pub use tap::TapPort;
pub use tun::{Mode, TunConfig, TunPort};

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;
/// BSD `AF_INET`.
pub const AF_INET: u32 = 2;
/// BSD `AF_INET6` (FreeBSD, DragonFly).
pub const AF_INET6: u32 = 28;
/// `IFT_ETHER`, a tap's interface type.
pub const IFT_ETHER: u8 = 0x06;
/// `IFT_PPP`, a tun's interface type (as BSD's tun reports).
pub const IFT_PPP: u8 = 0x17;

/// What one read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadInfo {
    /// The frame's (packet's) full length.
    pub len: usize,
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The buffer was shorter than the frame (the rest is lost, as with a
    /// datagram socket), or the read was zero-length (nothing consumed).
    pub truncated: bool,
}

/// Interface information (TAPGIFINFO/TAPSIFINFO, TUNGIFINFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfInfo {
    pub mtu: u32,
    /// `IFT_*` interface type.
    pub if_type: u8,
    pub baudrate: u64,
}

/// Per-port counters. `rx` is toward the reader, `tx` toward the switch
/// (tun: IP bytes, without the Ethernet header).
///
/// Which ones move: a tap moves `rx_*`, `tx_*`, `rx_truncated`,
/// `drop_down`, `drop_oversize`, `drop_short`, `drop_no_link` and
/// `drop_queue_full` only (it never parses a frame, so never
/// `drop_invalid` or `drop_af`); a tun moves all but `drop_short` (the
/// switch drops runts before they reach a port; a tun write has no
/// Ethernet header to be short). [`TAP_COUNTERS`] and [`TUN_COUNTERS`]
/// name the drops each prints. A failed send is counted by its cause
/// ([`Counters::record_send_error`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Reads into a buffer shorter than the frame.
    pub rx_truncated: u64,
    /// Writes while down; frames dropped while or by going down (or by
    /// a close), or arriving while not open (no reader).
    pub drop_down: u64,
    /// Writes over the maximum.
    pub drop_oversize: u64,
    /// Tap writes of 1-13 bytes (tap only).
    pub drop_short: u64,
    /// Tun: malformed IP or ARP (either way).
    pub drop_invalid: u64,
    /// Tun: unsupported address family or ethertype.
    pub drop_af: u64,
    /// Sends while not attached (or after the switch went away).
    pub drop_no_link: u64,
    /// Frames that found the read queue full.
    pub drop_queue_full: u64,
    /// Tun: frames from the switch for another MAC.
    pub drop_not_for_us: u64,
    /// Tun: writes without a next hop.
    pub drop_no_route: u64,
    /// Tun: packets whose next hop did not resolve in time.
    pub drop_unresolved: u64,
    /// Tun: writes refused because the hold queue was full.
    pub drop_hold_full: u64,
    /// Tun: ARP requests sent.
    pub arp_requests: u64,
    /// Tun: ARP replies sent.
    pub arp_replies: u64,
}

/// The drops a tap's counter line shows, in order (see [`Counters`]).
pub const TAP_COUNTERS: &[&str] = &["down", "oversize", "short", "no-link", "queue-full"];
/// The drops a tun's first drop line shows, in order (see [`Counters`]).
pub const TUN_COUNTERS: &[&str] = &["down", "oversize", "invalid", "af", "no-link", "queue-full"];

impl Counters {
    /// Counts a send that failed with `e` under its own cause: not
    /// attached (`drop_no_link`), over the limit (`drop_oversize`), down
    /// (`drop_down`), hold queue full (`drop_hold_full`), no route
    /// (`drop_no_route`), family (`drop_af`); anything else (a slot buffer
    /// the ring could not hand out, never expected) as `drop_invalid`.
    pub fn record_send_error(&mut self, e: Error) {
        match e {
            Error::NetDown => self.drop_no_link += 1,
            Error::TooBig => self.drop_oversize += 1,
            Error::HostDown => self.drop_down += 1,
            Error::NoBufs => self.drop_hold_full += 1,
            Error::HostUnreach => self.drop_no_route += 1,
            Error::AfNoSupport => self.drop_af += 1,
            _ => self.drop_invalid += 1,
        }
    }

    /// The value of the drop counter `name` (one of [`TAP_COUNTERS`] or
    /// [`TUN_COUNTERS`]), for printing.
    pub fn drop_named(&self, name: &str) -> Option<u64> {
        Some(match name {
            "down" => self.drop_down,
            "oversize" => self.drop_oversize,
            "short" => self.drop_short,
            "invalid" => self.drop_invalid,
            "af" => self.drop_af,
            "no-link" => self.drop_no_link,
            "queue-full" => self.drop_queue_full,
            _ => return None,
        })
    }

    /// Every drop, whatever the reason.
    pub fn drops(&self) -> u64 {
        self.drop_down
            + self.drop_oversize
            + self.drop_short
            + self.drop_invalid
            + self.drop_af
            + self.drop_no_link
            + self.drop_queue_full
            + self.drop_not_for_us
            + self.drop_no_route
            + self.drop_unresolved
            + self.drop_hold_full
    }
}

//! `host0`: the kernel's own IP stack (smoltcp) as a port of a VALE switch,
//! the way netmap's host rings carry the host stack.
//!
//! ```text
//!   NIC --Bridge--> vale0 --(rx ring)--> smoltcp --(tx ring)--> vale0 --> NIC
//! ```
//!
//! The stack is an application of the VALE port `valeN:host0`: it opens the
//! port through the registry (the switch copies frames into the port's rx
//! ring, the port's txsync forwards what the stack wrote into its tx ring),
//! and [`poll`] runs it from the idle loop (registered as a poller). The
//! sockets and their buffers are made when the port is attached; a pass
//! over the rings allocates nothing.
//!
//! Services: ARP and ICMP echo (smoltcp's interface), UDP echo on port 7,
//! HTTP on port 80 ([`http`]: `/stats` JSON, `/` HTML), DHCP on request,
//! and the shell's `ping` (an ICMP socket).

mod device;
pub mod http;
pub mod stats;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;

use netmap::{Handle, PortConfig, PortCounters};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, icmp, udp};
use smoltcp::time::{Duration as SDuration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use spin::Mutex;

use device::RingDevice;

/// The interface's name (`ifconfig host0`); its switch port is `valeN:host0`.
pub const NAME: &str = "host0";

/// The stack's MAC: locally administered, apart from the NICs' 52:54:00:...
pub const MAC: [u8; 6] = [0x02, 0x6e, 0x6d, 0x00, 0x00, 0x01];

/// The UDP echo service's port (RFC 862).
pub const ECHO_PORT: u16 = 7;

/// ICMP identifier of the shell's `ping`.
const PING_IDENT: u16 = 0x6e6d;

/// Rings of the host port: small, the stack is no bulk sender.
const PORT_CONFIG: PortConfig = PortConfig {
    tx_rings: 1,
    rx_rings: 1,
    num_slots: 256,
    max_frame: 2048,
};

/// Longest wait between two passes of the stack while nothing arrives.
const MAX_POLL_DELAY: SDuration = SDuration::from_millis(50);

struct Host {
    /// The switch the port is on (`vale0`).
    switch: String,
    handle: Handle,
    iface: Interface,
    sockets: SocketSet<'static>,
    scratch: Box<[u8]>,
    udp: SocketHandle,
    icmp: SocketHandle,
    dhcp: Option<SocketHandle>,
    http: http::Server,
    /// When the stack next needs a pass even without frames.
    next_poll: Instant,
    /// Replies to the shell's ping: (sequence number, arrival).
    ping_reply: Option<(u16, Instant)>,
}

static HOST: Mutex<Option<Host>> = Mutex::new(None);

fn now() -> Instant {
    Instant::from_micros(crate::time::since_boot().as_micros() as i64)
}

/// Puts the stack on `switch` as `switch:host0` and starts its services.
pub fn attach(switch: &str) -> Result<(), String> {
    let net = super::get().ok_or("networking is not initialised")?;
    let mut g = HOST.lock();
    if let Some(h) = g.as_ref() {
        return Err(format!("{NAME} is already on {}", h.switch));
    }
    let name = format!("{switch}:{NAME}");
    let mut handle = net
        .registry
        .open_with(&name, PORT_CONFIG)
        .map_err(super::describe)?;
    let mut scratch = vec![0u8; 2048].into_boxed_slice();

    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(MAC)));
    config.random_seed = crate::time::since_boot().as_nanos() as u64 ^ 0x6e6d_686f_7374;
    let (tx, rx) = handle.rings_mut();
    let mut dev = RingDevice {
        tx: &mut tx[0],
        rx: &mut rx[0],
        scratch: &mut scratch,
        received: 0,
        sent: 0,
    };
    let iface = Interface::new(config, &mut dev, now());

    let mut sockets = SocketSet::new(vec![]);
    let udp = sockets.add({
        let meta = || vec![udp::PacketMetadata::EMPTY; 16];
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(meta(), vec![0; 16 * 1024]),
            udp::PacketBuffer::new(meta(), vec![0; 16 * 1024]),
        );
        s.bind(ECHO_PORT).map_err(|e| format!("udp echo: {e}"))?;
        s
    });
    let icmp = sockets.add({
        let meta = || vec![icmp::PacketMetadata::EMPTY; 8];
        let mut s = icmp::Socket::new(
            icmp::PacketBuffer::new(meta(), vec![0; 4096]),
            icmp::PacketBuffer::new(meta(), vec![0; 4096]),
        );
        s.bind(icmp::Endpoint::Ident(PING_IDENT))
            .map_err(|e| format!("icmp: {e}"))?;
        s
    });
    let http = http::Server::new(&mut sockets);
    *g = Some(Host {
        switch: switch.into(),
        handle,
        iface,
        sockets,
        scratch,
        udp,
        icmp,
        dhcp: None,
        http,
        next_poll: now(),
        ping_reply: None,
    });
    drop(g);
    super::register_poller(poll);
    Ok(())
}

/// Takes the stack off its switch (closing the port).
pub fn detach() -> Result<(), String> {
    super::unregister_poller(poll);
    HOST.lock()
        .take()
        .map(drop)
        .ok_or_else(|| format!("{NAME} is not attached"))
}

/// The switch the stack is on, if any.
pub fn switch() -> Option<String> {
    HOST.lock().as_ref().map(|h| h.switch.clone())
}

/// What `ifconfig host0` shows.
pub struct Info {
    pub port: String,
    pub addr: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
    pub dhcp: bool,
    pub counters: PortCounters,
}

pub fn info() -> Option<Info> {
    let g = HOST.lock();
    let h = g.as_ref()?;
    Some(Info {
        port: format!("{}:{NAME}", h.switch),
        addr: ipv4_cidr(&h.iface),
        gateway: *ROUTE.lock(),
        dhcp: h.dhcp.is_some(),
        counters: h.handle.port().counters(),
    })
}

fn ipv4_cidr(iface: &Interface) -> Option<Ipv4Cidr> {
    iface.ip_addrs().iter().map(|IpCidr::Ipv4(c)| *c).next()
}

/// The default gateway as configured (smoltcp keeps its routes private).
static ROUTE: Mutex<Option<Ipv4Address>> = Mutex::new(None);

fn set_addr(iface: &mut Interface, cidr: Option<Ipv4Cidr>, gw: Option<Ipv4Address>) {
    iface.update_ip_addrs(|addrs| {
        addrs.clear();
        if let Some(c) = cidr {
            let _ = addrs.push(IpCidr::Ipv4(c));
        }
    });
    iface.routes_mut().remove_default_ipv4_route();
    if let Some(gw) = gw {
        let _ = iface.routes_mut().add_default_ipv4_route(gw);
    }
    *ROUTE.lock() = gw;
}

/// `ifconfig host0 inet A/P [gw G]`: a static address (stops DHCP).
pub fn set_static(cidr: Ipv4Cidr, gw: Option<Ipv4Address>) -> Result<(), String> {
    let mut g = HOST.lock();
    let h = g
        .as_mut()
        .ok_or_else(|| format!("{NAME} is not attached (vale-ctl -h valeN:IF)"))?;
    if let Some(d) = h.dhcp.take() {
        h.sockets.remove(d);
    }
    set_addr(&mut h.iface, Some(cidr), gw);
    h.next_poll = now();
    Ok(())
}

/// `dhcp host0`: starts the DHCP client (the address comes later: see
/// [`info`]).
pub fn start_dhcp() -> Result<(), String> {
    let mut g = HOST.lock();
    let h = g
        .as_mut()
        .ok_or_else(|| format!("{NAME} is not attached (vale-ctl -h valeN:IF)"))?;
    if let Some(d) = h.dhcp.take() {
        h.sockets.remove(d);
    }
    set_addr(&mut h.iface, None, None);
    h.dhcp = Some(h.sockets.add(dhcpv4::Socket::new()));
    h.next_poll = now();
    Ok(())
}

/// Sends one echo request to `addr` from the ping socket.
pub fn ping_send(addr: Ipv4Address, seq: u16, payload: &[u8]) -> Result<(), String> {
    use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};
    let mut g = HOST.lock();
    let h = g
        .as_mut()
        .ok_or_else(|| format!("{NAME} is not attached"))?;
    h.ping_reply = None;
    let repr = Icmpv4Repr::EchoRequest {
        ident: PING_IDENT,
        seq_no: seq,
        data: payload,
    };
    let caps = smoltcp::phy::ChecksumCapabilities::default();
    let s = h.sockets.get_mut::<icmp::Socket>(h.icmp);
    let buf = s
        .send(repr.buffer_len(), IpAddress::Ipv4(addr))
        .map_err(|e| format!("ping: {e}"))?;
    repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
    h.next_poll = now();
    Ok(())
}

/// The arrival time (since boot, microseconds) of the echo reply `seq`,
/// once it came.
pub fn ping_reply(seq: u16) -> Option<i64> {
    let g = HOST.lock();
    let h = g.as_ref()?;
    h.ping_reply
        .filter(|r| r.0 == seq)
        .map(|r| r.1.total_micros())
}

/// One pass of the stack (the idle loop's poller): take what the switch
/// delivered, run smoltcp and the services, send what they wrote. Returns
/// whether a frame moved.
pub fn poll() -> bool {
    let Some(mut g) = HOST.try_lock() else {
        return false;
    };
    let Some(h) = g.as_mut() else { return false };
    // New frames from the switch (and release of the ones read last pass).
    let _ = h.handle.rxsync(0);
    let t = now();
    let pending = h.handle.rx_ring(0).is_some_and(|r| !r.is_empty());
    if !pending && t < h.next_poll {
        return false;
    }
    let (mut received, mut sent) = (0, 0);
    for _ in 0..2 {
        let (tx, rx) = h.handle.rings_mut();
        let mut dev = RingDevice {
            tx: &mut tx[0],
            rx: &mut rx[0],
            scratch: &mut h.scratch,
            received: 0,
            sent: 0,
        };
        h.iface.poll(now(), &mut dev, &mut h.sockets);
        received += dev.received;
        sent += dev.sent;
        // Services answer what arrived; the second pass sends their replies.
        let mut again = services(h);
        if sent > 0 {
            let _ = h.handle.txsync(0);
            again |= h.handle.tx_ring(0).is_some_and(|r| r.is_empty());
        }
        if !again {
            break;
        }
    }
    if sent > 0 {
        let _ = h.handle.txsync(0);
    }
    let delay = h
        .iface
        .poll_delay(now(), &h.sockets)
        .unwrap_or(MAX_POLL_DELAY)
        .min(MAX_POLL_DELAY);
    h.next_poll = now() + delay;
    received + sent > 0
}

/// The services, after a pass of the interface. Returns whether one of
/// them queued something to send.
fn services(h: &mut Host) -> bool {
    let mut queued = false;
    // UDP echo: each datagram back to its sender.
    let s = h.sockets.get_mut::<udp::Socket>(h.udp);
    while s.can_send() {
        let Ok((data, meta)) = s.recv() else { break };
        let (ep, len) = (meta.endpoint, data.len());
        // recv's slice borrows the socket: copy through the scratch buffer.
        let n = len.min(h.scratch.len());
        h.scratch[..n].copy_from_slice(&data[..n]);
        let _ = s.send_slice(&h.scratch[..n], ep);
        queued = true;
    }
    // Ping replies.
    let s = h.sockets.get_mut::<icmp::Socket>(h.icmp);
    while let Ok((data, _from)) = s.recv() {
        use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        if let Ok(p) = Icmpv4Packet::new_checked(data) {
            if let Ok(Icmpv4Repr::EchoReply {
                ident: PING_IDENT,
                seq_no,
                ..
            }) = Icmpv4Repr::parse(&p, &caps)
            {
                h.ping_reply = Some((seq_no, now()));
            }
        }
    }
    // DHCP.
    if let Some(d) = h.dhcp {
        match h.sockets.get_mut::<dhcpv4::Socket>(d).poll() {
            Some(dhcpv4::Event::Configured(c)) => {
                log::info!("{NAME}: dhcp {} gw {:?}", c.address, c.router);
                set_addr(&mut h.iface, Some(c.address), c.router);
                queued = true;
            }
            Some(dhcpv4::Event::Deconfigured) if ipv4_cidr(&h.iface).is_some() => {
                log::info!("{NAME}: dhcp lease lost");
                set_addr(&mut h.iface, None, None);
            }
            _ => {}
        }
    }
    let view = stats::HostView {
        addr: ipv4_cidr(&h.iface),
        gateway: *ROUTE.lock(),
    };
    queued |= h.http.serve(&mut h.sockets, &view, now());
    queued
}

/// Runs `f` with the host stack's handle, if the stack is up (for the
/// pool audit, [`super::audit`]).
pub fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let g = HOST.lock();
    f(g.as_ref().map(|h| &h.handle))
}

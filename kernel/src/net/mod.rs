//! Networking: the buffer pool, the NICs, the switches, and the loop that
//! moves frames between them.
//!
//! ```text
//!   virtio NIC --(rx kring)--> Bridge --forward--> VALE switch --> other ports
//!   other ports --> VALE switch --> Bridge rx kring --swap--> NIC tx kring
//! ```
//!
//! Control (attach, detach, create) goes through [`netmap::registry::Registry`]
//! under its control-plane lock; the datapath only walks [`Net::polled`],
//! a list the control plane rebuilds, so the loop never allocates.
//!
//! `unsafe` lives in two places here: [`pool`] (the DMA region handed to
//! the portable crates as the buffer pool) and [`virtio`] (device
//! registers, queue regions, the `virtio-drivers` HAL). The rest is glue
//! over safe interfaces.

#![deny(unsafe_code)]

pub mod audit;
pub mod host;
pub mod pcap;
#[allow(unsafe_code, reason = "the pool's DMA region")]
pub mod pool;
pub mod tuntap;
#[allow(
    unsafe_code,
    reason = "device registers, queue regions, the virtio-drivers HAL"
)]
pub mod virtio;
mod wake;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use netmap::port::Port;
use netmap::registry::Registry;
use netmap::vale::Switch;
use netmap::OpenError;
use netmap_virtio::Bridge;
use spin::{Mutex, Once, RwLock};

use crate::pci;
use virtio::device::NicDevice;

/// PCI IDs of a modern (non-transitional) virtio-net function (virtio 1.2, 4.1.2.1).
const VIRTIO_VENDOR: u16 = 0x1af4;
const VIRTIO_NET_MODERN: u16 = 0x1041;

/// Everything networking owns.
pub struct Net {
    pub registry: Registry,
    pub nics: Vec<NicDevice>,
    /// Bridged NICs, which the loop polls; changed by the control plane.
    polled: RwLock<Vec<Arc<Bridge>>>,
    /// Control-plane lock: attach/detach run one at a time.
    control: Mutex<()>,
}

static NET: Once<Net> = Once::new();

/// A datapath task the idle loop runs on every pass (the host stack, an
/// in-kernel application): returns whether it did any work.
pub type Poller = fn() -> bool;

/// Registered pollers. Registration (control plane) may allocate; the
/// loop only reads.
static POLLERS: RwLock<Vec<Poller>> = RwLock::new(Vec::new());

/// Run `f` on every pass of the idle loop (idempotent per function).
pub fn register_poller(f: Poller) {
    let mut p = POLLERS.write();
    if !p.iter().any(|&g| core::ptr::fn_addr_eq(g, f)) {
        p.push(f);
    }
}

/// Stop running `f`.
pub fn unregister_poller(f: Poller) {
    POLLERS.write().retain(|&g| !core::ptr::fn_addr_eq(g, f));
}

/// Frames the datapath moved (bridges count both directions; pollers add
/// theirs with [`count_frames`]): the `stats` command's denominator.
pub static FRAMES: AtomicU64 = AtomicU64::new(0);

/// For pollers: `n` frames moved.
pub fn count_frames(n: u64) {
    FRAMES.fetch_add(n, Ordering::Relaxed);
}

/// The networking state (after [`init`]).
pub fn get() -> Option<&'static Net> {
    NET.get()
}

/// Create the pool, bring up every virtio-net function as `virtioN`, and
/// route their interrupts to the idle loop's wake-up.
pub fn init() {
    NET.call_once(|| {
        let (pool, pool_phys) = pool::create();
        let registry = Registry::new(pool.clone());
        let mut nics = Vec::new();
        for func in pci::functions().iter().filter(|f| f.vendor_id == VIRTIO_VENDOR && f.device_id == VIRTIO_NET_MODERN) {
            let name = format!("virtio{}", nics.len());
            match NicDevice::probe(func, &name, &pool, pool_phys) {
                Ok(nic) => {
                    let m = nic.port.mac();
                    log::info!(
                        "{name}: {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, link {}, irq {:?}",
                        func.address, m[0], m[1], m[2], m[3], m[4], m[5],
                        if nic.port.link_up() { "up" } else { "down" }, nic.gsi
                    );
                    if let Err(e) = registry.register(nic.port.clone()) {
                        log::error!("{name}: cannot register: {e}");
                    }
                    nics.push(nic);
                }
                Err(e) => log::error!("virtio-net at {}: {e}", func.address),
            }
        }
        wake::route(nics.iter().filter_map(|n| n.gsi));
        Net { registry, nics, polled: RwLock::new(Vec::new()), control: Mutex::new(()) }
    });
}

/// How often every NIC queue is checked for a lost notification
/// (`VirtioNic::watchdog`). The check is a few loads; a queue is kicked
/// only after two looks without progress, so a lost notification costs at
/// most two periods (two timer ticks while the CPU sleeps).
const WATCHDOG_PERIOD_MS: u64 = 5;
static LAST_WATCHDOG: AtomicU64 = AtomicU64::new(0);

/// One pass of the datapath: acknowledge device interrupts, reset broken
/// devices, move frames through every bridged NIC. Returns whether any
/// frame moved (the idle loop keeps polling while it does).
pub fn poll() -> bool {
    let Some(net) = get() else { return false };
    if wake::take() {
        for nic in &net.nics {
            nic.ack_interrupt();
        }
        wake::unmask();
    }
    let now = crate::time::since_boot().as_millis() as u64;
    for nic in &net.nics {
        // A failed re-initialisation is retried once its backoff ran out.
        if nic.port.reset_due(now) {
            nic.reset(now);
        }
    }
    if now.wrapping_sub(LAST_WATCHDOG.load(Ordering::Relaxed)) >= WATCHDOG_PERIOD_MS {
        LAST_WATCHDOG.store(now, Ordering::Relaxed);
        for nic in &net.nics {
            nic.port.watchdog();
        }
    }
    // Every switch reads the registry's clock: one store (no registry
    // lock), so switches without a bridged NIC age their MAC tables too.
    net.registry.set_clock(now);
    let mut moved = 0;
    for bridge in net.polled.read().iter() {
        // An error is a device error: the NIC flagged itself for the reset
        // above, on the next pass.
        moved += bridge.poll().unwrap_or(0);
    }
    FRAMES.fetch_add(u64::from(moved), Ordering::Relaxed);
    let mut worked = moved > 0;
    for poller in POLLERS.read().iter() {
        worked |= poller();
    }
    worked
}

/// Before the CPU sleeps: arm every NIC's interrupts. Returns `true` if
/// work arrived meanwhile (poll again instead of sleeping).
pub fn arm() -> bool {
    let Some(net) = get() else { return false };
    let mut pending = false;
    for nic in &net.nics {
        pending |= nic.port.arm();
    }
    pending
}

/// While busy: no interrupts.
pub fn disarm() {
    if let Some(net) = get() {
        for nic in &net.nics {
            nic.port.disarm();
        }
    }
}

/// Errors of the control plane, as the shell prints them.
pub fn describe(e: OpenError) -> String {
    match e {
        OpenError::Name(n) => format!("bad name: {n}"),
        OpenError::NotFound => "no such port".into(),
        OpenError::Busy => "port busy (open or attached elsewhere)".into(),
        OpenError::Exists => "already exists".into(),
        OpenError::SwitchFull => "switch full (254 ports)".into(),
        OpenError::Pool(p) => format!("out of buffers: {p}"),
        OpenError::BadConfig => "bad ring configuration".into(),
        OpenError::Unsupported => "not supported for this port".into(),
    }
}

/// `vale-ctl -a switch:port`: attach a NIC (through a bridge) or any
/// other registered port (tap, tun) directly.
pub fn attach(switch: &str, port: &str) -> Result<Arc<Switch>, OpenError> {
    let net = get().ok_or(OpenError::NotFound)?;
    let _g = net.control.lock();
    if !net.nics.iter().any(|n| n.port.name() == port) {
        let (sw, a) = net.registry.attach(switch, port)?;
        tuntap::linked(port, &sw, a);
        return Ok(sw);
    }
    let name = format!("{switch}:{port}");
    let mut bridge = None;
    let (sw, _) = net.registry.attach_with(switch, port, |sw, hw| {
        let b = Bridge::attach(sw, hw, &name)?;
        bridge = Some(b.clone());
        Ok((b.attachment(), b as Arc<dyn Port>))
    })?;
    if let Some(b) = bridge {
        net.polled.write().push(b);
    }
    Ok(sw)
}

/// `vale-ctl -d switch:port`.
pub fn detach(switch: &str, port: &str) -> Result<(), OpenError> {
    let net = get().ok_or(OpenError::NotFound)?;
    let _g = net.control.lock();
    net.registry.detach(switch, port)?;
    tuntap::unlinked(port);
    let name = format!("{switch}:{port}");
    net.polled.write().retain(|b| b.name() != name);
    Ok(())
}

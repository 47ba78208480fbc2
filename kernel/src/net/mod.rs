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
//! lists the control plane rebuilds, so the loop never allocates.
//!
//! Several CPUs: queue pair `k` of every bridged NIC is polled by one CPU,
//! `k mod CPUs`, which also takes the pair's interrupts (its MSI-X
//! message, see [`virtio::vectors`], or CPU 0's INTx passed on by IPI, see
//! [`wake`]). A frame that arrives on pair `k`
//! crosses the switch on that CPU (the NIC's rx kring `k` is source ring
//! `k`) into destination rx kring `k mod n` of each port, and a bridged
//! NIC sends it on pair `k` too: a flow stays on one CPU end to end, and
//! two CPUs meet on a ring only when their flows share a destination whose
//! ring count is smaller. Each CPU has its own list of what it polls
//! ([`Net::polled`]), its own frame counter and idle-loop counters, and
//! arms only its own pairs' interrupts. CPU 0 alone runs the control work
//! of a pass ([`control`]: interrupt acknowledgement, device resets, the
//! queue watchdog, the registry's clock) and the registered pollers (host
//! stack, capture, applications), so none of these ever runs on two CPUs
//! at once.
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

use crate::arch::percpu::{self, MAX_CPUS};
use crate::pci;
use virtio::device::NicDevice;

/// PCI IDs of a modern (non-transitional) virtio-net function (virtio 1.2, 4.1.2.1).
const VIRTIO_VENDOR: u16 = 0x1af4;
const VIRTIO_NET_MODERN: u16 = 0x1041;

/// One bridged NIC as one CPU polls it: the rings (queue pairs) it owns.
struct Polled {
    bridge: Arc<Bridge>,
    /// Bit `k`: pair `k` (the NIC's rx and tx kring `k`, the bridge's rx
    /// kring `k`).
    rings: u32,
}

/// A value on a cache line of its own (per-CPU data that CPUs write).
#[repr(align(64))]
struct CacheLine<T>(T);

/// Everything networking owns.
pub struct Net {
    pub registry: Registry,
    pub nics: Vec<NicDevice>,
    /// Per CPU: the bridged NICs' rings it polls; changed by the control
    /// plane (a CPU's pass takes only its own list's read lock).
    polled: [CacheLine<RwLock<Vec<Polled>>>; MAX_CPUS],
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

/// Frames the datapath moved, per CPU (bridges count both directions;
/// pollers add theirs with [`count_frames`]): the `stats` command's
/// denominator.
static FRAMES: [CacheLine<AtomicU64>; MAX_CPUS] =
    [const { CacheLine(AtomicU64::new(0)) }; MAX_CPUS];

/// For pollers: `n` frames moved (on this CPU).
pub fn count_frames(n: u64) {
    FRAMES[percpu::index()].0.fetch_add(n, Ordering::Relaxed);
}

/// Frames CPU `cpu` moved.
pub fn frames(cpu: usize) -> u64 {
    FRAMES.get(cpu).map_or(0, |f| f.0.load(Ordering::Relaxed))
}

/// Zeroes every CPU's frame count (`stats reset`).
pub fn reset_frames() {
    for f in &FRAMES {
        f.0.store(0, Ordering::Relaxed);
    }
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
                        "{name}: {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, link {}, irq {}, {} pair(s)",
                        func.address, m[0], m[1], m[2], m[3], m[4], m[5],
                        if nic.port.link_up() { "up" } else { "down" }, nic.irq(), nic.pairs
                    );
                    if let Err(e) = registry.register(nic.port.clone()) {
                        log::error!("{name}: cannot register: {e}");
                    }
                    nics.push(nic);
                }
                Err(e) => log::error!("virtio-net at {}: {e}", func.address),
            }
        }
        wake::route(nics.iter().filter_map(|n| n.gsi), || {
            for nic in &nics {
                nic.ack_interrupt();
            }
        });
        Net {
            registry,
            nics,
            polled: [const { CacheLine(RwLock::new(Vec::new())) }; MAX_CPUS],
            control: Mutex::new(()),
        }
    });
}

/// How often every NIC queue is checked for a lost notification
/// (`VirtioNic::watchdog`). The check is a few loads; a queue is kicked
/// only after two looks without progress, so a lost notification costs at
/// most two periods (two timer ticks while the CPU sleeps).
const WATCHDOG_PERIOD_MS: u64 = 5;
static LAST_WATCHDOG: AtomicU64 = AtomicU64::new(0);

/// CPU 0's share of a pass that is not frames: acknowledge device
/// interrupts, reset broken devices, run the queue watchdog, set the
/// registry's clock. Runs on CPU 0 only, so a device reset is started by
/// one CPU (and `VirtioNic::reset` refuses a second caller anyway) and the
/// watchdog's timestamp has one writer.
fn control(net: &Net) {
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
}

/// One pass of the datapath on this CPU: on CPU 0 the [`control`] work
/// first; then every ring this CPU owns, each bridged NIC's pairs in turn
/// (switch to NIC, then NIC to switch); on CPU 0 the pollers last.
/// Returns whether anything moved (the idle loop keeps polling while it
/// does).
pub fn poll() -> bool {
    let Some(net) = get() else { return false };
    let cpu = percpu::index();
    if cpu == 0 {
        control(net);
    }
    let mut moved = 0;
    for p in net.polled[cpu].0.read().iter() {
        let mut rings = p.rings;
        while rings != 0 {
            let r = rings.trailing_zeros() as usize;
            rings &= rings - 1;
            // An error is a device error: the NIC flagged itself for the
            // reset CPU 0 runs in its next pass.
            moved += p.bridge.flush_ring(r).unwrap_or(0);
            moved += p.bridge.forward_ring(r).unwrap_or(0);
        }
    }
    if moved > 0 {
        count_frames(u64::from(moved));
    }
    let mut worked = moved > 0;
    if cpu == 0 {
        for poller in POLLERS.read().iter() {
            worked |= poller();
        }
    }
    worked
}

/// Before this CPU sleeps: arm the interrupts of the NIC queue pairs it
/// owns. Returns `true` if work arrived meanwhile (poll again instead of
/// sleeping).
pub fn arm() -> bool {
    let Some(net) = get() else { return false };
    let cpu = percpu::index();
    // Before arming: an INTx raised from here on is passed on to this CPU.
    wake::sleep(cpu);
    let mut pending = false;
    for nic in &net.nics {
        for k in (0..usize::from(nic.pairs)).filter(|&k| nic.pair_cpu(k) == cpu) {
            pending |= nic.port.arm_pair(k);
        }
    }
    if pending {
        wake::awake(cpu);
    }
    pending
}

/// This CPU woke from its halt.
pub fn woke() {
    wake::awake(percpu::index());
}

/// While busy: no interrupts from this CPU's pairs.
pub fn disarm() {
    let Some(net) = get() else { return };
    let cpu = percpu::index();
    for nic in &net.nics {
        for k in (0..usize::from(nic.pairs)).filter(|&k| nic.pair_cpu(k) == cpu) {
            nic.port.disarm_pair(k);
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
    if let (Some(b), Some(nic)) = (bridge, net.nics.iter().find(|n| n.port.name() == port)) {
        // Each pair to the list of the CPU that owns it.
        let mut rings = [0u32; MAX_CPUS];
        for k in 0..usize::from(nic.pairs).min(32) {
            rings[nic.pair_cpu(k)] |= 1 << k;
        }
        for (cpu, &r) in rings.iter().enumerate().filter(|(_, &r)| r != 0) {
            net.polled[cpu].0.write().push(Polled {
                bridge: b.clone(),
                rings: r,
            });
        }
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
    for list in &net.polled {
        list.0.write().retain(|p| p.bridge.name() != name);
    }
    Ok(())
}

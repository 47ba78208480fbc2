//! Tap and tun ports (the `tuntap` crate) in the kernel: created and
//! destroyed in the networking registry (the shared buffer pool), linked to
//! their switch when `vale-ctl -a` attaches them, and the tun timers/input
//! run from the idle loop.
//!
//! Names are `tapN` / `tunN` with N in 0..=255; MACs are locally
//! administered: tap N `02:54:00:00:00:N`, tun N `02:54:00:01:00:N`
//! (changeable with ifconfig).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use ::tuntap::{TapPort, TunPort};
use netmap::port::Port;
use netmap::vale::Attachment;
use netmap::{OpenError, Switch};
use spin::RwLock;

static TAPS: RwLock<Vec<Arc<TapPort>>> = RwLock::new(Vec::new());
static TUNS: RwLock<Vec<Arc<TunPort>>> = RwLock::new(Vec::new());

/// Milliseconds since boot: the tun's clock.
pub fn now_ms() -> u64 {
    crate::time::since_boot().as_millis() as u64
}

/// The unit number of `name` if it is `PREFIX` followed by 0..=255.
fn unit(name: &str, prefix: &str) -> Option<u8> {
    let n = name.strip_prefix(prefix)?;
    if n.is_empty()
        || n.len() > 3
        || !n.bytes().all(|b| b.is_ascii_digit())
        || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// Creates `tapN`.
pub fn create_tap(name: &str) -> Result<Arc<TapPort>, OpenError> {
    let n = unit(name, "tap").ok_or(OpenError::BadConfig)?;
    let net = super::get().ok_or(OpenError::NotFound)?;
    let tap = TapPort::new(net.registry.pool(), name, [0x02, 0x54, 0, 0, 0, n])?;
    net.registry.register(tap.clone())?;
    TAPS.write().push(tap.clone());
    Ok(tap)
}

/// Creates `tunN`.
pub fn create_tun(name: &str) -> Result<Arc<TunPort>, OpenError> {
    let n = unit(name, "tun").ok_or(OpenError::BadConfig)?;
    let net = super::get().ok_or(OpenError::NotFound)?;
    let tun = TunPort::new(net.registry.pool(), name, [0x02, 0x54, 0, 1, 0, n])?;
    net.registry.register(tun.clone())?;
    TUNS.write().push(tun.clone());
    super::register_poller(poll);
    Ok(tun)
}

/// Destroys a tap or tun port (detaching it from its switch).
pub fn destroy(name: &str) -> Result<(), OpenError> {
    let net = super::get().ok_or(OpenError::NotFound)?;
    // The control lock, as attach and detach take it: a destroy never
    // interleaves with a `vale-ctl` on the same port.
    let _g = net.control.lock();
    if tap(name).is_none() && tun(name).is_none() {
        return Err(OpenError::NotFound);
    }
    net.registry.unregister(name)?;
    // Off its switch now: the port forgets the switch and its attachment
    // (a write after this is ENETDOWN, not a send into a dead slot).
    unlinked(name);
    TAPS.write().retain(|t| t.name() != name);
    TUNS.write().retain(|t| t.name() != name);
    Ok(())
}

pub fn tap(name: &str) -> Option<Arc<TapPort>> {
    TAPS.read().iter().find(|t| t.name() == name).cloned()
}

pub fn tun(name: &str) -> Option<Arc<TunPort>> {
    TUNS.read().iter().find(|t| t.name() == name).cloned()
}

pub fn taps() -> Vec<Arc<TapPort>> {
    TAPS.read().clone()
}

pub fn tuns() -> Vec<Arc<TunPort>> {
    TUNS.read().clone()
}

/// After the registry attached `port`: if it is a tap or tun, tell it.
pub fn linked(port: &str, sw: &Arc<Switch>, a: Attachment) {
    if let Some(t) = tap(port) {
        t.link(sw.clone(), a);
    } else if let Some(t) = tun(port) {
        t.link(sw.clone(), a);
    }
}

/// After the registry detached `port`.
pub fn unlinked(port: &str) {
    if let Some(t) = tap(port) {
        t.unlink();
    } else if let Some(t) = tun(port) {
        t.unlink();
    }
}

/// Idle-loop poller: tun input (ARP, IP to the read queue) and timers.
fn poll() -> bool {
    let now = now_ms();
    let mut worked = false;
    for t in TUNS.read().iter() {
        worked |= t.poll(now);
    }
    worked
}

/// A wait function for the ports' `read_wait`: runs the idle loop until
/// `ready()` or until `timeout` passed. No waker is registered: the frame
/// that makes the port ready is delivered by the idle loop's own passes
/// (a NIC's interrupt ends the halt, the pass forwards the frame, `ready`
/// is checked after every pass), and between them the CPU halts.
pub fn waiter(timeout: Duration) -> impl FnMut(&mut dyn FnMut() -> bool) -> bool {
    move |ready| {
        let deadline = crate::time::since_boot() + timeout;
        crate::idle::wait_for(|| {
            if ready() {
                Some(true)
            } else if crate::time::since_boot() >= deadline {
                Some(false)
            } else {
                None
            }
        })
    }
}

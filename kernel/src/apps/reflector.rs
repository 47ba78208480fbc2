//! The reflector: every frame a NIC receives goes straight back out of
//! the same NIC, unchanged. With a packet generator on the host side it
//! measures what QEMU's virtio-net and its backend can carry at all (no
//! switch, no copy): the ceiling for the switch's figures.
//!
//! It is a plain netmap application on the NIC's native rings: it opens
//! the NIC through the registry (refused while the NIC is on a switch, or
//! open elsewhere), and on every pass of the idle loop
//!
//! 1. `rxsync` (releases the slots of the previous pass, reports frames),
//! 2. swaps each received buffer with a free tx slot's (zero copy: the
//!    lengths travel with the buffers, both slots get `NS_BUF_CHANGED`),
//! 3. `txsync` (one doorbell for the whole batch, reclaims what QEMU sent),
//! 4. `rxsync` again, so the device gets its buffers back at once.
//!
//! When the tx ring is full the rest waits in the rx ring; when the rx
//! ring is full QEMU stops reading the backend: back-pressure, no drops.

use alloc::string::{String, ToString};

use netmap::port::Handle;
use netmap::OpenError;
use spin::Mutex;

use crate::net;

/// What a reflector did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ifname: String,
    pub frames: u64,
    pub bytes: u64,
    /// Passes that moved at least one frame.
    pub batches: u64,
    /// Frames waiting when it started, dropped (stale, as at an attach).
    pub stale: u64,
}

struct Reflector {
    handle: Handle,
    stats: Stats,
}

/// At most one reflector (it owns its NIC anyway).
static ACTIVE: Mutex<Option<Reflector>> = Mutex::new(None);

/// Why `start` refused.
#[derive(Debug)]
pub enum StartError {
    NoNetwork,
    NoSuchNic(String),
    Running(String),
    Open(OpenError),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoNetwork => f.write_str("networking is not initialised"),
            StartError::NoSuchNic(n) => write!(f, "no NIC {n}"),
            StartError::Running(n) => write!(f, "already reflecting on {n} ('reflect stop' first)"),
            StartError::Open(OpenError::Busy) => f.write_str(
                "NIC busy: attached to a switch or open elsewhere ('vale-ctl -d' it first)",
            ),
            StartError::Open(e) => f.write_str(&net::describe(*e)),
        }
    }
}

/// Open NIC `ifname` in native mode and reflect everything it receives.
pub fn start(ifname: &str) -> Result<(), StartError> {
    let netw = net::get().ok_or(StartError::NoNetwork)?;
    if !netw
        .nics
        .iter()
        .any(|n| netmap::port::Port::name(&*n.port) == ifname)
    {
        return Err(StartError::NoSuchNic(ifname.to_string()));
    }
    let mut active = ACTIVE.lock();
    if let Some(r) = active.as_ref() {
        return Err(StartError::Running(r.stats.ifname.clone()));
    }
    let handle = netw.registry.open(ifname).map_err(StartError::Open)?;
    let mut r = Reflector {
        handle,
        stats: Stats {
            ifname: ifname.to_string(),
            ..Stats::default()
        },
    };
    r.stats.stale = r.discard_pending();
    *active = Some(r);
    drop(active);
    net::register_poller(poll);
    Ok(())
}

/// Stop (closing the NIC); returns what it did, or `None` if none ran.
pub fn stop() -> Option<Stats> {
    net::unregister_poller(poll);
    ACTIVE.lock().take().map(|r| r.stats)
}

/// What the running reflector has done so far.
pub fn status() -> Option<Stats> {
    ACTIVE.lock().as_ref().map(|r| r.stats.clone())
}

/// The idle loop's hook.
fn poll() -> bool {
    // Never spin on the control plane's lock from the datapath.
    let Some(mut active) = ACTIVE.try_lock() else {
        return false;
    };
    match active.as_mut() {
        Some(r) => r.reflect() > 0,
        None => false,
    }
}

impl Reflector {
    /// Release whatever the NIC received before we opened it.
    fn discard_pending(&mut self) -> u64 {
        let h = &mut self.handle;
        let _ = h.rxsync(0);
        let Some(rx) = h.rx_ring(0) else { return 0 };
        let n = rx.space();
        let tail = rx.tail;
        rx.head = tail;
        rx.cur = tail;
        let _ = h.rxsync(0);
        u64::from(n)
    }

    /// One pass; returns the frames sent back.
    fn reflect(&mut self) -> u32 {
        let h = &mut self.handle;
        // A sync error is a ring reinit (it cannot happen: we keep head and
        // cur in range) or a device error, which the NIC flags for the
        // reset the loop does; either way the next pass starts clean.
        let _ = h.rxsync(0);
        let (tx, rx) = h.rings_mut();
        let (Some(t), Some(r)) = (tx.get_mut(0), rx.get_mut(0)) else {
            return 0;
        };
        let n = r.space().min(t.space());
        if n == 0 {
            // Nothing to send, or no room: reclaim what QEMU has sent.
            // Unreclaimed completions make the idle loop's arm() report
            // work, so without this the CPU would spin instead of halting
            // until the next frame came in.
            if t.space() + 1 < t.num_slots() {
                let _ = h.txsync(0);
            }
            return 0;
        }
        let (mut i, mut j) = (r.cur, t.cur);
        let mut bytes = 0u64;
        let mut moved = 0;
        for _ in 0..n {
            bytes += u64::from(r.slot[i as usize].len);
            if r.swap_buf(i, t, j).is_err() {
                break;
            }
            i = r.next(i);
            j = t.next(j);
            moved += 1;
        }
        (r.head, r.cur) = (i, i);
        (t.head, t.cur) = (j, j);
        let _ = h.txsync(0);
        let _ = h.rxsync(0);
        net::count_frames(u64::from(moved));
        self.stats.frames += u64::from(moved);
        self.stats.bytes += bytes;
        self.stats.batches += 1;
        moved
    }
}

/// Runs `f` with the reflector's handle, if it runs (for the pool audit,
/// [`crate::net::audit`]).
pub fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let g = ACTIVE.lock();
    f(g.as_ref().map(|r| &r.handle))
}

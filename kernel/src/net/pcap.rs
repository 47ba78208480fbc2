//! Capture: a copy monitor (`PORT/rt`) of one port, written as a pcap
//! stream (the classic libpcap format, Ethernet link type) to the second
//! serial port, COM2. `cargo xtask run --pcap PORT=FILE` points COM2 at a
//! file (QEMU's `file:` chardev is 8-bit clean), so FILE opens in tcpdump.
//!
//! Monitors see what a port's *application* syncs: the handle's for VALE
//! ports (`vale0:host0`, the host stack's port) and pipes; for a NIC on a
//! switch, its bridge's (frames forwarded off the wire, frames handed to
//! the device), so `pcap start virtio0` captures a bridged NIC both ways.
//!
//! `pcap start PORT` may name a port that does not exist yet (the startup
//! script creates it later): the monitor is opened on the first pass after
//! it appears; while it does not, the poller retries only when the
//! registry's generation moved (`Registry::generation`, read without the
//! registry lock), so its idle passes neither lock nor allocate. The
//! global header is written once per boot, before the
//! first record; `pcap stop` drains what the monitor holds and closes it.

use alloc::string::String;

use netmap::Handle;
use spin::Mutex;

use crate::console::serial::COM2;

/// Longest frame recorded (pcap's snaplen).
const SNAPLEN: u32 = 65535;

struct Capture {
    port: String,
    /// `PORT/rt`, built once by `start`.
    monitor: String,
    /// The registry generation of the last failed open: the poller tries
    /// again only when it moved (a port may have appeared), so an idle
    /// pass takes no registry lock and allocates nothing.
    tried: Option<u64>,
    handle: Option<Handle>,
    frames: u64,
    bytes: u64,
}

static CAPTURE: Mutex<Option<Capture>> = Mutex::new(None);
static HEADER_WRITTEN: Mutex<bool> = Mutex::new(false);

fn out(bytes: &[u8]) {
    let uart = COM2;
    for &b in bytes {
        uart.write_byte(b);
    }
}

fn header() {
    let mut w = HEADER_WRITTEN.lock();
    if *w {
        return;
    }
    COM2.init();
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone, sigfigs: 0
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    out(&h);
    *w = true;
}

/// `pcap start PORT`.
pub fn start(port: &str) -> Result<(), String> {
    let mut g = CAPTURE.lock();
    if let Some(c) = g.as_ref() {
        return Err(alloc::format!("already capturing {}", c.port));
    }
    *g = Some(Capture {
        port: port.into(),
        monitor: alloc::format!("{port}/rt"),
        tried: None,
        handle: None,
        frames: 0,
        bytes: 0,
    });
    drop(g);
    header();
    super::register_poller(poll);
    Ok(())
}

/// `pcap stop`: drains and closes the monitor; returns (port, frames, bytes).
pub fn stop() -> Result<(String, u64, u64), String> {
    poll();
    super::unregister_poller(poll);
    let c = CAPTURE.lock().take().ok_or("no capture running")?;
    Ok((c.port, c.frames, c.bytes))
}

/// What is being captured: (port, monitor open, frames, bytes).
pub fn status() -> Option<(String, bool, u64, u64)> {
    let g = CAPTURE.lock();
    let c = g.as_ref()?;
    Some((c.port.clone(), c.handle.is_some(), c.frames, c.bytes))
}

/// The poller: open the monitor once the port exists, then write every
/// frame it holds.
fn poll() -> bool {
    let Some(mut g) = CAPTURE.try_lock() else {
        return false;
    };
    let Some(c) = g.as_mut() else { return false };
    if c.handle.is_none() {
        let Some(net) = super::get() else {
            return false;
        };
        // Nothing changed since the last try: the port is still missing.
        let generation = net.registry.generation();
        if c.tried == Some(generation) {
            return false;
        }
        match net.registry.open(&c.monitor) {
            Ok(h) => {
                log::info!("pcap: capturing {}", c.port);
                c.handle = Some(h);
            }
            Err(_) => {
                c.tried = Some(generation);
                return false;
            }
        }
    }
    let Some(h) = c.handle.as_mut() else {
        return false;
    };
    let ts = crate::time::since_boot();
    let (sec, usec) = (ts.as_secs() as u32, ts.subsec_micros());
    let mut n = 0;
    let (_, rings) = h.num_rings();
    for r in 0..rings {
        let _ = h.rxsync(r);
        let Some(ring) = h.rx_ring(r) else { continue };
        while !ring.is_empty() {
            let i = ring.head;
            if let Ok(frame) = ring.frame(i) {
                let len = frame.len() as u32;
                let mut rec = [0u8; 16];
                rec[0..4].copy_from_slice(&sec.to_le_bytes());
                rec[4..8].copy_from_slice(&usec.to_le_bytes());
                rec[8..12].copy_from_slice(&len.min(SNAPLEN).to_le_bytes());
                rec[12..16].copy_from_slice(&len.to_le_bytes());
                out(&rec);
                out(&frame[..frame.len().min(SNAPLEN as usize)]);
                c.frames += 1;
                c.bytes += u64::from(len);
                n += 1;
            }
            ring.advance(1);
        }
        let _ = h.rxsync(r);
    }
    n > 0
}

/// Runs `f` with the capture's handle, if it has one (for the pool audit,
/// [`super::audit`]).
pub fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let g = CAPTURE.lock();
    f(g.as_ref().and_then(|c| c.handle.as_ref()))
}

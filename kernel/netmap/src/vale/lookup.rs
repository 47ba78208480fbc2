//! The switch's pluggable forwarding decision (netmap's `bdg_ops.lookup`).
//!
//! The switch calls [`Lookup::lookup_batch`] once per batch (or per run of
//! a batch, in batch order), before any copy, with every frame's first
//! fragment; its default calls [`Lookup::lookup`] per frame. A lookup that
//! sees the whole batch can skip repeated work (the learning bridge learns
//! a source once per run of equal sources and touches the table ahead). Implementations are shared by
//! every forwarding thread (`&self`), so any state they update (a learning
//! table) must tolerate concurrent callers; the switch holds no lock of
//! theirs.

use super::forward::Ft;
use super::PortId;
use crate::mem::FrameReader;

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// To one port.
    Port(PortId),
    /// To every port but the source.
    Flood,
    /// Nowhere (counted as `drop_no_dest`).
    Drop,
}

/// What the switch knows about a frame besides its bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    /// Ingress port.
    pub src: PortId,
    /// Ingress ring.
    pub ring: u16,
    /// Length of the whole frame (all fragments).
    pub len: u32,
    /// The switch clock (see [`Switch::set_clock`](super::Switch::set_clock)).
    pub now: u64,
    /// False when the sender set `NS_NO_LEARN` on the frame.
    pub learn: bool,
}

/// Frames offered to [`Lookup::lookup_batch`]: `len()` frames, each with
/// its first fragment (at least [`ETH_HLEN`](crate::slot::ETH_HLEN) bytes)
/// and its [`FrameMeta`].
#[derive(Clone, Copy)]
pub struct FrameBatch<'a> {
    pub(super) frames: FrameReader<'a>,
    pub(super) ft: &'a [Ft],
    pub(super) src: PortId,
    pub(super) ring: u16,
    pub(super) now: u64,
}

impl<'a> FrameBatch<'a> {
    /// Number of frames.
    #[inline]
    pub fn len(&self) -> usize {
        self.ft.len()
    }

    /// Whether the batch is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ft.is_empty()
    }

    /// Frame `k`'s first fragment (empty if `k` is out of range).
    #[inline]
    pub fn frame(&self, k: usize) -> &'a [u8] {
        self.ft
            .get(k)
            .and_then(|e| self.frames.frame(e.slot as usize).ok())
            .unwrap_or(&[])
    }

    /// The ingress port (the same for every frame of a batch).
    #[inline]
    pub fn src(&self) -> PortId {
        self.src
    }

    /// The switch clock (the same for every frame of a batch).
    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Whether frame `k` may be learned from (no `NS_NO_LEARN`).
    #[inline]
    pub fn learn(&self, k: usize) -> bool {
        self.ft.get(k).is_some_and(|e| e.learn)
    }

    /// Frame `k`'s metadata.
    #[inline]
    pub fn meta(&self, k: usize) -> FrameMeta {
        FrameMeta {
            src: self.src,
            ring: self.ring,
            len: self.ft.get(k).map_or(0, |e| e.len),
            now: self.now,
            learn: self.learn(k),
        }
    }
}

impl core::fmt::Debug for FrameBatch<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameBatch")
            .field("len", &self.len())
            .field("src", &self.src)
            .finish_non_exhaustive()
    }
}

/// An entry of a learning table, for listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    pub mac: [u8; 6],
    pub port: PortId,
    /// Clock ticks since the address was last seen.
    pub age: u64,
}

/// A forwarding decision function.
pub trait Lookup: Send + Sync {
    /// Short name for listings (`learning`, `patch`, ...).
    fn name(&self) -> &str;

    /// Decides where `frame` goes. `frame` is the first fragment, at least
    /// [`ETH_HLEN`](crate::slot::ETH_HLEN) bytes long.
    fn lookup(&self, frame: &[u8], meta: &FrameMeta) -> Dest;

    /// Decides where every frame of `batch` goes: `out[k]` for frame `k`
    /// (`out` has `batch.len()` entries). The switch calls this, once per
    /// batch; the default calls [`lookup`](Self::lookup) per frame, in
    /// order. An implementation must decide as `lookup` would, frame after
    /// frame.
    fn lookup_batch(&self, batch: &FrameBatch<'_>, out: &mut [Dest]) {
        for (k, o) in out.iter_mut().enumerate().take(batch.len()) {
            *o = self.lookup(batch.frame(k), &batch.meta(k));
        }
    }

    /// A port left the switch: forget anything that points at it (its id
    /// will be reused).
    fn port_detached(&self, _port: PortId) {}

    /// Lists learned addresses, if the lookup learns any.
    fn list(&self, _now: u64, _out: &mut dyn FnMut(MacEntry)) {}
}

/// The second lookup: a patch panel. Each port is wired to at most one
/// other port; frames from an unwired port are dropped. No address is
/// looked at, so it also carries non-Ethernet payloads — useful for
/// chaining network functions (A -> firewall -> B).
#[derive(Clone, Debug)]
pub struct PatchPanel {
    /// `to[src]` is the destination of port `src`, or `NONE`.
    to: [u8; 256],
}

const NONE: u8 = u8::MAX;

impl PatchPanel {
    /// No port wired.
    pub fn new() -> Self {
        PatchPanel { to: [NONE; 256] }
    }

    /// Wires `a` and `b` both ways.
    pub fn connect(mut self, a: PortId, b: PortId) -> Self {
        self.to[a as usize] = b;
        self.to[b as usize] = a;
        self
    }

    /// Sends everything from `src` to `dst` (one way).
    pub fn route(mut self, src: PortId, dst: PortId) -> Self {
        self.to[src as usize] = dst;
        self
    }
}

impl Default for PatchPanel {
    fn default() -> Self {
        Self::new()
    }
}

impl Lookup for PatchPanel {
    fn name(&self) -> &str {
        "patch"
    }

    fn lookup(&self, _frame: &[u8], meta: &FrameMeta) -> Dest {
        match self.to[meta.src as usize] {
            NONE => Dest::Drop,
            p => Dest::Port(p),
        }
    }

    /// One decision for the whole batch: it depends on the source only.
    fn lookup_batch(&self, batch: &FrameBatch<'_>, out: &mut [Dest]) {
        let d = match self.to[batch.src() as usize] {
            NONE => Dest::Drop,
            p => Dest::Port(p),
        };
        out.iter_mut().for_each(|o| *o = d);
    }
}

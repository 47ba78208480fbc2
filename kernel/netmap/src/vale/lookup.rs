//! The switch's pluggable forwarding decision (netmap's `bdg_ops.lookup`).
//!
//! The switch calls [`Lookup::lookup`] once per frame of a batch, before any
//! copy, with the frame's first fragment. Implementations are shared by
//! every forwarding thread (`&self`), so any state they update (a learning
//! table) must tolerate concurrent callers; the switch holds no lock of
//! theirs.

use super::PortId;

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
}

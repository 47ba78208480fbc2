//! Slots: the unit of exchange between an application and a port.
//!
//! A slot names one buffer of the pool by index and says how many bytes of it
//! hold a frame (fragment). The flag values are netmap's, so code and captures
//! written against netmap read the same here.

/// One ring slot, as netmap's `struct netmap_slot` (without the `ptr` field,
/// which only matters for indirect buffers, not supported here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Slot {
    /// Index of the buffer in the pool. 0 and 1 are reserved and never name a
    /// usable buffer; 0 also marks an empty entry in kernel slot arrays.
    pub buf_idx: u32,
    /// Bytes of the buffer in use.
    pub len: u16,
    /// `NS_*` flags.
    pub flags: u16,
}

/// The slot's buffer was exchanged (zero-copy); a device must reload the
/// buffer address it programmed for this slot.
pub const NS_BUF_CHANGED: u16 = 0x0001;
/// Ask for a notification when this slot is consumed (accepted, not acted on:
/// every sync reports progress here).
pub const NS_REPORT: u16 = 0x0002;
/// Pass the packet to the other side (host stack) in transparent mode; kept
/// so applications can set it, forwarded verbatim.
pub const NS_FORWARD: u16 = 0x0004;
/// The VALE switch must not learn the source address of this frame.
pub const NS_NO_LEARN: u16 = 0x0008;
/// This slot is not the last fragment of its packet: the packet continues in
/// the next slot.
pub const NS_MOREFRAG: u16 = 0x0020;

/// Flags an application may hand to the kernel. Anything else is cleared when
/// a slot is returned, so stale or invented bits never reach a port.
pub const NS_APP_FLAGS: u16 = NS_BUF_CHANGED | NS_REPORT | NS_FORWARD | NS_NO_LEARN | NS_MOREFRAG;

/// Longest fragment chain a port accepts. Longer chains are dropped whole and
/// counted as `drop_frag_chain` (netmap bounds chains with `NETMAP_MAX_FRAGS`).
pub const MAX_FRAGS: usize = 64;

/// Shortest frame the switch forwards: an Ethernet header.
pub const ETH_HLEN: usize = 14;

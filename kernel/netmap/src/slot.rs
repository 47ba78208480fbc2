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

/// One slot of the application's ring ([`NetmapRing::slot`](crate::NetmapRing::slot)):
/// the application writes `len` and `flags` of the slots it owns; the
/// buffer index is read-only ([`buf_idx`](Self::buf_idx)) and changes only
/// through [`NetmapRing::swap_buf`](crate::NetmapRing::swap_buf) and
/// [`NetmapRing::swap_within`](crate::NetmapRing::swap_within). Same layout
/// as [`Slot`]: it *is* the kernel's slot, seen from the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct AppSlot {
    buf_idx: u32,
    /// Bytes of the buffer in use (a value over the buffer size becomes 0
    /// when the slot is handed back, counted in `bad_len`).
    pub len: u16,
    /// `NS_*` flags (masked to [`NS_APP_FLAGS`] when handed back).
    pub flags: u16,
}

impl AppSlot {
    /// The all-zero slot (what a slot outside the application's part reads as).
    pub const EMPTY: AppSlot = AppSlot {
        buf_idx: 0,
        len: 0,
        flags: 0,
    };

    /// Index of the buffer in the pool (0: none).
    #[inline]
    pub fn buf_idx(&self) -> u32 {
        self.buf_idx
    }
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

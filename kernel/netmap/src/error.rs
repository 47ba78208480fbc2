//! Error types. Every fallible operation of the crate returns one of these;
//! nothing on the datapath panics on bad input.

use core::fmt;

/// Buffer pool and slot array errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The buffer size is not a power of two in `64..=65536`.
    BadBufSize(usize),
    /// The region holds fewer than three buffers (two are reserved).
    RegionTooSmall,
    /// A buffer index outside `2..nbufs`.
    BadIndex(u32),
    /// No free buffer left (only at port creation: the datapath never allocates).
    Exhausted,
    /// Two slot arrays of different pools were asked to exchange buffers.
    PoolMismatch,
    /// A slot number past the end of the slot array.
    SlotOutOfRange(usize),
    /// The slot holds no buffer.
    SlotEmpty(usize),
    /// A buffer was moved into a slot that already holds one.
    SlotOccupied(usize),
    /// A length larger than the buffer size.
    BadLen(usize),
}

/// What [`BufferPool::audit`](crate::BufferPool::audit) found wrong: some
/// buffer is lost or owned twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditError {
    /// An owner claims an index outside the pool.
    OutOfRange(u32),
    /// An owner claims reserved buffer 0 or 1.
    Reserved(u32),
    /// A buffer is owned twice (free list and slot, or two slots).
    Duplicate(u32),
    /// `count` buffers have no owner; `first` is the lowest such index.
    Missing { first: u32, count: u32 },
}

/// Why a txsync/rxsync did not run the port's sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// head or cur broke the ring protocol; the ring was re-initialised
    /// (head = cur = hwcur, tail = hwtail) and the error counted.
    RingReinit { head: u32, cur: u32 },
    /// No ring with that number.
    NoSuchRing(usize),
    /// The port was detached from its switch or peer; frames were dropped
    /// and counted.
    Detached,
    /// The port's own sync failed (e.g. a device error); counted by the port.
    Port,
    /// The application ring does not belong to this kring: its slot array
    /// was replaced by one of another size, or rings were swapped (through
    /// [`Handle::rings_mut`](crate::Handle::rings_mut)). Nothing was done;
    /// putting the right ring or array back makes the ring usable again.
    WrongRing(usize),
}

/// Errors of port names (`vale0:p`, `x{1`, `p/rt`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty name.
    Empty,
    /// Longer than [`MAX_NAME`](crate::name::MAX_NAME) bytes.
    TooLong,
    /// A character outside `[A-Za-z0-9_.-]` where a plain name is expected.
    BadChar(char),
    /// `valeX:` with an empty port part, or `vale` with no `:`.
    MissingPort,
    /// `NAME{` or `NAME}` without a pipe number, or a number that does not fit.
    BadPipeId,
    /// A monitor suffix other than `/t`, `/r`, `/rt`, `/tr`, `/z`.
    BadMonitorMode,
}

/// Errors of the registry and the switch control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The name does not parse.
    Name(NameError),
    /// No such port (monitor of a missing port, delete of a missing port...).
    NotFound,
    /// The port exists and is already open, or exists with another kind.
    Busy,
    /// A port with that name already exists.
    Exists,
    /// The switch already has 254 ports.
    SwitchFull,
    /// Out of buffers while creating the port's rings.
    Pool(PoolError),
    /// Bad ring geometry (no rings, fewer than 2 or more than 65536 slots...).
    BadConfig,
    /// The operation does not apply to this kind of port (e.g. a zero-copy
    /// monitor of a pipe, a monitor of a monitor).
    Unsupported,
}

impl From<NameError> for OpenError {
    fn from(e: NameError) -> Self {
        OpenError::Name(e)
    }
}

impl From<PoolError> for OpenError {
    fn from(e: PoolError) -> Self {
        OpenError::Pool(e)
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::BadBufSize(n) => {
                write!(f, "buffer size {n} is not a power of two in 64..=65536")
            }
            PoolError::RegionTooSmall => f.write_str("region holds fewer than three buffers"),
            PoolError::BadIndex(i) => write!(f, "buffer index {i} out of range"),
            PoolError::Exhausted => f.write_str("no free buffer left"),
            PoolError::PoolMismatch => f.write_str("slot arrays of different pools"),
            PoolError::SlotOutOfRange(i) => write!(f, "slot {i} out of range"),
            PoolError::SlotEmpty(i) => write!(f, "slot {i} holds no buffer"),
            PoolError::SlotOccupied(i) => write!(f, "slot {i} already holds a buffer"),
            PoolError::BadLen(n) => write!(f, "length {n} exceeds the buffer"),
        }
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::OutOfRange(i) => write!(f, "buffer {i} claimed but out of range"),
            AuditError::Reserved(i) => write!(f, "reserved buffer {i} claimed"),
            AuditError::Duplicate(i) => write!(f, "buffer {i} owned twice"),
            AuditError::Missing { first, count } => {
                write!(f, "{count} buffers lost (first: {first})")
            }
        }
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::RingReinit { head, cur } => {
                write!(f, "bad head {head} / cur {cur}: ring re-initialised")
            }
            SyncError::NoSuchRing(r) => write!(f, "no ring {r}"),
            SyncError::Detached => f.write_str("port detached"),
            SyncError::Port => f.write_str("port sync failed"),
            SyncError::WrongRing(r) => write!(f, "ring {r} does not fit its kring"),
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty name"),
            NameError::TooLong => f.write_str("name too long"),
            NameError::BadChar(c) => write!(f, "bad character {c:?} in name"),
            NameError::MissingPort => f.write_str("VALE name without a port (want valeX:port)"),
            NameError::BadPipeId => f.write_str("bad pipe id (want NAME{K or NAME}K)"),
            NameError::BadMonitorMode => f.write_str("bad monitor suffix (want /t, /r, /rt or /z)"),
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Name(e) => write!(f, "{e}"),
            OpenError::NotFound => f.write_str("no such port"),
            OpenError::Busy => f.write_str("port busy"),
            OpenError::Exists => f.write_str("port exists"),
            OpenError::SwitchFull => f.write_str("switch full (254 ports)"),
            OpenError::Pool(e) => write!(f, "{e}"),
            OpenError::BadConfig => f.write_str("bad ring geometry"),
            OpenError::Unsupported => f.write_str("not supported for this kind of port"),
        }
    }
}

impl core::error::Error for PoolError {}
impl core::error::Error for AuditError {}
impl core::error::Error for SyncError {}
impl core::error::Error for NameError {}
impl core::error::Error for OpenError {}

//! The crate's one error type (see the table in the crate docs).

/// Why a tap/tun operation was refused. Each variant mirrors one BSD errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `EWOULDBLOCK`: non-blocking read and nothing queued.
    WouldBlock,
    /// `ETIMEDOUT`: a blocking read's wait function gave up.
    TimedOut,
    /// `EHOSTDOWN`: the interface is down (read, write).
    HostDown,
    /// `ENETDOWN`: the port is not attached to a switch (write).
    NetDown,
    /// `EIO` in the reference (a write over the maximum frame or MTU):
    /// nothing is sent, never a truncated frame.
    TooBig,
    /// `EAFNOSUPPORT`: address family not supported (IPv6 without
    /// IFHEAD, an unknown IFHEAD family).
    AfNoSupport,
    /// `EBUSY`: the change is only allowed while the interface is down.
    Busy,
    /// `EBUSY` too: the port is already open (one opener at a time, as
    /// the reference's `tapopen`/`tunopen`).
    InUse,
    /// `EBADF`: read or write on a port nobody opened (the reference's
    /// devices have no reader or writer without an open descriptor).
    NotOpen,
    /// `EINVAL`: bad argument (runt frame, bad IP version, bad MAC, MTU
    /// out of range).
    Invalid,
    /// `EHOSTUNREACH`: no next hop (p2p without a peer, off-link without a
    /// gateway, no local address to ARP from, IPv6 unicast: no neighbour
    /// discovery).
    HostUnreach,
    /// `ENOBUFS`: the hold queue for an unresolved next hop is full.
    NoBufs,
}

impl Error {
    /// The errno name this error mirrors.
    pub fn errno(self) -> &'static str {
        match self {
            Error::WouldBlock => "EWOULDBLOCK",
            Error::TimedOut => "ETIMEDOUT",
            Error::HostDown => "EHOSTDOWN",
            Error::NetDown => "ENETDOWN",
            Error::TooBig => "EIO",
            Error::AfNoSupport => "EAFNOSUPPORT",
            Error::Busy => "EBUSY",
            Error::InUse => "EBUSY",
            Error::NotOpen => "EBADF",
            Error::Invalid => "EINVAL",
            Error::HostUnreach => "EHOSTUNREACH",
            Error::NoBufs => "ENOBUFS",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self {
            Error::WouldBlock => "would block (nothing queued)",
            Error::TimedOut => "timed out",
            Error::HostDown => "interface down",
            Error::NetDown => "not attached to a switch",
            Error::TooBig => "larger than the maximum frame",
            Error::AfNoSupport => "address family not supported",
            Error::Busy => "busy (interface up)",
            Error::InUse => "busy (already open)",
            Error::NotOpen => "not open",
            Error::Invalid => "invalid argument",
            Error::HostUnreach => "no route to host",
            Error::NoBufs => "hold queue full",
        };
        write!(f, "{what} ({})", self.errno())
    }
}

//! The device side of one split virtqueue, read and written in place.
//!
//! virtio 1.2, 2.7: descriptor table (16 bytes per entry), available ring
//! (`flags, idx, ring[size], used_event`) and used ring (`flags, idx,
//! ring[size] of {id, len}, avail_event`), all in guest memory.
//!
//! Why not `virtio_queue::Queue` for the datapath: it publishes the used
//! index once per element (`add_used`) and walks every descriptor through
//! vm-memory's generic accessors, where a packet generator wants one used
//! index store per batch and a few loads per frame. The protocol state (ring
//! addresses, size, next_avail/next_used, ready/enabled) stays in
//! vhost-user-backend's `Queue`; this module only does the per-frame work,
//! and it trusts nothing the guest wrote: every index is range-checked,
//! every address translated through [`GuestRam`], every chain bounded.

use std::sync::atomic::{fence, AtomicU16, Ordering};

use super::mem::GuestRam;

/// VIRTQ_DESC_F_NEXT, _WRITE, _INDIRECT (2.7.5).
const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const DESC_F_INDIRECT: u16 = 4;
/// VIRTQ_USED_F_NO_NOTIFY (2.7.10): the device asks for no kicks.
const USED_F_NO_NOTIFY: u16 = 1;
/// VIRTQ_AVAIL_F_NO_INTERRUPT (2.7.7): the driver asks for no interrupts.
const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// The longest chain the backend follows: more is a guest error.
pub const MAX_SEGS: usize = 64;

/// The queue as a whole can no longer be trusted: the backend stops
/// serving it until the driver sets it up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// A ring (descriptors, avail, used) lies outside guest RAM or is
    /// misaligned, or the size is not a power of two up to 32768.
    BadLayout,
    /// The available index ran more than a ring's worth ahead of us.
    AvailJump { pending: u16, size: u16 },
    /// An available-ring entry names a descriptor past the table.
    BadHead(u16),
}

/// One chain is malformed: it is handed back unused (length 0), counted,
/// and the queue goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// `next` past the table.
    BadNext(u16),
    /// More than [`MAX_SEGS`] descriptors, or a loop.
    TooLong,
    /// A buffer outside guest RAM.
    OutOfRam { addr: u64, len: u32 },
    /// VIRTQ_DESC_F_INDIRECT without the feature (never offered).
    Indirect,
    /// A device-writable buffer where a readable one belongs, or the
    /// other way round.
    WrongDirection,
}

/// One buffer of a chain, translated.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    pub host: *mut u8,
    pub len: u32,
}

impl Default for Seg {
    fn default() -> Self {
        Self {
            host: std::ptr::null_mut(),
            len: 0,
        }
    }
}

/// A chain's buffers, all of one direction.
pub struct Chain {
    pub head: u16,
    pub segs: [Seg; MAX_SEGS],
    pub n: usize,
    pub total: u64,
}

// SAFETY: a chain is scratch space: its pointers are filled by
// RingView::chain from a GuestRam the same thread holds and are only
// dereferenced before that thread lets go of it; moving the (stale) scratch
// to another thread dereferences nothing.
unsafe impl Send for Chain {}

impl Chain {
    pub fn new() -> Self {
        Self {
            head: 0,
            segs: [Seg::default(); MAX_SEGS],
            n: 0,
            total: 0,
        }
    }

    /// Copy `src` into the chain from byte `at`; returns bytes written.
    /// The caller checked `at + src.len() <= total`.
    pub fn write_at(&self, mut at: u64, mut src: &[u8]) -> usize {
        let want = src.len();
        for s in &self.segs[..self.n] {
            if src.is_empty() {
                break;
            }
            let len = s.len as u64;
            if at >= len {
                at -= len;
                continue;
            }
            let n = src.len().min((len - at) as usize);
            // SAFETY: `s.host .. s.host + s.len` was translated by
            // GuestRam::translate (inside a live mapping) and `at + n <=
            // s.len`. The guest may write the same bytes concurrently: it
            // only spoils its own frame, and no Rust reference to guest
            // memory exists.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), s.host.add(at as usize), n) };
            src = &src[n..];
            at = 0;
        }
        want - src.len()
    }

    /// Copy the chain's bytes from `at` on into `dst`; returns how many.
    pub fn read_from(&self, mut at: u64, dst: &mut [u8]) -> usize {
        let mut done = 0;
        for s in &self.segs[..self.n] {
            if done == dst.len() {
                break;
            }
            let len = s.len as u64;
            if at >= len {
                at -= len;
                continue;
            }
            let n = (dst.len() - done).min((len - at) as usize);
            // SAFETY: as in write_at: a translated, in-bounds range of a
            // live mapping, copied with no reference formed to it.
            unsafe {
                std::ptr::copy_nonoverlapping(s.host.add(at as usize), dst[done..].as_mut_ptr(), n)
            };
            done += n;
            at = 0;
        }
        done
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

/// Host views of one queue's three rings, checked once per batch.
pub struct RingView<'a> {
    ram: &'a GuestRam,
    size: u16,
    desc: *mut u8,
    avail: *mut u8,
    used: *mut u8,
    event_idx: bool,
}

impl<'a> RingView<'a> {
    /// Check the layout the driver gave (2.7: alignment 16/2/4, sizes from
    /// the queue size) against guest RAM.
    pub fn new(
        ram: &'a GuestRam,
        size: u16,
        desc_gpa: u64,
        avail_gpa: u64,
        used_gpa: u64,
        event_idx: bool,
    ) -> Result<Self, RingError> {
        if size == 0 || !size.is_power_of_two() || size > 32768 {
            return Err(RingError::BadLayout);
        }
        if !desc_gpa.is_multiple_of(16)
            || !avail_gpa.is_multiple_of(2)
            || !used_gpa.is_multiple_of(4)
        {
            return Err(RingError::BadLayout);
        }
        let n = size as u64;
        let desc = ram
            .translate(desc_gpa, 16 * n)
            .ok_or(RingError::BadLayout)?;
        let avail = ram
            .translate(avail_gpa, 6 + 2 * n)
            .ok_or(RingError::BadLayout)?;
        let used = ram
            .translate(used_gpa, 6 + 8 * n)
            .ok_or(RingError::BadLayout)?;
        Ok(Self {
            ram,
            size,
            desc,
            avail,
            used,
            event_idx,
        })
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    fn u16_at(p: *mut u8) -> &'a AtomicU16 {
        // SAFETY: every caller passes an offset inside a ring range that
        // `new` translated (a live, shared mapping), 2-byte aligned since
        // the ring bases are aligned as checked. Shared memory is accessed
        // only atomically through this reference.
        unsafe { &*(p as *const AtomicU16) }
    }

    /// The driver's available index (acquire: entries before it are visible).
    pub fn avail_idx(&self) -> u16 {
        Self::u16_at(self.avail.wrapping_add(2)).load(Ordering::Acquire)
    }

    fn avail_flags(&self) -> u16 {
        Self::u16_at(self.avail).load(Ordering::Relaxed)
    }

    /// How many entries are available past `next_avail`.
    pub fn pending(&self, next_avail: u16) -> Result<u16, RingError> {
        let pending = self.avail_idx().wrapping_sub(next_avail);
        if pending > self.size {
            return Err(RingError::AvailJump {
                pending,
                size: self.size,
            });
        }
        Ok(pending)
    }

    /// The head of available entry `idx` (free-running), range-checked.
    pub fn avail_head(&self, idx: u16) -> Result<u16, RingError> {
        let slot = (idx & (self.size - 1)) as usize;
        let head = Self::u16_at(self.avail.wrapping_add(4 + 2 * slot)).load(Ordering::Relaxed);
        if head >= self.size {
            return Err(RingError::BadHead(head));
        }
        Ok(head)
    }

    /// Descriptor `i` (< size), read once: `(addr, len, flags, next)`.
    fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
        let p = self.desc.wrapping_add(16 * i as usize);
        // SAFETY: i < size, so the 16 bytes lie in the translated table;
        // read_unaligned/volatile copies the guest's bytes without forming
        // a reference to memory the guest may change.
        unsafe {
            let addr = std::ptr::read_volatile(p as *const u64);
            let len = std::ptr::read_volatile(p.add(8) as *const u32);
            let flags = std::ptr::read_volatile(p.add(12) as *const u16);
            let next = std::ptr::read_volatile(p.add(14) as *const u16);
            (
                u64::from_le(addr),
                u32::from_le(len),
                u16::from_le(flags),
                u16::from_le(next),
            )
        }
    }

    /// Walk the chain at `head` (< size) into `out`: every buffer must be
    /// device-writable (`writable`) or every one readable, in guest RAM,
    /// at most [`MAX_SEGS`] of them.
    pub fn chain(&self, head: u16, writable: bool, out: &mut Chain) -> Result<(), ChainError> {
        out.head = head;
        out.n = 0;
        out.total = 0;
        let mut i = head;
        loop {
            let (addr, len, flags, next) = self.desc(i);
            if flags & DESC_F_INDIRECT != 0 {
                return Err(ChainError::Indirect);
            }
            if (flags & DESC_F_WRITE != 0) != writable {
                return Err(ChainError::WrongDirection);
            }
            if out.n == MAX_SEGS {
                return Err(ChainError::TooLong);
            }
            let host = self
                .ram
                .translate(addr, len as u64)
                .ok_or(ChainError::OutOfRam { addr, len })?;
            out.segs[out.n] = Seg { host, len };
            out.n += 1;
            out.total += len as u64;
            if flags & DESC_F_NEXT == 0 {
                return Ok(());
            }
            if next >= self.size {
                return Err(ChainError::BadNext(next));
            }
            i = next;
        }
    }

    /// Write used element `idx` (free-running); not visible until
    /// [`publish_used`](Self::publish_used).
    pub fn put_used(&self, idx: u16, id: u16, len: u32) {
        let slot = (idx & (self.size - 1)) as usize;
        let p = self.used.wrapping_add(4 + 8 * slot);
        // SAFETY: slot < size: the 8 bytes lie in the translated used ring.
        unsafe {
            std::ptr::write_volatile(p as *mut u32, (id as u32).to_le());
            std::ptr::write_volatile(p.add(4) as *mut u32, len.to_le());
        }
    }

    /// Make used elements up to `new` visible (one release store per
    /// batch) and say whether the driver wants an interrupt for the
    /// elements `[old, new)` (2.7.10 and EVENT_IDX's `used_event`).
    pub fn publish_used(&self, old: u16, new: u16) -> bool {
        Self::u16_at(self.used.wrapping_add(2)).store(new, Ordering::Release);
        // The store above and the driver's event index below are the two
        // halves of the notification handshake: a full fence between them,
        // as the driver has one between its own.
        fence(Ordering::SeqCst);
        if self.event_idx {
            let slot = 4 + 2 * self.size as usize;
            let event = Self::u16_at(self.avail.wrapping_add(slot)).load(Ordering::Relaxed);
            new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
        } else {
            self.avail_flags() & AVAIL_F_NO_INTERRUPT == 0
        }
    }

    /// Ask for a kick when the driver makes entries past `next_avail`
    /// available (true) or for none (false, while polling).
    pub fn want_kicks(&self, on: bool, next_avail: u16) {
        if self.event_idx {
            if on {
                let slot = 4 + 8 * self.size as usize;
                Self::u16_at(self.used.wrapping_add(slot)).store(next_avail, Ordering::Relaxed);
            }
            // Off: the event point stays where it was; the driver passed it
            // already and kicks no more until it is moved (2.7.10).
        } else {
            let flags = Self::u16_at(self.used);
            let f = flags.load(Ordering::Relaxed);
            let want = if on {
                f & !USED_F_NO_NOTIFY
            } else {
                f | USED_F_NO_NOTIFY
            };
            flags.store(want, Ordering::Relaxed);
        }
        if on {
            // Published before we look at the avail index again.
            fence(Ordering::SeqCst);
        }
    }
}

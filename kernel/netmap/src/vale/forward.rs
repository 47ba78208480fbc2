//! Batch forwarding (netmap's `nm_bdg_preflush` + `nm_bdg_flush`).
//!
//! All scratch space lives in a [`ForwardScratch`], allocated with the
//! sending ring and reused for every batch: forwarding never allocates.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;

use super::lookup::{Dest, FrameBatch, FrameMeta};
use super::{Attachment, PortId, Switch, MAX_PORTS};
use crate::error::SyncError;
use crate::kring::{ring_add, Dir, KringStats};
use crate::mem::{BufferPool, FrameReader, SlotArray};
use crate::slot::{ETH_HLEN, MAX_FRAGS, NS_MOREFRAG, NS_NO_LEARN};

/// Most slots looked up per batch (netmap's `NM_BDG_BATCH_MAX`).
pub const BATCH: usize = 1024;

const NIL: u16 = u16::MAX;
const FLOOD: u16 = u16::MAX - 1;
/// Up to this many unicast destinations in a batch (and mostly unicast or
/// mostly flooded), `deliver` finds each one's frames by scanning the
/// batch's destination codes rather than by walking linked lists.
const SCAN_MAX: usize = 4;

/// One frame of a batch (netmap's `nm_bdg_fwd`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Ft {
    /// First slot in the source ring.
    pub(crate) slot: u32,
    /// Bytes, all fragments.
    pub(crate) len: u32,
    pub(crate) frags: u16,
    /// Next frame for the same destination, or `NIL`.
    pub(crate) next: u16,
    /// The sender did not set `NS_NO_LEARN`.
    pub(crate) learn: bool,
}

/// Per-sending-ring scratch space.
pub struct ForwardScratch {
    ft: Box<[Ft]>,
    /// The lookup's decision for each frame of `ft`.
    dst: Box<[Dest]>,
    /// Each frame's destination port, `FLOOD`, or `NIL` (none).
    code: Box<[u16]>,
    /// Frames in `ft` this batch.
    nft: usize,
    /// Few destinations: `deliver` scans `code` instead of walking lists.
    scan: bool,
    /// Per destination: first and last frame of its list.
    head: Box<[u16]>,
    tail: Box<[u16]>,
    /// Destinations with a unicast list this batch.
    touched: Box<[PortId]>,
    ntouched: usize,
    flood_head: u16,
    flood_tail: u16,
    /// Frames chosen for the destination being served.
    sel: Box<[u16]>,
    /// Buffers leased from the destination being served.
    hold: SlotArray,
    /// Inside an over-long fragment chain whose end has not been seen yet:
    /// its remaining slots are dropped as they come.
    discarding: bool,
    /// Header of a frame whose first fragment is shorter than `ETH_HLEN`.
    hdr: [u8; 64],
}

impl ForwardScratch {
    /// Scratch space for one sending ring.
    pub fn new(pool: &Arc<BufferPool>) -> Self {
        ForwardScratch {
            ft: vec![Ft::default(); BATCH].into_boxed_slice(),
            dst: vec![Dest::Drop; BATCH].into_boxed_slice(),
            code: vec![NIL; BATCH].into_boxed_slice(),
            nft: 0,
            scan: false,
            head: vec![NIL; MAX_PORTS].into_boxed_slice(),
            tail: vec![NIL; MAX_PORTS].into_boxed_slice(),
            touched: vec![0; MAX_PORTS].into_boxed_slice(),
            ntouched: 0,
            flood_head: NIL,
            flood_tail: NIL,
            sel: vec![0; BATCH].into_boxed_slice(),
            hold: SlotArray::new_empty(pool, BATCH),
            discarding: false,
            hdr: [0; 64],
        }
    }
}

impl core::fmt::Debug for ForwardScratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ForwardScratch")
            .field("discarding", &self.discarding)
            .finish_non_exhaustive()
    }
}

/// Destinations to notify after a batch: a port bitmap and the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakeups {
    ring: u16,
    mask: [u64; 4],
}

impl Wakeups {
    /// Nobody to wake, for source ring `ring`.
    pub fn new(ring: u16) -> Self {
        Wakeups { ring, mask: [0; 4] }
    }
    pub(crate) fn set(&mut self, id: PortId) {
        self.mask[id as usize / 64] |= 1 << (id % 64);
    }
    /// Adds the destinations of `o`.
    pub fn merge(&mut self, o: &Wakeups) {
        for (a, b) in self.mask.iter_mut().zip(o.mask) {
            *a |= b;
        }
    }
    /// Whether there is nobody to wake.
    pub fn is_empty(&self) -> bool {
        self.mask == [0; 4]
    }
    /// The source ring (destinations' ring is this modulo their ring count).
    pub fn ring(&self) -> u16 {
        self.ring
    }
    /// Port ids to wake.
    pub fn iter(&self) -> impl Iterator<Item = PortId> + '_ {
        (0..256usize)
            .filter(|&i| self.mask[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| i as PortId)
    }
}

/// Result of one [`Switch::forward`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// Source slots consumed (forwarded or dropped); the caller advances
    /// past them. Less than asked when a fragment chain is still
    /// incomplete or the batch limit was hit.
    pub consumed: u32,
    /// Destinations to notify once the caller released its locks.
    pub wakeups: Wakeups,
}

/// A batch offered to [`Switch::forward`]: `count` slots of `slots` from
/// `first` on (cyclically), sent by port `src` on its ring `src_ring`, none
/// longer than `max_frame` bytes. Typically a tx kring's pending range
/// (`[nr_hwcur, rhead)`, [`KringState::tx_pending`](crate::kring::KringState::tx_pending))
/// or, for a NIC's ingress, what arrived on its rx kring
/// ([`KringState::arrived`](crate::kring::KringState::arrived)).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The sending port.
    pub src: Attachment,
    /// Its ring (destinations use ring `src_ring mod m`).
    pub src_ring: u16,
    /// The slots holding the frames (the sending kring's).
    pub slots: &'a SlotArray,
    /// First slot of the batch.
    pub first: u32,
    /// Slots in the batch.
    pub count: u32,
    /// Longest frame the sender may send.
    pub max_frame: usize,
}

impl Switch {
    /// Forwards the frames of `batch`. The caller owns those slots (holds
    /// the sending kring's lock, which counts as a tx kring in the lock
    /// order) and `sc`. Source-side counters (frames accepted, drops for
    /// length, chains, no destination) go to `stats`; destination-side
    /// ones (delivered, ring full, oversize) to the destination rx krings.
    /// Nothing is notified: pass [`Forwarded::wakeups`] to [`Switch::wake`]
    /// after unlocking.
    pub fn forward(
        &self,
        batch: Batch<'_>,
        stats: &mut KringStats,
        sc: &mut ForwardScratch,
    ) -> Result<Forwarded, SyncError> {
        let Batch {
            src,
            src_ring,
            slots,
            first,
            count,
            max_frame,
        } = batch;
        let t = self.table.read();
        let sid = src.id as usize;
        if sid >= MAX_PORTS || t.gens[sid] != src.gen || t.ports[sid].is_none() {
            return Err(SyncError::Detached);
        }
        let n = slots.len() as u32;
        let now = self.clock();
        let count = count.min(n);

        // Phase 1: walk the batch and validate, look the frames up (one
        // batched call), build the per-destination lists.
        let frames = slots.frame_reader();
        let mut i = first % n.max(1);
        let mut left = count;
        let mut nft = 0usize;
        let mut used = 0usize;
        // Frames `[run, nft)` wait for the batched lookup.
        let mut run = 0usize;
        while left > 0 && nft < BATCH {
            if sc.discarding {
                let s = slots.get(i as usize);
                i = ring_add(i, 1, n);
                left -= 1;
                if s.flags & NS_MOREFRAG == 0 {
                    sc.discarding = false;
                }
                continue;
            }
            // Measure the chain starting at `i` (most frames are one slot).
            let s = slots.get(i as usize);
            let mut frags = 1u32;
            let mut len = s.len as u32;
            let mut complete = true;
            if s.flags & NS_MOREFRAG != 0 {
                let mut j = i;
                while slots.get(j as usize).flags & NS_MOREFRAG != 0 {
                    if frags == left || frags as usize > MAX_FRAGS {
                        complete = false;
                        break;
                    }
                    j = ring_add(j, 1, n);
                    frags += 1;
                    len += slots.get(j as usize).len as u32;
                }
            }
            let too_long = frags as usize > MAX_FRAGS || (!complete && frags + 1 >= n);
            if !complete && !too_long {
                break; // the rest of the chain comes with a later sync
            }
            if too_long {
                stats.drop_frag_chain += 1;
                sc.discarding = !complete;
                i = ring_add(i, frags, n);
                left -= frags;
                continue;
            }
            if used + frags as usize > BATCH && nft > 0 {
                break;
            }
            let s0 = i;
            i = ring_add(i, frags, n);
            left -= frags;
            if (len as usize) < ETH_HLEN {
                stats.drop_short += 1;
                continue;
            }
            if len as usize > max_frame {
                stats.drop_oversize += 1;
                continue;
            }
            // The lookup needs a whole Ethernet header in the first
            // fragment; a chain whose first fragment is shorter is looked
            // up alone, on its gathered header, after the frames before it
            // (lookups stay in batch order).
            let short = match frames.frame(s0 as usize) {
                Ok(f) => f.len() < ETH_HLEN,
                Err(_) => {
                    stats.drop_short += 1; // an empty slot: a port bug, not a frame
                    continue;
                }
            };
            stats.packets += 1;
            stats.bytes += len as u64;
            let learn = s.flags & NS_NO_LEARN == 0;
            sc.ft[nft] = Ft {
                slot: s0,
                len,
                frags: frags as u16,
                next: NIL,
                learn,
            };
            if short {
                lookup_run(&t, frames, src, src_ring, now, sc, run, nft);
                let meta = FrameMeta {
                    src: src.id,
                    ring: src_ring,
                    len,
                    now,
                    learn,
                };
                let hdr = gather_header(slots, s0, frags, &mut sc.hdr);
                sc.dst[nft] = t.lookup.lookup(hdr, &meta);
                run = nft + 1;
            }
            nft += 1;
            used += frags as usize;
        }
        lookup_run(&t, frames, src, src_ring, now, sc, run, nft);

        // Destinations, in batch order: each frame's code (port, FLOOD, or
        // NIL for none), the touched ports, and, unless the batch goes to
        // few destinations (which `deliver` then finds by scanning the
        // codes: no pointer chasing), the per-destination lists.
        let mut nflood = 0usize;
        for k in 0..nft {
            let code = match sc.dst[k] {
                Dest::Port(p)
                    if p != src.id && (p as usize) < MAX_PORTS && t.ports[p as usize].is_some() =>
                {
                    p as u16
                }
                Dest::Flood => FLOOD,
                _ => {
                    stats.drop_no_dest += 1;
                    NIL
                }
            };
            sc.code[k] = code;
            let me = k as u16;
            if code == FLOOD {
                nflood += 1;
                if sc.flood_head == NIL {
                    sc.flood_head = me;
                    sc.flood_tail = me;
                }
            } else if code != NIL {
                let d = code as usize;
                if sc.head[d] == NIL {
                    sc.head[d] = me;
                    sc.tail[d] = me;
                    sc.touched[sc.ntouched] = code as PortId;
                    sc.ntouched += 1;
                }
            }
        }
        sc.nft = nft;
        sc.scan = sc.ntouched <= SCAN_MAX && (nflood == 0 || 2 * nflood >= nft);
        if !sc.scan {
            for k in 0..nft {
                let (code, me) = (sc.code[k], k as u16);
                if code == FLOOD {
                    if me != sc.flood_head {
                        sc.ft[sc.flood_tail as usize].next = me;
                        sc.flood_tail = me;
                    }
                } else if code != NIL {
                    let d = code as usize;
                    if me != sc.head[d] {
                        sc.ft[sc.tail[d] as usize].next = me;
                        sc.tail[d] = me;
                    }
                }
            }
        }
        let consumed = count - left;

        // Phase 2: serve each destination.
        let mut wakeups = Wakeups::new(src_ring);
        if nft > 0 {
            let flooding = sc.flood_head != NIL;
            let ndst = if flooding {
                t.active.len()
            } else {
                sc.ntouched
            };
            for k in 0..ndst {
                let d = if flooding { t.active[k] } else { sc.touched[k] };
                if d == src.id {
                    continue;
                }
                if deliver(&t, d, src_ring, slots, sc) {
                    wakeups.set(d);
                }
            }
        }
        // Reset only what this batch touched.
        for k in 0..sc.ntouched {
            let d = sc.touched[k] as usize;
            sc.head[d] = NIL;
            sc.tail[d] = NIL;
        }
        sc.ntouched = 0;
        sc.flood_head = NIL;
        sc.flood_tail = NIL;
        Ok(Forwarded { consumed, wakeups })
    }
}

/// Runs the batched lookup on frames `[from, to)` of `sc.ft`, into `sc.dst`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn lookup_run(
    t: &super::Table,
    frames: FrameReader<'_>,
    src: Attachment,
    ring: u16,
    now: u64,
    sc: &mut ForwardScratch,
    from: usize,
    to: usize,
) {
    if from >= to {
        return;
    }
    let batch = FrameBatch {
        frames,
        ft: &sc.ft[from..to],
        src: src.id,
        ring,
        now,
    };
    t.lookup.lookup_batch(&batch, &mut sc.dst[from..to]);
}

/// Copies the first bytes of a chain whose first fragment is shorter than
/// an Ethernet header into `hdr`, for the lookup.
fn gather_header<'a>(slots: &SlotArray, s0: u32, frags: u32, hdr: &'a mut [u8; 64]) -> &'a [u8] {
    let n = slots.len() as u32;
    let mut got = 0;
    let mut i = s0;
    for _ in 0..frags {
        if let Ok(f) = slots.frame(i as usize) {
            let take = f.len().min(hdr.len() - got);
            hdr[got..got + take].copy_from_slice(&f[..take]);
            got += take;
        }
        if got == hdr.len() {
            break;
        }
        i = ring_add(i, 1, n);
    }
    &hdr[..got]
}

/// Serves destination `d`: merges its unicast list with the flood list,
/// leases room, copies, publishes. Returns whether anything was delivered.
fn deliver(
    t: &super::Table,
    d: PortId,
    src_ring: u16,
    slots: &SlotArray,
    sc: &mut ForwardScratch,
) -> bool {
    let Some(port) = &t.ports[d as usize] else {
        return false;
    };
    let krings = port.krings(Dir::Rx);
    if krings.is_empty() {
        return false;
    }
    let dk = &krings[src_ring as usize % krings.len()];
    let max = port.max_frame();

    // This destination's frames in batch order; drop what the port cannot
    // take.
    let mut nsel = 0usize;
    let mut oversize = 0u64;
    if sc.scan {
        let me = d as u16;
        for k in 0..sc.nft {
            let c = sc.code[k];
            if c == me || c == FLOOD {
                let fits = sc.ft[k].len as usize <= max;
                sc.sel[nsel] = k as u16;
                nsel += fits as usize;
                oversize += !fits as u64;
            }
        }
    } else {
        // Merge the unicast list with the flood list.
        let (mut u, mut f) = (sc.head[d as usize], sc.flood_head);
        while u != NIL || f != NIL {
            let e = if f == NIL || (u != NIL && u < f) {
                let e = u;
                u = sc.ft[e as usize].next;
                e
            } else {
                let e = f;
                f = sc.ft[e as usize].next;
                e
            };
            let fits = sc.ft[e as usize].len as usize <= max;
            sc.sel[nsel] = e;
            nsel += fits as usize;
            oversize += !fits as u64;
        }
    }

    // Reserve: whole frames only, as many as fit.
    let (lease, take) = {
        let mut k = dk.lock();
        let avail = k.rx_free() as usize;
        let (mut take, mut need) = (0usize, 0usize);
        while take < nsel {
            let fr = sc.ft[sc.sel[take] as usize].frags as usize;
            if need + fr > avail {
                break;
            }
            need += fr;
            take += 1;
        }
        let lease = k.lease(need as u32, &mut sc.hold);
        // `need <= avail` and `need <= BATCH` (the hold array's size).
        debug_assert_eq!(lease.n as usize, need);
        if oversize > 0 || take < nsel {
            k.stats.drop_oversize += oversize;
            k.stats.drop_ring_full += (nsel - take) as u64;
        }
        (lease, take)
    };
    if take == 0 {
        if lease.n > 0 {
            dk.lock().complete_lease(lease, &mut sc.hold, 0, 0);
        }
        return false;
    }

    // Copy, without the lock: the leased buffers are ours alone.
    let bytes = copy_frames(slots, &sc.ft, &sc.sel[..take], &mut sc.hold, 0);

    // Publish.
    dk.lock()
        .complete_lease(lease, &mut sc.hold, take as u64, bytes);
    true
}

/// Copies the frames `sel` (indices into `ft`) from `slots` into `dst`
/// from position `start` on (wrapping), fragment by fragment, with their
/// lengths and MOREFRAG flags. Returns the bytes copied.
fn copy_frames(slots: &SlotArray, ft: &[Ft], sel: &[u16], dst: &mut SlotArray, start: u32) -> u64 {
    let n = slots.len() as u32;
    let m = dst.len() as u32;
    let mut c = slots.batch_copy(dst);
    let (mut h, mut bytes) = (start, 0u64);
    for &e in sel {
        let e = ft[e as usize];
        let mut s = e.slot;
        for fi in 0..e.frags {
            let len = c.src(s as usize).map_or(0, |x| x.len);
            let flags = if fi + 1 < e.frags { NS_MOREFRAG } else { 0 };
            // Cannot fail: same pool, lengths within the buffer size, and
            // the destination positions are the lease's, ours alone.
            let _ = c.copy(s as usize, h as usize, len, flags);
            h = ring_add(h, 1, m);
            s = ring_add(s, 1, n);
        }
        bytes += e.len as u64;
    }
    bytes
}

//! Descriptor chains of one queue, and the used elements that return them.
//!
//! A queue of `2n` descriptors has `n` chains: chain `c` is descriptors
//! `2c -> 2c + 1` (header, then buffer). Chains are handed out in ring
//! order (0, 1, ..., n - 1, 0, ...), each carrying the kring slot it was
//! posted for; a used element names a chain, and through it the slot.
//!
//! Why chains are not simply slots: a device need not use buffers in the
//! order they were made available (virtio 1.2, 2.7.8), so a used element
//! may name any chain the device holds, and the kring must still move in
//! slot order. Each chain therefore records its slot, and each queue marks
//! slots done and moves its kring over the contiguous done prefix.
//!
//! State is fixed arrays sized at set-up: the datapath allocates nothing.

use alloc::boxed::Box;
use alloc::vec;

use virtq::Virtqueue;

use crate::DeviceError;

/// `slot_of[c]` for a chain the device does not hold.
const FREE: u32 = u32::MAX;

/// The chains of one queue.
pub(crate) struct Chains {
    /// The slot chain `c` carries while the device holds it, or [`FREE`].
    slot_of: Box<[u32]>,
    /// The next chain to hand out.
    next: u32,
    /// The oldest chain handed out and not yet used (`next` if none).
    oldest: u32,
    /// Chains the device holds.
    held: u32,
    /// Chains used while an older one was still out (a counter).
    out_of_order: u64,
}

impl Chains {
    /// `n` chains, all free.
    pub fn new(n: u32) -> Self {
        Self {
            slot_of: vec![FREE; n as usize].into_boxed_slice(),
            next: 0,
            oldest: 0,
            held: 0,
            out_of_order: 0,
        }
    }

    fn n(&self) -> u32 {
        self.slot_of.len() as u32
    }

    #[inline]
    fn after(&self, c: u32) -> u32 {
        if c + 1 == self.n() {
            0
        } else {
            c + 1
        }
    }

    /// Chain `c`'s head descriptor.
    #[inline]
    pub fn head(c: u32) -> u16 {
        (c * 2) as u16
    }

    /// Every chain free, the next one chain 0 (after a device reset: the
    /// device starts over from the queue's first descriptor).
    pub fn reset(&mut self) {
        self.slot_of.iter_mut().for_each(|s| *s = FREE);
        self.next = 0;
        self.oldest = 0;
        self.held = 0;
    }

    /// Chains the device holds.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// Chains used so far while an older one was still out.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// The chain the next [`take`](Self::take) hands out, if free.
    pub fn peek(&self) -> Option<u32> {
        (self.slot_of[self.next as usize] == FREE).then_some(self.next)
    }

    /// Hand the next chain (in ring order) to `slot`; returns its head
    /// descriptor. `None` if that chain is still out, which cannot happen
    /// while at most `n` slots are in flight (a kring of `n` slots never
    /// has more), but is refused rather than trusted.
    pub fn take(&mut self, slot: u32) -> Option<u16> {
        let c = self.peek()?;
        self.slot_of[c as usize] = slot;
        self.next = self.after(c);
        self.held += 1;
        Some(Self::head(c))
    }

    /// Undo the last [`take`](Self::take) (its chain was not pushed).
    pub fn untake(&mut self) {
        let c = if self.next == 0 {
            self.n() - 1
        } else {
            self.next - 1
        };
        self.slot_of[c as usize] = FREE;
        self.next = c;
        self.held -= 1;
    }

    /// The chain a used element's `id` names, if the device holds it.
    fn chain_of(&self, id: u32) -> Option<u32> {
        let c = id / 2;
        (id.is_multiple_of(2) && c < self.n() && self.slot_of[c as usize] != FREE).then_some(c)
    }

    /// Take back every used element the device has published: for each
    /// finished chain, `done(slot, len)` with the slot it carried and the
    /// length the device reported (unchecked: `done` validates it, and an
    /// error it returns stops the walk). A used index past what the device
    /// holds, or an id that is not a chain the device holds (never posted,
    /// or already used), is a [`DeviceError`]. Returns the chains taken.
    ///
    /// Under `VIRTIO_F_IN_ORDER` (virtio 1.2, 2.7.9) an element may stand
    /// for a batch: the device used every chain from the oldest one out up
    /// to the one it names, in order, wrote this one element at the
    /// batch's first used position and moved the used index by the batch's
    /// size. Chains are made available in ring order, so the batch is
    /// `oldest..=named`; the chains before the named one were "used
    /// completely" and get `full_len`. A batch longer than the used index
    /// moved is a [`DeviceError::BadUsedId`].
    pub fn reap(
        &mut self,
        vq: &mut Virtqueue<'_>,
        full_len: u32,
        mut done: impl FnMut(u32, u32) -> Result<(), DeviceError>,
    ) -> Result<u32, DeviceError> {
        let pending = vq.poll_used().map_err(|_| DeviceError::UsedIndexJump)?;
        let in_order = vq.in_order();
        let mut left = pending;
        let mut taken = 0;
        while left > 0 {
            let Some(e) = vq.pop_used() else { break };
            left -= 1;
            let c = self.chain_of(e.id).ok_or(DeviceError::BadUsedId(e.id))?;
            if in_order && c != self.oldest {
                // Held chains are exactly [oldest, next) here (each
                // element frees the whole prefix up to its chain), and c
                // is one of them.
                let implied = (c + self.n() - self.oldest) % self.n();
                let skip = u16::try_from(implied)
                    .ok()
                    .filter(|&k| k <= left)
                    .ok_or(DeviceError::BadUsedId(e.id))?;
                vq.skip_used(skip)
                    .map_err(|_| DeviceError::BadUsedId(e.id))?;
                left -= skip;
                for _ in 0..implied {
                    let k = self.oldest;
                    done(self.slot_of[k as usize], full_len)?;
                    self.release(k);
                    taken += 1;
                }
            }
            done(self.slot_of[c as usize], e.len)?;
            if c != self.oldest {
                self.out_of_order += 1;
            }
            self.release(c);
            taken += 1;
        }
        Ok(taken)
    }

    fn release(&mut self, c: u32) {
        self.slot_of[c as usize] = FREE;
        self.held -= 1;
        if self.held == 0 {
            self.oldest = self.next;
        } else {
            // Some chain is still out: the walk stops at it.
            while self.slot_of[self.oldest as usize] == FREE {
                self.oldest = self.after(self.oldest);
            }
        }
    }
}

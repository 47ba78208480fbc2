//! A model of the device side of a split virtqueue, for tests.
//!
//! It follows the device's half of section 2.7 (read avail in order,
//! write used elements, honour the driver's interrupt suppression) and can
//! be told to misbehave, so driver code can be tested against both.

use core::sync::atomic::{fence, Ordering};

use crate::event::need_event;
use crate::mem::QueueMem;
use crate::VIRTQ_AVAIL_F_NO_INTERRUPT;

/// The device end of one queue.
#[derive(Debug)]
pub struct SimDevice<'a> {
    mem: QueueMem<'a>,
    event_idx: bool,
    last_avail: u16,
    used_shadow: u16,
    used_published: u16,
    /// Interrupts the device raised.
    pub interrupts: u64,
}

impl<'a> SimDevice<'a> {
    /// A device on the same memory as the driver's queue.
    pub fn new(mem: QueueMem<'a>, event_idx: bool) -> Self {
        Self {
            mem,
            event_idx,
            last_avail: 0,
            used_shadow: 0,
            used_published: 0,
            interrupts: 0,
        }
    }

    /// The queue memory this device model works on.
    pub fn mem(&self) -> QueueMem<'a> {
        self.mem
    }

    /// Chains published by the driver and not yet taken.
    pub fn avail_pending(&self) -> u16 {
        self.mem
            .avail_idx()
            .load(Ordering::Acquire)
            .wrapping_sub(self.last_avail)
    }

    /// Take the next available chain head.
    pub fn pop_avail(&mut self) -> Option<u16> {
        if self.avail_pending() == 0 {
            return None;
        }
        let head = self.mem.avail_ring(self.last_avail).load(Ordering::Relaxed);
        self.last_avail = self.last_avail.wrapping_add(1);
        Some(head)
    }

    /// Descriptor `i` as `(addr, len, flags, next)`.
    pub fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
        let d = self.mem.desc(i);
        (
            d.addr.load(Ordering::Relaxed),
            d.len.load(Ordering::Relaxed),
            d.flags.load(Ordering::Relaxed),
            d.next.load(Ordering::Relaxed),
        )
    }

    /// Write a used element (any id and len: the model does not check).
    pub fn push_used(&mut self, id: u32, len: u32) {
        let slot = self.mem.used_slot(self.used_shadow);
        slot.id.store(id, Ordering::Relaxed);
        slot.len.store(len, Ordering::Relaxed);
        self.used_shadow = self.used_shadow.wrapping_add(1);
    }

    /// Write one used element for a batch of `count` chains taken in
    /// order, `id` the last one's head, and move the used index by
    /// `count` (VIRTIO_F_IN_ORDER, virtio 1.2, 2.7.9: the element sits at
    /// the batch's first position, the others are skipped).
    pub fn push_used_batch(&mut self, id: u32, len: u32, count: u16) {
        let slot = self.mem.used_slot(self.used_shadow);
        slot.id.store(id, Ordering::Relaxed);
        slot.len.store(len, Ordering::Relaxed);
        self.used_shadow = self.used_shadow.wrapping_add(count);
    }

    /// Publish pushed elements; returns whether an interrupt is raised.
    pub fn publish_used(&mut self) -> bool {
        let old = self.used_published;
        let new = self.used_shadow;
        if old == new {
            return false;
        }
        self.mem.used_idx().store(new, Ordering::Release);
        self.used_published = new;
        fence(Ordering::SeqCst);
        let irq = if self.event_idx {
            need_event(self.mem.used_event().load(Ordering::Relaxed), new, old)
        } else {
            self.mem.avail_flags().load(Ordering::Relaxed) & VIRTQ_AVAIL_F_NO_INTERRUPT == 0
        };
        if irq {
            self.interrupts += 1;
        }
        irq
    }

    /// Ask the driver to notify when avail idx passes `idx` (EVENT_IDX).
    pub fn set_avail_event(&self, idx: u16) {
        self.mem.avail_event().store(idx, Ordering::Relaxed);
    }

    /// Ask for no notifications, or for all (without EVENT_IDX).
    pub fn set_no_notify(&self, on: bool) {
        let flags = if on { crate::VIRTQ_USED_F_NO_NOTIFY } else { 0 };
        self.mem.used_flags().store(flags, Ordering::Relaxed);
    }

    /// Misbehave: store any used index.
    pub fn force_used_idx(&mut self, idx: u16) {
        self.mem.used_idx().store(idx, Ordering::Release);
        self.used_shadow = idx;
        self.used_published = idx;
    }
}

//! The driver side of one split virtqueue.
//!
//! Indices: `avail_shadow` counts every chain the driver has pushed,
//! `published` is what the device has been shown (the avail ring's `idx`),
//! `last_used` counts every used element the driver has consumed. All are
//! free-running `u16`s; `avail_shadow - last_used` (wrapping) is the number
//! of chains the device holds, never more than the queue size.

use core::sync::atomic::{fence, Ordering};

use crate::event::need_event;
use crate::mem::QueueMem;
use crate::{VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY};

/// A finished chain as the device reported it. Nothing here is trusted:
/// the caller checks `id` against the chains it posted and `len` against
/// the buffers' sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsedElem {
    /// Head descriptor index of the chain, as the device wrote it.
    pub id: u32,
    /// Bytes written into the chain, as the device wrote it.
    pub len: u32,
}

/// The device broke the used-ring protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsedError {
    /// The used index moved further than the number of chains the device
    /// holds: `pending` new elements claimed, only `in_flight` possible.
    IndexJump {
        /// Elements the device claims to have added.
        pending: u16,
        /// Chains it actually held.
        in_flight: u16,
    },
    /// A batch (VIRTIO_F_IN_ORDER, 2.7.9) claims more used positions than
    /// the used index published: `skip` asked, only `left` there.
    BatchPastIndex {
        /// Positions the batch would skip.
        skip: u16,
        /// Published positions not yet consumed.
        left: u16,
    },
}

/// The avail ring has no room: the device holds every descriptor chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// Counters of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Notifications the driver decided to send.
    pub kicks: u64,
    /// Publishes that needed no notification (device already polling).
    pub kicks_suppressed: u64,
    /// Notifications the watchdog sent because one was lost (see
    /// [`Virtqueue::watchdog`]).
    pub watchdog_kicks: u64,
}

/// Where both sides of a queue stand, as the driver sees it now (for
/// `ifconfig` and for diagnosing a queue that stopped moving).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueState {
    /// The avail ring's `idx`: chains shown to the device.
    pub avail_idx: u16,
    /// The used ring's `idx` as the device wrote it (read now, unchecked).
    pub used_idx: u16,
    /// Used elements the driver has consumed.
    pub last_used: u16,
    /// The device's `avail_event`: with EVENT_IDX it wants a kick when
    /// `avail_idx` passes this.
    pub avail_event: u16,
    /// The driver's `used_event`: with EVENT_IDX it wants an interrupt when
    /// `used_idx` passes this.
    pub used_event: u16,
    /// The avail index the last kick decision was made at.
    pub last_kick_check: u16,
    /// Chains the device holds.
    pub in_flight: u16,
    /// Whether the driver asked for interrupts.
    pub irq_on: bool,
}

/// Driver state of one split virtqueue.
#[derive(Debug)]
pub struct Virtqueue<'a> {
    mem: QueueMem<'a>,
    event_idx: bool,
    in_order: bool,
    avail_shadow: u16,
    published: u16,
    last_kick_check: u16,
    last_used: u16,
    /// Used index as last read from the device (validated).
    used_seen: u16,
    irq_on: bool,
    /// The avail index the device was last notified at (what the last
    /// kick told it about).
    kicked_at: u16,
    /// Used index at the previous watchdog call.
    wd_used: u16,
    /// Fault injection: notifications still to lose (see
    /// [`lose_kicks`](Self::lose_kicks)).
    lose: u32,
    stats: QueueStats,
}

impl<'a> Virtqueue<'a> {
    /// Take over a queue whose memory the device has not started using:
    /// indices and flags start at zero, interrupts enabled.
    pub fn new(mem: QueueMem<'a>, event_idx: bool) -> Self {
        mem.avail_idx().store(0, Ordering::Relaxed);
        mem.avail_flags().store(0, Ordering::Relaxed);
        mem.used_event().store(0, Ordering::Relaxed);
        mem.used_idx().store(0, Ordering::Relaxed);
        mem.used_flags().store(0, Ordering::Relaxed);
        mem.avail_event().store(0, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Self {
            mem,
            event_idx,
            in_order: false,
            avail_shadow: 0,
            published: 0,
            last_kick_check: 0,
            last_used: 0,
            used_seen: 0,
            irq_on: true,
            kicked_at: 0,
            wd_used: 0,
            lose: 0,
            stats: QueueStats::default(),
        }
    }

    /// A queue started afresh on the same memory, with the same features
    /// (after the device was reset: it no longer uses the old state).
    pub fn fresh(&self) -> Self {
        Self::new(self.mem, self.event_idx).with_in_order(self.in_order)
    }

    /// Record whether `VIRTIO_F_IN_ORDER` was negotiated (2.7.9). This
    /// queue does not allocate descriptors, so it cannot keep the promise
    /// itself: the caller must make chains available in ring order
    /// (descriptor 0 first, wrapping at the end of the table, `next` of a
    /// chained descriptor `x` set to `x + 1`), and read a used element as
    /// the last of a batch whose other positions it then
    /// [skips](Self::skip_used).
    pub fn with_in_order(mut self, on: bool) -> Self {
        self.in_order = on;
        self
    }

    /// Whether `VIRTIO_F_IN_ORDER` governs this queue.
    pub fn in_order(&self) -> bool {
        self.in_order
    }

    /// Number of descriptors.
    pub fn size(&self) -> u16 {
        self.mem.layout.size
    }

    /// The queue's memory views.
    pub fn mem(&self) -> QueueMem<'a> {
        self.mem
    }

    /// Counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Whether `VIRTIO_F_EVENT_IDX` governs notifications.
    pub fn event_idx(&self) -> bool {
        self.event_idx
    }

    /// Both sides' indices, read now.
    pub fn state(&self) -> QueueState {
        QueueState {
            avail_idx: self.published,
            used_idx: self.mem.used_idx().load(Ordering::Acquire),
            last_used: self.last_used,
            avail_event: self.mem.avail_event().load(Ordering::Relaxed),
            used_event: self.mem.used_event().load(Ordering::Relaxed),
            last_kick_check: self.last_kick_check,
            in_flight: self.in_flight(),
            irq_on: self.irq_on,
        }
    }

    /// Write descriptor `i`. Only for descriptors the device does not hold.
    pub fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let d = self.mem.desc(i);
        d.addr.store(addr, Ordering::Relaxed);
        d.len.store(len, Ordering::Relaxed);
        d.flags.store(flags, Ordering::Relaxed);
        d.next.store(next, Ordering::Relaxed);
    }

    /// Change only the address and length of descriptor `i` (a buffer
    /// swapped into a slot, or a new frame length). Only for descriptors
    /// the device does not hold.
    pub fn set_desc_buf(&self, i: u16, addr: u64, len: u32) {
        let d = self.mem.desc(i);
        d.addr.store(addr, Ordering::Relaxed);
        d.len.store(len, Ordering::Relaxed);
    }

    /// Chains the device holds (pushed, not yet consumed from used).
    pub fn in_flight(&self) -> u16 {
        self.avail_shadow.wrapping_sub(self.last_used)
    }

    /// Push the chain starting at descriptor `head`; invisible to the
    /// device until [`publish`](Self::publish).
    pub fn push(&mut self, head: u16) -> Result<(), QueueFull> {
        if self.in_flight() >= self.size() {
            return Err(QueueFull);
        }
        self.mem
            .avail_ring(self.avail_shadow)
            .store(head, Ordering::Relaxed);
        self.avail_shadow = self.avail_shadow.wrapping_add(1);
        Ok(())
    }

    /// Show the device every pushed chain, and say whether it must be
    /// notified (one kick per batch, and none while the device polls).
    pub fn publish(&mut self) -> bool {
        if self.avail_shadow == self.published {
            return false;
        }
        // Ring entries (and the descriptors they name) before the index.
        self.mem
            .avail_idx()
            .store(self.avail_shadow, Ordering::Release);
        self.published = self.avail_shadow;
        // The index store must be visible before we read whether the device
        // wants a notification, or both sides could decide to sleep (2.7.13).
        fence(Ordering::SeqCst);
        let old = self.last_kick_check;
        self.last_kick_check = self.published;
        let kick = if self.event_idx {
            need_event(
                self.mem.avail_event().load(Ordering::Relaxed),
                self.published,
                old,
            )
        } else {
            self.mem.used_flags().load(Ordering::Relaxed) & VIRTQ_USED_F_NO_NOTIFY == 0
        };
        let kick = if kick && self.lose > 0 {
            self.lose -= 1;
            false
        } else {
            kick
        };
        if kick {
            self.kicked_at = self.published;
            self.stats.kicks += 1;
        } else {
            self.stats.kicks_suppressed += 1;
        }
        kick
    }

    /// Fault injection: the next `n` notifications [`publish`](Self::publish)
    /// owes the device are decided away, as when it reads a stale event
    /// point in the race [`watchdog`](Self::watchdog) recovers from. For
    /// tests of that recovery on a real device.
    pub fn lose_kicks(&mut self, n: u32) {
        self.lose = n;
    }

    /// Liveness check, for a periodic timer (every few milliseconds).
    /// Returns `true` if the device must be notified now: it holds chains,
    /// used none since the previous call, and its suppression fields say it
    /// is asleep waiting for a notification about chains already published
    /// that no kick gave it (with EVENT_IDX: `avail_event` equals the used
    /// index, and the last kick was not past it; without: `NO_NOTIFY` is
    /// clear and we published since the last kick). Once per stuck state;
    /// counted in [`QueueStats::watchdog_kicks`].
    ///
    /// Why a driver needs this: [`publish`](Self::publish) and the device
    /// decide to notify / sleep with a store-fence-load handshake on each
    /// side (2.7.13). If either side's fence is not a real one, both can
    /// read the other's old value and the device sleeps on work it was
    /// never told about. QEMU's TCG with a single vCPU is such a case: it
    /// translates the guest's `mfence` to nothing (no other vCPU could
    /// tell), but the device model runs concurrently in QEMU's main loop
    /// thread. Seen as a transmit queue that never moved again.
    pub fn watchdog(&mut self) -> bool {
        let used = self.mem.used_idx().load(Ordering::Acquire);
        let progressed = used != self.wd_used;
        self.wd_used = used;
        // Chains shown to the device that it has not used.
        let held = self.published.wrapping_sub(used);
        if progressed || held == 0 || held > self.size() {
            // Moving, idle, or an index the next sync will reject.
            return false;
        }
        let waiting = if self.event_idx {
            // A device that sleeps waiting for new chains has finished
            // everything it took and put its event point right there: it
            // wants to hear when the avail index passes the used index.
            // Waiting on us: that is where it stands, we did publish past
            // it, and no kick has told it so (the last kick was not past
            // the point). Anything else is a device at work, or blocked on
            // its backend holding a chain (point past the used index), or
            // a stale point (behind the used index: e.g. a receive queue
            // the device stopped watching because it has buffers): a kick
            // would not help.
            let e = self.mem.avail_event().load(Ordering::Relaxed);
            let kick_past_event = self.kicked_at.wrapping_sub(e);
            e == used && !(1..=held).contains(&kick_past_event)
        } else {
            // The device wants every notification, and we published since
            // the last one.
            self.mem.used_flags().load(Ordering::Relaxed) & VIRTQ_USED_F_NO_NOTIFY == 0
                && self.kicked_at != self.published
        };
        if waiting {
            // Told now: the next look finds this kick past the event point,
            // so a device that stays put (its backend is blocked) is kicked
            // once, not every period.
            self.kicked_at = self.published;
            self.stats.watchdog_kicks += 1;
        }
        waiting
    }

    /// Read the device's used index and return how many elements are new.
    /// An index that claims more than the device holds is an error and
    /// changes nothing: the caller resets the device.
    pub fn poll_used(&mut self) -> Result<u16, UsedError> {
        let idx = self.mem.used_idx().load(Ordering::Acquire);
        let pending = idx.wrapping_sub(self.last_used);
        let in_flight = self.in_flight();
        if pending > in_flight {
            return Err(UsedError::IndexJump { pending, in_flight });
        }
        self.used_seen = idx;
        if pending > 0 && !self.irq_on && self.event_idx {
            // Keep the event point behind the device's index so it never
            // crosses it while we poll (see disable_interrupts): once per
            // poll, not per element (this is guest memory the device
            // reads; under TCG every store to it costs).
            self.mem
                .used_event()
                .store(idx.wrapping_sub(1), Ordering::Relaxed);
        }
        Ok(pending)
    }

    /// The next used element counted by the last [`poll_used`](Self::poll_used).
    pub fn pop_used(&mut self) -> Option<UsedElem> {
        if self.last_used == self.used_seen {
            return None;
        }
        let slot = self.mem.used_slot(self.last_used);
        let elem = UsedElem {
            id: slot.id.load(Ordering::Relaxed),
            len: slot.len.load(Ordering::Relaxed),
        };
        self.last_used = self.last_used.wrapping_add(1);
        Some(elem)
    }

    /// Consume `k` more used positions without reading them: under
    /// `VIRTIO_F_IN_ORDER` (2.7.9) the device may write one used element
    /// for a batch of chains (the id of the last one, at the position of
    /// the first) and advance the used index by the batch's size; the
    /// caller, which knows the order it made chains available in, works
    /// out the size from the id and skips the rest. More than the last
    /// [`poll_used`](Self::poll_used) counted is an error and changes
    /// nothing.
    pub fn skip_used(&mut self, k: u16) -> Result<(), UsedError> {
        let left = self.used_seen.wrapping_sub(self.last_used);
        if k > left {
            return Err(UsedError::BatchPastIndex { skip: k, left });
        }
        self.last_used = self.last_used.wrapping_add(k);
        Ok(())
    }

    /// Ask for an interrupt when the next element is used. Returns `true`
    /// if elements are already waiting: the caller must poll again rather
    /// than sleep, since the device may have used them before it could
    /// see the request (the re-arm race).
    pub fn enable_interrupts(&mut self) -> bool {
        self.enable_interrupts_after(1)
    }

    /// Ask for an interrupt once `n` (>= 1) more elements are used (with
    /// EVENT_IDX; without it, after the next one). Same return as
    /// [`enable_interrupts`](Self::enable_interrupts).
    pub fn enable_interrupts_after(&mut self, n: u16) -> bool {
        self.irq_on = true;
        if self.event_idx {
            let at = self.last_used.wrapping_add(n.max(1) - 1);
            self.mem.used_event().store(at, Ordering::Relaxed);
        } else {
            self.mem.avail_flags().store(0, Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
        self.mem.used_idx().load(Ordering::Acquire) != self.last_used
    }

    /// No interrupts while the driver polls. With EVENT_IDX the event
    /// point is put just behind the consumer, which the device has already
    /// passed; without it, the avail ring's NO_INTERRUPT flag (a hint the
    /// device may ignore: spurious interrupts are harmless).
    pub fn disable_interrupts(&mut self) {
        if !self.irq_on {
            // Already off, and `poll_used` keeps the event point behind
            // the device: nothing to write (the busy loop calls this on
            // every pass).
            return;
        }
        self.irq_on = false;
        if self.event_idx {
            self.mem
                .used_event()
                .store(self.last_used.wrapping_sub(1), Ordering::Relaxed);
        } else {
            self.mem
                .avail_flags()
                .store(VIRTQ_AVAIL_F_NO_INTERRUPT, Ordering::Relaxed);
        }
    }

    /// Whether interrupts are requested.
    pub fn interrupts_enabled(&self) -> bool {
        self.irq_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::QueueLayout;
    use crate::mem::words_for;
    use crate::sim::SimDevice;
    use crate::VIRTQ_DESC_F_WRITE;

    /// A queue of `n` descriptors and the device model on its memory
    /// (leaked: both borrow it for the test's life).
    fn pair(n: u32, event_idx: bool) -> (Virtqueue<'static>, SimDevice<'static>) {
        let layout = QueueLayout::new(n).unwrap();
        let words = alloc::boxed::Box::leak(words_for(layout).into_boxed_slice());
        let mem = QueueMem::from_words(words, layout).unwrap();
        (
            Virtqueue::new(mem, event_idx),
            SimDevice::new(mem, event_idx),
        )
    }

    #[test]
    fn publish_batches_and_the_device_sees_it_in_order() {
        let (mut q, mut dev) = pair(8, false);
        for i in 0..5 {
            q.set_desc(i, 0x1000 * u64::from(i), 64, VIRTQ_DESC_F_WRITE, 0);
            q.push(i).unwrap();
        }
        assert_eq!(dev.avail_pending(), 0, "nothing visible before publish");
        assert!(q.publish());
        assert_eq!(q.stats().kicks, 1);
        assert_eq!(dev.avail_pending(), 5);
        for i in 0..5 {
            let head = dev.pop_avail().unwrap();
            assert_eq!(head, i);
            assert_eq!(dev.desc(head).0, 0x1000 * u64::from(i));
        }
    }

    #[test]
    fn full_queue_refuses_more() {
        let (mut q, _) = pair(4, false);
        for i in 0..4 {
            q.push(i).unwrap();
        }
        assert_eq!(q.push(0), Err(QueueFull));
        assert_eq!(q.in_flight(), 4);
    }

    #[test]
    fn used_index_jump_is_an_error_and_changes_nothing() {
        let (mut q, mut dev) = pair(8, false);
        q.push(0).unwrap();
        q.publish();
        dev.force_used_idx(3);
        assert_eq!(
            q.poll_used(),
            Err(UsedError::IndexJump {
                pending: 3,
                in_flight: 1
            })
        );
        assert_eq!(q.pop_used(), None);
        assert_eq!(q.in_flight(), 1);
    }

    #[test]
    fn event_idx_suppresses_kicks_until_the_device_asks() {
        let (mut q, dev) = pair(8, true);
        // Device asks to be told when avail idx passes 0 (first entry).
        dev.set_avail_event(0);
        q.push(0).unwrap();
        assert!(q.publish());
        // Device is polling: wants to hear only after entry 5.
        dev.set_avail_event(5);
        q.push(1).unwrap();
        assert!(!q.publish(), "avail idx 2 has not crossed event 5");
        for i in 2..7 {
            q.push(i).unwrap();
        }
        assert!(q.publish(), "7 crossed 5");
        assert_eq!(
            q.stats(),
            QueueStats {
                kicks: 2,
                kicks_suppressed: 1,
                watchdog_kicks: 0,
            }
        );
    }

    #[test]
    fn interrupt_rearm_reports_work_that_raced_in() {
        let (mut q, mut dev) = pair(8, true);
        q.disable_interrupts();
        q.push(0).unwrap();
        q.publish();
        let head = dev.pop_avail().unwrap();
        dev.push_used(u32::from(head), 60);
        assert!(!dev.publish_used(), "interrupts disabled: no interrupt");
        // The driver re-arms after the device already used the element.
        assert!(q.enable_interrupts(), "must poll again, not sleep");
        assert_eq!(q.poll_used(), Ok(1));
        assert_eq!(q.pop_used(), Some(UsedElem { id: 0, len: 60 }));
        // Armed and caught up: the next used element interrupts.
        assert!(!q.enable_interrupts());
        q.push(1).unwrap();
        q.publish();
        let head = dev.pop_avail().unwrap();
        dev.push_used(u32::from(head), 61);
        assert!(dev.publish_used());
    }

    /// The lost-notification race (2.7.13's handshake without a real fence
    /// on one side): the driver publishes while the device's new event
    /// point is not yet visible, so it does not kick; the device then
    /// sleeps on a chain it never saw. The watchdog notices on its second
    /// look and kicks, once.
    #[test]
    fn watchdog_kicks_once_after_a_lost_notification() {
        let (mut q, mut dev) = pair(8, true);
        for i in 0..2 {
            q.push(i).unwrap();
        }
        assert!(q.publish(), "event 0 crossed");
        while let Some(h) = dev.pop_avail() {
            dev.push_used(u32::from(h), 0);
        }
        dev.publish_used();
        assert!(!q.watchdog(), "the device moved since the last look");
        // The race: the driver reads the event point before the device's
        // store of 2 lands, so publishing 2 -> 3 sends nothing.
        q.push(2).unwrap();
        assert!(!q.publish(), "old event point 0 is behind this batch");
        dev.set_avail_event(2);
        // The device is idle, waiting for a kick past 2.
        assert!(
            q.watchdog(),
            "stuck with a chain the device was never told of"
        );
        assert!(!q.watchdog(), "one kick per stuck state");
        assert_eq!(q.stats().watchdog_kicks, 1);
        // The kick: the device takes the chain and moves again.
        let h = dev.pop_avail().unwrap();
        dev.push_used(u32::from(h), 0);
        dev.publish_used();
        assert!(!q.watchdog());
        assert!(!q.watchdog(), "nothing held: idle, no kick");
    }

    /// A receive queue whose device stopped watching the avail index
    /// (it has buffers, so its event point is stale, behind what it has
    /// used) is idle, not stuck: no kick however long it stays so.
    #[test]
    fn watchdog_leaves_a_stale_event_point_alone() {
        let (mut q, mut dev) = pair(8, true);
        for i in 0..8 {
            q.push(i).unwrap();
        }
        q.publish();
        dev.set_avail_event(1);
        for _ in 0..3 {
            let h = dev.pop_avail().unwrap();
            dev.push_used(u32::from(h), 60);
        }
        dev.publish_used();
        for _ in 0..5 {
            assert!(!q.watchdog());
        }
        assert_eq!(q.stats().watchdog_kicks, 0);
    }

    /// A device blocked on its backend (QEMU when the socket is full: it
    /// took a chain, could not send it, and its event point is past what
    /// it used) is not waiting for us: no kick, however long it sits.
    #[test]
    fn watchdog_leaves_a_device_blocked_on_its_backend_alone() {
        let (mut q, mut dev) = pair(8, true);
        for i in 0..2 {
            q.push(i).unwrap();
        }
        assert!(q.publish());
        let h = dev.pop_avail().unwrap();
        dev.push_used(u32::from(h), 0);
        dev.publish_used();
        // More published while the device is at work (event point 0).
        for i in 2..5 {
            q.push(i).unwrap();
        }
        assert!(!q.publish());
        // Chain 1 taken, not sent; the event point follows the pops.
        dev.pop_avail().unwrap();
        dev.set_avail_event(2);
        for _ in 0..5 {
            assert!(!q.watchdog());
        }
        assert_eq!(q.stats().watchdog_kicks, 0);
    }

    /// Injected losses behave like the race: no kick, and the watchdog
    /// makes up for it.
    #[test]
    fn lost_kicks_are_injected_and_recovered() {
        let (mut q, _) = pair(8, true);
        q.lose_kicks(1);
        q.push(0).unwrap();
        assert!(!q.publish(), "owed, lost");
        assert_eq!(q.stats().kicks_suppressed, 1);
        assert!(q.watchdog(), "the device never heard of chain 0");
        q.push(1).unwrap();
        assert!(
            !q.publish(),
            "event 0 is behind this batch: the rest rides on the watchdog's kick"
        );
    }

    /// A queue the device was told about and simply has nothing to do
    /// with (a receive queue before the first frame: event point 0, never
    /// moved) is idle, not stuck.
    #[test]
    fn watchdog_leaves_a_notified_idle_queue_alone() {
        let (mut q, _) = pair(8, true);
        for i in 0..8 {
            q.push(i).unwrap();
        }
        assert!(q.publish(), "event 0 crossed: kicked");
        for _ in 0..5 {
            assert!(!q.watchdog());
        }
    }

    /// Without EVENT_IDX the device's NO_NOTIFY flag is what can be read
    /// stale: clear and no progress means it waits for a kick.
    #[test]
    fn watchdog_without_event_idx_follows_no_notify() {
        let (mut q, dev) = pair(8, false);
        dev.set_no_notify(true);
        q.push(0).unwrap();
        assert!(!q.publish(), "the device polls");
        assert!(!q.watchdog(), "device says it polls");
        dev.set_no_notify(false);
        assert!(
            q.watchdog(),
            "device stopped polling without taking the chain"
        );
        assert!(!q.watchdog());
    }

    /// IN_ORDER (2.7.9): one element for a batch of three, at the batch's
    /// first position; the driver skips the other two and the next
    /// element is where the device writes it.
    #[test]
    fn an_in_order_batch_is_skipped_over() {
        let (q, mut dev) = pair(8, true);
        let mut q = q.with_in_order(true);
        assert!(q.in_order());
        assert!(q.fresh().in_order(), "a fresh queue keeps the feature");
        for i in 0..4 {
            q.push(i).unwrap();
        }
        q.publish();
        let heads: [u16; 4] = core::array::from_fn(|_| dev.pop_avail().unwrap());
        dev.push_used_batch(u32::from(heads[2]), 7, 3);
        dev.push_used(u32::from(heads[3]), 9);
        dev.publish_used();
        assert_eq!(q.poll_used(), Ok(4));
        assert_eq!(q.pop_used(), Some(UsedElem { id: 2, len: 7 }));
        assert_eq!(
            q.skip_used(4),
            Err(UsedError::BatchPastIndex { skip: 4, left: 3 }),
            "past the index: refused, nothing changed"
        );
        assert_eq!(q.skip_used(2), Ok(()));
        assert_eq!(q.pop_used(), Some(UsedElem { id: 3, len: 9 }));
        assert_eq!(q.pop_used(), None);
        assert_eq!(q.in_flight(), 0);
    }

    #[test]
    fn indices_wrap_past_u16() {
        let (mut q, mut dev) = pair(4, true);
        for round in 0u32..70_000 {
            let id = (round % 4) as u16;
            q.push(id).unwrap();
            q.publish();
            let head = dev.pop_avail().unwrap();
            assert_eq!(head, id);
            dev.push_used(u32::from(head), round);
            dev.publish_used();
            assert_eq!(q.poll_used(), Ok(1));
            assert_eq!(
                q.pop_used(),
                Some(UsedElem {
                    id: u32::from(id),
                    len: round
                })
            );
        }
        assert_eq!(q.in_flight(), 0);
    }
}

//! The vhost-user protocol side: what the backend offers QEMU, and how the
//! rust-vmm daemon's state reaches the datapath.
//!
//! `vhost-user-backend` runs the protocol (features, memory table, ring
//! addresses, kick/call eventfds, enable/disable, `GET_VRING_BASE`) on its
//! own threads; this file implements its backend trait. The datapath thread
//! never waits on those threads: it reads the vrings (shared, locked per
//! batch) and the memory map (an atomic snapshot) directly.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackend, VringRwLock};
use virtio_bindings::virtio_config::{VIRTIO_F_IN_ORDER, VIRTIO_F_VERSION_1};
use virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Queue 0 is the guest's receive queue (the backend writes frames into
/// it), queue 1 its transmit queue (the backend reads them): virtio 1.2,
/// 5.1.2. With several queue pairs, pair k is queues 2k (receive) and
/// 2k + 1 (transmit); the control queue stays in QEMU. As directions, these
/// two name "every receive queue" and "every transmit queue" in
/// [`super::VhostPort::wait`] and [`super::VhostPort::arm`].
pub const RX_QUEUE: usize = 0;
pub const TX_QUEUE: usize = 1;
/// The most queue pairs a backend serves (virtio allows 0x8000; QEMU's
/// `queues=` is bounded by its MSI-X vectors long before).
pub const MAX_QUEUE_PAIRS: u16 = 16;
/// The largest ring the backend accepts (QEMU allows 1024 with vhost-user).
pub const MAX_QUEUE_SIZE: usize = 1024;
/// `VIRTIO_NET_F_MQ` (virtio 1.2, 5.1.3): one of the bits QEMU's vhost-user
/// net asks the backend about (its `user_feature_bits`); without it the
/// guest is not offered multi-queue whatever `queues=` says.
pub const VIRTIO_NET_F_MQ: u32 = 22;

/// How the backend behaves; the defaults are a well-behaved device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendOptions {
    /// Offer VIRTIO_RING_F_EVENT_IDX (the guest may still decline it).
    pub event_idx: bool,
    /// Test mode: complete each batch's used elements in reverse order, as
    /// a spec-compliant device may (virtio 1.2, 2.7.8); no IN_ORDER offered.
    pub out_of_order: bool,
    /// Queue pairs served (1..=[`MAX_QUEUE_PAIRS`]); QEMU's `queues=N`
    /// must not ask for more. With more than one, `VIRTIO_NET_F_MQ` is
    /// offered and frames to the guest are spread over its live receive
    /// queues by a flow hash ([`super::port`]).
    pub queue_pairs: u16,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            event_idx: true,
            out_of_order: false,
            queue_pairs: 1,
        }
    }
}

impl BackendOptions {
    /// The virtio feature bits offered. MAC, status and the control queue
    /// stay in QEMU; no offloads, no mergeable buffers, no indirect
    /// descriptors (so a guest that uses one is wrong, and is told so).
    pub fn features(&self) -> u64 {
        let mut f =
            (1u64 << VIRTIO_F_VERSION_1) | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits();
        if self.event_idx {
            f |= 1 << VIRTIO_RING_F_EVENT_IDX;
        }
        if !self.out_of_order {
            // We use buffers in the order they were made available.
            f |= 1 << VIRTIO_F_IN_ORDER;
        }
        if self.pairs() > 1 {
            f |= 1 << VIRTIO_NET_F_MQ;
        }
        f
    }

    /// Queue pairs, clamped to 1..=[`MAX_QUEUE_PAIRS`].
    pub fn pairs(&self) -> usize {
        self.queue_pairs.clamp(1, MAX_QUEUE_PAIRS) as usize
    }

    /// Virtqueues served: two per pair.
    pub fn num_queues(&self) -> usize {
        2 * self.pairs()
    }

    /// The custom event the daemon's worker hands the vrings over on: past
    /// the queues' events and the exit event.
    pub(super) fn hello_event(&self) -> u16 {
        self.num_queues() as u16 + 1
    }
}

/// One connection's rings and memory, as the datapath sees them.
#[derive(Clone)]
pub struct Conn {
    pub vrings: Vec<VringRwLock>,
    pub mem: GuestMemoryAtomic<GuestMemoryMmap<()>>,
}

/// Counters the protocol side keeps.
#[derive(Default)]
pub struct ProtoStats {
    pub connections: AtomicU64,
    pub kicks: AtomicU64,
    /// Kicks per queue (index = virtqueue number).
    pub queue_kicks: Vec<AtomicU64>,
    pub memory_updates: AtomicU64,
    pub ring_stops: AtomicU64,
}

/// What the protocol threads and the datapath share for one socket.
pub struct Shared {
    pub opts: BackendOptions,
    /// The live connection, if any.
    pub conn: Mutex<Option<Conn>>,
    /// Bumped whenever `conn`, the memory table or a ring's set-up
    /// changes: the datapath refreshes its view when it differs.
    pub generation: AtomicU64,
    /// Written on every kick and connection change: the datapath sleeps
    /// on it when there is nothing to do.
    pub wake: EventFd,
    pub stats: ProtoStats,
    /// QEMU's end of the live connection: shutting it down ends the
    /// connection at once (the owner does when the port goes away).
    pub shutdown: Mutex<Option<std::os::unix::net::UnixStream>>,
}

impl Shared {
    pub fn new(opts: BackendOptions) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            opts,
            conn: Mutex::new(None),
            generation: AtomicU64::new(1),
            wake: EventFd::new(EFD_NONBLOCK)?,
            stats: ProtoStats {
                queue_kicks: (0..opts.num_queues()).map(|_| AtomicU64::new(0)).collect(),
                ..ProtoStats::default()
            },
            shutdown: Mutex::new(None),
        }))
    }

    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let _ = self.wake.write(1);
    }

    pub fn install(&self, conn: Option<Conn>) {
        *self.conn.lock().unwrap() = conn;
        self.changed();
    }
}

/// The backend object the rust-vmm daemon drives, one per connection.
pub struct NetBackend {
    shared: Arc<Shared>,
    /// Handed over by the worker thread on [`BackendOptions::hello_event`].
    pub(super) vrings: Mutex<Option<Vec<VringRwLock>>>,
}

impl NetBackend {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            vrings: Mutex::new(None),
        }
    }
}

impl VhostUserBackend for NetBackend {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        self.shared.opts.num_queues()
    }

    fn max_queue_size(&self) -> usize {
        MAX_QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        self.shared.opts.features()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        // MQ: QEMU asks how many queues there are. No REPLY_ACK: the relay
        // (proxy.rs) holds early SET_VRING_ENABLEs back, which it could not
        // do for a message QEMU waits on.
        VhostUserProtocolFeatures::MQ
    }

    fn set_event_idx(&self, _enabled: bool) {
        // The daemon sets it on each ring's Queue, where the datapath reads it.
        self.shared.changed();
    }

    fn update_memory(&self, _mem: GuestMemoryAtomic<GuestMemoryMmap<()>>) -> io::Result<()> {
        // The atomic the datapath holds is this one, already updated; make
        // the datapath take a new snapshot of it.
        self.shared
            .stats
            .memory_updates
            .fetch_add(1, Ordering::Relaxed);
        self.shared.changed();
        Ok(())
    }

    fn reset_device(&self) {
        self.shared.changed();
    }

    fn stop_vring(&self, _queue_index: u32) -> io::Result<()> {
        // GET_VRING_BASE: the daemon marked the ring not ready under its
        // lock, so no batch runs on it any more; a broken mark is forgotten
        // with the generation.
        self.shared.stats.ring_stops.fetch_add(1, Ordering::Relaxed);
        self.shared.changed();
        Ok(())
    }

    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        // Without one the daemon's worker never leaves its epoll loop, and
        // dropping the daemon after a disconnect waits for it forever.
        new_event_consumer_and_notifier(EventFlag::NONBLOCK | EventFlag::CLOEXEC).ok()
    }

    fn handle_event(
        &self,
        device_event: u16,
        _evset: EventSet,
        vrings: &[VringRwLock],
        _thread_id: usize,
    ) -> io::Result<()> {
        if device_event == self.shared.opts.hello_event() {
            *self.vrings.lock().unwrap() = Some(vrings.to_vec());
            return Ok(());
        }
        // A kick (the daemon has consumed the eventfd): wake the datapath.
        self.shared.stats.kicks.fetch_add(1, Ordering::Relaxed);
        if let Some(k) = self.shared.stats.queue_kicks.get(usize::from(device_event)) {
            k.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.wake.write(1)
    }
}

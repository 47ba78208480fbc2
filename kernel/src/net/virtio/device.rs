//! One virtio-net device: initialisation (virtio 1.2, 3.1.1), queue
//! memory, and recovery from a misbehaving device.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use netmap::BufferPool;
use netmap_virtio::{rx_queue, slots_for, tx_queue, BufMap, Doorbell, VirtioNic, HDR_STRIDE};
use netmap_virtio::{RxQueue, TxQueue};
use spin::Mutex;
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceStatus, Transport};
use virtq::{QueueLayout, QueueMem, Virtqueue};

use super::cam::{device_function, KernelCam};
use super::features::{self, config, REQUIRED};
use super::hal::KernelHal;
use super::notify::Notifier;
use super::vectors::Vectors;
use crate::mem::dma::{self, DmaRegion};
use crate::pci::{self, PciAddress, PciFunction};

/// Queue sizes we ask for, two descriptors per slot; each queue gets what
/// its device allows up to this (`netmap_virtio::queue_size`). QEMU allows
/// RX up to 1024 entries, and TX too with vhost-user backends (512 tx
/// slots), but caps TX at 256 with its tap and socket backends (128).
const WANT_RX_QUEUE: u32 = 1024;
const WANT_TX_QUEUE: u32 = 1024;
/// The control queue carries one command at a time (three descriptors).
const WANT_CTRL_QUEUE: u32 = 64;
/// The most queue pairs the driver sets up (`--nic ...,queues=N` allows
/// the same); a device offering more gets this many.
pub const MAX_PAIRS: u16 = 8;
/// How long the device has to answer a control command.
const CTRL_TIMEOUT_MS: u64 = 1000;

/// Why a device could not be brought up.
#[derive(Debug)]
pub enum ProbeError {
    /// `virtio-drivers` could not find the modern capabilities.
    Transport(String),
    /// The device lacks a feature we need (bits missing).
    Features(u64),
    /// The device refused our feature set (FEATURES_OK did not stick).
    FeaturesRejected,
    /// A queue is missing or has an unusable size.
    Queue(u16, u32),
    /// Out of DMA memory or buffers.
    Memory,
    /// The device did not carry out a control command: (class, command,
    /// the ack it wrote, or `None` if it never answered).
    Ctrl(u8, u8, Option<u8>),
    /// After a reset the device refused the MSI-X vectors it took before.
    Vectors,
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProbeError::Transport(e) => write!(f, "virtio PCI transport: {e}"),
            ProbeError::Features(missing) => {
                write!(f, "device lacks required features {missing:#x}")
            }
            ProbeError::FeaturesRejected => f.write_str("device refused our feature set"),
            ProbeError::Queue(q, max) => write!(f, "queue {q} unusable (max size {max})"),
            ProbeError::Memory => f.write_str("out of DMA memory or buffers"),
            ProbeError::Ctrl(class, cmd, None) => {
                write!(f, "control command {class}.{cmd} not answered")
            }
            ProbeError::Ctrl(class, cmd, Some(ack)) => {
                write!(f, "control command {class}.{cmd} refused (ack {ack})")
            }
            ProbeError::Vectors => f.write_str("device refused its MSI-X vectors"),
        }
    }
}

/// The transport, shared by the doorbell and the control path.
type SharedTransport = Arc<Mutex<PciTransport>>;

struct TransportBell(SharedTransport);

impl Doorbell for TransportBell {
    fn kick(&self, queue: u16) {
        // `notify` writes queue_select, reads queue_notify_off, then rings.
        let exits = crate::exits::this_cpu();
        exits.doorbell();
        exits.mmio(2);
        self.0.lock().notify(queue);
    }
}

/// Queue memory that lives as long as the kernel: allocated once per
/// device and never freed (a device reset reuses it).
struct QueueArea {
    layout: QueueLayout,
    phys: u64,
    mem: QueueMem<'static>,
}

impl QueueArea {
    fn new(size: u32) -> Result<Self, ProbeError> {
        let layout = QueueLayout::new(size).map_err(|_| ProbeError::Queue(0, size))?;
        let region = dma::alloc(layout.total).map_err(|_| ProbeError::Memory)?;
        let (phys, virt, _len) = region.into_raw();
        // SAFETY: `region` was a fresh DMA allocation of at least
        // layout.total bytes, page aligned; into_raw gave up ownership, so
        // nothing else in the kernel will ever reference it: only these
        // views and the device touch it, for the rest of the kernel's life.
        let mem = unsafe { QueueMem::new(virt, layout) }.map_err(|_| ProbeError::Memory)?;
        Ok(Self {
            layout,
            phys: phys.as_u64(),
            mem,
        })
    }

    fn program(&self, t: &mut PciTransport, queue: u16) {
        let l = self.layout;
        t.queue_set(
            queue,
            u32::from(l.size),
            self.phys + l.desc as u64,
            self.phys + l.avail as u64,
            self.phys + l.used as u64,
        );
    }
}

/// Zeroed per-slot header memory, kept forever.
fn header_area(slots: u32) -> Result<u64, ProbeError> {
    let region =
        dma::alloc(slots as usize * HDR_STRIDE as usize).map_err(|_| ProbeError::Memory)?;
    let (phys, _virt, _len) = region.into_raw();
    Ok(phys.as_u64())
}

/// The control virtqueue (5.1.6.5), with `VIRTIO_NET_F_MQ` only: one
/// command at a time, the driver waiting for the device's ack (it is sent
/// at set-up, not on the datapath).
struct CtrlQueue {
    index: u16,
    area: QueueArea,
    vq: Virtqueue<'static>,
    /// `class, command, data.., ack` for the command in hand.
    buf: DmaRegion,
}

impl CtrlQueue {
    fn new(t: &mut PciTransport, index: u16) -> Result<Self, ProbeError> {
        let area = QueueArea::new(queue_size(t, index, WANT_CTRL_QUEUE)?)?;
        let vq = Virtqueue::new(area.mem, false);
        let buf = dma::alloc(64).map_err(|_| ProbeError::Memory)?;
        Ok(Self {
            index,
            area,
            vq,
            buf,
        })
    }

    /// Give the (freshly reset) device the queue, empty.
    fn program(&mut self, t: &mut PciTransport) {
        self.vq = self.vq.fresh();
        self.area.program(t, self.index);
    }

    /// Send `class.cmd` with `data` (after DRIVER_OK) and wait for the
    /// device's ack: three descriptors, the header and the data
    /// device-readable, the ack byte device-writable (5.1.6.5).
    fn command(
        &mut self,
        t: &mut PciTransport,
        class: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<(), ProbeError> {
        use virtq::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
        let n = data.len();
        let b = self.buf.as_mut_slice();
        b[0] = class;
        b[1] = cmd;
        b[2..2 + n].copy_from_slice(data);
        b[2 + n] = 0xff;
        let phys = self.buf.phys().as_u64();
        self.vq.set_desc(0, phys, 2, VIRTQ_DESC_F_NEXT, 1);
        self.vq
            .set_desc(1, phys + 2, n as u32, VIRTQ_DESC_F_NEXT, 2);
        self.vq
            .set_desc(2, phys + 2 + n as u64, 1, VIRTQ_DESC_F_WRITE, 0);
        self.vq
            .push(0)
            .map_err(|_| ProbeError::Ctrl(class, cmd, None))?;
        self.vq.publish();
        crate::exits::this_cpu().doorbell();
        t.notify(self.index);
        // QEMU may handle the queue on its main loop, not in the exit.
        let start = crate::time::since_boot().as_millis() as u64;
        let mut spins: u64 = 0;
        loop {
            match self.vq.poll_used() {
                Ok(0) => {}
                Ok(_) => break,
                Err(_) => return Err(ProbeError::Ctrl(class, cmd, None)),
            }
            spins += 1;
            let now = crate::time::since_boot().as_millis() as u64;
            if now.saturating_sub(start) > CTRL_TIMEOUT_MS || spins > 200_000_000 {
                return Err(ProbeError::Ctrl(class, cmd, None));
            }
            core::hint::spin_loop();
        }
        let _ = self.vq.pop_used();
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
        let ack = self.buf.as_mut_slice()[2 + n];
        if ack == features::ctrl::OK {
            Ok(())
        } else {
            Err(ProbeError::Ctrl(class, cmd, Some(ack)))
        }
    }

    /// `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET` (5.1.6.5.5): use `pairs` pairs.
    fn set_pairs(&mut self, t: &mut PciTransport, pairs: u16) -> Result<(), ProbeError> {
        self.command(
            t,
            features::ctrl::CLASS_MQ,
            features::ctrl::MQ_VQ_PAIRS_SET,
            &pairs.to_le_bytes(),
        )
    }
}

/// A brought-up NIC.
pub struct NicDevice {
    pub pci: PciAddress,
    /// Global system interrupt of its INTx line, if it uses INTx.
    pub gsi: Option<u32>,
    pub features: u64,
    pub port: Arc<VirtioNic>,
    /// Queue pairs in use (1 without `VIRTIO_NET_F_MQ`).
    pub pairs: u16,
    /// The device's `max_virtqueue_pairs` (1 without `VIRTIO_NET_F_MQ`).
    pub max_pairs: u16,
    transport: SharedTransport,
    /// MSI-X routing; `None`: INTx to CPU 0, which wakes the others.
    vectors: Option<Vectors>,
    /// Per pair: the CPU that polls it, `k mod CPUs`.
    cpus: Vec<usize>,
    /// Per pair: (rx, tx) queue memory.
    areas: Vec<(QueueArea, QueueArea)>,
    ctrl: Option<Mutex<CtrlQueue>>,
}

impl NicDevice {
    /// Initialise the virtio-net function `func` as port `name`, its
    /// buffers from `pool` (device address `pool_phys`).
    pub fn probe(
        func: &PciFunction,
        name: &str,
        pool: &Arc<BufferPool>,
        pool_phys: u64,
    ) -> Result<Self, ProbeError> {
        pci::enable(func.address, true);
        let mut root = PciRoot::new(KernelCam);
        let mut t = PciTransport::new::<KernelHal, _>(&mut root, device_function(func.address))
            .map_err(|e| ProbeError::Transport(format!("{e}")))?;

        let features = negotiate(&mut t)?;
        // 5.1.4: max_virtqueue_pairs is valid with MQ; pairs past what we
        // set up stay off (their queues are never enabled).
        let max_pairs = if features & features::VIRTIO_NET_F_MQ != 0 {
            t.read_config_space::<u16>(config::MAX_VIRTQUEUE_PAIRS)
                .unwrap_or(1)
                .max(1)
        } else {
            1
        };
        let pairs = max_pairs.min(MAX_PAIRS);
        // Every pair's queues of one size: the smallest the device allows.
        let (mut rx_size, mut tx_size) = (WANT_RX_QUEUE, WANT_TX_QUEUE);
        for k in 0..pairs as usize {
            rx_size = rx_size.min(queue_size(&mut t, rx_queue(k), WANT_RX_QUEUE)?);
            tx_size = tx_size.min(queue_size(&mut t, tx_queue(k), WANT_TX_QUEUE)?);
        }
        let (rx_slots, tx_slots) = (slots_for(rx_size as u16), slots_for(tx_size as u16));
        let event_idx = features & features::VIRTIO_F_RING_EVENT_IDX != 0;
        let in_order = features & features::VIRTIO_F_IN_ORDER != 0;
        let queue = |mem| Virtqueue::new(mem, event_idx).with_in_order(in_order);
        let mut areas = Vec::new();
        let mut queues = Vec::new();
        for k in 0..pairs as usize {
            let (rx_area, tx_area) = (QueueArea::new(rx_size)?, QueueArea::new(tx_size)?);
            let (rx_hdrs, tx_hdrs) = (header_area(rx_slots)?, header_area(tx_slots)?);
            let rxq = RxQueue::new(queue(rx_area.mem), rx_slots, rx_hdrs);
            let txq = TxQueue::new(queue(tx_area.mem), tx_slots, tx_hdrs);
            rx_area.program(&mut t, rx_queue(k));
            tx_area.program(&mut t, tx_queue(k));
            areas.push((rx_area, tx_area));
            queues.push((rxq, txq));
        }
        // 5.1.2: the control queue follows every data queue the device has.
        let mut ctrl = if features & features::VIRTIO_NET_F_CTRL_VQ != 0 {
            let mut c = CtrlQueue::new(&mut t, 2 * max_pairs)?;
            c.program(&mut t);
            Some(c)
        } else {
            None
        };
        let cpus: Vec<usize> = (0..usize::from(pairs))
            .map(|k| k % crate::smp::count())
            .collect();
        let vectors = match Vectors::new(func, &cpus, ctrl.as_ref().map(|c| c.index)) {
            Some(v) if v.program() => Some(v),
            Some(v) => {
                log::warn!("{name}: device refused MSI-X vectors; using INTx");
                v.disable();
                None
            }
            None => None,
        };
        t.finish_init();
        if pairs > 1 {
            if let Some(c) = ctrl.as_mut() {
                c.set_pairs(&mut t, pairs)?;
            }
        }

        let mac = read_mac(&t, features, func.address);
        let link_up = read_link(&t, features);
        let transport = Arc::new(Mutex::new(t));
        let bell: Box<dyn Doorbell> = match Notifier::new(func, 2 * pairs) {
            Some(n) => Box::new(n),
            None => {
                log::warn!("{name}: notify capability unusable; kicking through the transport");
                Box::new(TransportBell(transport.clone()))
            }
        };
        let bufs = BufMap::new(pool.clone(), pool_phys);
        let port = VirtioNic::new_pairs(name, mac, bufs, queues, rx_slots, tx_slots, bell)
            .map_err(|_| ProbeError::Memory)?;
        port.set_link_up(link_up);
        let gsi = match vectors {
            Some(_) => None,
            None => func.interrupt_line.map(u32::from),
        };
        Ok(Self {
            pci: func.address,
            gsi,
            features,
            port: Arc::new(port),
            pairs,
            max_pairs,
            transport,
            vectors,
            cpus,
            areas,
            ctrl: ctrl.map(Mutex::new),
        })
    }

    /// The CPU that polls queue pair `k` (and takes its interrupts).
    pub fn pair_cpu(&self, k: usize) -> usize {
        self.cpus.get(k).copied().unwrap_or(0)
    }

    /// How the device interrupts, one word for logs and `ifconfig`:
    /// `msi-x`, its INTx line's GSI, or `none` (polled only).
    pub fn irq(&self) -> String {
        match (&self.vectors, self.gsi) {
            (Some(_), _) => "msi-x".into(),
            (None, Some(gsi)) => format!("{gsi}"),
            (None, None) => "none".into(),
        }
    }

    /// Read the ISR (acknowledging, and de-asserting INTx); true if the
    /// device had raised an interrupt. A configuration change refreshes
    /// the link state.
    pub fn ack_interrupt(&self) -> bool {
        let mut t = self.transport.lock();
        let exits = crate::exits::this_cpu();
        exits.mmio(1); // the ISR read
        let isr = t.ack_interrupt();
        if isr.contains(virtio_drivers::transport::InterruptStatus::DEVICE_CONFIGURATION_INTERRUPT)
        {
            if self.features & features::VIRTIO_NET_F_STATUS != 0 {
                exits.mmio(1); // read_link's status read
            }
            self.port.set_link_up(read_link(&t, self.features));
        }
        !isr.is_empty()
    }

    /// Reset the device after it broke the queue protocol, and bring it
    /// back with the same queues (see `VirtioNic::reset`). A failed
    /// re-initialisation is retried later (`VirtioNic::reset_due`, with
    /// backoff); never blocks.
    pub fn reset(&self, now_ms: u64) {
        let failures = match self.port.recovery_state(now_ms) {
            netmap_virtio::RecoveryState::Ok => 0,
            netmap_virtio::RecoveryState::Failed { failures, .. } => failures,
        };
        if failures == 0 {
            log::warn!(
                "{}: device broke the queue protocol; resetting it",
                self.port_name()
            );
        }
        let stop = || self.transport.lock().set_status(DeviceStatus::empty());
        let start = || {
            let mut t = self.transport.lock();
            let mut ctrl = self.ctrl.as_ref().map(|c| c.lock());
            let up = negotiate(&mut t).and_then(|_| {
                for (k, (rx, tx)) in self.areas.iter().enumerate() {
                    rx.program(&mut t, rx_queue(k));
                    tx.program(&mut t, tx_queue(k));
                }
                if let Some(c) = ctrl.as_mut() {
                    c.program(&mut t);
                }
                if let Some(v) = &self.vectors {
                    if !v.program() {
                        return Err(ProbeError::Vectors);
                    }
                }
                t.finish_init();
                match ctrl.as_mut() {
                    Some(c) if self.pairs > 1 => c.set_pairs(&mut t, self.pairs),
                    _ => Ok(()),
                }
            });
            match up {
                Ok(()) => true,
                Err(e) => {
                    log::error!(
                        "{}: re-initialisation failed (attempt {}): {e}; retrying in {} ms",
                        self.port_name(),
                        failures + 1,
                        netmap_virtio::retry_delay_ms(failures + 1)
                    );
                    false
                }
            }
        };
        if self.port.reset(now_ms, stop, start) && failures > 0 {
            log::info!(
                "{}: re-initialised after {failures} failed attempts",
                self.port_name()
            );
        }
    }

    fn port_name(&self) -> &str {
        use netmap::port::Port;
        self.port.name()
    }
}

/// 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK.
fn negotiate(t: &mut PciTransport) -> Result<u64, ProbeError> {
    t.set_status(DeviceStatus::empty());
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    let offered = t.read_device_features();
    if offered & REQUIRED != REQUIRED {
        t.set_status(DeviceStatus::FAILED);
        return Err(ProbeError::Features(REQUIRED & !offered));
    }
    let features = features::choose(offered);
    t.write_driver_features(features);
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER | DeviceStatus::FEATURES_OK);
    if !t.get_status().contains(DeviceStatus::FEATURES_OK) {
        t.set_status(DeviceStatus::FAILED);
        return Err(ProbeError::FeaturesRejected);
    }
    Ok(features)
}

/// The largest power of two not above `want` or the device's maximum.
fn queue_size(t: &mut PciTransport, queue: u16, want: u32) -> Result<u32, ProbeError> {
    let max = t.max_queue_size(queue);
    netmap_virtio::queue_size(want, max)
        .map(u32::from)
        .ok_or(ProbeError::Queue(queue, max))
}

fn read_mac(t: &PciTransport, features: u64, pci: PciAddress) -> [u8; 6] {
    let mut mac = [0u8; 6];
    if features & features::VIRTIO_NET_F_MAC != 0 {
        for (i, b) in mac.iter_mut().enumerate() {
            *b = t.read_config_space::<u8>(config::MAC + i).unwrap_or(0);
        }
    } else {
        // Locally administered, derived from the PCI address: stable.
        mac = [0x02, 0, 0, pci.bus, pci.device, pci.function];
    }
    mac
}

fn read_link(t: &PciTransport, features: u64) -> bool {
    if features & features::VIRTIO_NET_F_STATUS == 0 {
        return true; // 5.1.4: without STATUS the link is assumed up
    }
    t.read_config_space::<u16>(config::STATUS)
        .map_or(true, |s| s & config::STATUS_LINK_UP != 0)
}

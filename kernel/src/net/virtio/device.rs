//! One virtio-net device: initialisation (virtio 1.2, 3.1.1), queue
//! memory, and recovery from a misbehaving device.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use netmap::BufferPool;
use netmap_virtio::{
    slots_for, BufMap, Doorbell, RxQueue, TxQueue, VirtioNic, HDR_STRIDE, RX_QUEUE, TX_QUEUE,
};
use spin::Mutex;
use virtio_drivers::transport::pci::bus::PciRoot;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceStatus, Transport};
use virtq::{QueueLayout, QueueMem, Virtqueue};

use super::cam::{device_function, KernelCam};
use super::features::{self, config, REQUIRED, SUPPORTED};
use super::hal::KernelHal;
use super::notify::Notifier;
use crate::mem::dma;
use crate::pci::{self, PciAddress, PciFunction};

/// Queue sizes we ask for, two descriptors per slot; each queue gets what
/// its device allows up to this (`netmap_virtio::queue_size`). QEMU allows
/// RX up to 1024 entries, and TX too with vhost-user backends (512 tx
/// slots), but caps TX at 256 with its tap and socket backends (128).
const WANT_RX_QUEUE: u32 = 1024;
const WANT_TX_QUEUE: u32 = 1024;

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

/// A brought-up NIC.
pub struct NicDevice {
    pub pci: PciAddress,
    /// Global system interrupt of its INTx line, if routed.
    pub gsi: Option<u32>,
    pub features: u64,
    pub port: Arc<VirtioNic>,
    transport: SharedTransport,
    rx_area: QueueArea,
    tx_area: QueueArea,
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
        let rx_size = queue_size(&mut t, RX_QUEUE, WANT_RX_QUEUE)?;
        let tx_size = queue_size(&mut t, TX_QUEUE, WANT_TX_QUEUE)?;
        let (rx_area, tx_area) = (QueueArea::new(rx_size)?, QueueArea::new(tx_size)?);
        let (rx_slots, tx_slots) = (
            slots_for(rx_area.layout.size),
            slots_for(tx_area.layout.size),
        );
        let (rx_hdrs, tx_hdrs) = (header_area(rx_slots)?, header_area(tx_slots)?);
        let event_idx = features & features::VIRTIO_F_RING_EVENT_IDX != 0;
        let in_order = features & features::VIRTIO_F_IN_ORDER != 0;
        let queue = |mem| Virtqueue::new(mem, event_idx).with_in_order(in_order);
        let rxq = RxQueue::new(queue(rx_area.mem), rx_slots, rx_hdrs);
        let txq = TxQueue::new(queue(tx_area.mem), tx_slots, tx_hdrs);
        rx_area.program(&mut t, RX_QUEUE);
        tx_area.program(&mut t, TX_QUEUE);
        t.finish_init();

        let mac = read_mac(&t, features, func.address);
        let link_up = read_link(&t, features);
        let transport = Arc::new(Mutex::new(t));
        let bell: Box<dyn Doorbell> = match Notifier::new(func) {
            Some(n) => Box::new(n),
            None => {
                log::warn!("{name}: notify capability unusable; kicking through the transport");
                Box::new(TransportBell(transport.clone()))
            }
        };
        let bufs = BufMap::new(pool.clone(), pool_phys);
        let port = VirtioNic::new(name, mac, bufs, rxq, rx_slots, txq, tx_slots, bell)
            .map_err(|_| ProbeError::Memory)?;
        port.set_link_up(link_up);
        let gsi = func.interrupt_line.map(u32::from);
        Ok(Self {
            pci: func.address,
            gsi,
            features,
            port: Arc::new(port),
            transport,
            rx_area,
            tx_area,
        })
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
            match negotiate(&mut t) {
                Ok(_) => {
                    self.rx_area.program(&mut t, RX_QUEUE);
                    self.tx_area.program(&mut t, TX_QUEUE);
                    t.finish_init();
                    true
                }
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
    let features = offered & SUPPORTED;
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

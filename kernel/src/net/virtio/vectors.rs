//! Per-queue interrupts: each queue pair's MSI-X message goes to the CPU
//! that polls the pair (virtio 1.2, 4.1.4.3 and 4.1.5.1.2).
//!
//! Table entry 0 carries configuration changes (link up/down) to CPU 0,
//! which owns the control plane; entry `1 + k` carries both queues of pair
//! `k` to the CPU that polls it. Every queue message is the one vector
//! [`super::super::wake::queue_vector`], whose handler does nothing: the
//! message only ends the halt of the CPU it targets, which then polls its
//! pairs. MSI-X is edge triggered, so unlike INTx there is nothing to read
//! or mask in the handler. The control queue gets no vector (it is polled
//! while a command is in hand).
//!
//! A device reset forgets the queue vectors (4.1.4.3: they read back as
//! `NO_VECTOR`), so [`Vectors::program`] runs after every reset, before
//! DRIVER_OK.

use netmap_virtio::{rx_queue, tx_queue};

use super::caps::{self, COMMON_QUEUE_SELECT};
use crate::mem::mmio::Mmio;
use crate::net::wake;
use crate::pci::msix::MsixTable;
use crate::pci::PciFunction;
use crate::smp;

/// 4.1.4.3: `config_msix_vector` and `queue_msix_vector`.
const COMMON_CONFIG_MSIX_VECTOR: u64 = 0x10;
const COMMON_QUEUE_MSIX_VECTOR: u64 = 0x1a;
/// 4.1.5.1.2: "no vector".
const NO_VECTOR: u16 = 0xffff;
/// The table entry of configuration changes.
const CONFIG_ENTRY: u16 = 0;

/// A device's MSI-X routing.
pub struct Vectors {
    table: MsixTable,
    common: Mmio,
    /// Queue pairs routed.
    pairs: usize,
    /// The control queue's index, if the device has one.
    ctrl: Option<u16>,
}

impl Vectors {
    /// Routes queue pair `k` of `func` to CPU `cpus[k]` and enables
    /// MSI-X, or `None` if the function has no usable MSI-X table (too few
    /// entries, no vectors left): the caller keeps INTx.
    pub fn new(func: &PciFunction, cpus: &[usize], ctrl: Option<u16>) -> Option<Self> {
        let table = MsixTable::find(func)?;
        if usize::from(table.len()) < 1 + cpus.len() {
            return None;
        }
        let common = caps::common(func)?;
        let (queue, config) = (wake::queue_vector()?, wake::config_vector()?);
        table.route(CONFIG_ENTRY, smp::apic_id(0)? as u8, config);
        for (k, &cpu) in cpus.iter().enumerate() {
            table.route(entry(k), smp::apic_id(cpu)? as u8, queue);
        }
        table.enable();
        Some(Self {
            table,
            common,
            pairs: cpus.len(),
            ctrl,
        })
    }

    /// Tells the (freshly reset) device which table entry each queue
    /// signals. Returns `false` if it refused one (read back as
    /// [`NO_VECTOR`]).
    pub fn program(&self) -> bool {
        let c = &self.common;
        c.write16(COMMON_CONFIG_MSIX_VECTOR, CONFIG_ENTRY);
        let mut ok = c.read16(COMMON_CONFIG_MSIX_VECTOR) == CONFIG_ENTRY;
        let set = |queue: u16, vector: u16| {
            c.write16(COMMON_QUEUE_SELECT, queue);
            c.write16(COMMON_QUEUE_MSIX_VECTOR, vector);
            c.read16(COMMON_QUEUE_MSIX_VECTOR) == vector
        };
        for k in 0..self.pairs {
            ok &= set(rx_queue(k), entry(k));
            ok &= set(tx_queue(k), entry(k));
        }
        if let Some(q) = self.ctrl {
            set(q, NO_VECTOR);
        }
        ok
    }

    /// Gives up MSI-X (the device refused the vectors): INTx again.
    pub fn disable(self) {
        self.table.disable();
    }
}

/// Pair `k`'s table entry.
fn entry(k: usize) -> u16 {
    1 + k as u16
}

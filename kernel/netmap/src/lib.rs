//! netmap datapath (work in progress; full docs below once all modules land).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

extern crate alloc;

pub mod error;
pub mod kring;
pub mod mem;
pub mod monitor;
pub mod name;
pub mod pipe;
pub mod port;
pub mod registry;
pub mod ring;
pub mod slot;
pub mod vale;

pub use error::{AuditError, NameError, OpenError, PoolError, SyncError};
pub use kring::{Dir, Kring, KringState, KringStats, Lease};
pub use mem::{BufferPool, Region, SlotArray, DEFAULT_BUF_SIZE};
pub use port::{Handle, Port, PortConfig, PortCounters, PortKind};
pub use vale::{Switch, ValePort};
pub use registry::Registry;
pub use ring::NetmapRing;
pub use slot::*;

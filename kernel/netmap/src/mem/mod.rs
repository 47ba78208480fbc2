//! Buffer memory: the region, the pool, and the slot arrays that own buffers.
//!
//! This is the crate's one `unsafe` module (the crate root denies
//! `unsafe_code` and this module alone allows it). Everything that turns a
//! buffer index into bytes lives here, behind one rule: *a buffer is reachable
//! only through the single [`SlotArray`] entry that holds it*, and a ring's
//! slot array is shared by the kring and the application through two
//! disjoint windows (`slots.rs`). Indices cannot be written into an array
//! from outside this module, so an application cannot name a buffer it does
//! not hold.
#![allow(unsafe_code)]

mod pool;
mod region;
mod slots;

pub use pool::{BufferPool, DEFAULT_BUF_SIZE, FIRST_BUF};
pub use region::{Region, REGION_ALIGN};
pub use slots::{BatchCopy, FrameReader, SlotArray};

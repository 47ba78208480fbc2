//! Buffer memory: the region, the pool, and the slot arrays that own buffers.
//!
//! This is the crate's one `unsafe` module (the crate root denies
//! `unsafe_code` and this module alone allows it). Everything that turns a
//! buffer index into bytes lives here, behind one rule: *a buffer is reachable
//! only through the single [`SlotArray`] entry that holds it*. Indices cannot
//! be forged into an array from outside this module, so an application that
//! writes a bogus or duplicate `buf_idx` into its view of a ring changes
//! nothing here; the ring code notices the mismatch and restores the view.
#![allow(unsafe_code)]

mod pool;
mod region;
mod slots;

pub use pool::{BufferPool, DEFAULT_BUF_SIZE, FIRST_BUF};
pub use region::{Region, REGION_ALIGN};
pub use slots::{BatchCopy, FrameReader, SlotArray};

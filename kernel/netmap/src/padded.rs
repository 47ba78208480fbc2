//! Keeping per-ring state of different CPUs off each other's cache lines.
//!
//! Each ring of a port is driven by one CPU (a NIC queue pair's CPU, an
//! application's thread), and a port keeps its rings, and their scratch
//! space, side by side in one array. Without padding, ring 0's lock word
//! and ring 1's share a cache line, and two CPUs that never touch each
//! other's ring still pass that line back and forth on every lock and
//! unlock (measured by `bench datapath`'s `vale-mt` cases: two threads on
//! rings 0 and 1 of the same ports ran at 1.1-1.4 times the one-thread CPU
//! per frame, steady near 1.05 once the rings sat apart). 128 bytes: x86
//! fetches lines in adjacent pairs, so 64-byte alignment would still let
//! neighbours interfere.

use core::ops::{Deref, DerefMut};

/// Alignment (and so size granularity) of [`CachePadded`] and of
/// [`Kring`](crate::Kring).
pub const CACHE_PAD: usize = 128;

/// `T` alone on its cache lines (see the module documentation).
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct CachePadded<T>(T);

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_in_an_array_share_no_line_pair() {
        let a = [CachePadded::new(0u8), CachePadded::new(1u8)];
        let (p0, p1) = (&a[0] as *const _ as usize, &a[1] as *const _ as usize);
        assert_eq!(p0 % CACHE_PAD, 0);
        assert!(p1 - p0 >= CACHE_PAD);
        assert_eq!(*a[1], 1);
    }
}

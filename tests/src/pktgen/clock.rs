//! Time as frames carry it, and a tag for each run.

/// CLOCK_MONOTONIC in nanoseconds (the stamp's clock).
pub fn now_ns() -> u64 {
    crate::wire::sys::monotonic_ns()
}

/// CPU time used by the calling thread (ns): what the generator costs.
pub fn thread_cpu_ns() -> u64 {
    crate::wire::sys::thread_cpu_ns()
}

/// A 16-bit run tag, different from one run to the next, so frames a
/// previous run left in a queue are not counted.
pub fn run_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; mixing the time in changes it per call.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ns());
    h.write_u32(std::process::id());
    h.finish() as u16
}

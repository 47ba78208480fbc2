//! In-kernel applications: netmap clients that open ports through the
//! registry, like a userspace netmap program would, and run on the idle
//! loop as pollers ([`crate::net::register_poller`]).

#![deny(unsafe_code)]

pub mod reflector;

//! The kernel's console and service logic that has no hardware in it, so
//! that host tests reach it: the serial shell's line editor ([`line`]),
//! the startup-script parser ([`script`]), the HTTP server's request
//! handling ([`http`]), its connections' deadlines ([`conn`]) and the
//! `/stats` document ([`stats`]). The kernel keeps the I/O (the UART, the ramdisk, the TCP sockets, reading the
//! NICs) and calls in here.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod conn;
pub mod http;
pub mod line;
pub mod script;
pub mod stats;

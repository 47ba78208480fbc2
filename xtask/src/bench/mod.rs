//! `cargo xtask bench <what>`: measurements, not tests.
//!
//! Each benchmark prints a table and, with `--json FILE`, writes the same
//! figures as JSON (with the machine they were taken on). A new benchmark
//! (e2e: forwarded packets per second between two NICs) is one more
//! variant in `cli::Bench` and one more module here.

mod apps;
mod boot;
mod datapath;
mod e2e;
mod e2e_smp;
mod elf;
mod plot;
pub mod report;

use crate::cli::{Bench, BenchArgs};

pub fn bench(args: &BenchArgs) -> Result<i32, String> {
    match &args.bench {
        Bench::Boot(a) => boot::run(a).map(|()| 0),
        Bench::Datapath(a) => datapath::run(a),
        Bench::E2e(a) => e2e::run(a).map(|()| 0),
        Bench::Apps(a) => apps::run(a).map(|()| 0),
        Bench::Plot(a) => plot::run(a).map(|()| 0),
    }
}

//! `cargo xtask`: build, boot, test and measure the unikernel.
//!
//! Every failure ends in one line on stderr saying what failed and what to
//! do; the exit status of `run` is the kernel's own exit code.

mod bench;
mod build;
mod cli;
mod image;
mod pktgen;
mod run;
mod setup;
mod soak;
mod test;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Run(args) => run::run(&args),
        cli::Command::Image(args) => image::image(&args).map(|()| 0),
        cli::Command::Test(args) => test::test(&args),
        cli::Command::Bench(args) => bench::bench(&args),
        cli::Command::Pktgen(args) => pktgen::pktgen(&args),
        cli::Command::Soak(args) => soak::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

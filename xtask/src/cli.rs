//! The command line (clap).

use std::path::PathBuf;

use boot::Nic;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, boot, test and measure the unikernel")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build the kernel and its disk image, then boot it in QEMU.
    Run(RunArgs),
    /// Build the kernel and its BIOS and UEFI images; print their paths.
    Image(ImageArgs),
}

/// Which kernel profile to build.
#[derive(Args, Clone, Copy, Debug)]
pub struct ProfileArgs {
    /// Build the kernel with the release profile (the default).
    #[arg(long, conflicts_with = "debug")]
    pub release: bool,
    /// Build the kernel with the dev profile (debug assertions, slower datapath).
    #[arg(long)]
    pub debug: bool,
}

impl ProfileArgs {
    pub fn release(self) -> bool {
        !self.debug
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A virtio-net NIC: user | tap:IFNAME | dgram:LOCAL:REMOTE | stream:PATH.
    /// Repeatable; NIC i is virtio<i> in the guest. Default: one `user` NIC.
    #[arg(long = "nic", value_name = "SPEC")]
    pub nics: Vec<Nic>,
    /// Give QEMU no NIC at all.
    #[arg(long, conflicts_with = "nics")]
    pub no_nic: bool,
    /// Shell commands to run at boot, separated by ';'.
    #[arg(long, value_name = "CMDS")]
    pub exec: Option<String>,
    /// A startup script file (shell commands, one per line); runs before --exec.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Boot through UEFI (OVMF) instead of BIOS.
    #[arg(long)]
    pub uefi: bool,
    /// Use KVM instead of TCG (slow VM exits on some hosts).
    #[arg(long)]
    pub kvm: bool,
    /// Use the q35 machine (PCIe, ECAM) instead of pc.
    #[arg(long)]
    pub q35: bool,
    /// Number of CPUs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub smp: u32,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 512, value_name = "MB")]
    pub mem: u32,
    /// Start halted with a gdb stub on tcp::1234 and say how to attach.
    #[arg(long)]
    pub gdb: bool,
    /// Pass an argument through to QEMU (repeatable).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// No terminal input: serial goes to stdout and xtask returns when the
    /// kernel shuts down.
    #[arg(long)]
    pub headless: bool,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// Shell commands to carry as the startup script, separated by ';'.
    #[arg(long, value_name = "CMDS")]
    pub exec: Option<String>,
    /// A startup script file.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

//! `cargo xtask run`.

use std::process::Stdio;

use boot::image::Firmware;
use boot::qemu::{Accel, Machine, Serial, GDB_PORT};
use boot::{KernelExit, Nic, QemuConfig};

use crate::build;
use crate::cli::RunArgs;
use crate::setup;

/// Boot the kernel; returns the status xtask should exit with.
pub fn run(args: &RunArgs) -> Result<i32, String> {
    let firmware = if args.uefi { Firmware::Uefi } else { Firmware::Bios };
    setup::ensure_qemu(args.uefi)?;
    let script = build::startup_script(args.script.as_deref(), args.exec.as_deref())?;
    let (elf, images) = build::images(args.profile.release(), args.kernel.as_deref(), script.as_deref(), &[firmware])?;
    let image = images.get(firmware).expect("requested image was built");

    let mut config = QemuConfig::new(image);
    config.firmware = firmware;
    config.machine = if args.q35 { Machine::Q35 } else { Machine::Pc };
    config.accel = if args.kvm { Accel::Kvm } else { Accel::Tcg };
    config.smp = args.smp;
    config.mem_mb = args.mem;
    config.gdb = args.gdb;
    config.extra_args = args.qemu_args.clone();
    config.serial = if args.headless { Serial::Stdio } else { Serial::MonStdio };
    config.nics = if args.no_nic {
        Vec::new()
    } else if args.nics.is_empty() {
        vec![Nic::user()]
    } else {
        args.nics.clone()
    };

    if args.gdb {
        eprintln!(
            "xtask: QEMU is halted with a gdb stub; attach with: gdb {} -ex 'target remote :{GDB_PORT}'",
            elf.display()
        );
    }
    if !args.headless {
        eprintln!("xtask: serial console below; Ctrl-A X quits QEMU, `shutdown` ends the kernel");
    }
    let mut cmd = config.command().map_err(|e| e.to_string())?;
    // QEMU goes when xtask goes, even if xtask is killed (a test timeout).
    integration::process::die_with_parent(&mut cmd);
    if args.headless {
        cmd.stdin(Stdio::null());
    }
    let status = cmd.status().map_err(|e| format!("cannot start QEMU: {e}"))?;
    let exit = KernelExit::from_status(status);
    if exit != KernelExit::Code(0) {
        eprintln!("xtask: {}", exit.describe());
    }
    Ok(exit.host_status())
}

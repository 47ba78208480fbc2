//! `cargo xtask run`.

use std::process::Stdio;

use boot::image::Firmware;
use boot::qemu::{Accel, Machine, Serial, GDB_PORT};
use boot::{KernelExit, Nic, NicBackend, QemuConfig};

use crate::build;
use crate::cli::RunArgs;
use crate::setup;

/// Host port forwarded to the guest's HTTP server by default.
const DEFAULT_HTTP_PORT: u16 = 8080;

/// Boot the kernel; returns the status xtask should exit with.
pub fn run(args: &RunArgs) -> Result<i32, String> {
    let firmware = if args.uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    setup::ensure_qemu(args.uefi)?;
    let mut script = build::startup_script(args.script.as_deref(), args.exec.as_deref())?;
    // The default: one user NIC, nothing to run. Bring the host stack up on
    // it (slirp's DHCP gives 10.0.2.15) and forward --http-port to it.
    let default_user = !args.no_nic && args.nics.is_empty();
    let mut http_port = args.http_port.unwrap_or(0);
    if default_user && script.is_none() {
        script = Some(String::from("vale-ctl -h vale0:virtio0\ndhcp host0\n"));
        http_port = args.http_port.unwrap_or(DEFAULT_HTTP_PORT);
    }
    let pcap = match args.pcap.as_deref() {
        None => None,
        Some(spec) => {
            let (port, file) = spec
                .split_once('=')
                .filter(|(p, f)| !p.is_empty() && !f.is_empty())
                .ok_or_else(|| format!("--pcap wants PORT=FILE, not '{spec}'"))?;
            let file = std::path::absolute(file).map_err(|e| format!("--pcap {file}: {e}"))?;
            script = Some(format!("pcap start {port}\n{}", script.unwrap_or_default()));
            Some(file)
        }
    };
    let (elf, images) = build::images(
        args.profile.release(),
        args.kernel.as_deref(),
        script.as_deref(),
        &[firmware],
    )?;
    let image = images.get(firmware).expect("requested image was built");

    let mut config = QemuConfig::new(image);
    config.firmware = firmware;
    config.machine = if args.q35 { Machine::Q35 } else { Machine::Pc };
    config.accel = if args.kvm { Accel::Kvm } else { Accel::Tcg };
    config.smp = args.smp;
    config.mem_mb = args.mem;
    config.gdb = args.gdb;
    config.extra_args = args.qemu_args.clone();
    config.serial = if args.headless {
        Serial::Stdio
    } else {
        Serial::MonStdio
    };
    config.nics = if args.no_nic {
        Vec::new()
    } else if args.nics.is_empty() {
        let mut nic = Nic::user();
        if let (NicBackend::User { hostfwd }, port @ 1..) = (&mut nic.backend, http_port) {
            hostfwd.push(format!("tcp:127.0.0.1:{port}-:80"));
            eprintln!("xtask: the guest's HTTP server (once host0 has an address): http://127.0.0.1:{port}/ (stats: /stats)");
        }
        vec![nic]
    } else {
        args.nics.clone()
    };
    if let Some(file) = &pcap {
        config
            .extra_serials
            .push(format!("file:{}", file.display()));
        eprintln!(
            "xtask: capture to {} (tcpdump -r {})",
            file.display(),
            file.display()
        );
    }

    if args.gdb {
        eprintln!(
            "xtask: QEMU is halted with a gdb stub; attach with: gdb {} -ex 'target remote :{GDB_PORT}'",
            elf.display()
        );
    }
    if !args.headless {
        eprintln!("xtask: serial console below; Ctrl-A X quits QEMU, `shutdown` ends the kernel");
    }
    // A vhost-user backend must be listening and answering before QEMU
    // starts: otherwise QEMU fails with a multi-line error (no socket) or
    // waits for ever (a silent one). One `error:` line instead.
    if let Err(why) = boot::probe_vhost_nics(&config.nics, boot::VHOST_PROBE_TIMEOUT) {
        eprintln!("error: {why}");
        return Ok(1);
    }
    let mut cmd = config.command().map_err(|e| e.to_string())?;
    // QEMU goes when xtask goes, even if xtask is killed (a test timeout).
    integration::process::die_with_parent(&mut cmd);
    if args.headless {
        cmd.stdin(Stdio::null());
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let exit = KernelExit::from_status(status);
    if exit != KernelExit::Code(0) {
        eprintln!("xtask: {}", exit.describe());
    }
    Ok(exit.host_status())
}

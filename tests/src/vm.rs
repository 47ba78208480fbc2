//! A booted unikernel: an image built from the kernel ELF, QEMU started
//! through `boot::QemuConfig` (the only place that spells QEMU flags), and
//! a [`Console`] on its serial line.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::time::Duration;

use boot::image::{self, Firmware};
use boot::qemu::{Accel, Machine, Serial};
use boot::{Nic, QemuConfig};

use crate::artifacts;
use crate::console::{Console, PROMPT};
use crate::error::{Error, Result};
use crate::names;
use crate::paths::{images_dir, logs_dir};
use crate::timeouts::{scaled, BOOT, UEFI_BOOT};

/// How to boot. `VmOptions::default()` is a BIOS boot on `pc` under TCG
/// with no NIC and no startup script.
#[derive(Clone, Debug)]
pub struct VmOptions {
    /// Image and log name; default `<test binary>.<test name>`.
    pub name: Option<String>,
    /// Startup script (the bootloader's ramdisk).
    pub script: Option<String>,
    pub nics: Vec<Nic>,
    pub firmware: Firmware,
    pub machine: Machine,
    pub accel: Accel,
    pub smp: u32,
    pub mem_mb: u32,
    /// Passed to QEMU verbatim, last.
    pub extra_args: Vec<String>,
    /// Kernel ELF; default [`artifacts::kernel_elf`].
    pub kernel: Option<PathBuf>,
    /// Run QEMU inside this network namespace (`ip netns exec NS ...`,
    /// needs root): its taps are created there.
    pub netns: Option<String>,
}

impl Default for VmOptions {
    fn default() -> Self {
        let q = QemuConfig::new("");
        Self {
            name: None,
            script: None,
            nics: Vec::new(),
            firmware: q.firmware,
            machine: q.machine,
            accel: q.accel,
            smp: q.smp,
            mem_mb: q.mem_mb,
            extra_args: Vec::new(),
            kernel: None,
            netns: None,
        }
    }
}

impl VmOptions {
    pub fn script(mut self, script: impl Into<String>) -> Self {
        self.script = Some(script.into());
        self
    }

    pub fn nic(mut self, nic: Nic) -> Self {
        self.nics.push(nic);
        self
    }

    pub fn uefi(mut self) -> Self {
        self.firmware = Firmware::Uefi;
        self
    }

    pub fn q35(mut self) -> Self {
        self.machine = Machine::Q35;
        self
    }

    /// Boot with `n` CPUs (`-smp n`).
    pub fn smp(mut self, n: u32) -> Self {
        self.smp = n;
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    pub fn kernel(mut self, elf: impl Into<PathBuf>) -> Self {
        self.kernel = Some(elf.into());
        self
    }

    /// Start QEMU inside network namespace `ns` (see [`VmOptions::netns`]).
    pub fn netns(mut self, ns: impl Into<String>) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// How long this boot may take to reach the ready line.
    pub fn boot_timeout(&self) -> Duration {
        let base = match self.firmware {
            Firmware::Bios => BOOT,
            Firmware::Uefi => UEFI_BOOT,
        };
        // Under nested KVM every VM exit is slow: the firmware and the
        // bootloader take about 90 s on the machines this was built on.
        let accel = if self.accel == Accel::Kvm { 4 } else { 1 };
        scaled(base * accel)
    }
}

/// A running VM. Derefs to its [`Console`] (`expect`, `command`,
/// `wait_exit`, ...). QEMU is killed when the `Vm` is dropped.
pub struct Vm {
    console: Console,
    options: VmOptions,
}

impl Vm {
    /// Build the image and start QEMU; does not wait for anything.
    pub fn boot(options: VmOptions) -> Result<Vm> {
        let name = names::unique(options.name.as_deref());
        let kernel = match &options.kernel {
            Some(k) => k.clone(),
            None => artifacts::kernel_elf()?,
        };
        // One image per VM: parallel tests never share a file that is being
        // written, and the script is baked in. Building one takes well under
        // a second (the bootloader stages are prebuilt).
        let set = image::build(
            &kernel,
            options.script.as_deref(),
            &images_dir(),
            &name,
            &[options.firmware],
        )
        .map_err(|e| Error::new(format!("{name}: {e}")))?;
        let image = set
            .get(options.firmware)
            .expect("requested firmware was built")
            .to_path_buf();

        let mut config = QemuConfig::new(&image);
        config.firmware = options.firmware;
        config.machine = options.machine;
        config.accel = options.accel;
        config.smp = options.smp;
        config.mem_mb = options.mem_mb;
        config.nics = options.nics.clone();
        config.serial = Serial::Stdio;
        config.extra_args = options.extra_args.clone();
        let mut cmd = config
            .command()
            .map_err(|e| Error::new(format!("{name}: {e}")))?;
        if let Some(ns) = &options.netns {
            // `ip netns exec` enters the namespace and execs QEMU: same
            // process, so killing it (and the parent-death signal) still
            // reaches QEMU.
            let mut wrapped = std::process::Command::new("ip");
            wrapped
                .args(["netns", "exec", ns])
                .arg(cmd.get_program())
                .args(cmd.get_args());
            cmd = wrapped;
        }

        let log = logs_dir().join(format!("{name}.log"));
        let mut console = Console::spawn(&name, cmd, &log)?;
        console.add_scratch(image);
        Ok(Vm { console, options })
    }

    /// Boot and wait for the ready line and the first prompt (no script
    /// output expected in between).
    pub fn boot_to_prompt(options: VmOptions) -> Result<Vm> {
        let mut vm = Vm::boot(options)?;
        vm.wait_ready()?;
        let timeout = vm.options.boot_timeout();
        vm.expect(PROMPT, timeout)?;
        Ok(vm)
    }

    /// Wait for `kernel ready in <ms> ms` alone on its line; returns the
    /// kernel's own figure in milliseconds.
    pub fn wait_ready(&mut self) -> Result<u64> {
        let timeout = self.options.boot_timeout();
        let caps = self.expect_regex(r"(?m)^kernel ready in (\d+) ms\r?$", timeout)?;
        caps[1]
            .parse()
            .map_err(|e| Error::new(format!("bad ready time {:?}: {e}", caps[1])))
    }

    pub fn options(&self) -> &VmOptions {
        &self.options
    }
}

impl Deref for Vm {
    type Target = Console;

    fn deref(&self) -> &Console {
        &self.console
    }
}

impl DerefMut for Vm {
    fn deref_mut(&mut self) -> &mut Console {
        &mut self.console
    }
}

//! The QEMU command line.
//!
//! Defaults follow what works on the machines this project runs on: TCG
//! (KVM is available but its VM exits are very slow there), the `pc`
//! machine (port-I/O PCI configuration; `q35` for ECAM), modern-only
//! virtio-net NICs, the `isa-debug-exit` device for exit codes (see
//! [`crate::exit`]) and `-no-reboot` so a triple fault ends QEMU instead of
//! looping.
//!
//! With a vhost-user NIC the backend process reads and writes guest RAM
//! itself, so the RAM becomes a shared memfd of `mem_mb` MiB
//! (`-object memory-backend-memfd,...,share=on` and the machine's
//! `memory-backend=`); no caller has to ask for it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{find_ovmf, Firmware, ImageError};
use crate::nic::Nic;

/// Port and size of the exit device; the kernel writes `code + 1` there.
pub const EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";
/// TCP port of QEMU's gdb stub with `--gdb`.
pub const GDB_PORT: u16 = 1234;
/// QEMU object id of the shared guest RAM (vhost-user NICs only).
pub const SHARED_MEM_ID: &str = "mem";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// i440FX: PCI configuration through ports 0xCF8/0xCFC.
    Pc,
    /// Q35: PCIe, configuration through ECAM (ACPI MCFG).
    Q35,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// Where COM1 goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serial {
    /// Raw serial on stdin/stdout: for tests and `--headless`.
    Stdio,
    /// Serial multiplexed with the QEMU monitor on the terminal
    /// (Ctrl-A X quits, Ctrl-A C toggles the monitor): interactive runs.
    MonStdio,
}

/// Everything needed to start one VM.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub image: PathBuf,
    pub firmware: Firmware,
    pub machine: Machine,
    pub accel: Accel,
    pub smp: u32,
    pub mem_mb: u32,
    pub nics: Vec<Nic>,
    pub serial: Serial,
    /// Further serial ports (COM2, ...), as QEMU chardev specs
    /// (`file:PATH`, `unix:PATH,server=on,wait=off`, ...).
    pub extra_serials: Vec<String>,
    /// Start halted with a gdb stub on [`GDB_PORT`].
    pub gdb: bool,
    /// Passed through verbatim, last.
    pub extra_args: Vec<String>,
}

impl QemuConfig {
    /// A BIOS boot of `image` with the project's defaults and no NICs.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            firmware: Firmware::Bios,
            machine: Machine::Pc,
            accel: Accel::Tcg,
            smp: 1,
            mem_mb: 512,
            nics: Vec::new(),
            serial: Serial::Stdio,
            extra_serials: Vec::new(),
            gdb: false,
            extra_args: Vec::new(),
        }
    }

    /// Whether a NIC is vhost-user (then guest RAM is a shared memfd).
    pub fn has_vhost_user(&self) -> bool {
        self.nics.iter().any(|n| n.backend.is_vhost_user())
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Result<Vec<OsString>, ImageError> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        let machine = match self.machine {
            Machine::Pc => "pc",
            Machine::Q35 => "q35",
        };
        let shared_mem = self.has_vhost_user();
        push("-machine");
        if shared_mem {
            push(&format!("{machine},memory-backend={SHARED_MEM_ID}"));
            push("-object");
            push(&format!(
                "memory-backend-memfd,id={SHARED_MEM_ID},size={}M,share=on",
                self.mem_mb
            ));
        } else {
            push(machine);
        }
        match self.accel {
            Accel::Tcg => {
                push("-accel");
                push("tcg");
            }
            Accel::Kvm => {
                push("-accel");
                push("kvm");
                // The host's CPU minus IA32_ARCH_CAPABILITIES (MSR 0x10a):
                // under nested KVM on an AMD EPYC host, QEMU 7.2's `host`
                // (and `max`) model sets that MSR to 0x69 at vCPU reset,
                // the outer hypervisor refuses it, and QEMU aborts ("failed
                // to set MSR 0x10a"). The MSR only enumerates speculation
                // mitigations; the kernel never reads it (it needs a TSC, an
                // xAPIC and an I/O APIC, and calibrates the TSC against the
                // PIT when CPUID has no frequency leaf), so dropping it
                // costs nothing on hosts where `host` alone works.
                push("-cpu");
                push("host,-arch-capabilities");
            }
        }
        push("-smp");
        push(&self.smp.to_string());
        push("-m");
        push(&self.mem_mb.to_string());
        push("-no-reboot");
        push("-display");
        push("none");
        push("-device");
        push(EXIT_DEVICE);
        match self.serial {
            Serial::Stdio => {
                push("-monitor");
                push("none");
                push("-serial");
                push("stdio");
            }
            Serial::MonStdio => {
                push("-serial");
                push("mon:stdio");
            }
        }
        for s in &self.extra_serials {
            push("-serial");
            push(s);
        }
        if self.firmware == Firmware::Uefi {
            let (code, vars) = find_ovmf()?;
            push("-drive");
            push(&format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                code.display()
            ));
            // snapshot=on: OVMF may write its variable store; keep the
            // template pristine and let parallel runs share it.
            push("-drive");
            push(&format!(
                "if=pflash,format=raw,unit=1,snapshot=on,file={}",
                vars.display()
            ));
        }
        // snapshot=on: the image is never written, and several VMs (tests
        // in parallel) can boot the same file without fighting over QEMU's
        // image lock.
        push("-drive");
        push(&format!(
            "format=raw,snapshot=on,file={}",
            self.image.display()
        ));
        for (i, nic) in self.nics.iter().enumerate() {
            for arg in nic.qemu_args_for(i, self.accel == Accel::Kvm) {
                push(&arg);
            }
        }
        if self.gdb {
            push("-gdb");
            push(&format!("tcp::{GDB_PORT}"));
            push("-S");
        }
        for extra in &self.extra_args {
            push(extra);
        }
        Ok(a)
    }

    /// A ready-to-spawn command (stdio is left to the caller).
    pub fn command(&self) -> Result<Command, QemuError> {
        let qemu = find_qemu()?;
        let mut cmd = Command::new(qemu);
        cmd.args(self.args().map_err(|e| QemuError(e.0))?);
        Ok(cmd)
    }
}

/// QEMU is missing or unusable.
#[derive(Debug)]
pub struct QemuError(pub String);

impl std::fmt::Display for QemuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QemuError {}

/// The QEMU binary: `$QEMU` if set, else `qemu-system-x86_64` on `PATH`.
pub fn find_qemu() -> Result<PathBuf, QemuError> {
    if let Some(p) = std::env::var_os("QEMU") {
        return Ok(PathBuf::from(p));
    }
    let name = "qemu-system-x86_64";
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            QemuError(format!(
                "{name} not found: install it with `apt-get install -y qemu-system-x86 ovmf` (as root), or set QEMU=/path/to/{name}"
            ))
        })
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &QemuConfig) -> Vec<String> {
        c.args()
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn defaults_are_tcg_pc_with_exit_device() {
        let a = args(&QemuConfig::new("/tmp/k.img"));
        let joined = a.join(" ");
        assert!(joined.contains("-machine pc"));
        assert!(joined.contains("-accel tcg"));
        assert!(joined.contains(EXIT_DEVICE));
        assert!(joined.contains("-no-reboot"));
        assert!(joined.contains("-serial stdio"));
        assert!(joined.contains("file=/tmp/k.img"));
        assert!(!joined.contains("-S"));
    }

    #[test]
    fn nics_kvm_gdb_and_passthrough() {
        let mut c = QemuConfig::new("/k.img");
        c.accel = Accel::Kvm;
        c.machine = Machine::Q35;
        c.gdb = true;
        c.nics = vec![Nic::user(), Nic::dgram("/a", "/b")];
        c.extra_args = vec!["-d".into(), "int".into()];
        let a = args(&c);
        let joined = a.join(" ");
        assert!(joined.contains("-accel kvm -cpu host,-arch-capabilities"));
        assert!(joined.contains("-machine q35"));
        assert!(joined.contains("netdev=net0") && joined.contains("netdev=net1"));
        assert!(joined.contains("-gdb tcp::1234 -S"));
        assert_eq!(&a[a.len() - 2..], ["-d", "int"]);
        assert!(!joined.contains("memory-backend"), "{joined}");
        assert!(!joined.contains("-object"), "{joined}");
    }

    #[test]
    fn vhost_user_nic_makes_ram_a_shared_memfd_of_mem_mb() {
        for (machine, name) in [(Machine::Pc, "pc"), (Machine::Q35, "q35")] {
            let mut c = QemuConfig::new("/k.img");
            c.machine = machine;
            c.mem_mb = 768;
            c.nics = vec![Nic::user(), Nic::vhost_user("/tmp/vu.sock")];
            assert!(c.has_vhost_user());
            let a = args(&c);
            let joined = a.join(" ");
            assert!(
                joined.contains(&format!("-machine {name},memory-backend=mem ")),
                "{joined}"
            );
            assert!(
                joined.contains("-object memory-backend-memfd,id=mem,size=768M,share=on"),
                "{joined}"
            );
            assert!(joined.contains("-m 768 "), "{joined}");
            assert_eq!(a.iter().filter(|s| *s == "-object").count(), 1);
            // NIC 1 is the vhost-user one; NIC 0 is still user.
            assert!(joined.contains("-netdev user,id=net0"), "{joined}");
            assert!(joined.contains(
                "-chardev socket,id=vu1,path=/tmp/vu.sock -netdev vhost-user,id=net1,chardev=vu1 -device virtio-net-pci,id=nic1,netdev=net1,"
            ), "{joined}");
        }
        let mut c = QemuConfig::new("/k.img");
        c.nics = vec![Nic::user(), Nic::stream("/s"), Nic::dgram("/a", "/b")];
        assert!(!c.has_vhost_user());
        let joined = args(&c).join(" ");
        assert!(
            !joined.contains("memory-backend") && !joined.contains("-chardev"),
            "{joined}"
        );
    }
}

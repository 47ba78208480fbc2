//! The exit-code contract between the kernel and the host.
//!
//! QEMU's `isa-debug-exit` device (port 0xf4) exits QEMU with status
//! `(value << 1) | 1`. Status 1 is also what QEMU returns for its own
//! errors, so the kernel writes `code + 1`: a kernel code `C` in
//! `0..=126` becomes QEMU status `2C + 3`, and every status QEMU can
//! produce by itself (0: powered off or killed by `-no-reboot` on a triple
//! fault; 1: QEMU error) stays distinguishable.

use std::process::ExitStatus;

/// Largest code the kernel can report (`2 * 126 + 3 == 255`).
pub const MAX_CODE: u8 = 126;
/// The code the kernel's panic handler exits with.
pub const PANIC_CODE: u8 = 101;
/// The code the kernel's CPU exception handlers exit with.
pub const EXCEPTION_CODE: u8 = 102;

/// How a QEMU run ended, seen from the kernel's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelExit {
    /// The kernel wrote `code` to the exit device.
    Code(u8),
    /// QEMU stopped without the kernel asking (power-off, reset with
    /// `-no-reboot`, triple fault): status 0.
    NoExitCode,
    /// QEMU itself failed (status 1: bad arguments, missing file, ...).
    QemuError,
    /// Killed by a signal (a timeout in the test harness, Ctrl-C, ...).
    Signal(i32),
    /// A status the exit device cannot produce.
    Unknown(i32),
}

impl KernelExit {
    /// Decode a raw QEMU exit status.
    pub fn from_status(status: ExitStatus) -> Self {
        match status.code() {
            Some(code) => Self::from_code(code),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    Self::Signal(status.signal().unwrap_or(0))
                }
                #[cfg(not(unix))]
                Self::Unknown(-1)
            }
        }
    }

    /// Decode QEMU's numeric exit code.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::NoExitCode,
            1 => Self::QemuError,
            c if (3..=255).contains(&c) && c % 2 == 1 => Self::Code(((c - 3) / 2) as u8),
            c => Self::Unknown(c),
        }
    }

    /// The status a host tool should itself exit with: the kernel's code
    /// when there is one, otherwise a generic failure.
    pub fn host_status(self) -> i32 {
        match self {
            Self::Code(c) => i32::from(c),
            Self::NoExitCode | Self::QemuError | Self::Signal(_) | Self::Unknown(_) => 1,
        }
    }

    /// One line for humans.
    pub fn describe(self) -> String {
        match self {
            Self::Code(0) => "kernel exited with code 0".into(),
            Self::Code(PANIC_CODE) => format!("kernel panicked (code {PANIC_CODE})"),
            Self::Code(EXCEPTION_CODE) => {
                format!("kernel took a CPU exception (code {EXCEPTION_CODE})")
            }
            Self::Code(c) => format!("kernel exited with code {c}"),
            Self::NoExitCode => {
                "QEMU stopped without a kernel exit code (power-off, reset or triple fault)".into()
            }
            Self::QemuError => "QEMU failed before the kernel could run (status 1)".into(),
            Self::Signal(s) => format!("QEMU was killed by signal {s}"),
            Self::Unknown(c) => format!("QEMU exited with unexpected status {c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_exit_device_encoding() {
        // kernel writes code + 1; QEMU exits with (v << 1) | 1
        for code in 0..=MAX_CODE {
            let status = ((i32::from(code) + 1) << 1) | 1;
            assert_eq!(KernelExit::from_code(status), KernelExit::Code(code));
        }
    }

    #[test]
    fn qemu_own_statuses_are_not_kernel_codes() {
        assert_eq!(KernelExit::from_code(0), KernelExit::NoExitCode);
        assert_eq!(KernelExit::from_code(1), KernelExit::QemuError);
        assert_eq!(KernelExit::from_code(2), KernelExit::Unknown(2));
        assert_eq!(KernelExit::from_code(256), KernelExit::Unknown(256));
        assert_ne!(KernelExit::QemuError.host_status(), 0);
        assert_ne!(KernelExit::NoExitCode.host_status(), 0);
    }
}

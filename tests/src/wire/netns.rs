//! Network namespaces for tests that need a tap or veth: the interfaces
//! live and die in a namespace the test made itself, so nothing reaches
//! the host's real network.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::process::Command;

use super::sys;

/// Whether this process can create namespaces and taps.
pub fn is_root() -> bool {
    sys::euid() == 0
}

/// A named namespace (`ip netns add`), deleted when dropped, also when the
/// test panics.
pub struct NetNs {
    name: String,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run `ip`: {e} (install iproute2)"))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl NetNs {
    /// Create the namespace `name`; a leftover one of that name (from a
    /// killed run) is deleted first.
    pub fn create(name: &str) -> io::Result<Self> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        Ok(Self {
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`, e.g. `ns.ip(&["link", "set", "tap0", "up"])`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Run `f` on a thread inside the namespace. Sockets and taps it opens
    /// stay in the namespace wherever they are used afterwards. A panic in
    /// `f` is re-raised here.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let path = format!("/run/netns/{}", self.name);
        let ns = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        std::thread::scope(|s| {
            let h = s.spawn(|| -> io::Result<T> {
                sys::setns_net(ns.as_fd())
                    .map_err(|e| io::Error::new(e.kind(), format!("setns {path}: {e}")))?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("netns: could not delete {}: {e}", self.name);
        }
    }
}

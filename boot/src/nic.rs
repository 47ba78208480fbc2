//! virtio-net NICs on the QEMU command line.
//!
//! Every NIC is a modern-only `virtio-net-pci` (`disable-legacy=on`) with a
//! deterministic MAC, so tests and the kernel's `virtioN` names line up:
//! NIC `i` is `virtio<i>` in the guest with MAC `52:54:00:00:00:<i+1>`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// What the host side of a NIC is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NicBackend {
    /// QEMU user networking (slirp); `hostfwd` rules as QEMU spells them,
    /// e.g. `tcp:127.0.0.1:8080-:80`.
    User { hostfwd: Vec<String> },
    /// An existing tap interface (needs the privileges to open it).
    Tap { ifname: String },
    /// Unix datagram sockets: QEMU binds `local` and sends to `remote`.
    Dgram { local: PathBuf, remote: PathBuf },
    /// A unix stream socket QEMU connects to (the peer listens).
    Stream { path: PathBuf },
    /// A vhost-user backend listening on a unix socket; QEMU is the
    /// client. The guest's RAM must be shared with the backend, so a
    /// [`crate::QemuConfig`] with such a NIC backs its RAM with a shared
    /// memfd (see [`crate::qemu`]). [`crate::vhost_probe`] checks that a
    /// backend answers before QEMU starts.
    VhostUser { path: PathBuf },
}

impl NicBackend {
    pub fn is_vhost_user(&self) -> bool {
        matches!(self, NicBackend::VhostUser { .. })
    }
}

/// One NIC: a backend plus the device options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    pub backend: NicBackend,
    /// Override the deterministic MAC.
    pub mac: Option<[u8; 6]>,
    /// virtio RX queue size (QEMU accepts 256..=1024, power of two).
    pub rx_queue_size: Option<u16>,
    /// virtio TX queue size (QEMU caps it at 256 for the socket, tap and
    /// user backends; vhost-user allows 1024).
    pub tx_queue_size: Option<u16>,
    /// Queue pairs (`,queues=N` in the spec; 1..=[`MAX_QUEUES`]): more
    /// than one makes a multi-queue device (`VIRTIO_NET_F_MQ`; QEMU's
    /// netdev `queues=N` and the device's `mq=on`). vhost-user and tap
    /// (a tap created with `multi_queue`) only.
    pub queues: u16,
}

/// The most queue pairs a `--nic` may ask for (the kernel's limit too).
pub const MAX_QUEUES: u16 = 8;

/// The MAC NIC `index` gets unless overridden.
pub fn default_mac(index: usize) -> [u8; 6] {
    let i = (index + 1) as u16;
    [0x52, 0x54, 0x00, 0x00, (i >> 8) as u8, i as u8]
}

/// Format a MAC as QEMU and `ip` print it.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Nic {
    /// A NIC with the largest RX queue QEMU allows (1024: the kernel maps
    /// two descriptors per ring slot, so 512 slots) and TX at QEMU's cap.
    pub fn new(backend: NicBackend) -> Self {
        Self {
            backend,
            mac: None,
            rx_queue_size: Some(1024),
            tx_queue_size: Some(256),
            queues: 1,
        }
    }

    pub fn user() -> Self {
        Self::new(NicBackend::User {
            hostfwd: Vec::new(),
        })
    }

    pub fn dgram(local: impl Into<PathBuf>, remote: impl Into<PathBuf>) -> Self {
        Self::new(NicBackend::Dgram {
            local: local.into(),
            remote: remote.into(),
        })
    }

    pub fn tap(ifname: impl Into<String>) -> Self {
        Self::new(NicBackend::Tap {
            ifname: ifname.into(),
        })
    }

    pub fn stream(path: impl Into<PathBuf>) -> Self {
        Self::new(NicBackend::Stream { path: path.into() })
    }

    /// A vhost-user NIC: both queues at 1024 (QEMU's TX cap of 256 is for
    /// the backends it runs itself; a vhost-user backend takes 1024).
    pub fn vhost_user(path: impl Into<PathBuf>) -> Self {
        Self {
            tx_queue_size: Some(1024),
            ..Self::new(NicBackend::VhostUser { path: path.into() })
        }
    }

    /// The same NIC with `n` queue pairs.
    pub fn with_queues(self, n: u16) -> Self {
        Self { queues: n, ..self }
    }

    /// The MAC this NIC has as NIC number `index`.
    pub fn mac_at(&self, index: usize) -> [u8; 6] {
        self.mac.unwrap_or_else(|| default_mac(index))
    }

    /// `-netdev` and `-device` arguments for NIC number `index` (and, for
    /// vhost-user, the `-chardev` socket `vu<index>` before them), for a
    /// TCG guest.
    pub fn qemu_args(&self, index: usize) -> Vec<String> {
        self.qemu_args_for(index, false)
    }

    /// [`Self::qemu_args`], for a KVM guest if `kvm`.
    pub fn qemu_args_for(&self, index: usize, kvm: bool) -> Vec<String> {
        let id = format!("net{index}");
        let mut args = Vec::new();
        let netdev = match &self.backend {
            NicBackend::User { hostfwd } => {
                let mut s = format!("user,id={id}");
                for rule in hostfwd {
                    s.push_str(&format!(",hostfwd={rule}"));
                }
                s
            }
            NicBackend::Tap { ifname } => {
                format!("tap,id={id},ifname={ifname},script=no,downscript=no")
            }
            NicBackend::Dgram { local, remote } => format!(
                "dgram,id={id},local.type=unix,local.path={},remote.type=unix,remote.path={}",
                local.display(),
                remote.display()
            ),
            NicBackend::Stream { path } => format!(
                "stream,id={id},server=off,addr.type=unix,addr.path={}",
                path.display()
            ),
            NicBackend::VhostUser { path } => {
                // QEMU connects (no server=on); the backend listens.
                let chardev = format!("vu{index}");
                args.push("-chardev".into());
                args.push(format!("socket,id={chardev},path={}", path.display()));
                format!("vhost-user,id={id},chardev={chardev}")
            }
        };
        let netdev = if self.queues > 1 {
            format!("{netdev},queues={}", self.queues)
        } else {
            netdev
        };
        // romfile= keeps SeaBIOS from loading iPXE: no network boot wanted,
        // and it saves boot time under TCG.
        // id=nicN names the device in QEMU's object tree
        // (/machine/peripheral/nicN/virtio-backend), so the monitor's
        // `info virtio-queue-status` can find it.
        let mut device = format!(
            "virtio-net-pci,id=nic{index},netdev={id},mac={},disable-legacy=on,disable-modern=off,romfile=",
            format_mac(self.mac_at(index))
        );
        if let Some(n) = self.rx_queue_size {
            device.push_str(&format!(",rx_queue_size={n}"));
        }
        if let Some(n) = self.tx_queue_size {
            device.push_str(&format!(",tx_queue_size={n}"));
        }
        // MSI-X (the kernel sends each queue pair's interrupts to the CPU
        // that polls it) except for vhost-user under TCG: there QEMU 7.2
        // dies with SIGSEGV in virtio-pci's vector unmask path
        // (`msix_set_vector_notifiers` from `vhost_net_start`, or the
        // guest's first unmask of a table entry) as soon as the guest
        // enables MSI-X; `vectors=0` leaves the device INTx only, which
        // CPU 0 takes and passes on to the other CPUs by IPI.
        let msix = kvm || !matches!(self.backend, NicBackend::VhostUser { .. });
        if self.queues > 1 {
            // One vector per queue, the control queue and the config
            // change (virtio 1.2, 4.1.4.3).
            device.push_str(",mq=on");
            if msix {
                device.push_str(&format!(",vectors={}", 2 * self.queues as u32 + 2));
            }
        }
        if !msix {
            device.push_str(",vectors=0");
        }
        args.extend(["-netdev".into(), netdev, "-device".into(), device]);
        args
    }
}

/// Why a `--nic` spec was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicSpecError(pub String);

impl fmt::Display for NicSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NicSpecError {}

impl FromStr for Nic {
    type Err = NicSpecError;

    /// `user`, `tap:IFNAME`, `dgram:LOCAL:REMOTE`, `stream:PATH`,
    /// `vhost-user:PATH`; `tap` and `vhost-user` take `,queues=N`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| {
            NicSpecError(format!(
                "bad NIC spec '{spec}': {why} (expected user, tap:IFNAME, dgram:LOCAL:REMOTE, stream:PATH or vhost-user:PATH; tap and vhost-user take ,queues=N)"
            ))
        };
        let whole = spec;
        let (spec, queues) = match spec.rsplit_once(",queues=") {
            Some((head, n)) if whole.starts_with("vhost-user:") || whole.starts_with("tap:") => {
                match n.parse::<u16>() {
                    Ok(n) if (1..=MAX_QUEUES).contains(&n) => (head, n),
                    _ => return Err(err(&format!("queues is a number from 1 to {MAX_QUEUES}"))),
                }
            }
            Some(_) => return Err(err("only tap and vhost-user take queues")),
            None => (spec, 1),
        };
        let (kind, rest) = match spec.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (spec, None),
        };
        match (kind, rest) {
            ("user", None) => Ok(Nic::user()),
            ("tap", Some(ifname)) if valid_ifname(ifname) => Ok(Nic::tap(ifname)),
            ("tap", _) => Err(err(
                "an interface name is 1-15 characters, no ':', '/' or spaces",
            )),
            ("dgram", Some(paths)) => match paths.split_once(':') {
                Some((l, r)) if !l.is_empty() && !r.is_empty() && !r.contains(':') => {
                    Ok(Nic::dgram(l, r))
                }
                _ => Err(err("dgram needs two socket paths")),
            },
            ("stream", Some(path)) if !path.is_empty() => Ok(Nic::stream(path)),
            ("stream", _) => Err(err("stream needs a socket path")),
            ("vhost-user", Some(path)) if !path.is_empty() => Ok(Nic::vhost_user(path)),
            ("vhost-user", _) => Err(err("vhost-user needs a socket path")),
            _ => Err(err("unknown backend")),
        }
        .map(|nic| nic.with_queues(queues))
    }
}

fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ':' && c != '/' && c != ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_backend() {
        assert_eq!("user".parse::<Nic>().unwrap(), Nic::user());
        assert_eq!("tap:tap0".parse::<Nic>().unwrap(), Nic::tap("tap0"));
        assert_eq!(
            "dgram:/a:/b".parse::<Nic>().unwrap(),
            Nic::dgram("/a", "/b")
        );
        assert_eq!("stream:/s".parse::<Nic>().unwrap(), Nic::stream("/s"));
        assert_eq!(
            "vhost-user:/p".parse::<Nic>().unwrap(),
            Nic::vhost_user("/p")
        );
    }

    #[test]
    fn parses_vhost_user_with_1024_queues() {
        let nic = "vhost-user:/tmp/vu.sock".parse::<Nic>().unwrap();
        assert_eq!(
            nic.backend,
            NicBackend::VhostUser {
                path: "/tmp/vu.sock".into()
            }
        );
        assert!(nic.backend.is_vhost_user());
        assert_eq!(
            (nic.rx_queue_size, nic.tx_queue_size),
            (Some(1024), Some(1024))
        );
        let e = "vhost-user:".parse::<Nic>().unwrap_err();
        assert!(e.0.contains("vhost-user needs a socket path"), "{e}");
        assert!("vhost-user".parse::<Nic>().is_err());
    }

    #[test]
    fn vhost_user_args_are_chardev_netdev_device() {
        let args = Nic::vhost_user("/tmp/vu.sock").qemu_args(2);
        assert_eq!(
            args,
            [
                "-chardev",
                "socket,id=vu2,path=/tmp/vu.sock",
                "-netdev",
                "vhost-user,id=net2,chardev=vu2",
                "-device",
                "virtio-net-pci,id=nic2,netdev=net2,mac=52:54:00:00:00:03,disable-legacy=on,disable-modern=off,romfile=,rx_queue_size=1024,tx_queue_size=1024,vectors=0",
            ]
        );
        // The other backends keep TX at QEMU's cap and have no chardev.
        let args = Nic::stream("/s").qemu_args(0);
        assert_eq!(args.len(), 4);
        assert!(args[3].ends_with("tx_queue_size=256"));
    }

    #[test]
    fn vhost_user_and_tap_take_queues() {
        let nic = "vhost-user:/tmp/vu.sock,queues=2".parse::<Nic>().unwrap();
        assert_eq!(nic, Nic::vhost_user("/tmp/vu.sock").with_queues(2));
        let args = nic.qemu_args(0);
        assert_eq!(args[3], "vhost-user,id=net0,chardev=vu0,queues=2");
        // Under TCG a vhost-user NIC goes without MSI-X (QEMU 7.2's crash);
        // under KVM it has a vector per queue pair and direction.
        assert!(args[5].ends_with(",mq=on,vectors=0"), "{}", args[5]);
        let kvm = nic.qemu_args_for(0, true);
        assert!(kvm[5].ends_with(",mq=on,vectors=6"), "{}", kvm[5]);
        assert!(Nic::vhost_user("/v").qemu_args(0)[5].ends_with(",vectors=0"));
        let tap = "tap:tap0,queues=4".parse::<Nic>().unwrap();
        assert_eq!(tap.queues, 4);
        assert!(tap.qemu_args(1)[1].ends_with(",queues=4"));
        assert!(tap.qemu_args(1)[3].ends_with(",mq=on,vectors=10"));
        // One queue pair is the single-queue device, spelled as before.
        assert_eq!(
            "vhost-user:/p,queues=1"
                .parse::<Nic>()
                .unwrap()
                .qemu_args(0),
            Nic::vhost_user("/p").qemu_args(0)
        );
        for bad in [
            "vhost-user:/p,queues=0",
            "vhost-user:/p,queues=9",
            "vhost-user:/p,queues=x",
            "vhost-user:,queues=2",
            "stream:/s,queues=2",
        ] {
            assert!(bad.parse::<Nic>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn refuses_bad_specs() {
        for bad in [
            "",
            "usr",
            "tap",
            "tap:",
            "tap:averyveryverylongname",
            "dgram:/a",
            "dgram::/b",
            "dgram:/a:/b:/c",
            "stream:",
            "vhost-user:",
            "vhost-user",
            "vhostuser:/p",
            "user:x",
            "tap:a,b",
        ] {
            assert!(bad.parse::<Nic>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn macs_are_deterministic_and_distinct() {
        assert_eq!(format_mac(default_mac(0)), "52:54:00:00:00:01");
        assert_eq!(format_mac(default_mac(1)), "52:54:00:00:00:02");
        let args = Nic::dgram("/l", "/r").qemu_args(1);
        assert!(args[1].contains("local.path=/l") && args[1].contains("remote.path=/r"));
        assert!(args[3].contains("mac=52:54:00:00:00:02") && args[3].contains("disable-legacy=on"));
        assert!(args[3].contains("id=nic1,"));
    }
}

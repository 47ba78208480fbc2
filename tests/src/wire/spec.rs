//! Which host-side wire to open, spelled as the NIC that QEMU gets.
//!
//! The same string goes to `cargo xtask run --nic SPEC` and to
//! `cargo xtask pktgen --tx SPEC`: pktgen opens the other end. For
//! `dgram:LOCAL:REMOTE` QEMU binds LOCAL and sends to REMOTE, so pktgen
//! binds REMOTE and sends to LOCAL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use boot::nic::NicBackend;
use boot::Nic;

/// The host side of one NIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// An `AF_PACKET` socket on the (host) tap interface `ifname`.
    Tap { ifname: String },
    /// A unix datagram socket bound to `bind` that sends to `peer`.
    Dgram { bind: PathBuf, peer: PathBuf },
    /// A unix stream socket listening on `path` (QEMU connects).
    Stream { path: PathBuf },
    /// A vhost-user socket listening on `path`: the generator is the NIC's
    /// device side (QEMU connects and shares the guest's memory), serving
    /// `queues` queue pairs (`vhost-user:PATH,queues=N`).
    VhostUser { path: PathBuf, queues: u16 },
}

/// Why a spec was refused (one line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

impl Spec {
    /// The host side of `nic` (QEMU's view).
    pub fn for_nic(nic: &Nic) -> Result<Self, SpecError> {
        match &nic.backend {
            NicBackend::Tap { ifname } => Ok(Spec::Tap {
                ifname: ifname.clone(),
            }),
            NicBackend::Dgram { local, remote } => Ok(Spec::Dgram {
                bind: remote.clone(),
                peer: local.clone(),
            }),
            NicBackend::Stream { path } => Ok(Spec::Stream { path: path.clone() }),
            NicBackend::VhostUser { path } => Ok(Spec::VhostUser {
                path: path.clone(),
                queues: nic.queues,
            }),
            NicBackend::User { .. } => Err(SpecError(
                "a user (slirp) NIC has no host-side wire to open; use tap:, dgram:, stream: or vhost-user:"
                    .into(),
            )),
        }
    }

    /// The spec of the mirror image: `dgram:A:B` <-> `dgram:B:A`. Two
    /// endpoints opened from a spec and its mirror are wired to each other.
    pub fn mirror(&self) -> Self {
        match self {
            Spec::Dgram { bind, peer } => Spec::Dgram {
                bind: peer.clone(),
                peer: bind.clone(),
            },
            other => other.clone(),
        }
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let nic: Nic = s
            .parse()
            .map_err(|e: boot::nic::NicSpecError| SpecError(e.0))?;
        Spec::for_nic(&nic)
    }
}

impl fmt::Display for Spec {
    /// QEMU's spelling, so the string round-trips through `FromStr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Tap { ifname } => write!(f, "tap:{ifname}"),
            Spec::Dgram { bind, peer } => write!(f, "dgram:{}:{}", peer.display(), bind.display()),
            Spec::Stream { path } => write!(f, "stream:{}", path.display()),
            Spec::VhostUser { path, queues } => {
                write!(f, "vhost-user:{}", path.display())?;
                if *queues > 1 {
                    write!(f, ",queues={queues}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dgram_is_qemus_mirror_image() {
        let s: Spec = "dgram:/q:/p".parse().unwrap();
        assert_eq!(
            s,
            Spec::Dgram {
                bind: "/p".into(),
                peer: "/q".into()
            }
        );
        assert_eq!(s.to_string(), "dgram:/q:/p");
        assert_eq!(
            s.mirror(),
            Spec::Dgram {
                bind: "/q".into(),
                peer: "/p".into()
            }
        );
    }

    #[test]
    fn tap_stream_and_user() {
        assert_eq!(
            "tap:tap0".parse::<Spec>().unwrap(),
            Spec::Tap {
                ifname: "tap0".into()
            }
        );
        assert_eq!(
            "stream:/s".parse::<Spec>().unwrap(),
            Spec::Stream { path: "/s".into() }
        );
        assert!("user"
            .parse::<Spec>()
            .unwrap_err()
            .0
            .contains("no host-side"));
        assert!("dgram:/a".parse::<Spec>().is_err());
        let v: Spec = "vhost-user:/v.sock".parse().unwrap();
        assert_eq!(
            v,
            Spec::VhostUser {
                path: "/v.sock".into(),
                queues: 1
            }
        );
        assert_eq!(v.to_string(), "vhost-user:/v.sock");
        let v: Spec = "vhost-user:/v.sock,queues=2".parse().unwrap();
        assert_eq!(
            v,
            Spec::VhostUser {
                path: "/v.sock".into(),
                queues: 2
            }
        );
        assert_eq!(v.to_string(), "vhost-user:/v.sock,queues=2");
    }
}

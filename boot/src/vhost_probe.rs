//! Is a vhost-user backend there? One check before QEMU starts.
//!
//! QEMU, as a vhost-user client, fails on a missing socket with a
//! multi-line error, and waits for ever on a backend that accepts the
//! connection but never answers. [`vhost_probe`] turns both into one short
//! reason: the path must be a unix socket, `connect()` must succeed and the
//! backend must answer `VHOST_USER_GET_FEATURES` within the timeout. The
//! probe's connection is closed right after; a backend accepts the next one
//! (QEMU's).
//!
//! The exchange is the rust-vmm `vhost` crate's frontend
//! ([`Frontend::from_stream`], [`VhostBackend::get_features`]). Its timeout
//! is not a socket read timeout: the crate's receive loop retries on
//! `EAGAIN`, which is what `SO_RCVTIMEO` produces, so a read timeout alone
//! would spin for ever on a silent backend. The exchange runs on a thread
//! instead, and when the time is up the socket is shut down, which ends the
//! blocked receive with end-of-file.

use std::io;
use std::net::Shutdown;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use vhost::vhost_user::{Error as ProtocolError, Frontend};
use vhost::VhostBackend;

use crate::nic::{Nic, NicBackend};

/// How long a backend has to answer `VHOST_USER_GET_FEATURES`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What to start when nothing is listening (appended to the errors of
/// [`probe_nics`]).
pub const START_HINT: &str =
    "start one first, e.g. `cargo xtask pktgen rx --rx vhost-user:PATH` or `dpdk-testpmd --vdev net_vhost0,iface=PATH -- -i`";

/// The probe thread's connection, shared with the caller so it can be shut
/// down when the time is up.
enum Conn {
    Connecting,
    Connected(UnixStream),
    /// The caller gave up; a connection made after this is dropped.
    Abandoned,
}

enum Failure {
    Connect(io::Error),
    Features(vhost::Error),
}

/// Check that a vhost-user backend listens on `path` and answers
/// `VHOST_USER_GET_FEATURES` within `timeout`; returns its virtio feature
/// bits, or one line saying what is wrong (it names `path`).
pub fn vhost_probe(path: &Path, timeout: Duration) -> Result<u64, String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("no backend listening on {shown} (no such socket)"))
        }
        Err(e) => return Err(format!("cannot reach {shown}: {e}")),
        Ok(m) if !m.file_type().is_socket() => return Err(format!("{shown} is not a unix socket")),
        Ok(_) => {}
    }

    let conn = Arc::new(Mutex::new(Conn::Connecting));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let conn = Arc::clone(&conn);
        let path = path.to_owned();
        thread::Builder::new()
            .name("vhost-probe".into())
            .spawn(move || {
                let _ = tx.send(exchange(&path, &conn));
            })
            .map_err(|e| format!("cannot probe {shown}: {e}"))?
    };
    let result = match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            // Unblock the thread if it is waiting for the answer; if it is
            // still in connect() (a full listen backlog) it drops the
            // connection when it gets one, and is left to finish alone.
            let state = std::mem::replace(&mut *conn.lock().unwrap(), Conn::Abandoned);
            let connected = match state {
                Conn::Connected(s) => {
                    let _ = s.shutdown(Shutdown::Both);
                    true
                }
                _ => false,
            };
            if connected {
                let _ = worker.join();
            }
            return Err(format!(
                "the backend on {shown} did not answer VHOST_USER_GET_FEATURES within {} ms",
                timeout.as_millis()
            ));
        }
    };
    let _ = worker.join();
    result.map_err(|f| match f {
        Failure::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            format!("no backend listening on {shown} (connection refused)")
        }
        Failure::Connect(e) => format!("cannot connect to {shown}: {e}"),
        Failure::Features(vhost::Error::VhostUserProtocol(
            ProtocolError::PartialMessage
            | ProtocolError::Disconnected
            | ProtocolError::SocketBroken(_),
        )) => format!(
            "the backend on {shown} closed the connection without answering VHOST_USER_GET_FEATURES"
        ),
        Failure::Features(e) => {
            format!("the backend on {shown} did not answer VHOST_USER_GET_FEATURES properly: {e}")
        }
    })
}

/// Connect and ask for the features; the connection closes on return.
fn exchange(path: &Path, conn: &Mutex<Conn>) -> Result<u64, Failure> {
    let stream = UnixStream::connect(path).map_err(Failure::Connect)?;
    {
        let mut state = conn.lock().unwrap();
        if matches!(*state, Conn::Abandoned) {
            return Err(Failure::Connect(io::ErrorKind::TimedOut.into()));
        }
        let handle = stream.try_clone().map_err(Failure::Connect)?;
        *state = Conn::Connected(handle);
    }
    let frontend = Frontend::from_stream(stream, 1);
    let features = frontend.get_features().map_err(Failure::Features);
    // Close now, not when the caller drops the shared handle.
    if let Conn::Connected(s) = std::mem::replace(&mut *conn.lock().unwrap(), Conn::Abandoned) {
        let _ = s.shutdown(Shutdown::Both);
    }
    features
}

/// [`vhost_probe`] every vhost-user NIC of a VM (NIC `i` is the `i`-th of
/// `nics`); the first failure is one line, `vhost-user NIC i: ...; start one
/// first, ...`, for the caller to print after `error: `.
pub fn probe_nics(nics: &[Nic], timeout: Duration) -> Result<(), String> {
    for (i, nic) in nics.iter().enumerate() {
        if let NicBackend::VhostUser { path } = &nic.backend {
            vhost_probe(path, timeout).map_err(|why| {
                let hint = START_HINT.replace("PATH", &path.display().to_string());
                format!("vhost-user NIC {i}: {why}; {hint}")
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::time::Instant;

    /// A socket path of its own under the temp dir, removed on drop.
    struct TempSock(PathBuf);

    impl TempSock {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!(
                "boot-vhost-probe-{tag}-{}-{n}.sock",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&p);
            TempSock(p)
        }
    }

    impl Drop for TempSock {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn missing_socket_is_an_error_naming_the_path() {
        let sock = TempSock::new("missing");
        let e = vhost_probe(&sock.0, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains(&sock.0.display().to_string()), "{e}");
        assert!(e.contains("no backend listening"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_refused() {
        let sock = TempSock::new("file");
        std::fs::write(&sock.0, b"").unwrap();
        let e = vhost_probe(&sock.0, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("is not a unix socket"), "{e}");
    }

    #[test]
    fn a_socket_nobody_listens_on_is_connection_refused() {
        let sock = TempSock::new("stale");
        drop(UnixListener::bind(&sock.0).unwrap()); // the file stays
        let e = vhost_probe(&sock.0, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("connection refused"), "{e}");
        assert!(e.contains(&sock.0.display().to_string()), "{e}");
    }

    #[test]
    fn a_silent_backend_times_out() {
        let sock = TempSock::new("silent");
        // Listens (connect() succeeds from the backlog) but never answers.
        let _listener = UnixListener::bind(&sock.0).unwrap();
        let start = Instant::now();
        let e = vhost_probe(&sock.0, Duration::from_millis(300)).unwrap_err();
        let took = start.elapsed();
        assert!(e.contains("did not answer"), "{e}");
        assert!(e.contains(&sock.0.display().to_string()), "{e}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn a_backend_that_hangs_up_is_an_error() {
        let sock = TempSock::new("hangup");
        let listener = UnixListener::bind(&sock.0).unwrap();
        let backend = thread::spawn(move || drop(listener.accept().unwrap()));
        let e = vhost_probe(&sock.0, Duration::from_secs(3)).unwrap_err();
        backend.join().unwrap();
        assert!(e.contains("closed the connection"), "{e}");
    }

    /// Answer one GET_FEATURES (header: request, flags, size; all u32 LE)
    /// on each of `connections` connections.
    fn fake_backend(listener: UnixListener, features: u64, connections: usize) {
        for _ in 0..connections {
            let (mut s, _) = listener.accept().unwrap();
            let mut hdr = [0u8; 12];
            s.read_exact(&mut hdr).unwrap();
            let word = |i: usize| u32::from_le_bytes(hdr[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(
                (word(0), word(1) & 0x3, word(2)),
                (1, 1, 0),
                "GET_FEATURES v1"
            );
            let mut reply = Vec::new();
            reply.extend_from_slice(&1u32.to_le_bytes());
            reply.extend_from_slice(&(0x1u32 | 0x4).to_le_bytes()); // version 1, REPLY
            reply.extend_from_slice(&8u32.to_le_bytes());
            reply.extend_from_slice(&features.to_le_bytes());
            s.write_all(&reply).unwrap();
            // The probe hangs up after the answer.
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "the probe sent more: {rest:?}");
        }
    }

    #[test]
    fn a_backend_that_answers_gives_its_features() {
        let sock = TempSock::new("answers");
        let listener = UnixListener::bind(&sock.0).unwrap();
        let features = (1u64 << 32) | (1 << 30) | (1 << 5);
        let backend = thread::spawn(move || fake_backend(listener, features, 2));
        // Twice: the backend sees two connections, one after the other.
        for _ in 0..2 {
            assert_eq!(vhost_probe(&sock.0, Duration::from_secs(3)), Ok(features));
        }
        backend.join().unwrap();
    }

    #[test]
    fn probe_nics_names_the_nic_and_skips_other_backends() {
        let sock = TempSock::new("nics");
        let nics = [
            Nic::user(),
            Nic::stream("/nonexistent"),
            Nic::vhost_user(&sock.0),
        ];
        let e = probe_nics(&nics, Duration::from_millis(300)).unwrap_err();
        assert!(
            e.starts_with("vhost-user NIC 2: no backend listening on "),
            "{e}"
        );
        assert!(e.contains("start one first"), "{e}");
        assert!(!e.contains('\n'));
        assert_eq!(probe_nics(&nics[..2], Duration::from_millis(300)), Ok(()));
    }
}

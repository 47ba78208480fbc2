//! Endpoints against each other: no QEMU, no root (except the tap test,
//! which skips with a message otherwise).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// A fresh directory for socket files, removed when dropped.
pub(crate) struct TmpDir(pub PathBuf);

impl TmpDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Short: unix socket paths are limited to 107 bytes.
        let p = std::env::temp_dir().join(format!("pg-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Two wired dgram specs: what one sends, the other receives.
    pub fn dgram_pair(&self) -> (Spec, Spec) {
        let a = Spec::Dgram {
            bind: self.path("a"),
            peer: self.path("b"),
        };
        let b = a.mirror();
        (a, b)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const T: Duration = Duration::from_secs(2);

fn frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| (0..size).map(|j| (i * 31 + j) as u8).collect())
        .collect()
}

/// Compare frame lists, reporting the first difference rather than
/// printing every byte.
#[track_caller]
fn same(got: &[Vec<u8>], want: &[Vec<u8>]) {
    assert_eq!(got.len(), want.len(), "frame count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "frame {i} differs: got {} bytes {:?}.., want {} bytes {:?}..",
            got[i].len(),
            &got[i][..got[i].len().min(16)],
            want[i].len(),
            &want[i][..want[i].len().min(16)]
        );
    }
}

/// Send `frames` from a thread while the caller receives: a unix datagram
/// queue may hold as few as 10 frames.
fn send_in_background(mut ep: Endpoint, frames: Vec<Vec<u8>>) -> std::thread::JoinHandle<Endpoint> {
    std::thread::spawn(move || {
        ep.send_all(&frames, T).unwrap();
        ep
    })
}

fn recv_n(ep: &mut Endpoint, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while got.len() < n && std::time::Instant::now() < deadline {
        ep.recv_batch(Duration::from_millis(50), &mut |f| got.push(f.to_vec()))
            .unwrap();
    }
    got
}

#[test]
fn dgram_pair_carries_frames_both_ways_byte_for_byte() {
    let d = TmpDir::new("dg");
    let (sa, sb) = d.dgram_pair();
    let mut a = Endpoint::open_with(
        &sa,
        &Options {
            batch: 8,
            ..Options::default()
        },
    )
    .unwrap();
    let mut b = Endpoint::open_with(&sb, &Options::default()).unwrap();
    // Sizes from a 1-byte runt to a jumbo frame: the wire does not care.
    for size in [1, 14, 60, 1514, 9000] {
        let sent = frames(100, size);
        let th = send_in_background(a, sent.clone());
        same(&recv_n(&mut b, 100), &sent);
        a = th.join().unwrap();
        let th = send_in_background(b, sent[..30].to_vec());
        same(&recv_n(&mut a, 30), &sent[..30]);
        b = th.join().unwrap();
    }
    assert!(b.recv(Duration::from_millis(20)).unwrap().is_none());
    assert_eq!(b.stats(), EndpointStats::default());
}

#[test]
fn dgram_opened_from_qemus_spelling() {
    let d = TmpDir::new("sp");
    let (q, h) = (d.path("q"), d.path("h"));
    // QEMU would get `dgram:q:h` (bind q, send to h); a test plays QEMU.
    let spec = format!("dgram:{}:{}", q.display(), h.display());
    let mut host = Endpoint::open(&spec).unwrap();
    let mut qemu = Endpoint::open_with(&host.spec().mirror(), &Options::default()).unwrap();
    assert!(h.exists() && q.exists());
    assert!(qemu.send(&[7; 60]).unwrap());
    assert_eq!(host.recv(T).unwrap().unwrap(), vec![7; 60]);
    assert!(host.send(&[8; 61]).unwrap());
    assert_eq!(qemu.recv(T).unwrap().unwrap(), vec![8; 61]);
    drop(host);
    assert!(!h.exists(), "socket file removed on drop");
}

#[test]
fn dgram_socket_files_stale_and_foreign() {
    let d = TmpDir::new("st");
    let (sa, _) = d.dgram_pair();
    let Spec::Dgram { bind, .. } = &sa else {
        unreachable!()
    };
    // A socket left by a killed run is replaced...
    let stale = std::os::unix::net::UnixDatagram::bind(bind).unwrap();
    drop(stale);
    assert!(bind.exists());
    drop(Endpoint::open_with(&sa, &Options::default()).unwrap());
    // ...a regular file is not.
    std::fs::write(bind, b"precious").unwrap();
    let e = Endpoint::open_with(&sa, &Options::default()).err().unwrap();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(bind).unwrap(), b"precious");
}

#[test]
fn dgram_without_peer_is_a_clear_error() {
    let d = TmpDir::new("np");
    let (sa, _) = d.dgram_pair();
    let mut a = Endpoint::open_with(&sa, &Options::default()).unwrap();
    let e = a.send(&[0; 60]).unwrap_err();
    assert!(
        e.to_string().contains("start QEMU or the peer first"),
        "{e}"
    );
}

#[test]
fn dgram_back_pressure_is_would_block_then_timeout() {
    let d = TmpDir::new("bp");
    let (sa, sb) = d.dgram_pair();
    let mut a = Endpoint::open_with(&sa, &Options::default()).unwrap();
    let mut b = Endpoint::open_with(&sb, &Options::default()).unwrap();
    let many = frames(5000, 60);
    // Nobody reads b: the queue fills and the rest would block.
    let n = a.send_batch(&many).unwrap();
    assert!(n > 0 && n < many.len(), "sent {n}");
    assert!(!a.wait_writable(Duration::from_millis(20)).unwrap());
    let e = a.send_all(&many, Duration::from_millis(200)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    // Reading makes room again, and what was queued is intact and in order.
    same(&recv_n(&mut b, n), &many[..n]);
    assert!(a.wait_writable(Duration::from_millis(200)).unwrap());
}

#[test]
fn stream_framing_both_ways() {
    let d = TmpDir::new("sm");
    let path = d.path("s");
    let mut host = Endpoint::open(&format!("stream:{}", path.display())).unwrap();
    let e = host.wait_connected(Duration::from_millis(30)).unwrap_err();
    assert!(e.to_string().contains("nobody connected"), "{e}");
    // Play QEMU with a plain socket to see the bytes on the wire.
    let mut qemu = UnixStream::connect(&path).unwrap();
    host.wait_connected(T).unwrap();
    host.send_all(&[vec![1u8, 2, 3], vec![9u8; 60]], T).unwrap();
    let mut wire = vec![0u8; 4 + 3 + 4 + 60];
    qemu.set_read_timeout(Some(T)).unwrap();
    qemu.read_exact(&mut wire).unwrap();
    assert_eq!(&wire[..7], &[0, 0, 0, 3, 1, 2, 3]);
    assert_eq!(&wire[7..11], &[0, 0, 0, 60]);
    assert!(wire[11..].iter().all(|&b| b == 9));
    // A frame written in pieces arrives whole; two in one write arrive as two.
    let f = frames(1, 1514).pop().unwrap();
    let mut bytes = (f.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&f);
    qemu.write_all(&bytes[..700]).unwrap();
    assert!(host.recv(Duration::from_millis(50)).unwrap().is_none());
    qemu.write_all(&bytes[700..]).unwrap();
    assert_eq!(host.recv(T).unwrap().unwrap(), f);
    qemu.write_all(&[0, 0, 0, 1, 0xaa, 0, 0, 0, 2, 0xbb, 0xcc])
        .unwrap();
    assert_eq!(recv_n(&mut host, 2), vec![vec![0xaa], vec![0xbb, 0xcc]]);
    // A length no NIC sends is a framing error, not a huge allocation.
    qemu.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let e = host.recv(T).unwrap_err();
    assert!(e.to_string().contains("framing broken"), "{e}");
}

#[test]
fn stream_endpoints_talk_to_each_other_and_see_a_close() {
    let d = TmpDir::new("sc");
    let path = d.path("s");
    let mut host = Endpoint::open(&format!("stream:{}", path.display())).unwrap();
    let mut qemu = Endpoint::connect_stream(&path).unwrap();
    host.wait_connected(T).unwrap();
    let sent = frames(500, 1000);
    // More than the socket buffer: both sides must keep going.
    let th = std::thread::spawn(move || {
        let got = recv_n(&mut qemu, 500);
        drop(qemu);
        got
    });
    host.send_all(&sent, Duration::from_secs(5)).unwrap();
    same(&th.join().unwrap(), &sent);
    let e = host.recv(T).unwrap_err();
    assert!(e.to_string().contains("closed"), "{e}");
}

#[test]
fn specs_that_cannot_open() {
    let e = Endpoint::open("user").err().unwrap();
    assert!(e.to_string().contains("no host-side"), "{e}");
    let e = Endpoint::open("tap:pg-no-such0").err().unwrap();
    assert!(e.to_string().contains("no interface pg-no-such0"), "{e}");
    let long = format!("dgram:/tmp/x:/tmp/{}", "y".repeat(120));
    let e = Endpoint::open(&long).err().unwrap();
    assert!(e.to_string().contains("without NUL"), "{e}");
}

/// Root only: a tap made in a namespace of our own, QEMU's side played by
/// an open tap fd, the host side by the endpoint.
#[test]
fn tap_endpoint_in_a_namespace() {
    if !netns::is_root() {
        eprintln!("SKIPPED tap_endpoint_in_a_namespace: needs root (creates a network namespace and a tap)");
        return;
    }
    let ns = netns::NetNs::create(&format!("pktgen-test-{}", std::process::id())).unwrap();
    let (mut tap, mut ep) = ns
        .run(|| {
            let tap = tap::TapDevice::create("pgtap0").unwrap();
            ns.ip(&["link", "set", "pgtap0", "up"]).unwrap();
            (tap, Endpoint::open("tap:pgtap0").unwrap())
        })
        .unwrap();
    let f = frames(10, 60);
    // Host -> QEMU: what the endpoint sends, the tap fd reads (skipping the
    // host's own IPv6 chatter on the new link).
    ep.send_all(&f, T).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while got.len() < f.len() && std::time::Instant::now() < deadline {
        if let Some(fr) = tap.read_frame(Duration::from_millis(50)).unwrap() {
            if f.contains(&fr) {
                got.push(fr);
            }
        }
    }
    same(&got, &f);
    // QEMU -> host: what the tap fd writes, the endpoint receives; what the
    // host sends on the tap (here: another packet socket, which the kernel
    // shows to ours as outgoing) is never received.
    let g = frames(5, 61);
    for fr in &g {
        tap.write_frame(fr).unwrap();
    }
    let mut other = ns.run(|| Endpoint::open("tap:pgtap0").unwrap()).unwrap();
    other.send_all(&f, T).unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        ep.recv_batch(Duration::from_millis(50), &mut |fr| {
            let fr = fr.to_vec();
            if g.contains(&fr) || f.contains(&fr) {
                seen.push(fr);
            }
        })
        .unwrap();
    }
    same(&seen, &g);
    // ep and tap close first (declared later), then the namespace goes.
}

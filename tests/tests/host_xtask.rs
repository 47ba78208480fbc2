//! `cargo xtask run` and the host stack, through the real xtask binary
//! (with `--kernel`, so it runs no cargo): `--pcap PORT=FILE` writes a pcap
//! file, and the default run (one user NIC, no --exec) brings host0 up by
//! DHCP and forwards `--http-port` to its HTTP server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration::artifacts::{kernel_elf, xtask_bin};
use integration::process::{die_with_parent, run_with_timeout};
use integration::timeouts;

#[test]
fn xtask_run_pcap_writes_a_pcap_file_of_the_port() {
    let dir = std::env::temp_dir().join(format!("nm-xtask-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dhcp.pcap");
    let mut cmd = Command::new(xtask_bin().unwrap());
    cmd.args(["run", "--headless", "--pcap"])
        .arg(format!("vale0:host0={}", file.display()))
        .args([
            "--exec",
            "vale-ctl -h vale0:virtio0; dhcp host0; pcap stop; shutdown 0",
            "--kernel",
        ])
        .arg(kernel_elf().unwrap());
    let out = run_with_timeout(
        cmd,
        timeouts::scaled(timeouts::BOOT + Duration::from_secs(60)),
    )
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains("capture to"), "{}", out.stderr);
    let b = std::fs::read(&file).unwrap();
    assert!(
        b.len() >= 24 && b[0..4] == 0xa1b2_c3d4u32.to_le_bytes(),
        "not a pcap file"
    );
    // Records: DHCP discover, offer, request, ack at least.
    let (mut i, mut n) = (24, 0);
    while i + 16 <= b.len() {
        i += 16 + u32::from_le_bytes(b[i + 8..i + 12].try_into().unwrap()) as usize;
        n += 1;
    }
    assert_eq!(i, b.len(), "records end where the file ends");
    assert!(n >= 4, "{n} records");
    assert!(
        out.stdout
            .contains(&format!("pcap: vale0:host0: {n} frames")),
        "{}",
        out.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_xtask_run_serves_http_on_the_forwarded_port() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(xtask_bin().unwrap());
    cmd.args([
        "run",
        "--headless",
        "--http-port",
        &port.to_string(),
        "--kernel",
    ])
    .arg(kernel_elf().unwrap());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + timeouts::scaled(timeouts::BOOT);
    let body = loop {
        let got = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(b"GET /stats HTTP/1.0\r\n\r\n")?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r)
        })();
        match got {
            Ok(r) if r.starts_with("HTTP/1.1 200 ") => break r,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(300)),
            other => {
                let _ = child.kill();
                panic!("no /stats on 127.0.0.1:{port}: {other:?}");
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(body.contains(r#""addr":"10.0.2.15/24""#), "{body}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/")),
        "{stderr}"
    );
}

//! Hostile clients of the kernel's own services: the HTTP server (through
//! QEMU's user networking and a hostfwd port) and the serial shell. Every
//! request must get a clean answer (or be dropped), and a well-behaved
//! client right after must be served as usual.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::console::{Console, PROMPT};
use crate::error::{Error, Result};
use crate::lab;
use crate::timeouts::{scaled, COMMAND};

/// What one round sent, and what went wrong.
#[derive(Clone, Debug, Default)]
pub struct Round {
    /// Hostile requests and inputs sent.
    pub requests: u64,
    /// Answers that were not the clean one expected (wrong status, a good
    /// client refused afterwards, the shell not answering).
    pub failures: u64,
    /// What each failure was.
    pub notes: Vec<String>,
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(scaled(Duration::from_secs(10))))?;
    s.set_write_timeout(Some(scaled(Duration::from_secs(10))))?;
    Ok(s)
}

/// Send `request`, read to the end; the status code, if any.
fn exchange(port: u16, request: &[u8]) -> Option<u16> {
    let mut s = connect(port).ok()?;
    s.write_all(request).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A plain `GET /stats`, retried for a few seconds (a reset from a full
/// table is retried): whether it was answered 200.
pub fn good_client(port: u16) -> bool {
    let deadline = Instant::now() + scaled(Duration::from_secs(5));
    loop {
        if exchange(port, b"GET /stats HTTP/1.1\r\nHost: soak\r\n\r\n") == Some(200) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One round against the HTTP server: a slow client, an oversized head,
/// garbage text, binary garbage, a request cut off mid-line, and a burst
/// of idle connections; after each, a good client must be served.
pub fn http_round(port: u16, seed: u32) -> Round {
    let mut r = Round::default();
    let expect = |name: &str, what: Option<u16>, ok: &[Option<u16>], r: &mut Round| {
        r.requests += 1;
        if !ok.contains(&what) {
            r.failures += 1;
            r.notes
                .push(format!("{name}: answered {what:?}, expected one of {ok:?}"));
        }
    };
    // Slow: a byte every 50 ms, then a whole request.
    let slow = (|| -> Option<u16> {
        let mut s = connect(port).ok()?;
        for b in b"GET /stats HTTP/1.1\r\n" {
            s.write_all(&[*b]).ok()?;
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(b"\r\n").ok()?;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    })();
    // Answered, or (if the table filled meanwhile) evicted: never a hang.
    expect("slow client", slow, &[Some(200), Some(408), None], &mut r);
    let big = format!("GET /{} HTTP/1.1\r\n", "a".repeat(3000));
    expect(
        "oversized head",
        exchange(port, big.as_bytes()),
        &[Some(431)],
        &mut r,
    );
    expect(
        "garbage",
        exchange(port, b"garbage\r\n\r\n"),
        &[Some(400)],
        &mut r,
    );
    let mut bin = lab::garbage(seed | 1, 512);
    bin.extend_from_slice(b"\r\n\r\n");
    expect(
        "binary garbage",
        exchange(port, &bin),
        &[Some(400), Some(405), Some(404)],
        &mut r,
    );
    expect(
        "POST",
        exchange(port, b"POST /stats HTTP/1.1\r\n\r\n"),
        &[Some(405)],
        &mut r,
    );
    // A burst of clients that connect and say nothing.
    let idle: Vec<TcpStream> = (0..20).filter_map(|_| connect(port).ok()).collect();
    r.requests += idle.len() as u64;
    std::thread::sleep(Duration::from_millis(300));
    if !good_client(port) {
        r.failures += 1;
        r.notes
            .push("a good client with 20 idle ones connected: not served".into());
    }
    drop(idle);
    r.requests += 1;
    if !good_client(port) {
        r.failures += 1;
        r.notes
            .push("a good client after the idle ones left: not served".into());
    }
    r
}

/// One round against the serial shell: an overlong line, control
/// characters and escape sequences, a cancelled line, binary garbage
/// (with `\r`, `\n` and Ctrl-C taken out, so that it is one line and one
/// prompt); then `version` must answer as usual.
pub fn serial_round(console: &mut Console, seed: u32) -> Result<Round> {
    let mut r = Round::default();
    let mut hostile = |console: &mut Console, bytes: &[u8]| -> Result<()> {
        console.send(bytes)?;
        console.expect(PROMPT, COMMAND)?;
        r.requests += 1;
        Ok(())
    };
    // Over the editor's MAX_LINE: refused whole, not cut and run.
    hostile(console, format!("{}\r", "x".repeat(6000)).as_bytes())?;
    let mut ctl: Vec<u8> = (0u8..0x20)
        .filter(|b| !matches!(b, b'\r' | b'\n' | 0x03 | 0x15))
        .collect();
    ctl.extend_from_slice(b"\x1b[A\x1b[1;5D\x1b[999999999999C\x1bOP\x7f\x7fnot-a-command\r");
    hostile(console, &ctl)?;
    // Ctrl-C drops the line and prompts again.
    hostile(console, b"vale-ctl -d vale0:virtio0\x03")?;
    let bin: Vec<u8> = lab::garbage(seed | 1, 4096)
        .into_iter()
        .map(|b| {
            if matches!(b, b'\r' | b'\n' | 0x03) {
                b' '
            } else {
                b
            }
        })
        .chain(*b"\r")
        .collect();
    hostile(console, &bin)?;
    let lines = console.command_ok("version", COMMAND)?;
    if !lines.iter().any(|l| l.starts_with("kernel ")) {
        return Err(Error::new(format!(
            "the shell after hostile input: {lines:?}"
        )));
    }
    Ok(r)
}

//! The HTTP server's request handling under any request, delivered in any
//! split into segments as TCP may deliver it, then rendered with
//! `http::write` into a bounded buffer.
//!
//! Checked, besides "no panic":
//! - streamed like the kernel does (append each segment, keep at most
//!   `MAX_REQUEST` bytes, call `handle` after each), the first answer is
//!   the answer to the same bytes in one piece: the split never matters;
//! - `handle` waits (`None`) exactly while the kept bytes are under
//!   `MAX_REQUEST` and hold no blank line (LF LF or LF CR LF); a full
//!   buffer is always answered;
//! - a 200 only for a request line `GET|HEAD SP /stats|/|/index.html[?...]
//!   SP HTTP/1.0|HTTP/1.1` (checked by hand, independently of httparse);
//!   every other answer is a 4xx, and 405 / 404 only for a well-formed line
//!   with another method / path;
//! - the rendered answer never grows the buffer, parses as an HTTP/1.1
//!   response (httparse) with the status `handle` chose, and its
//!   `Content-Length` is the body's length (for `HEAD`, the body that
//!   `GET` would have); a page that does not fit is a whole 500.
#![no_main]

use core::fmt::Write;

use libfuzzer_sys::fuzz_target;
use shell_core::http::{self, Page, Response, MAX_REQUEST};

/// The input, laid out so that a seed is a request with a 3-byte prefix:
/// `[body, capacity, n, split_1 .. split_n, request...]`: the page body's
/// length (x 16), the response buffer's capacity (256 + 16 x), `n % 17`
/// segment sizes (each 1..=256; then 256 bytes a segment), the request.
struct Input<'a> {
    splits: &'a [u8],
    body_len: usize,
    capacity: usize,
    request: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&[body, capacity, n], rest) = data.split_first_chunk::<3>()?;
        let n = (n as usize % 17).min(rest.len());
        Some(Input {
            splits: &rest[..n],
            body_len: body as usize * 16,
            capacity: 256 + capacity as usize * 16,
            request: &rest[n..],
        })
    }
}

/// After any empty lines, `METHOD SP TARGET SP VERSION` with a token method, a target starting
/// `/` of visible ASCII (or UTF-8), HTTP/1.0 or 1.1: what a 200, 404 or 405
/// needs. Returns method and the path without its query.
fn request_line(mut head: &[u8]) -> Option<(&str, &str)> {
    // Empty lines before the request line are skipped (RFC 9112, 2.2).
    loop {
        if let Some(rest) = head.strip_prefix(b"\r\n") {
            head = rest;
        } else if let Some(rest) = head.strip_prefix(b"\n") {
            head = rest;
        } else {
            break;
        }
    }
    let end = head.iter().position(|&b| b == b'\n')?;
    let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
    let line = core::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if method.is_empty() || !method.chars().all(tchar) {
        return None;
    }
    if !target.starts_with('/') || target.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return None;
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return None;
    }
    Some((method, target.split('?').next().unwrap()))
}

/// A blank line: LF LF or LF CR LF (so CR LF CR LF too).
fn has_blank_line(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"\n\n") || b.windows(3).any(|w| w == b"\n\r\n")
}

fuzz_target!(|data: &[u8]| {
    let Some(inp) = Input::parse(data) else {
        return;
    };
    let request = inp.request;
    let kept = &request[..request.len().min(MAX_REQUEST)];
    let whole = http::handle(kept);

    // As the kernel streams it.
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_REQUEST);
    let mut streamed = None;
    let mut at = 0;
    let mut splits = inp
        .splits
        .iter()
        .map(|&s| s as usize + 1)
        .chain(core::iter::repeat(256));
    while at < request.len() {
        let seg = &request[at..(at + splits.next().unwrap()).min(request.len())];
        at += seg.len();
        let n = seg.len().min(MAX_REQUEST - buf.len());
        buf.extend_from_slice(&seg[..n]);
        if let Some(r) = http::handle(&buf) {
            streamed = Some(r);
            break;
        }
    }
    assert_eq!(streamed, whole, "split changed the answer");

    match whole {
        None => {
            assert!(kept.len() < MAX_REQUEST);
            assert!(!has_blank_line(kept));
            return;
        }
        Some(_) => assert!(kept.len() == MAX_REQUEST || has_blank_line(kept)),
    }
    let response = whole.unwrap();
    let line = request_line(kept);
    let code = match response {
        Response::Page { page, head_only } => {
            let (method, path) = line.expect("200 for a malformed request line");
            assert_eq!(method, if head_only { "HEAD" } else { "GET" });
            match page {
                Page::Stats => assert_eq!(path, "/stats"),
                Page::Index => assert!(path == "/" || path == "/index.html"),
            }
            200
        }
        Response::Status(s) => {
            assert!((400..500).contains(&s.code), "{s:?}");
            match s.code {
                405 => assert!(line.is_some_and(|(m, _)| m != "GET" && m != "HEAD")),
                404 => assert!(line.is_some_and(|(m, p)| (m == "GET" || m == "HEAD")
                    && !["/stats", "/", "/index.html"].contains(&p))),
                400 | 431 => {}
                _ => panic!("unexpected status {s:?}"),
            }
            s.code
        }
    };

    // Rendered into a bounded buffer (room at least for any error answer).
    let capacity = inp.capacity;
    let body_len = inp.body_len;
    let mut out = Vec::with_capacity(capacity);
    let cap = out.capacity();
    http::write(response, &mut out, |_, w| {
        for _ in 0..body_len {
            w.write_char('b')?;
        }
        Ok(())
    });
    assert_eq!(out.capacity(), cap, "the response buffer grew");
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut parsed = httparse::Response::new(&mut headers);
    let head = match parsed.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "unparsable answer {other:?}: {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(parsed.version, Some(1));
    let content_length: usize = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| core::str::from_utf8(h.value).unwrap().parse().unwrap())
        .expect("no Content-Length");
    let got = parsed.code.unwrap();
    let body = &out[head..];
    match response {
        Response::Page { head_only, .. } if got == 200 => {
            assert!(body_len + 160 <= cap);
            assert_eq!(content_length, body_len);
            assert_eq!(body.len(), if head_only { 0 } else { body_len });
        }
        Response::Page { .. } => {
            assert_eq!(got, 500);
            assert!(body_len + 160 > cap, "500 for a page that fits");
            assert_eq!(content_length, body.len());
        }
        Response::Status(_) => {
            assert_eq!(got, code);
            assert_eq!(content_length, body.len());
        }
    }
});

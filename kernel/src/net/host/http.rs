//! A small HTTP/1.0-1.1 server on TCP port 80: `GET /stats` (JSON),
//! `GET /` (the same as an HTML page), 404 for other paths, 400 for
//! anything that is not a GET request line, 431 for requests past
//! [`MAX_REQUEST`] bytes. One request per connection (`Connection: close`).
//!
//! [`CONNECTIONS`] listening sockets serve that many clients at once. Each
//! connection's request and response buffers are allocated with the
//! server; a response larger than its buffer (128 KiB) is answered 500.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;

use super::stats;

pub const PORT: u16 = 80;
/// Simultaneous connections (listening sockets).
pub const CONNECTIONS: usize = 4;
/// Longest request (line and headers) accepted.
pub const MAX_REQUEST: usize = 2048;
/// Largest response.
const MAX_RESPONSE: usize = 128 * 1024;

struct Conn {
    socket: SocketHandle,
    request: Vec<u8>,
    response: Vec<u8>,
    /// Bytes of `response` already queued on the socket; `None` while the
    /// request is still arriving.
    sent: Option<usize>,
}

pub struct Server {
    conns: Vec<Conn>,
}

/// A `fmt::Write` into a vector that never grows past its capacity.
pub struct Bounded<'a>(pub &'a mut Vec<u8>);

impl Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.0.capacity() - self.0.len();
        let n = s.len().min(room);
        self.0.extend_from_slice(&s.as_bytes()[..n]);
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl Server {
    pub fn new(sockets: &mut SocketSet<'static>) -> Server {
        let conns = (0..CONNECTIONS)
            .map(|_| {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; MAX_REQUEST]),
                    tcp::SocketBuffer::new(vec![0; 16 * 1024]),
                );
                s.set_timeout(Some(Duration::from_secs(10)));
                let _ = s.listen(PORT);
                Conn {
                    socket: sockets.add(s),
                    request: Vec::with_capacity(MAX_REQUEST),
                    response: Vec::with_capacity(MAX_RESPONSE),
                    sent: None,
                }
            })
            .collect();
        Server { conns }
    }

    /// Serves every connection as far as its socket allows. Returns whether
    /// something was queued to send.
    pub fn serve(&mut self, sockets: &mut SocketSet<'static>, host: &stats::HostView) -> bool {
        let mut queued = false;
        for c in &mut self.conns {
            let s = sockets.get_mut::<tcp::Socket>(c.socket);
            match s.state() {
                tcp::State::Closed => {
                    c.request.clear();
                    c.sent = None;
                    let _ = s.listen(PORT);
                    continue;
                }
                // Done: free the socket for the next client at once rather
                // than after TIME-WAIT (the client has closed its side).
                tcp::State::TimeWait => {
                    s.abort();
                    continue;
                }
                _ => {}
            }
            if c.sent.is_none() && s.can_recv() {
                let _ = s.recv(|data| {
                    let n = data.len().min(MAX_REQUEST - c.request.len());
                    c.request.extend_from_slice(&data[..n]);
                    (data.len(), ())
                });
                if let Some(end) =
                    find(&c.request, b"\r\n\r\n").or_else(|| find(&c.request, b"\n\n"))
                {
                    c.response.clear();
                    respond(&c.request[..end], &mut c.response, host);
                    c.sent = Some(0);
                } else if c.request.len() >= MAX_REQUEST {
                    c.response.clear();
                    simple(
                        &mut c.response,
                        431,
                        "Request Header Fields Too Large",
                        "request too large\n",
                    );
                    c.sent = Some(0);
                }
            }
            if c.sent.is_none() && s.state() == tcp::State::CloseWait {
                // The client closed before a whole request.
                s.close();
            }
            if let Some(sent) = c.sent {
                if sent < c.response.len() {
                    if let Ok(n) = s.send_slice(&c.response[sent..]) {
                        c.sent = Some(sent + n);
                        queued |= n > 0;
                    }
                }
                if c.sent == Some(c.response.len()) && s.may_send() {
                    s.close();
                    queued = true;
                }
            }
        }
        queued
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request head and writes the whole response.
fn respond(head: &[u8], out: &mut Vec<u8>, host: &stats::HostView) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = core::str::from_utf8(line)
        .unwrap_or("")
        .trim_end_matches('\r');
    let mut words = line.split(' ');
    let (method, path, version) = (words.next(), words.next(), words.next());
    let valid = matches!(version, Some("HTTP/1.0") | Some("HTTP/1.1"))
        && words.next().is_none()
        && path.is_some_and(|p| p.starts_with('/'));
    if !valid {
        return simple(out, 400, "Bad Request", "bad request\n");
    }
    if method != Some("GET") && method != Some("HEAD") {
        return simple(out, 405, "Method Not Allowed", "only GET\n");
    }
    let path = path.unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let (ctype, body_fn): (
        &str,
        fn(&mut Bounded, &stats::HostView) -> core::fmt::Result,
    ) = match path {
        "/stats" => ("application/json", stats::json),
        "/" | "/index.html" => ("text/html; charset=utf-8", stats::html),
        _ => return simple(out, 404, "Not Found", "not found\n"),
    };
    // Body first, at an offset, so its length is known for the header.
    const HEAD_ROOM: usize = 160;
    out.resize(HEAD_ROOM, b' ');
    if body_fn(&mut Bounded(out), host).is_err() {
        // Past the buffer: say so rather than send a cut document.
        out.clear();
        return simple(out, 500, "Internal Server Error", "response too large\n");
    }
    let body_len = out.len() - HEAD_ROOM;
    let mut head = Vec::with_capacity(HEAD_ROOM);
    let _ = write!(
        Bounded(&mut head),
        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    );
    let start = HEAD_ROOM - head.len();
    out[start..HEAD_ROOM].copy_from_slice(&head);
    out.drain(..start);
    if method == Some("HEAD") {
        out.truncate(head.len());
    }
}

fn simple(out: &mut Vec<u8>, code: u16, reason: &str, body: &str) {
    let _ = write!(
        Bounded(out),
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

//! A small HTTP/1.0-1.1 server on TCP port 80: `GET /stats` (JSON),
//! `GET /` (a live dashboard page that polls `/stats`). What a request is answered (and
//! when it is whole) is [`shell_core::http`]'s; this module keeps the
//! sockets and the pages' bodies ([`stats`]). One request per connection
//! (`Connection: close`).
//!
//! [`CONNECTIONS`] listening sockets serve that many clients at once. Each
//! connection's request and response buffers are allocated with the
//! server; a response larger than its buffer (128 KiB) is answered 500.

use alloc::vec;
use alloc::vec::Vec;
use shell_core::http::{Page, MAX_REQUEST};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;

use super::stats;

pub const PORT: u16 = 80;
/// Simultaneous connections (listening sockets).
pub const CONNECTIONS: usize = 4;
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

/// What the pages are written with (`stats` names it here).
pub use shell_core::http::Bounded;

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
                if let Some(response) = shell_core::http::handle(&c.request) {
                    shell_core::http::write(response, &mut c.response, |page, w| match page {
                        Page::Stats => stats::json(w, host),
                        Page::Index => stats::html(w, host),
                    });
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

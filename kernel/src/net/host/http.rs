//! A small HTTP/1.0-1.1 server on TCP port 80: `GET /stats` (JSON),
//! `GET /` (a live dashboard page that polls `/stats`). What a request is answered (and
//! when it is whole) is [`shell_core::http`]'s; this module keeps the
//! sockets and the pages' bodies ([`stats`]). One request per connection
//! (`Connection: close`).
//!
//! [`CONNECTIONS`] listening sockets serve that many clients at once. Each
//! connection's request and response buffers are allocated with the
//! server; a response larger than its buffer (128 KiB) is answered 500.
//! Every connection runs against [`shell_core::conn`]'s deadlines (408 for
//! a request that does not arrive in time), and a full table resets its
//! longest-waiting connection so that a new client is never locked out.

use alloc::vec;
use alloc::vec::Vec;
use shell_core::conn::{self, Verdict};
use shell_core::http::{Page, Response, MAX_REQUEST, REQUEST_TIMEOUT};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

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
    /// When the server first saw the socket out of `Listen`: the start of
    /// the connection's deadlines.
    since: Option<Instant>,
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
                    since: None,
                }
            })
            .collect();
        Server { conns }
    }

    /// Serves every connection as far as its socket allows, at time `now`.
    /// Returns whether something was queued to send.
    pub fn serve(
        &mut self,
        sockets: &mut SocketSet<'static>,
        host: &stats::HostView,
        now: Instant,
    ) -> bool {
        let mut queued = false;
        for c in &mut self.conns {
            let s = sockets.get_mut::<tcp::Socket>(c.socket);
            match s.state() {
                tcp::State::Closed => {
                    c.request.clear();
                    c.sent = None;
                    c.since = None;
                    let _ = s.listen(PORT);
                    continue;
                }
                tcp::State::Listen => {
                    c.since = None;
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
            let age = now - *c.since.get_or_insert(now);
            match conn::verdict(age.total_millis(), c.sent.is_some()) {
                Verdict::Keep => {}
                Verdict::RequestTimeout => {
                    shell_core::http::write(
                        Response::Status(REQUEST_TIMEOUT),
                        &mut c.response,
                        |_, _| Ok(()),
                    );
                    c.sent = Some(0);
                }
                Verdict::Abort => {
                    s.abort();
                    continue;
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
        queued | self.make_room(sockets, now)
    }

    /// With no socket listening, resets the connection that has waited
    /// longest for its request (if it has waited long enough), so that the
    /// next client finds a listener. Its socket listens again on the next
    /// pass, once the reset has gone out.
    fn make_room(&mut self, sockets: &mut SocketSet<'static>, now: Instant) -> bool {
        let state =
            |c: &Conn, sockets: &SocketSet<'static>| sockets.get::<tcp::Socket>(c.socket).state();
        if self
            .conns
            .iter()
            .any(|c| matches!(state(c, sockets), tcp::State::Listen | tcp::State::Closed))
        {
            return false;
        }
        let waiting = self.conns.iter().enumerate().filter_map(|(i, c)| {
            let since = c.since?;
            c.sent.is_none().then(|| (i, (now - since).total_millis()))
        });
        let Some(victim) = conn::evict(waiting) else {
            return false;
        };
        sockets
            .get_mut::<tcp::Socket>(self.conns[victim].socket)
            .abort();
        true
    }
}

//! HTTP request handling for the kernel's server on port 80: when a
//! request is whole, what to answer, and the bytes of the answer. The
//! kernel keeps the sockets and the page bodies (`/stats` JSON, `/` HTML).
//!
//! - `GET /stats`: the stats page ([`Page::Stats`]); `GET /` and
//!   `GET /index.html`: the HTML page ([`Page::Index`]); a query string is
//!   ignored. `HEAD` answers the same without the body.
//! - 404 for other paths, 405 for other methods, 400 for anything that is
//!   not an HTTP/1.0 or 1.1 request line with a path starting `/` (or is
//!   not text), 431 for requests past [`MAX_REQUEST`] bytes without their
//!   blank line, 500 for a page larger than the response buffer.
//!
//! A request is whole at its first blank line (an LF followed by LF or by
//! CR LF: CR LF CR LF, LF LF and mixes); it is parsed then, with
//! `httparse`. Header lines are not used: invalid
//! ones are skipped, as they always were. One request per connection
//! (`Connection: close`).

use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::mem::MaybeUninit;

/// Longest request (line and headers) accepted.
pub const MAX_REQUEST: usize = 2048;

/// Room for headers: more than a request of [`MAX_REQUEST`] bytes can
/// hold (a header line is at least `x:` and LF), so the number of headers
/// never turns a request away.
pub const MAX_HEADERS: usize = MAX_REQUEST / 3;

/// The pages the server has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/` and `/index.html`: HTML.
    Index,
    /// `/stats`: JSON.
    Stats,
}

impl Page {
    pub fn content_type(self) -> &'static str {
        match self {
            Page::Index => "text/html; charset=utf-8",
            Page::Stats => "application/json",
        }
    }
}

/// A short plain-text answer: status code, reason phrase, body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub body: &'static str,
}

pub const BAD_REQUEST: Status = Status {
    code: 400,
    reason: "Bad Request",
    body: "bad request\n",
};
pub const NOT_FOUND: Status = Status {
    code: 404,
    reason: "Not Found",
    body: "not found\n",
};
pub const METHOD_NOT_ALLOWED: Status = Status {
    code: 405,
    reason: "Method Not Allowed",
    body: "only GET\n",
};
pub const TOO_LARGE: Status = Status {
    code: 431,
    reason: "Request Header Fields Too Large",
    body: "request too large\n",
};
/// A client that did not send its request in time ([`crate::conn`]).
pub const REQUEST_TIMEOUT: Status = Status {
    code: 408,
    reason: "Request Timeout",
    body: "request timeout\n",
};
pub const RESPONSE_TOO_LARGE: Status = Status {
    code: 500,
    reason: "Internal Server Error",
    body: "response too large\n",
};

/// What to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// 200 with a page; for `HEAD`, the head alone.
    Page { page: Page, head_only: bool },
    /// An error answer.
    Status(Status),
}

/// The answer to the bytes of a request received so far, or `None` while
/// more are needed. `request` is what the server kept: at most
/// [`MAX_REQUEST`] bytes (a full buffer without a blank line is 431).
pub fn handle(request: &[u8]) -> Option<Response> {
    match head_len(request) {
        Some(len) => Some(decide(&request[..len])),
        None if request.len() >= MAX_REQUEST => Some(Response::Status(TOO_LARGE)),
        None => None,
    }
}

/// Length of the request head up to and including its first blank line:
/// the first LF followed by LF or by CR LF (so CR LF CR LF, LF LF, CR LF
/// LF and LF CR LF, the line ends httparse accepts). The first one, not
/// the first of one kind: a later CR LF CR LF must not win over an earlier
/// LF LF, or the answer would depend on how TCP split the request.
fn head_len(request: &[u8]) -> Option<usize> {
    request
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .find_map(|(at, _)| match &request[at + 1..] {
            [b'\n', ..] => Some(at + 2),
            [b'\r', b'\n', ..] => Some(at + 3),
            _ => None,
        })
}

/// The answer to a whole request head.
fn decide(head: &[u8]) -> Response {
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .ignore_invalid_headers_in_requests(true)
        .parse_request_with_uninit_headers(&mut request, head, &mut headers);
    let (method, path) = match parsed {
        Ok(httparse::Status::Complete(_)) => match (request.method, request.path) {
            (Some(method), Some(path)) if path.starts_with('/') => (method, path),
            _ => return Response::Status(BAD_REQUEST),
        },
        Err(httparse::Error::TooManyHeaders) => return Response::Status(TOO_LARGE),
        // Partial: the blank line came before a whole request line.
        Ok(httparse::Status::Partial) | Err(_) => return Response::Status(BAD_REQUEST),
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response::Status(METHOD_NOT_ALLOWED),
    };
    let path = path.split('?').next().unwrap_or(path);
    let page = match path {
        "/stats" => Page::Stats,
        "/" | "/index.html" => Page::Index,
        _ => return Response::Status(NOT_FOUND),
    };
    Response::Page { page, head_only }
}

/// A `fmt::Write` into a vector that never grows past its capacity.
pub struct Bounded<'a>(pub &'a mut Vec<u8>);

impl Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.0.capacity() - self.0.len();
        let n = s.len().min(room);
        self.0.extend_from_slice(&s.as_bytes()[..n]);
        if n < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// Writes the whole answer into `out` (cleared first; it never grows past
/// its capacity). `body` writes a page's body; a body that does not fit
/// is answered 500 rather than cut.
pub fn write(
    response: Response,
    out: &mut Vec<u8>,
    body: impl FnOnce(Page, &mut Bounded) -> fmt::Result,
) {
    out.clear();
    let (page, head_only) = match response {
        Response::Page { page, head_only } => (page, head_only),
        Response::Status(status) => return simple(out, status),
    };
    // Body first, at an offset, so its length is known for the header.
    const HEAD_ROOM: usize = 160;
    out.resize(HEAD_ROOM, b' ');
    if body(page, &mut Bounded(out)).is_err() {
        out.clear();
        return simple(out, RESPONSE_TOO_LARGE);
    }
    let body_len = out.len() - HEAD_ROOM;
    let mut head = Vec::with_capacity(HEAD_ROOM);
    let _ = write!(
        Bounded(&mut head),
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n",
        page.content_type()
    );
    let start = HEAD_ROOM - head.len();
    out[start..HEAD_ROOM].copy_from_slice(&head);
    out.drain(..start);
    if head_only {
        out.truncate(head.len());
    }
}

fn simple(out: &mut Vec<u8>, status: Status) {
    let Status { code, reason, body } = status;
    let _ = write!(
        Bounded(out),
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::String;
    use std::vec;

    fn page(page: Page) -> Option<Response> {
        Some(Response::Page {
            page,
            head_only: false,
        })
    }

    fn status(status: Status) -> Option<Response> {
        Some(Response::Status(status))
    }

    /// The whole answer to `request`, with pages of `body` in a buffer of
    /// `capacity` bytes.
    fn answer(request: &[u8], body: &str, capacity: usize) -> String {
        let response = handle(request).expect("a whole request");
        let mut out = Vec::with_capacity(capacity);
        write(response, &mut out, |page, w| write!(w, "{page:?}:{body}"));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_root_and_index_html_are_the_html_page() {
        assert_eq!(
            handle(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            page(Page::Index)
        );
        assert_eq!(
            handle(b"GET /index.html HTTP/1.0\r\n\r\n"),
            page(Page::Index)
        );
        assert_eq!(
            answer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "<p>hi</p>", 4096),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 15\r\n\
             Connection: close\r\n\r\nIndex:<p>hi</p>"
        );
    }

    #[test]
    fn get_stats_is_the_json_page_query_ignored() {
        assert_eq!(handle(b"GET /stats HTTP/1.1\r\n\r\n"), page(Page::Stats));
        assert_eq!(
            handle(b"GET /stats?x=1 HTTP/1.1\r\n\r\n"),
            page(Page::Stats)
        );
        assert_eq!(
            answer(
                b"GET /stats HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
                "{}",
                4096
            ),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\
             Connection: close\r\n\r\nStats:{}"
        );
    }

    #[test]
    fn head_answers_the_head_alone_with_the_body_length() {
        assert_eq!(
            handle(b"HEAD /stats HTTP/1.1\r\n\r\n"),
            Some(Response::Page {
                page: Page::Stats,
                head_only: true
            })
        );
        assert_eq!(
            answer(b"HEAD / HTTP/1.1\r\n\r\n", "0123456789", 4096),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 16\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn other_methods_are_405() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get", "Get"] {
            let request = format!("{method} / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(
                handle(request.as_bytes()),
                status(METHOD_NOT_ALLOWED),
                "{method}"
            );
        }
        assert_eq!(
            answer(b"POST /stats HTTP/1.1\r\n\r\n", "", 4096),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\
             Connection: close\r\n\r\nonly GET\n"
        );
    }

    #[test]
    fn other_paths_are_404() {
        for path in ["/nope", "/stats/", "/index.htm", "//", "/STATS"] {
            let request = format!("GET {path} HTTP/1.1\r\n\r\n");
            assert_eq!(handle(request.as_bytes()), status(NOT_FOUND), "{path}");
        }
        // The method is checked before the path.
        assert_eq!(
            handle(b"POST /nope HTTP/1.1\r\n\r\n"),
            status(METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            answer(b"GET /nope HTTP/1.1\r\n\r\n", "", 4096),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\
             Connection: close\r\n\r\nnot found\n"
        );
    }

    #[test]
    fn garbage_or_missing_request_line_is_400() {
        for request in [
            &b"garbage\r\n\r\n"[..],
            b"\r\n\r\n",
            b"\n\n",
            b"GET\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / \r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET stats HTTP/1.1\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            // Stricter than the hand-written parser before httparse, which
            // answered these 405, 404 and 200: a method that is not a
            // token (or none), a tab in the path, a bare CR.
            b"G(T / HTTP/1.1\r\n\r\n",
            b" / HTTP/1.1\r\n\r\n",
            b"GET /\t* HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
            // The first blank line ends the request, before any request line.
            b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                handle(request),
                status(BAD_REQUEST),
                "{}",
                String::from_utf8_lossy(request)
            );
        }
        assert_eq!(
            answer(b"garbage\r\n\r\n", "", 4096),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Connection: close\r\n\r\nbad request\n"
        );
    }

    #[test]
    fn non_utf8_request_line_is_400_header_values_are_not_looked_at() {
        assert_eq!(handle(b"GET /\xff HTTP/1.1\r\n\r\n"), status(BAD_REQUEST));
        assert_eq!(
            handle(b"GET /\xc3\x28 HTTP/1.1\r\n\r\n"),
            status(BAD_REQUEST)
        );
        assert_eq!(
            handle(b"G\xc3\xa9T / HTTP/1.1\r\n\r\n"),
            status(BAD_REQUEST)
        );
        assert_eq!(
            handle(b"GET /stats HTTP/1.1\r\nX-Name: \xff\xfe\r\n\r\n"),
            page(Page::Stats)
        );
        // A UTF-8 path is a path like any other.
        assert_eq!(
            handle("GET /é HTTP/1.1\r\n\r\n".as_bytes()),
            status(NOT_FOUND)
        );
    }

    #[test]
    fn invalid_header_lines_are_skipped() {
        assert_eq!(
            handle(b"GET / HTTP/1.1\r\nno colon here\r\n: no name\r\nHost: x\r\n\r\n"),
            page(Page::Index)
        );
    }

    #[test]
    fn lf_line_ends_are_accepted() {
        assert_eq!(
            handle(b"GET /stats HTTP/1.0\nHost: x\n\n"),
            page(Page::Stats)
        );
        assert_eq!(handle(b"GET / HTTP/1.1\r\nHost: x\n\n"), page(Page::Index));
    }

    #[test]
    fn a_partial_request_waits_for_more_bytes() {
        let request = b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
        for end in 0..request.len() {
            assert_eq!(handle(&request[..end]), None, "{end} bytes");
        }
        assert_eq!(handle(request), page(Page::Stats));
        // Garbage too is answered only once the request is whole.
        assert_eq!(handle(b"garbage\r\n"), None);
        assert_eq!(handle(b"garbage\r\n\r\n"), status(BAD_REQUEST));
        // Bytes after the blank line (a body, a second request) don't count.
        assert_eq!(
            handle(b"GET / HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"),
            page(Page::Index)
        );
    }

    #[test]
    fn the_first_blank_line_ends_the_request_whatever_its_line_ends() {
        // LF LF before a CR LF CR LF: the request ends at the LF LF (found
        // by the fuzzer: the answer depended on where TCP split it).
        assert_eq!(handle(b"\n\nGET / HTTP/1.1\r\n\r\n"), status(BAD_REQUEST));
        assert_eq!(
            handle(b"GET /stats HTTP/1.1\nX: y\n\nGET / HTTP/1.1\r\n\r\n"),
            page(Page::Stats)
        );
        // LF, then CR LF: a blank line too (httparse ends the head there).
        assert_eq!(handle(b"GET / HTTP/1.1\n\r\n"), page(Page::Index));
        assert_eq!(
            handle(b"GET /stats HTTP/1.1\r\nHost: x\n\r\n"),
            page(Page::Stats)
        );
        // CR LF, then LF.
        assert_eq!(handle(b"GET / HTTP/1.0\r\n\n"), page(Page::Index));
        // A bare CR is not a line end.
        assert_eq!(handle(b"GET / HTTP/1.1\n\rX"), None);
    }

    #[test]
    fn the_answer_does_not_depend_on_where_the_request_is_split() {
        for request in [
            &b"\n\nGET / HTTP/1.1\r\n\r\n"[..],
            b"\n\n\n\n\nT /stats?x=1 HTTP/1.1\r\nHost: 20.\x0e\n\r\n15\r\ncept: */\r\n\r\n",
            b"GET / HTTP/1.1\n\r\nPOST / HTTP/1.1\r\n\r\n",
            b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n",
            b"garbage\n\n\r\n\r\n",
        ] {
            let whole = handle(request);
            assert!(whole.is_some());
            // The kernel answers as soon as the bytes so far are whole: a
            // first segment of `cut` bytes, then the rest.
            for cut in 1..=request.len() {
                if let Some(first) = handle(&request[..cut]) {
                    assert_eq!(
                        Some(first),
                        whole,
                        "{:?} cut at {cut}",
                        String::from_utf8_lossy(request)
                    );
                }
            }
        }
    }

    #[test]
    fn a_full_buffer_without_a_blank_line_is_431() {
        let mut request = format!("GET /{} HTTP/1.1\r\n", "a".repeat(3000)).into_bytes();
        request.truncate(MAX_REQUEST);
        assert_eq!(handle(&request), status(TOO_LARGE));
        assert_eq!(handle(&request[..MAX_REQUEST - 1]), None);
        // Long headers, line complete.
        let mut request = b"GET / HTTP/1.1\r\n".to_vec();
        while request.len() < MAX_REQUEST {
            request.extend_from_slice(b"X-Padding: 0123456789abcdef\r\n");
        }
        request.truncate(MAX_REQUEST);
        assert_eq!(handle(&request), status(TOO_LARGE));
        assert!(answer(&request, "", 4096)
            .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    #[test]
    fn a_request_just_under_the_limit_is_served() {
        let mut request = b"GET /stats HTTP/1.1\r\n".to_vec();
        let pad = MAX_REQUEST - request.len() - "X: \r\n\r\n".len();
        request.extend_from_slice(format!("X: {}\r\n\r\n", "p".repeat(pad)).as_bytes());
        assert_eq!(request.len(), MAX_REQUEST);
        assert_eq!(handle(&request), page(Page::Stats));
    }

    #[test]
    fn many_headers_are_served() {
        let mut request = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            request.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        assert_eq!(handle(&request), page(Page::Index));
        // As many as fit in MAX_REQUEST, the shortest there are.
        let mut request = b"GET / HTTP/1.0\n".to_vec();
        let mut count = 0;
        while request.len() + 4 <= MAX_REQUEST {
            request.extend_from_slice(b"x:\n");
            count += 1;
        }
        request.push(b'\n');
        assert!(count <= MAX_HEADERS && request.len() <= MAX_REQUEST);
        assert_eq!(handle(&request), page(Page::Index));
    }

    #[test]
    fn a_page_larger_than_the_buffer_is_500() {
        let body = "b".repeat(1000);
        let response = answer(b"GET /stats HTTP/1.1\r\n\r\n", &body, 512);
        assert_eq!(
            response,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\
             Content-Length: 19\r\nConnection: close\r\n\r\nresponse too large\n"
        );
        // One that just fits is sent whole.
        let fits = 160 + "Stats:".len() + 300;
        let response = answer(b"GET /stats HTTP/1.1\r\n\r\n", &"b".repeat(300), fits);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with(&format!("\r\n\r\nStats:{}", "b".repeat(300))));
    }

    #[test]
    fn write_clears_what_the_buffer_held() {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"old response");
        write(Response::Status(NOT_FOUND), &mut out, |_, _| Ok(()));
        assert!(out.starts_with(b"HTTP/1.1 404 "));
    }

    #[test]
    fn bounded_stops_at_capacity() {
        let mut v = vec![];
        v.reserve_exact(4);
        let cap = v.capacity();
        let mut w = Bounded(&mut v);
        assert!(w.write_str(&"x".repeat(cap)).is_ok());
        assert!(w.write_str("y").is_err());
        assert_eq!(v.len(), cap);
    }
}

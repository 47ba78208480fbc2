//! Line editing for the serial shell.
//!
//! Printable ASCII is echoed and collected; backspace and DEL erase one
//! character, Ctrl-U the whole line, Ctrl-C abandons it; CR, LF or CR LF
//! submit. ANSI escape sequences (arrow keys and the like: `ESC [ ... final`
//! or `ESC O x`) are swallowed whole. A line longer than [`MAX_LINE`] is
//! not echoed past the limit and is rejected when submitted.

/// The largest frame a command carries as hex (`tap write IF HEX...`): a
/// whole buffer of the pool (2 KiB; 1514-byte frames and then some).
const MAX_FRAME_HEX: usize = 2 * 2048;

/// Longest accepted line, in bytes: the largest frame in hex, and room for
/// the command and interface name in front of it.
pub const MAX_LINE: usize = MAX_FRAME_HEX + 64;

const CTRL_C: u8 = 0x03;
const BACKSPACE: u8 = 0x08;
const CTRL_U: u8 = 0x15;
const ESC: u8 = 0x1b;
const DEL: u8 = 0x7f;

/// Where an escape sequence stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [` (CSI) or `ESC O` (SS3): until a final byte.
    Sequence,
}

/// What a byte completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing yet.
    Pending,
    /// A line was submitted; read it with [`LineEditor::line`].
    Line,
    /// A line longer than [`MAX_LINE`] was submitted and dropped.
    TooLong,
    /// Ctrl-C: the line was abandoned.
    Cancelled,
}

/// Collects one line from a byte stream, echoing as a terminal expects.
///
/// The buffer is inline ([`MAX_LINE`] bytes), so an editor can live in a
/// `static` or on the stack without an allocator.
pub struct LineEditor {
    buf: [u8; MAX_LINE],
    len: usize,
    overflowed: bool,
    escape: Escape,
    /// The previous byte was CR, so an LF right after it is the same
    /// line end, not an empty line.
    after_cr: bool,
    /// A line was handed out; the next byte starts a new one.
    submitted: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_LINE],
            len: 0,
            overflowed: false,
            escape: Escape::None,
            after_cr: false,
            submitted: false,
        }
    }

    /// The submitted line (valid after [`Input::Line`], until the next
    /// byte is fed). Only printable ASCII is ever stored.
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    fn erase(&mut self, count: usize, echo: &mut dyn FnMut(&[u8])) {
        for _ in 0..count {
            echo(b"\x08 \x08");
        }
        self.len -= count;
    }

    /// Consumes one input byte; `echo` receives the bytes to send back.
    pub fn feed(&mut self, byte: u8, echo: &mut dyn FnMut(&[u8])) -> Input {
        let after_cr = core::mem::take(&mut self.after_cr);
        if core::mem::take(&mut self.submitted) {
            self.len = 0;
        }
        match self.escape {
            Escape::Start => {
                self.escape = if matches!(byte, b'[' | b'O') {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return Input::Pending;
            }
            Escape::Sequence => {
                // Parameter and intermediate bytes are 0x20-0x3f; a byte in
                // 0x40-0x7e ends the sequence. Anything else aborts it.
                if !(0x20..=0x3f).contains(&byte) {
                    self.escape = Escape::None;
                }
                return Input::Pending;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => Input::Pending,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                echo(b"\r\n");
                self.submitted = true;
                if core::mem::take(&mut self.overflowed) {
                    Input::TooLong
                } else {
                    Input::Line
                }
            }
            _ => self.edit(byte, echo),
        }
    }

    /// Everything but line ends.
    fn edit(&mut self, byte: u8, echo: &mut dyn FnMut(&[u8])) -> Input {
        match byte {
            ESC => self.escape = Escape::Start,
            BACKSPACE | DEL if !self.overflowed && self.len > 0 => self.erase(1, echo),
            CTRL_U => {
                self.erase(self.len, echo);
                self.overflowed = false;
            }
            CTRL_C => {
                echo(b"^C\r\n");
                self.len = 0;
                self.overflowed = false;
                return Input::Cancelled;
            }
            0x20..=0x7e if self.len < MAX_LINE => {
                self.buf[self.len] = byte;
                self.len += 1;
                echo(&[byte]);
            }
            0x20..=0x7e => self.overflowed = true,
            _ => {} // other control bytes and non-ASCII: ignored
        }
        Input::Pending
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// An editor and everything it echoed.
    struct Term {
        editor: LineEditor,
        echo: Vec<u8>,
    }

    impl Term {
        fn new() -> Self {
            Term {
                editor: LineEditor::new(),
                echo: Vec::new(),
            }
        }

        /// Feeds `bytes`; returns every non-pending result with the line
        /// submitted at that point (empty unless [`Input::Line`]).
        fn feed(&mut self, bytes: &[u8]) -> Vec<(Input, String)> {
            let mut out = Vec::new();
            for &b in bytes {
                let echo = &mut self.echo;
                let input = self.editor.feed(b, &mut |e| echo.extend_from_slice(e));
                if input != Input::Pending {
                    let line = if input == Input::Line {
                        String::from(self.editor.line())
                    } else {
                        String::new()
                    };
                    out.push((input, line));
                }
            }
            out
        }

        fn echoed(&self) -> &str {
            core::str::from_utf8(&self.echo).unwrap()
        }
    }

    fn line(s: &str) -> (Input, String) {
        (Input::Line, String::from(s))
    }

    #[test]
    fn printable_ascii_is_echoed_and_collected() {
        let mut t = Term::new();
        assert_eq!(t.feed(b"help me"), []);
        assert_eq!(t.echoed(), "help me");
        assert_eq!(t.feed(b"\r"), [line("help me")]);
        assert_eq!(t.echoed(), "help me\r\n");
    }

    #[test]
    fn backspace_and_del_erase_one_character() {
        let mut t = Term::new();
        assert_eq!(t.feed(b"abc\x08d\x7fe\n"), [line("abe")]);
        assert_eq!(t.echoed(), "abc\x08 \x08d\x08 \x08e\r\n");
        // On an empty line they erase nothing and echo nothing.
        let mut t = Term::new();
        assert_eq!(t.feed(b"\x08\x7f\x08x\r"), [line("x")]);
        assert_eq!(t.echoed(), "x\r\n");
    }

    #[test]
    fn ctrl_u_erases_the_whole_line() {
        let mut t = Term::new();
        assert_eq!(t.feed(b"abc\x15xy\r"), [line("xy")]);
        assert_eq!(t.echoed(), "abc\x08 \x08\x08 \x08\x08 \x08xy\r\n");
    }

    #[test]
    fn ctrl_c_abandons_the_line() {
        let mut t = Term::new();
        assert_eq!(t.feed(b"reboot\x03"), [(Input::Cancelled, String::new())]);
        assert_eq!(t.echoed(), "reboot^C\r\n");
        // The next line starts empty.
        assert_eq!(t.feed(b"ok\r"), [line("ok")]);
    }

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        let mut t = Term::new();
        assert_eq!(
            t.feed(b"a\rb\nc\r\nd\r\n"),
            [line("a"), line("b"), line("c"), line("d")]
        );
        assert_eq!(t.echoed(), "a\r\nb\r\nc\r\nd\r\n");
    }

    #[test]
    fn empty_lines_are_submitted_empty() {
        // CR LF is one line end; LF LF, CR CR and LF CR are two.
        assert_eq!(Term::new().feed(b"\r\n"), [line("")]);
        assert_eq!(Term::new().feed(b"\n\n"), [line(""), line("")]);
        assert_eq!(Term::new().feed(b"\r\r"), [line(""), line("")]);
        assert_eq!(Term::new().feed(b"\n\r"), [line(""), line("")]);
        // An LF long after a CR is a line end of its own.
        let mut t = Term::new();
        assert_eq!(t.feed(b"a\r"), [line("a")]);
        assert_eq!(t.feed(b"b\n"), [line("b")]);
    }

    #[test]
    fn the_line_stays_readable_until_the_next_byte() {
        let mut t = Term::new();
        t.feed(b"first\r");
        assert_eq!(t.editor.line(), "first");
        t.feed(b"s");
        assert_eq!(t.editor.line(), "s");
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let mut t = Term::new();
        // Arrow keys (CSI and SS3), a CSI with parameters, Home/End.
        assert_eq!(
            t.feed(b"a\x1b[Ab\x1bOBc\x1b[1;5Cd\x1b[3~e\x1b[H\r"),
            [line("abcde")]
        );
        assert_eq!(t.echoed(), "abcde\r\n");
    }

    #[test]
    fn escape_followed_by_another_byte_swallows_just_that_byte() {
        let mut t = Term::new();
        // ESC x (Alt-x): both dropped; the next byte is ordinary again.
        assert_eq!(t.feed(b"a\x1bxb\r"), [line("ab")]);
        // A control byte inside a sequence aborts it and is itself dropped.
        assert_eq!(t.feed(b"a\x1b[1\x01b\r"), [line("ab")]);
        // A line end right after ESC is swallowed too.
        assert_eq!(t.feed(b"c\x1b\rd\r"), [line("cd")]);
    }

    #[test]
    fn other_control_and_non_ascii_bytes_are_ignored() {
        let mut t = Term::new();
        assert_eq!(t.feed(b"a\x00\x01\x07\tb\xc3\xa9c\xff\r"), [line("abc")]);
        assert_eq!(t.echoed(), "abc\r\n");
    }

    #[test]
    fn a_line_of_3100_characters_is_accepted() {
        let mut t = Term::new();
        let long = "x".repeat(3100);
        assert_eq!(t.feed(long.as_bytes()), []);
        assert_eq!(t.feed(b"\r"), [line(&long)]);
        assert_eq!(t.echoed().len(), 3100 + 2);
    }

    #[test]
    fn a_line_of_exactly_max_line_is_accepted() {
        let mut t = Term::new();
        let full = "f".repeat(MAX_LINE);
        assert_eq!(t.feed(full.as_bytes()), []);
        assert_eq!(t.feed(b"\n"), [line(&full)]);
    }

    #[test]
    fn a_line_over_max_line_is_rejected_and_echo_stops_at_the_limit() {
        let mut t = Term::new();
        let over = "y".repeat(MAX_LINE + 10);
        assert_eq!(t.feed(over.as_bytes()), []);
        assert_eq!(t.echo.len(), MAX_LINE);
        // Backspace does not edit a line that already overflowed.
        t.feed(b"\x7f\x7f");
        assert_eq!(t.echo.len(), MAX_LINE);
        assert_eq!(t.feed(b"\r"), [(Input::TooLong, String::new())]);
        // The editor recovers: the next line is fine.
        assert_eq!(t.feed(b"ok\r"), [line("ok")]);
    }

    #[test]
    fn ctrl_u_and_ctrl_c_clear_an_overflow() {
        let mut t = Term::new();
        t.feed("z".repeat(MAX_LINE + 1).as_bytes());
        assert_eq!(t.feed(b"\x15ok\r"), [line("ok")]);
        t.feed("z".repeat(MAX_LINE + 1).as_bytes());
        assert_eq!(t.feed(b"\x03"), [(Input::Cancelled, String::new())]);
        assert_eq!(t.feed(b"ok\r"), [line("ok")]);
    }

    #[test]
    fn max_line_holds_a_whole_2k_buffer_in_hex_with_a_command() {
        assert!(MAX_LINE >= "tap write tap0 ".len() + 2 * 2048);
    }
}

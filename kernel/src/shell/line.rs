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

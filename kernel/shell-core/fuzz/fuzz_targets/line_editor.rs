//! The serial shell's line editor and the script parser under any byte
//! stream: control bytes, escape sequences (whole, cut short, nested),
//! binary, lines past `MAX_LINE`. Every byte goes through
//! `LineEditor::feed`; every submitted line through `script::commands`; the
//! whole input, as a ramdisk, through `script::from_ramdisk` and
//! `script::commands`.
//!
//! Checked, besides "no panic":
//! - a submitted line is printable ASCII and at most `MAX_LINE` bytes;
//! - what the echo draws on a terminal is what is submitted: the echo is
//!   replayed on a model screen (printable bytes write at the cursor, BS
//!   moves it back, CR LF ends the row) and at every line end the row left
//!   of the cursor equals the submitted line (`TooLong`: `MAX_LINE`
//!   characters on screen, the rest never echoed), and right of it only
//!   blanks; the cursor never backs into the prompt;
//! - the echo holds only printable ASCII, BS, CR and LF, and is bounded:
//!   at most 4 bytes per input byte overall;
//! - the editor always recovers: after anything, `^C ^C o k CR` submits
//!   exactly `ok`;
//! - a command from `script::commands` is non-empty, trimmed, holds no
//!   `;`, `#` or line end, and the commands appear in the text in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shell_core::line::{Input, LineEditor, MAX_LINE};
use shell_core::script;

/// A terminal: one row of cells and a cursor.
#[derive(Default)]
struct Screen {
    row: Vec<u8>,
    cursor: usize,
    /// The row (left of the cursor) as it stood at the last CR.
    ended: Option<Vec<u8>>,
    pending_cr: bool,
}

impl Screen {
    fn draw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.pending_cr {
                assert_eq!(b, b'\n', "CR not followed by LF in the echo");
                self.pending_cr = false;
                continue;
            }
            match b {
                0x20..=0x7e => {
                    if self.cursor == self.row.len() {
                        self.row.push(b);
                    } else {
                        self.row[self.cursor] = b;
                    }
                    self.cursor += 1;
                }
                0x08 => {
                    assert!(self.cursor > 0, "backspace past the start of the line");
                    self.cursor -= 1;
                }
                b'\r' => {
                    assert!(
                        self.row[self.cursor..].iter().all(|&c| c == b' '),
                        "characters left right of the cursor at the line end"
                    );
                    self.ended = Some(self.row[..self.cursor].to_vec());
                    self.row.clear();
                    self.cursor = 0;
                    self.pending_cr = true;
                }
                _ => panic!("echo byte {b:#04x}"),
            }
        }
    }
}

fn check_commands(text: &str) {
    let mut at = 0;
    for command in script::commands(text) {
        assert!(!command.is_empty());
        assert_eq!(command, command.trim());
        assert!(!command.contains([';', '#', '\n']), "{command:?}");
        // In order, each after the previous one.
        let found = text[at..].find(command).expect("a command not in the text");
        at += found + command.len();
    }
}

/// Feeds `bytes`; returns every result but `Pending`, with its line.
fn feed_all(
    ed: &mut LineEditor,
    screen: &mut Screen,
    echoed: &mut usize,
    bytes: &[u8],
) -> Vec<(Input, String)> {
    let mut out = Vec::new();
    let mut echo = Vec::with_capacity(64);
    for &b in bytes {
        echo.clear();
        let input = ed.feed(b, &mut |e| echo.extend_from_slice(e));
        *echoed += echo.len();
        screen.draw(&echo);
        match input {
            Input::Pending => assert!(screen.ended.is_none(), "a line end echoed while pending"),
            Input::Line => {
                let line = ed.line();
                assert!(line.len() <= MAX_LINE);
                assert!(line.bytes().all(|c| (0x20..=0x7e).contains(&c)), "{line:?}");
                let shown = screen.ended.take().expect("a line submitted without CR LF");
                assert_eq!(
                    shown,
                    line.as_bytes(),
                    "submitted line differs from the screen"
                );
                check_commands(line);
                out.push((Input::Line, line.to_string()));
            }
            Input::TooLong => {
                let shown = screen.ended.take().expect("no CR LF for a long line");
                assert_eq!(shown.len(), MAX_LINE, "echo of an overlong line");
                out.push((Input::TooLong, String::new()));
            }
            Input::Cancelled => {
                let shown = screen.ended.take().expect("no CR LF after ^C");
                assert!(shown.ends_with(b"^C"));
                out.push((Input::Cancelled, String::new()));
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut ed = LineEditor::new();
    let mut screen = Screen::default();
    let mut echoed = 0;
    feed_all(&mut ed, &mut screen, &mut echoed, data);
    assert!(
        echoed <= 4 * data.len(),
        "echo {echoed} for {} bytes",
        data.len()
    );

    // Whatever state it is left in (mid escape sequence, overflowed,
    // after CR), two ^C and a line bring it back.
    let out = feed_all(&mut ed, &mut screen, &mut echoed, b"\x03\x03ok\r");
    assert_eq!(out.last(), Some(&(Input::Line, String::from("ok"))));

    // The same bytes as a startup script.
    if let Ok(text) = script::from_ramdisk(data) {
        assert!(!text.ends_with('\0'));
        check_commands(text);
    }
});

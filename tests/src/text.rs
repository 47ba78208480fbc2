//! Serial bytes -> plain text.
//!
//! Firmware (SeaBIOS, OVMF) and the bootloader paint the console with ANSI
//! escape sequences; tests match on the words, so the decoder drops every
//! escape sequence. Bytes arrive in arbitrary chunks, so both UTF-8
//! sequences and escape sequences may be split across reads: the decoder
//! keeps the unfinished part until the next chunk.

/// Where the escape-sequence parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// Plain text.
    None,
    /// Just saw ESC.
    Start,
    /// Inside `ESC [ ...` (CSI), until a final byte 0x40..=0x7e.
    Csi,
    /// Inside `ESC ] ...` (OSC) or another string sequence, until BEL or ST.
    Str,
    /// Saw ESC inside a string sequence (maybe the start of ST, `ESC \`).
    StrEsc,
    /// After `ESC (`, `ESC )`, ... (charset selection): one more byte.
    OneMore,
}

/// Streaming UTF-8 decoder and ANSI escape stripper.
#[derive(Debug)]
pub struct SerialDecoder {
    pending: Vec<u8>,
    escape: Escape,
}

impl Default for SerialDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialDecoder {
    pub fn new() -> Self {
        Self {
            pending: Vec::new(),
            escape: Escape::None,
        }
    }

    /// Decode one chunk; returns the text it completes.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).expect("valid prefix"));
                    match e.error_len() {
                        // Invalid bytes: show them as U+FFFD and go on.
                        Some(n) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        // A sequence cut by the chunk boundary: wait for more.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        self.strip(&text)
    }

    fn strip(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            self.escape = match (self.escape, c) {
                (Escape::None, '\x1b') => Escape::Start,
                (Escape::None, c) => {
                    out.push(c);
                    Escape::None
                }
                (Escape::Start, '[') => Escape::Csi,
                (Escape::Start, ']' | 'P' | 'X' | '^' | '_') => Escape::Str,
                (Escape::Start, '(' | ')' | '*' | '+' | '#' | '%') => Escape::OneMore,
                // Any other byte ends a two-byte sequence (ESC c, ESC 7, ...).
                (Escape::Start, _) => Escape::None,
                (Escape::Csi, '\x40'..='\x7e') => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
                (Escape::Str, '\x07') => Escape::None,
                (Escape::Str, '\x1b') => Escape::StrEsc,
                (Escape::Str, _) => Escape::Str,
                (Escape::StrEsc, '\\') => Escape::None,
                (Escape::StrEsc, _) => Escape::Str,
                (Escape::OneMore, _) => Escape::None,
            };
        }
        out
    }
}

/// Strip escape sequences from a complete string.
pub fn strip_ansi(s: &str) -> String {
    SerialDecoder::new().push(s.as_bytes())
}

/// Split serial text into lines: `\n` ends a line, a trailing `\r` is
/// dropped (the kernel ends lines with `\r\n`).
pub fn lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// The last `n` lines of `text`, for error messages.
pub fn tail(text: &str, n: usize) -> String {
    let all = lines(text);
    let start = all.len().saturating_sub(n);
    all[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_osc_and_short_escapes() {
        assert_eq!(strip_ansi("\x1b[2J\x1b[1;1Hhello\x1b[0m"), "hello");
        assert_eq!(strip_ansi("a\x1b]0;title\x07b"), "ab");
        assert_eq!(strip_ansi("a\x1b]0;title\x1b\\b"), "ab");
        assert_eq!(strip_ansi("a\x1bcb\x1b(Bc"), "abc");
        assert_eq!(strip_ansi("plain\r\n"), "plain\r\n");
    }

    #[test]
    fn escapes_and_utf8_split_across_chunks() {
        let mut d = SerialDecoder::new();
        let mut out = String::new();
        let input = "x\x1b[31;1mred\x1b[0m é€ end".as_bytes();
        for b in input {
            out.push_str(&d.push(std::slice::from_ref(b)));
        }
        assert_eq!(out, "xred é€ end");
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        assert_eq!(SerialDecoder::new().push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn lines_drop_cr_and_final_empty_line() {
        assert_eq!(lines("a\r\nb\r\n"), ["a", "b"]);
        assert_eq!(lines("a\r\nnm> "), ["a", "nm> "]);
        assert_eq!(lines(""), Vec::<String>::new());
        assert_eq!(tail("1\n2\n3\n", 2), "2\n3");
    }
}

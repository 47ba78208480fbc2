//! The startup script: shell commands in the ramdisk.
//!
//! bootloader 0.11 passes no kernel command line, so boot-time
//! configuration travels as a ramdisk of UTF-8 text: commands separated by
//! newlines or `;`, `#` starting a comment that runs to the end of the line,
//! blank commands ignored.

use core::str::Utf8Error;

/// The script's commands, in order, trimmed.
pub fn commands(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split_once('#').map_or(line, |(code, _comment)| code))
        .flat_map(|line| line.split(';'))
        .map(str::trim)
        .filter(|command| !command.is_empty())
}

/// The script text of a ramdisk (trailing NUL padding dropped), or why it
/// is not text.
pub fn from_ramdisk(ramdisk: &[u8]) -> Result<&str, Utf8Error> {
    core::str::from_utf8(ramdisk).map(|text| text.trim_end_matches('\0'))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    fn all(text: &str) -> Vec<&str> {
        commands(text).collect()
    }

    #[test]
    fn one_command_per_line() {
        assert_eq!(all("version\nuptime\n"), ["version", "uptime"]);
        assert_eq!(all("version\r\nuptime"), ["version", "uptime"]);
    }

    #[test]
    fn semicolons_separate_commands_on_a_line() {
        assert_eq!(all("a 1; b 2;c\nd"), ["a 1", "b 2", "c", "d"]);
    }

    #[test]
    fn comments_run_to_the_end_of_the_line() {
        assert_eq!(
            all("# a comment\nversion # trailing; not run\nuptime"),
            ["version", "uptime"]
        );
        // A `;` inside a comment does not start a command; one before it does.
        assert_eq!(all("a; b # c; d\ne"), ["a", "b", "e"]);
        assert_eq!(all("#only a comment"), Vec::<&str>::new());
    }

    #[test]
    fn blank_commands_and_lines_are_ignored() {
        assert_eq!(all(""), Vec::<&str>::new());
        assert_eq!(all("\n\n  \n;;; ;\n"), Vec::<&str>::new());
        assert_eq!(all("\na\n\n;b;\n"), ["a", "b"]);
    }

    #[test]
    fn whitespace_around_commands_is_trimmed_inside_kept() {
        assert_eq!(
            all("  \tvale-ctl -n  x \t; log  info  "),
            ["vale-ctl -n  x", "log  info"]
        );
    }

    #[test]
    fn ramdisk_text_drops_nul_padding_and_rejects_non_utf8() {
        assert_eq!(from_ramdisk(b"version\n\0\0\0"), Ok("version\n"));
        assert_eq!(from_ramdisk(b""), Ok(""));
        assert!(from_ramdisk(b"ver\xffsion").is_err());
    }
}

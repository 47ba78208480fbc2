//! The startup script: shell commands in the ramdisk.
//!
//! bootloader 0.11 passes no kernel command line, so boot-time
//! configuration travels as a ramdisk of UTF-8 text: commands separated by
//! newlines or `;`, `#` starting a comment that runs to the end of the line,
//! blank commands ignored.

/// The script's commands, in order, trimmed.
pub fn commands(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split_once('#').map_or(line, |(code, _comment)| code))
        .flat_map(|line| line.split(';'))
        .map(str::trim)
        .filter(|command| !command.is_empty())
}

/// The script text of a ramdisk (trailing NUL padding dropped).
pub fn from_ramdisk(ramdisk: &[u8]) -> Option<&str> {
    match core::str::from_utf8(ramdisk) {
        Ok(text) => Some(text.trim_end_matches('\0')),
        Err(error) => {
            log::error!("startup script is not UTF-8 ({error}); not running it");
            None
        }
    }
}

//! The startup script: shell commands in the ramdisk (parsed by
//! [`shell_core::script`]).

pub use shell_core::script::commands;

/// The script text of a ramdisk (trailing NUL padding dropped).
pub fn from_ramdisk(ramdisk: &[u8]) -> Option<&str> {
    match shell_core::script::from_ramdisk(ramdisk) {
        Ok(text) => Some(text),
        Err(error) => {
            log::error!("startup script is not UTF-8 ({error}); not running it");
            None
        }
    }
}

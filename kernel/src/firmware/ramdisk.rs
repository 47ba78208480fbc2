//! The ramdisk the bootloader loaded (it holds the startup script).

use bootloader_api::BootInfo;

/// The ramdisk's bytes, if there is one.
pub fn get(boot_info: &BootInfo) -> Option<&'static [u8]> {
    let address = boot_info.ramdisk_addr.into_option()?;
    let len = usize::try_from(boot_info.ramdisk_len).ok()?;
    if len == 0 {
        return None;
    }
    // SAFETY: the bootloader mapped the ramdisk at this virtual address,
    // `len` bytes long, and the memory map marks its frames as used, so
    // nothing else writes them for the kernel's lifetime.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, len) })
}

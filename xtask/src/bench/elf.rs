//! Just enough ELF64 to say how big the kernel is once loaded.

use std::path::Path;

/// Sizes of a kernel ELF: the file (with debug info), and what the
/// bootloader actually loads (the PT_LOAD segments' memory sizes).
#[derive(Debug, Clone, Copy)]
pub struct ElfSize {
    pub file: u64,
    pub loaded: u64,
}

const PT_LOAD: u32 = 1;

pub fn size(path: &Path) -> Result<ElfSize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = || format!("{} is not a little-endian ELF64 file", path.display());
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let phoff = u64_at(0x20) as usize;
    let phentsize = usize::from(u16_at(0x36));
    let phnum = usize::from(u16_at(0x38));
    if phentsize < 56 || phoff + phentsize * phnum > bytes.len() {
        return Err(bad());
    }
    let loaded = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&ph| u32_at(ph) == PT_LOAD)
        .map(|ph| u64_at(ph + 0x28)) // p_memsz
        .sum();
    Ok(ElfSize {
        file: bytes.len() as u64,
        loaded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_running_binary() {
        // xtask itself is an ELF64 with loadable segments.
        let me = std::env::current_exe().unwrap();
        let s = size(&me).unwrap();
        assert!(s.loaded > 0 && s.file > 0);
    }

    #[test]
    fn refuses_non_elf() {
        let p = std::env::temp_dir().join(format!("xtask-not-elf-{}", std::process::id()));
        std::fs::write(&p, b"hello").unwrap();
        assert!(size(&p).is_err());
        std::fs::remove_file(p).unwrap();
    }
}

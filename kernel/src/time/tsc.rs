//! Where the TSC frequency comes from.

use super::pit;
use crate::arch::cpu;
use core::fmt;

/// How the TSC frequency was obtained.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// CPUID leaf 0x15: crystal clock times the TSC/crystal ratio.
    CpuidCrystal,
    /// CPUID leaf 0x16: processor base frequency.
    CpuidBase,
    /// Measured against PIT channel 2.
    Pit,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Source::CpuidCrystal => "CPUID 0x15",
            Source::CpuidBase => "CPUID 0x16",
            Source::Pit => "PIT calibration",
        })
    }
}

/// TSC frequency from CPUID leaf 0x15 (TSC/crystal ratio and crystal
/// frequency), if the CPU reports both.
fn from_leaf_0x15() -> Option<u64> {
    if cpu::max_leaf() < 0x15 {
        return None;
    }
    let leaf = cpu::cpuid(0x15, 0);
    let (denominator, numerator, crystal_hz) = (leaf.eax, leaf.ebx, leaf.ecx);
    if denominator == 0 || numerator == 0 || crystal_hz == 0 {
        return None;
    }
    Some(u64::from(crystal_hz) * u64::from(numerator) / u64::from(denominator))
}

/// Processor base frequency from CPUID leaf 0x16. On CPUs with an invariant
/// TSC that also report no crystal in leaf 0x15, the TSC runs at this rate.
fn from_leaf_0x16() -> Option<u64> {
    if cpu::max_leaf() < 0x16 {
        return None;
    }
    let base_mhz = cpu::cpuid(0x16, 0).eax & 0xffff;
    (base_mhz != 0).then(|| u64::from(base_mhz) * 1_000_000)
}

/// The TSC frequency in Hz and where it came from.
pub fn frequency() -> (u64, Source) {
    if let Some(hz) = from_leaf_0x15() {
        (hz, Source::CpuidCrystal)
    } else if let Some(hz) = from_leaf_0x16() {
        (hz, Source::CpuidBase)
    } else {
        (pit::measure_tsc_hz(), Source::Pit)
    }
}

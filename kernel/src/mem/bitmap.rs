//! A bitmap of page-sized units (set = in use) with first-fit search for
//! aligned runs. Used for all physical frames and for the DMA zone.

/// One bit per unit over caller-provided storage.
pub struct Bitmap<'a> {
    words: &'a mut [u64],
    units: usize,
    free: usize,
}

impl<'a> Bitmap<'a> {
    /// Words of storage needed for `units` bits.
    pub const fn words_for(units: usize) -> usize {
        units.div_ceil(64)
    }

    /// A bitmap over `units` units, all marked in use.
    pub fn new_all_used(words: &'a mut [u64], units: usize) -> Self {
        assert!(words.len() >= Self::words_for(units), "bitmap storage too small");
        words.fill(u64::MAX);
        Self { words, units, free: 0 }
    }

    /// Number of units tracked.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Number of free units.
    pub fn free(&self) -> usize {
        self.free
    }

    /// Whether `unit` is in use.
    pub fn is_used(&self, unit: usize) -> bool {
        self.words[unit / 64] & (1 << (unit % 64)) != 0
    }

    fn set(&mut self, unit: usize, used: bool) {
        if self.is_used(unit) == used {
            return;
        }
        let bit = 1 << (unit % 64);
        if used {
            self.words[unit / 64] |= bit;
            self.free -= 1;
        } else {
            self.words[unit / 64] &= !bit;
            self.free += 1;
        }
    }

    /// Marks `[start, start + count)` used (clamped to the bitmap).
    pub fn mark_used(&mut self, start: usize, count: usize) {
        for unit in start..(start.saturating_add(count)).min(self.units) {
            self.set(unit, true);
        }
    }

    /// Marks `[start, start + count)` free (clamped to the bitmap).
    pub fn mark_free(&mut self, start: usize, count: usize) {
        for unit in start..(start.saturating_add(count)).min(self.units) {
            self.set(unit, false);
        }
    }

    /// Finds, marks used and returns the first run of `count` free units
    /// starting at a multiple of `align` (a power of two).
    pub fn alloc(&mut self, count: usize, align: usize) -> Option<usize> {
        debug_assert!(align.is_power_of_two());
        if count == 0 || count > self.free {
            return None;
        }
        let mut start = 0;
        while start + count <= self.units {
            // Skip whole words that are completely used.
            if start % 64 == 0 && self.words[start / 64] == u64::MAX {
                start = (start + 64).next_multiple_of(align);
                continue;
            }
            match (start..start + count).rev().find(|&unit| self.is_used(unit)) {
                None => {
                    self.mark_used(start, count);
                    return Some(start);
                }
                // Restart past the used unit, at the next aligned position.
                Some(used) => start = (used + 1).next_multiple_of(align),
            }
        }
        None
    }
}

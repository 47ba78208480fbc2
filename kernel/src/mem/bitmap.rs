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
        assert!(
            words.len() >= Self::words_for(units),
            "bitmap storage too small"
        );
        words.fill(u64::MAX);
        Self {
            words,
            units,
            free: 0,
        }
    }

    /// Number of units tracked.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Number of free units.
    pub fn free(&self) -> usize {
        self.free
    }

    /// Sets `[start, start + count)` (clamped to the bitmap) to `used`,
    /// a word at a time, keeping the free count exact.
    fn set_range(&mut self, start: usize, count: usize, used: bool) {
        let end = start.saturating_add(count).min(self.units);
        let mut unit = start;
        while unit < end {
            let bit = unit % 64;
            let span = (64 - bit).min(end - unit);
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1u64 << span) - 1) << bit
            };
            let word = &mut self.words[unit / 64];
            let changing = (if used { !*word } else { *word } & mask).count_ones() as usize;
            if used {
                *word |= mask;
                self.free -= changing;
            } else {
                *word &= !mask;
                self.free += changing;
            }
            unit += span;
        }
    }

    /// Marks `[start, start + count)` used (clamped to the bitmap).
    pub fn mark_used(&mut self, start: usize, count: usize) {
        self.set_range(start, count, true);
    }

    /// Marks `[start, start + count)` free (clamped to the bitmap).
    pub fn mark_free(&mut self, start: usize, count: usize) {
        self.set_range(start, count, false);
    }

    /// The highest used unit in `[start, end)`, scanning a word at a time.
    fn last_used(&self, start: usize, end: usize) -> Option<usize> {
        let mut unit_end = end;
        while unit_end > start {
            let word_start = (unit_end - 1) / 64 * 64;
            let low = start.max(word_start) - word_start;
            let high = unit_end - word_start; // 1..=64
            let mask = (u64::MAX >> (64 - high)) & (u64::MAX << low);
            let hits = self.words[word_start / 64] & mask;
            if hits != 0 {
                return Some(word_start + 63 - hits.leading_zeros() as usize);
            }
            unit_end = word_start.max(start);
        }
        None
    }

    /// Finds, marks used and returns the first run of `count` free units
    /// starting at a multiple of `align` (a power of two).
    pub fn alloc(&mut self, count: usize, align: usize) -> Option<usize> {
        debug_assert!(align.is_power_of_two());
        if count == 0 || count > self.free {
            return None;
        }
        let mut start: usize = 0;
        while start.checked_add(count)? <= self.units {
            match self.last_used(start, start + count) {
                None => {
                    self.mark_used(start, count);
                    return Some(start);
                }
                // No run can contain that unit: restart past it, aligned.
                Some(used) => start = (used + 1).next_multiple_of(align),
            }
        }
        None
    }
}

//! Bringing a device back after a reset: a failed re-initialisation is
//! retried, from the kernel's loop (never blocking), with exponential
//! backoff: [`FIRST_RETRY_MS`] after the first failure, doubling up to
//! [`MAX_RETRY_MS`].

use core::fmt;

/// Delay before the first retry.
pub const FIRST_RETRY_MS: u64 = 10;
/// Longest delay between retries.
pub const MAX_RETRY_MS: u64 = 1000;

/// The delay after the `failures`-th failure in a row (`failures >= 1`).
pub fn retry_delay_ms(failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(16);
    (FIRST_RETRY_MS << shift).min(MAX_RETRY_MS)
}

/// Failed re-initialisations in a row, and when to try again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    failures: u32,
    next_try_ms: u64,
}

/// What `ifconfig` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryState {
    /// Working (or a reset is due at the next pass).
    Ok,
    /// The last `failures` re-initialisations failed; the next is in
    /// `next_try_in_ms` (0: at the next pass).
    Failed {
        /// Failed attempts in a row.
        failures: u32,
        /// Until the next attempt.
        next_try_in_ms: u64,
    },
}

impl Recovery {
    /// No failure yet.
    pub const fn new() -> Self {
        Self {
            failures: 0,
            next_try_ms: 0,
        }
    }

    /// Whether a reset may be tried at `now_ms` (always, unless the last
    /// attempt failed and its backoff has not run out).
    pub fn due(&self, now_ms: u64) -> bool {
        self.failures == 0 || now_ms >= self.next_try_ms
    }

    /// The attempt at `now_ms` failed: back off. Returns the delay.
    pub fn failed(&mut self, now_ms: u64) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let d = retry_delay_ms(self.failures);
        self.next_try_ms = now_ms.saturating_add(d);
        d
    }

    /// The attempt succeeded: back to the start.
    pub fn succeeded(&mut self) {
        *self = Self::new();
    }

    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Where recovery stands at `now_ms`.
    pub fn state(&self, now_ms: u64) -> RecoveryState {
        if self.failures == 0 {
            RecoveryState::Ok
        } else {
            RecoveryState::Failed {
                failures: self.failures,
                next_try_in_ms: self.next_try_ms.saturating_sub(now_ms),
            }
        }
    }
}

impl fmt::Display for RecoveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryState::Ok => f.write_str("ok"),
            RecoveryState::Failed {
                failures,
                next_try_in_ms,
            } => write!(
                f,
                "reset failed {failures} times, next try in {next_try_in_ms} ms"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_10_ms_up_to_1_s() {
        let d: alloc::vec::Vec<u64> = (1..=10).map(retry_delay_ms).collect();
        assert_eq!(d, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(retry_delay_ms(u32::MAX), MAX_RETRY_MS);
    }

    #[test]
    fn a_failure_waits_its_backoff_and_a_success_starts_over() {
        let mut r = Recovery::new();
        assert!(r.due(0));
        assert_eq!(r.state(0), RecoveryState::Ok);
        assert_eq!(r.failed(100), 10);
        assert!(!r.due(109));
        assert!(r.due(110));
        assert_eq!(
            r.state(104),
            RecoveryState::Failed {
                failures: 1,
                next_try_in_ms: 6
            }
        );
        assert_eq!(r.failed(110), 20);
        assert!(!r.due(129) && r.due(130));
        assert_eq!(
            alloc::format!("{}", r.state(125)),
            "reset failed 2 times, next try in 5 ms"
        );
        r.succeeded();
        assert_eq!(r.state(0), RecoveryState::Ok);
        assert_eq!(alloc::format!("{}", r.state(0)), "ok");
        assert_eq!(r.failed(1000), 10, "the backoff starts over");
    }
}

//! Deadlines for the HTTP server's connections, and which one makes room
//! when every socket is taken.
//!
//! The server has a fixed table of sockets (no allocation per client), so
//! a client that connects and says nothing would hold a socket for as long
//! as it liked, and a handful of them would lock every new client out: a
//! SYN that finds no listening socket is answered with a reset. Two rules
//! keep the table turning over:
//!
//! - every connection has a deadline: a request head must arrive within
//!   [`REQUEST_TIMEOUT_MS`] of the connection (answered 408, then
//!   closed), and the whole exchange must be over within
//!   [`LIFETIME_MS`] (a client that never reads its answer is reset);
//! - when no socket is listening, the connection that has waited longest
//!   for its request, if it has waited at least [`EVICT_AFTER_MS`], is
//!   reset to make room: the newest client is served, the slowest idle
//!   one pays (as servers under a connection flood do).
//!
//! Times are milliseconds on the caller's clock.

/// How long a client may take to send its whole request head.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How long a connection may live, answer included.
pub const LIFETIME_MS: u64 = 30_000;
/// How long a connection must have waited for its request before it may
/// be evicted to make room for a new client.
pub const EVICT_AFTER_MS: u64 = 250;

/// What a connection's clock says should happen to it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within its deadlines.
    Keep,
    /// The request did not arrive in time: answer 408 and close.
    RequestTimeout,
    /// Past its lifetime (its answer is not being read): reset it.
    Abort,
}

/// A connection of age `age_ms` that has (`answering`) or has not yet
/// received its whole request.
pub fn verdict(age_ms: u64, answering: bool) -> Verdict {
    if age_ms >= LIFETIME_MS {
        Verdict::Abort
    } else if !answering && age_ms >= REQUEST_TIMEOUT_MS {
        Verdict::RequestTimeout
    } else {
        Verdict::Keep
    }
}

/// With every socket taken: which of the connections still waiting for
/// their request (`(index, age_ms)`) to reset so that a listener is free
/// for the next client. The oldest, once it has waited
/// [`EVICT_AFTER_MS`]; `None` if none has.
pub fn evict(waiting: impl IntoIterator<Item = (usize, u64)>) -> Option<usize> {
    waiting
        .into_iter()
        .filter(|&(_, age)| age >= EVICT_AFTER_MS)
        .max_by_key(|&(i, age)| (age, core::cmp::Reverse(i)))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_client_is_answered_408_at_the_request_deadline() {
        assert_eq!(verdict(0, false), Verdict::Keep);
        assert_eq!(verdict(REQUEST_TIMEOUT_MS - 1, false), Verdict::Keep);
        assert_eq!(verdict(REQUEST_TIMEOUT_MS, false), Verdict::RequestTimeout);
    }

    #[test]
    fn an_answer_may_take_longer_than_a_request_but_not_forever() {
        assert_eq!(verdict(REQUEST_TIMEOUT_MS, true), Verdict::Keep);
        assert_eq!(verdict(LIFETIME_MS - 1, true), Verdict::Keep);
        assert_eq!(verdict(LIFETIME_MS, true), Verdict::Abort);
        assert_eq!(verdict(LIFETIME_MS, false), Verdict::Abort);
    }

    #[test]
    fn the_oldest_waiting_connection_makes_room() {
        assert_eq!(evict([(0, 300), (1, 900), (2, 400)]), Some(1));
        // Ties go to the lower index, so the choice is deterministic.
        assert_eq!(evict([(3, 900), (1, 900)]), Some(1));
    }

    #[test]
    fn nobody_is_evicted_before_they_had_a_chance_to_speak() {
        assert_eq!(evict([(0, EVICT_AFTER_MS - 1), (1, 0)]), None);
        assert_eq!(evict([]), None);
    }
}

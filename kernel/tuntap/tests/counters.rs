//! Issue 12 #6: each send error is counted as its own cause, and the
//! counters a port prints are the ones that can move on it.

mod common;

use common::*;
use tuntap::{Counters, Error, TapPort, TAP_COUNTERS, TUN_COUNTERS};

#[test]
fn send_errors_are_counted_by_cause() {
    let mut c = Counters::default();
    c.record_send_error(Error::NetDown);
    c.record_send_error(Error::TooBig);
    c.record_send_error(Error::HostDown);
    c.record_send_error(Error::NoBufs);
    assert_eq!(
        (
            c.drop_no_link,
            c.drop_oversize,
            c.drop_down,
            c.drop_hold_full
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(c.drops(), 4);
}

#[test]
fn a_tap_prints_only_counters_that_move() {
    assert_eq!(
        TAP_COUNTERS,
        ["down", "oversize", "short", "no-link", "queue-full"]
    );
    assert!(!TUN_COUNTERS.contains(&"short"), "the switch drops runts");
    for n in TAP_COUNTERS.iter().chain(TUN_COUNTERS) {
        assert!(Counters::default().drop_named(n).is_some(), "{n}");
    }
    // A tap that lost its switch counts no-link (and nothing else).
    let reg = registry();
    let tap = TapPort::new(reg.pool(), "tap0", [2, 0x54, 0, 0, 0, 1]).unwrap();
    let (sw, a) = attach(&reg, tap.clone());
    tap.link(sw, a);
    tap.open().unwrap();
    tap.set_up(true);
    reg.detach("vale0", "tap0").unwrap();
    let f = eth(BCAST, [2, 0x54, 0, 0, 0, 1], 0x88b5, &[0; 50]);
    assert_eq!(tap.write(&f), Err(Error::NetDown));
    tap.unlink();
    assert_eq!(tap.write(&f), Err(Error::NetDown));
    let c = tap.counters();
    assert_eq!((c.drop_no_link, c.drops()), (2, 2));
}

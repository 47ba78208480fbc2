//! Issue 11, defect 6: a tap or tun is a switch port whose frames move by
//! `read`/`write` on its device side; its netmap syncs do nothing, so a
//! native netmap open (`Registry::open("tap0")`) would accept frames and
//! never move them. Refused; attaching to a switch still works.

mod common;

use netmap::OpenError;
use tuntap::{TapPort, TunPort};

#[test]
fn tap_and_tun_refuse_native_netmap_opens() {
    let reg = common::registry();
    let tap = TapPort::new(reg.pool(), "tap0", [0x02, 0x54, 0, 0, 0, 0]).unwrap();
    let tun = TunPort::new(reg.pool(), "tun0", [0x02, 0x54, 0, 1, 0, 0]).unwrap();
    reg.register(tap).unwrap();
    reg.register(tun).unwrap();
    for name in ["tap0", "tun0"] {
        assert_eq!(
            reg.open(name).unwrap_err(),
            OpenError::Unsupported,
            "{name}"
        );
        reg.attach("vale0", name).unwrap();
    }
    reg.audit(&[]).unwrap();
}

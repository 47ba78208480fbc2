//! The reflector through a pipe: what one end sends comes back to it,
//! byte for byte, by buffer swap, and every buffer is accounted for.

mod common;

use common::{audit, frame, mac, recv, registry, send};
use netmap_apps::{App, AppError, APPS};

fn start(args: &[&str], reg: &netmap::Registry) -> Result<Box<dyn App>, AppError> {
    let info = APPS.iter().find(|a| a.name == "reflect").unwrap();
    (info.start)(args, reg, 0)
}

#[test]
fn frames_come_back_unchanged_and_no_buffer_is_lost() {
    let reg = registry();
    let mut app = start(&["x{1"], &reg).unwrap();
    let mut peer = reg.open("x}1").unwrap();
    let frames: Vec<Vec<u8>> = (0..100)
        .map(|i| frame(mac(1), mac(2), i, 60 + i as usize))
        .collect();
    let mut back = Vec::new();
    let mut sent = 0;
    while back.len() < frames.len() {
        sent += send(&mut peer, &frames[sent..]);
        app.poll(0).unwrap();
        back.extend(recv(&mut peer));
        audit(&reg, &[&peer], &[&*app]);
    }
    assert_eq!(back, frames);
    let mut s = String::new();
    app.status(&mut s).unwrap();
    assert!(s.starts_with("x{1: 100 frames"), "{s}");
    drop(app);
    drop(peer);
    assert_eq!(reg.pool().free_count(), common::NBUFS as usize - 2);
}

#[test]
fn bad_arguments_and_ports_are_errors() {
    let reg = registry();
    assert!(matches!(start(&[], &reg), Err(AppError::Usage(_))));
    assert!(matches!(start(&["a", "b"], &reg), Err(AppError::Usage(_))));
    let e = start(&["nosuch"], &reg).unwrap_err();
    assert!(matches!(e, AppError::Open { .. }), "{e:?}");
    // One opener per pipe end.
    let _held = reg.open("x{2").unwrap();
    assert!(matches!(start(&["x{2"], &reg), Err(AppError::Open { .. })));
}

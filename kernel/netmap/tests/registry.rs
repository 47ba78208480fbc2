//! Port names and the registry's control plane.

mod common;

use common::{frame, mac, pool, recv, send, SinkPort, BCAST};
use netmap::monitor::MonitorMode;
use netmap::name::{parse, PortName};
use netmap::pipe::PipeSide;
use netmap::vale::{Batch, ForwardScratch};
use netmap::{Dir, Kring, NameError, OpenError, Port, PortConfig, PortKind, Registry};

fn registry() -> Registry {
    Registry::with_defaults(
        pool(8192),
        PortConfig {
            num_slots: 64,
            ..PortConfig::default()
        },
    )
}

#[test]
fn names_parse() {
    assert_eq!(
        parse("vale0:a"),
        Ok(PortName::Vale {
            switch: "vale0",
            port: "a"
        })
    );
    assert_eq!(
        parse("valeX:long-name_1.2"),
        Ok(PortName::Vale {
            switch: "valeX",
            port: "long-name_1.2"
        })
    );
    assert_eq!(
        parse("x{1"),
        Ok(PortName::Pipe {
            base: "x",
            id: 1,
            side: PipeSide::Master
        })
    );
    assert_eq!(
        parse("vale0:a}42"),
        Ok(PortName::Pipe {
            base: "vale0:a",
            id: 42,
            side: PipeSide::Slave
        })
    );
    assert_eq!(parse("vtnet0"), Ok(PortName::Plain("vtnet0")));
    let t = MonitorMode {
        tx: true,
        ..Default::default()
    };
    let r = MonitorMode {
        rx: true,
        ..Default::default()
    };
    let rt = MonitorMode {
        tx: true,
        rx: true,
        zcopy: false,
    };
    let z = MonitorMode {
        tx: true,
        rx: true,
        zcopy: true,
    };
    assert_eq!(
        parse("vale0:a/t"),
        Ok(PortName::Monitor {
            parent: "vale0:a",
            mode: t
        })
    );
    assert_eq!(
        parse("em0/r"),
        Ok(PortName::Monitor {
            parent: "em0",
            mode: r
        })
    );
    assert_eq!(
        parse("x{3/rt"),
        Ok(PortName::Monitor {
            parent: "x{3",
            mode: rt
        })
    );
    assert_eq!(
        parse("x/tr"),
        Ok(PortName::Monitor {
            parent: "x",
            mode: rt
        })
    );
    assert_eq!(
        parse("x/z"),
        Ok(PortName::Monitor {
            parent: "x",
            mode: z
        })
    );
}

#[test]
fn bad_names_say_why() {
    let long = "a".repeat(65);
    for (name, err) in [
        ("", NameError::Empty),
        (long.as_str(), NameError::TooLong),
        ("vale0", NameError::MissingPort),
        ("vale0:", NameError::MissingPort),
        ("vale0:a b", NameError::BadChar(' ')),
        ("e m0", NameError::BadChar(' ')),
        ("x{", NameError::BadPipeId),
        ("x}1a", NameError::BadPipeId),
        ("x{99999999999", NameError::BadPipeId),
        ("{1", NameError::Empty),
        ("x{1{2", NameError::BadPipeId),
        ("x/q", NameError::BadMonitorMode),
        ("x/", NameError::BadMonitorMode),
        ("x/t/t", NameError::BadMonitorMode),
        ("/t", NameError::Empty),
        ("é", NameError::BadChar('é')),
    ] {
        assert_eq!(parse(name), Err(err), "{name:?}");
    }
    let reg = registry();
    assert_eq!(
        reg.open("vale0").unwrap_err(),
        OpenError::Name(NameError::MissingPort)
    );
}

#[test]
fn ephemeral_vale_ports_live_while_open() {
    let reg = registry();
    let a = reg.open("vale0:a").unwrap();
    assert_eq!(a.port().kind(), PortKind::Vale);
    assert_eq!(reg.switches(), vec!["vale0".to_string()]);
    assert_eq!(reg.open("vale0:a").unwrap_err(), OpenError::Busy);
    let b = reg.open("vale0:b").unwrap();
    assert_eq!(reg.switch("vale0").unwrap().num_ports(), 2);
    reg.audit(&[&a, &b]).unwrap();
    drop(a);
    assert_eq!(reg.switch("vale0").unwrap().num_ports(), 1);
    assert!(!reg.ports().contains(&"vale0:a".to_string()));
    drop(b);
    assert!(
        reg.switches().is_empty(),
        "the switch goes with its last port"
    );
    reg.audit(&[]).unwrap();
    assert_eq!(reg.pool().free_count(), 8192 - 2, "every buffer is back");
}

#[test]
fn persistent_ports() {
    let reg = registry();
    let cfg = PortConfig {
        num_slots: 32,
        ..PortConfig::default()
    };
    reg.create_persistent("vale1:p", cfg).unwrap();
    assert_eq!(
        reg.create_persistent("vale1:p", cfg).unwrap_err(),
        OpenError::Exists
    );
    assert_eq!(
        reg.create_persistent("x{1", cfg).unwrap_err(),
        OpenError::Unsupported
    );
    let mut p = reg.open("vale1:p").unwrap();
    assert_eq!(p.tx_ring(0).unwrap().num_slots(), 32);
    assert_eq!(
        reg.delete_persistent("vale1:p").unwrap_err(),
        OpenError::Busy
    );
    let mut q = reg.open("vale1:q").unwrap();
    send(&mut q, 0, &[frame(BCAST, mac(1), 60, 0)]);
    drop(p);
    // Still attached while closed: traffic queues in its ring.
    send(&mut q, 0, &[frame(BCAST, mac(1), 60, 1)]);
    p = reg.open("vale1:p").unwrap();
    assert_eq!(recv(&mut p, 0).len(), 2);
    assert_eq!(
        reg.delete_persistent("vale1:q").unwrap_err(),
        OpenError::NotFound,
        "ephemeral"
    );
    drop(p);
    reg.delete_persistent("vale1:p").unwrap();
    assert_eq!(
        reg.delete_persistent("vale1:p").unwrap_err(),
        OpenError::NotFound
    );
    reg.audit(&[&q]).unwrap();
    drop(q);
    assert!(reg.switches().is_empty());
}

#[test]
fn pipes_by_name() {
    let reg = registry();
    let mut m = reg.open("x{7").unwrap();
    assert_eq!(reg.open("x{7").unwrap_err(), OpenError::Busy);
    let mut s = reg.open("x}7").unwrap();
    assert_eq!(s.port().name(), "x}7");
    let f = frame(mac(2), mac(1), 60, 5);
    send(&mut m, 0, std::slice::from_ref(&f));
    assert_eq!(recv(&mut s, 0), vec![f]);
    let other = reg.open("x{8").unwrap();
    reg.audit(&[&m, &s, &other]).unwrap();
    drop(m);
    assert!(
        reg.ports().contains(&"x{7".to_string()),
        "alive while one end is open"
    );
    drop(s);
    assert!(!reg
        .ports()
        .iter()
        .any(|p| p.starts_with("x") && p.ends_with('7')));
    drop(other);
    reg.audit(&[]).unwrap();
}

#[test]
fn kernel_ports_register_open_and_join_switches() {
    let reg = registry();
    let nic = SinkPort::new(reg.pool(), 1, 64);
    reg.register(nic.clone()).unwrap();
    assert_eq!(reg.register(nic.clone()).unwrap_err(), OpenError::Exists);
    // Native mode: the application drives the NIC's rings.
    let mut h = reg.open("sink").unwrap();
    assert_eq!(reg.open("sink").unwrap_err(), OpenError::Busy);
    assert_eq!(reg.unregister("sink").unwrap_err(), OpenError::Busy);
    send(&mut h, 0, &[frame(BCAST, mac(1), 60, 0)]);
    assert_eq!(nic.sent.lock().unwrap().len(), 1);
    drop(h);
    // Switch mode: the switch delivers into the NIC's rx krings and
    // notifies it; the NIC's receive path forwards into the switch.
    let (sw, att) = reg.attach("vale0", "sink").unwrap();
    assert_eq!(reg.attach("vale0", "sink").unwrap_err(), OpenError::Busy);
    assert_eq!(
        reg.attach("vale0", "nope").unwrap_err(),
        OpenError::NotFound
    );
    let mut v = reg.open("vale0:v").unwrap();
    send(&mut v, 0, &[frame(BCAST, mac(1), 60, 0)]);
    let rx = &nic.krings(Dir::Rx)[0];
    assert_eq!(rx.notifications(), 1, "notified once for the batch");
    assert_eq!(rx.lock().hwtail(), 1, "frame delivered into the NIC's ring");
    // Ingress: a device ring with received frames, forwarded by the driver.
    let dev = Kring::new(reg.pool(), Dir::Rx, 0, 64).unwrap();
    let mut scratch = ForwardScratch::new(reg.pool());
    let fwd = {
        let mut g = dev.lock();
        for i in 0..3 {
            let f = frame(mac(1), mac(9), 100, i);
            g.slots.buf_mut(i as usize).unwrap()[..100].copy_from_slice(&f);
            g.slots.set_len(i as usize, 100).unwrap();
        }
        g.rx_publish_direct(3, 0, 0); // the device received them
        let k = &mut *g;
        let (first, count) = k.arrived();
        assert_eq!((first, count), (0, 3));
        let batch = Batch {
            src: att,
            src_ring: 0,
            slots: &k.slots,
            first,
            count,
            max_frame: 2048,
        };
        let f = sw.forward(batch, &mut k.stats, &mut scratch).unwrap();
        assert_eq!(k.release(f.consumed), 3);
        f
    };
    assert_eq!(fwd.consumed, 3);
    sw.wake(&fwd.wakeups); // after the device ring's lock is released
    assert_eq!(recv(&mut v, 0).len(), 3, "learned: unicast to v");
    assert_eq!(dev.lock().stats.packets, 3);
    // The standalone device ring is not the registry's: audit by hand.
    reg.audit(&[&v]).unwrap_err();
    let mut owned: Vec<u32> = dev.owned_bufs();
    owned.extend(v.held_bufs());
    for name in reg.ports() {
        owned.extend(netmap::port::kring_bufs(&*reg.port(&name).unwrap()));
    }
    reg.pool().audit(owned).unwrap();
    reg.detach("vale0", "sink").unwrap();
    assert_eq!(
        reg.detach("vale0", "sink").unwrap_err(),
        OpenError::NotFound
    );
    assert_eq!(sw.num_ports(), 1);
    drop(v);
    assert!(reg.switches().is_empty());
    let port = reg.unregister("sink").unwrap();
    assert_eq!(port.name(), "sink");
    assert_eq!(reg.open("sink").unwrap_err(), OpenError::NotFound);
}

#[test]
fn unregister_detaches() {
    let reg = registry();
    let nic = SinkPort::new(reg.pool(), 1, 8);
    reg.register(nic).unwrap();
    reg.attach("vale3", "sink").unwrap();
    assert_eq!(reg.switch("vale3").unwrap().num_ports(), 1);
    reg.unregister("sink").unwrap();
    assert!(reg.switch("vale3").is_none());
    reg.audit(&[]).unwrap();
}

#[test]
fn monitors_need_a_parent_of_the_right_kind() {
    let reg = registry();
    assert_eq!(reg.open("vale0:a/t").unwrap_err(), OpenError::NotFound);
    let _a = reg.open("vale0:a").unwrap();
    let _p = reg.open("x{1").unwrap();
    assert_eq!(reg.open("x{1/z").unwrap_err(), OpenError::Unsupported);
    let z = reg.open("vale0:a/z").unwrap();
    assert_eq!(z.port().kind(), PortKind::Monitor);
    assert_eq!(
        reg.open("vale0:a/z").unwrap_err(),
        OpenError::Busy,
        "one zero-copy monitor"
    );
    let copies: Vec<_> = (0..8).map(|_| reg.open("vale0:a/rt").unwrap()).collect();
    assert_eq!(
        reg.open("vale0:a/t").unwrap_err(),
        OpenError::Busy,
        "at most 8 copy monitors"
    );
    drop(copies);
    let t = reg.open("vale0:a/t").unwrap();
    drop(t);
    drop(z);
    reg.open("vale0:a/z").unwrap();
}

#[test]
fn geometry_and_exhaustion_are_refused_cleanly() {
    let reg = Registry::new(pool(64));
    let bad = PortConfig {
        tx_rings: 0,
        ..PortConfig::default()
    };
    assert_eq!(
        reg.open_with("vale0:a", bad).unwrap_err(),
        OpenError::BadConfig
    );
    assert_eq!(
        reg.open_with(
            "x{1",
            PortConfig {
                num_slots: 1,
                ..PortConfig::default()
            }
        )
        .unwrap_err(),
        OpenError::BadConfig
    );
    // 1024-slot rings do not fit in 62 buffers.
    assert_eq!(
        reg.open("vale0:a").unwrap_err(),
        OpenError::Pool(netmap::PoolError::Exhausted)
    );
    assert!(reg.switches().is_empty(), "no switch left behind");
    assert_eq!(
        reg.create_persistent("vale0:p", PortConfig::default())
            .unwrap_err(),
        OpenError::Pool(netmap::PoolError::Exhausted)
    );
    assert_eq!(
        reg.open("big{1").unwrap_err(),
        OpenError::Pool(netmap::PoolError::Exhausted)
    );
    reg.audit(&[]).unwrap();
    assert_eq!(reg.pool().free_count(), 62);
    assert!(reg.ports().is_empty());
}

#[test]
fn errors_read_well() {
    assert_eq!(
        OpenError::Name(NameError::MissingPort).to_string(),
        "VALE name without a port (want valeX:port)"
    );
    assert_eq!(
        netmap::SyncError::RingReinit { head: 9, cur: 1 }.to_string(),
        "bad head 9 / cur 1: ring re-initialised"
    );
    assert_eq!(
        netmap::AuditError::Missing { first: 5, count: 2 }.to_string(),
        "2 buffers lost (first: 5)"
    );
    assert_eq!(
        OpenError::Pool(netmap::PoolError::Exhausted).to_string(),
        "no free buffer left"
    );
}

#[test]
fn audit_catches_a_handle_left_out() {
    let reg = registry();
    let a = reg.open("vale0:a").unwrap();
    let b = reg.open("vale0:b").unwrap();
    reg.audit(&[&a, &b]).unwrap();
    // Buffers held by an application ring that the audit was not shown
    // count as lost: the check really looks at every owner.
    match reg.audit(&[&a]) {
        Err(netmap::AuditError::Missing { count, .. }) => {
            assert_eq!(count, 63, "b's tx ring holds 63 buffers")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reg.audit(&[&a, &b, &b]),
        Err(netmap::AuditError::Duplicate(_))
    ));
}

/// Issue 11, defect 3: the registry's one clock drives every switch it
/// made, so a switch of virtual (tap, tun, host) ports ages its MAC table
/// as well as one with a bridged NIC, and a switch made later starts at the
/// current time. Setting it takes no registry lock (an atomic store).
#[test]
fn the_registry_clock_ages_every_switch() {
    let reg = registry();
    let mut a = reg.open("vale1:a").unwrap();
    let mut b = reg.open("vale1:b").unwrap();
    reg.set_clock(1000);
    send(&mut a, 0, &[frame(BCAST, mac(1), 60, 0)]);
    assert_eq!(recv(&mut b, 0).len(), 1);
    let age = |reg: &Registry| {
        let sw = reg.switch("vale1").unwrap();
        sw.mac_table()
            .iter()
            .find(|e| e.mac == mac(1))
            .map(|e| e.age)
    };
    assert_eq!(age(&reg), Some(0));
    reg.set_clock(1000 + 299_999);
    assert_eq!(age(&reg), Some(299_999));
    reg.set_clock(1000 + 300_001);
    assert_eq!(age(&reg), None, "aged out after 300 s");
    let _c = reg.open("vale2:c").unwrap();
    assert_eq!(reg.switch("vale2").unwrap().clock(), 301_001);
    assert_eq!(reg.clock(), 301_001);
    reg.audit(&[&a, &b, &_c]).unwrap();
}

/// Issue 11, defect 4: one name, one port per switch. With `sink`
/// attached to `vale0` (`vale-ctl -a vale0:sink`), a VALE port
/// `vale0:sink` can be neither created (`vale-ctl -n`) nor opened; and a
/// VALE port `vale0:sink` keeps `sink` from attaching to `vale0`.
#[test]
fn one_name_one_port_per_switch() {
    let reg = registry();
    let p = reg.pool().clone();
    reg.register(SinkPort::new(&p, 1, 64)).unwrap();
    reg.attach("vale0", "sink").unwrap();
    assert_eq!(
        reg.create_persistent("vale0:sink", PortConfig::default())
            .unwrap_err(),
        OpenError::Exists
    );
    assert_eq!(reg.open("vale0:sink").unwrap_err(), OpenError::Exists);
    assert_eq!(reg.switch("vale0").unwrap().num_ports(), 1);
    // Another switch is another namespace.
    let other = reg.open("vale1:sink").unwrap();
    reg.detach("vale0", "sink").unwrap();
    assert_eq!(
        reg.attach("vale1", "sink").unwrap_err(),
        OpenError::Exists,
        "vale1:sink is a VALE port"
    );
    drop(other);
    reg.create_persistent("vale0:sink", PortConfig::default())
        .unwrap();
    assert_eq!(reg.attach("vale0", "sink").unwrap_err(), OpenError::Exists);
    reg.delete_persistent("vale0:sink").unwrap();
    reg.attach("vale0", "sink").unwrap();
    reg.audit(&[]).unwrap();
}

/// Issue 11, defect 7: a poller waiting for a port to appear reads
/// `generation` (no lock, no allocation) and retries its open only when it
/// moved; a failed open leaves it alone, every change moves it.
#[test]
fn the_generation_moves_with_every_change_and_only_then() {
    let reg = registry();
    let g = |reg: &Registry| reg.generation();
    let g0 = g(&reg);
    assert_eq!(reg.open("vale0:a/rt").unwrap_err(), OpenError::NotFound);
    assert_eq!(reg.open("nope").unwrap_err(), OpenError::NotFound);
    assert_eq!(g(&reg), g0, "failed opens change nothing");
    let a = reg.open("vale0:a").unwrap();
    let g1 = g(&reg);
    assert_ne!(g1, g0, "a port appeared");
    let m = reg.open("vale0:a/rt").unwrap();
    let g2 = g(&reg);
    assert_ne!(g2, g1);
    drop(m);
    let g3 = g(&reg);
    assert_ne!(g3, g2, "a monitor closed");
    drop(a);
    let g4 = g(&reg);
    assert_ne!(g4, g3, "a port went");
    reg.create_persistent("vale0:p", PortConfig::default())
        .unwrap();
    let g5 = g(&reg);
    assert_ne!(g5, g4);
    let p = reg.pool().clone();
    reg.register(SinkPort::new(&p, 1, 64)).unwrap();
    let g6 = g(&reg);
    assert_ne!(g6, g5);
    reg.attach("vale0", "sink").unwrap();
    let g7 = g(&reg);
    assert_ne!(g7, g6);
    assert_eq!(reg.attach("vale0", "sink").unwrap_err(), OpenError::Busy);
    assert_eq!(g(&reg), g7);
    reg.detach("vale0", "sink").unwrap();
    reg.delete_persistent("vale0:p").unwrap();
    reg.unregister("sink").unwrap();
    assert!(g(&reg) >= g7 + 3);
}

/// Issue 11, defect 5: a registered port attached to a switch is driven
/// by the switch (a NIC by its bridge), never by a handle's syncs, so a
/// zero-copy monitor of it would never receive a frame while holding the
/// one zero-copy place: refused. Copy monitors are fed (by the bridge) and
/// stay allowed; a port with a zero-copy monitor does not attach.
#[test]
fn zero_copy_monitor_of_an_attached_port_is_refused() {
    let reg = registry();
    let p = reg.pool().clone();
    reg.register(SinkPort::new(&p, 1, 64)).unwrap();
    reg.attach("vale0", "sink").unwrap();
    assert_eq!(reg.open("sink/z").unwrap_err(), OpenError::Unsupported);
    drop(reg.open("sink/rt").unwrap());
    reg.detach("vale0", "sink").unwrap();
    let z = reg.open("sink/z").unwrap();
    assert_eq!(reg.attach("vale0", "sink").unwrap_err(), OpenError::Busy);
    drop(z);
    reg.attach("vale0", "sink").unwrap();
    reg.audit(&[]).unwrap();
}

//! The short soak (`cargo xtask soak --short`) through the real image:
//! a minute of load over vhost-user with fault cycles, a MAC flood,
//! malformed frames, isolation probes and hostile clients, and nothing
//! lost, stalled, leaked or crossed. The full run (10 minutes, the
//! issue's minimums) is `cargo xtask soak`; its figures are in
//! BENCHMARKS.md.

use integration::soak::{self, Backend, Config};

#[test]
fn a_short_soak_over_vhost_user_is_clean_and_reaches_its_targets() {
    let cfg = Config::short(Backend::VhostUser);
    let s = soak::run(&cfg, |line| eprintln!("{line}")).unwrap();
    eprint!("{}", s.table());
    let t = cfg.targets;
    assert!(s.fault_cycles >= t.fault_cycles, "{}", s.table());
    for kind in soak::faults::KINDS {
        assert!(s.cycles_of(kind) > 0, "no `{kind}` cycle: {}", s.table());
    }
    assert!(s.device_resets >= s.cycles_of("reset"), "{}", s.table());
    assert!(s.mac_flood_sources >= t.flood_sources, "{}", s.table());
    assert!(s.malformed_frames >= t.malformed_frames, "{}", s.table());
    assert!(s.runts_sent > 0 && s.bad_headers > 0, "{}", s.table());
    assert!(
        s.hostile_requests > 0 && s.isolation_probes > 0,
        "{}",
        s.table()
    );
    assert!(s.frames_forwarded > 0 && s.audits >= 3, "{}", s.table());
    // The table is bounded by its capacity (1024 buckets of 4 ways).
    assert!(s.mac_table_max <= 4096, "{}", s.table());
    assert!(s.clean(), "not clean:\n{}", s.table());
    assert!(s.heap_growth_bytes <= 0, "heap grew: {}", s.table());
    let json = s.to_json();
    for key in [
        "duration_s",
        "frames_forwarded",
        "fault_cycles",
        "malformed_frames",
        "mac_flood_sources",
        "buffers_lost",
        "stalls",
        "heap_growth_bytes",
        "isolation_violations",
        "hostile_requests",
    ] {
        assert!(
            json.contains(&format!("\"{key}\":")),
            "{key} missing: {json}"
        );
    }
}

//! `cargo xtask soak`: boot the image and hold it under load, faults,
//! floods and hostile input for a chosen time (`integration::soak` does
//! the work); a progress line each few seconds, a summary table at the
//! end, `--json FILE` for the figures. Exit status 1 if anything was
//! lost, stalled, leaked or crossed.

use std::time::Duration;

use integration::soak::{self, Backend, Config};

use crate::bench::report;
use crate::cli::{SoakArgs, SoakBackend};
use crate::{build, setup};

pub fn run(args: &SoakArgs) -> Result<i32, String> {
    setup::ensure_qemu(false)?;
    let backend = match args.backend {
        SoakBackend::VhostUser => Backend::VhostUser,
        SoakBackend::Dgram => Backend::Dgram,
    };
    let mut cfg = if args.short {
        Config::short(backend)
    } else {
        Config::full(Duration::from_secs(600), backend)
    };
    if let Some(s) = args.duration {
        if s == 0 {
            return Err("--duration must be positive".into());
        }
        cfg.duration = Duration::from_secs(s);
    }
    cfg.kernel = Some(match &args.kernel {
        Some(elf) => elf.clone(),
        None => build::kernel(true)?,
    });
    let load_before = report::load_average();
    println!(
        "soak: {} s over {}, targets: {} fault cycles, {} flood sources, {} malformed frames, {} hostile rounds",
        cfg.duration.as_secs(),
        backend.name(),
        cfg.targets.fault_cycles,
        cfg.targets.flood_sources,
        cfg.targets.malformed_frames,
        cfg.targets.hostile_rounds
    );
    let summary = soak::run(&cfg, |line| println!("{line}")).map_err(|e| e.to_string())?;
    print!("{}", summary.table());
    if let Some(path) = &args.json {
        let mut v: serde_json::Value =
            serde_json::from_str(&summary.to_json()).map_err(|e| e.to_string())?;
        v["machine"] = report::machine();
        v["load_average"] =
            serde_json::json!({"before": load_before, "after": report::load_average()});
        v["short"] = serde_json::json!(args.short);
        report::write_json(path, &v)?;
    }
    let t = cfg.targets;
    let short_of = [
        (summary.fault_cycles, t.fault_cycles, "fault cycles"),
        (summary.mac_flood_sources, t.flood_sources, "flood sources"),
        (
            summary.malformed_frames,
            t.malformed_frames,
            "malformed frames",
        ),
    ];
    for (got, want, what) in short_of {
        if got < want {
            println!("soak: {what}: {got} of the {want} targeted (the run was too short for them)");
        }
    }
    if summary.clean() {
        println!("soak: clean");
        Ok(0)
    } else {
        println!("soak: NOT clean (see the table)");
        Ok(1)
    }
}

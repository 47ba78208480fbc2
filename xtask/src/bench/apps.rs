//! `cargo xtask bench apps`: the in-kernel applications (netmap-apps) in
//! the image under TCG.
//!
//! - `pktgen-vale-SIZE`, `pktgen-pipe-SIZE`: two pkt-gens in the guest, a
//!   sender and a receiver, through vale0 (`vale0:a` -> `vale0:b`) or a
//!   pipe (`x{1` -> `x}1`): no device, no QEMU backend in the path. The
//!   rate is the receiver's (its first to its last frame); both apps share
//!   the one vCPU, so it is the cost of sending, switching and receiving
//!   a frame.
//! - `bridge-nic-60` and `switch-nic-60`: `bench e2e` over vhost-user,
//!   closed loop (256 frames in flight, lossless), between the two NICs
//!   through the bridge app and through vale0, in the same run.
//!
//! Rows `{name, mpps, frame}` as `bench datapath`'s.

use std::path::PathBuf;
use std::time::Duration;

use integration::lab;
use integration::{Vm, VmOptions};
use serde_json::{json, Value};

use super::{e2e, report};
use crate::cli::{AppsBenchArgs, E2eBackend, E2eBenchArgs};
use crate::{build, setup};

struct Row {
    name: String,
    mpps: f64,
    frame: usize,
    runs: Vec<f64>,
}

/// One pkt-gen pair: the receiver's rate in Mpps.
fn pair(vm: &mut Vm, tx_port: &str, rx_port: &str, size: usize, count: u64) -> Result<f64, String> {
    let start = |vm: &mut Vm, line: &str| {
        lab::start_app(vm, line, Duration::from_secs(10)).map_err(|e| e.to_string())
    };
    let rx = start(vm, &format!("pkt-gen -i {rx_port} -f rx -n {count} -T 0"))?;
    start(
        vm,
        &format!("pkt-gen -i {tx_port} -f tx -n {count} -l {size} -T 0"),
    )?;
    let caps = vm
        .expect_regex(
            &format!(r"app {rx} \(pkt-gen\) done: \S+ rx: (\d+) frames \d+ bytes in [0-9.]+ s, ([0-9.]+) Mpps[^\n]*\n"),
            Duration::from_secs(300),
        )
        .map_err(|e| e.to_string())?;
    if caps[1].parse::<u64>().ok() != Some(count) {
        return Err(format!(
            "pkt-gen rx on {rx_port}: {} of {count} frames",
            caps[1]
        ));
    }
    // Let the sender's own summary come out before the next command.
    std::thread::sleep(Duration::from_millis(200));
    let _ = vm.command("app", Duration::from_secs(10));
    caps[2].parse().map_err(|_| format!("bad rate {}", caps[2]))
}

pub fn run(args: &AppsBenchArgs) -> Result<(), String> {
    setup::ensure_qemu(false)?;
    let elf: PathBuf = match &args.kernel {
        Some(elf) => elf.clone(),
        None => build::kernel(true)?,
    };
    let load_before = report::load_average();
    let mut rows = Vec::new();
    {
        let mut vm = Vm::boot_to_prompt(VmOptions::default().kernel(&elf).name("bench-apps"))
            .map_err(|e| e.to_string())?;
        for (name, tx, rx) in [("vale", "vale0:a", "vale0:b"), ("pipe", "x{1", "x}1")] {
            for &size in &args.sizes {
                let count = if size <= 128 {
                    args.frames
                } else {
                    args.frames / 4
                };
                let mut runs = Vec::new();
                for round in 0..args.runs {
                    let mpps = pair(&mut vm, tx, rx, size, count)?;
                    eprintln!(
                        "bench apps: round {}/{} pktgen-{name}-{size}: {mpps:.3} Mpps",
                        round + 1,
                        args.runs
                    );
                    runs.push(mpps);
                }
                rows.push(Row {
                    name: format!("pktgen-{name}-{size}"),
                    mpps: report::median(&runs),
                    frame: size,
                    runs,
                });
            }
        }
        vm.send_line("shutdown 0").map_err(|e| e.to_string())?;
    }
    // The bridge app against the switch, NIC to NIC over vhost-user.
    let e2e_json = std::env::temp_dir().join(format!("bench-apps-e2e-{}.json", std::process::id()));
    e2e::run(&E2eBenchArgs {
        runs: args.runs,
        duration: args.duration,
        warmup: 0.5,
        sizes: vec![60],
        inflight: 256,
        one_thread: true,
        qlen: None,
        kernel: Some(elf.clone()),
        qemu_args: Vec::new(),
        backend: E2eBackend::VhostUser,
        kvm: false,
        json: Some(e2e_json.clone()),
        paths: vec!["switch".into(), "bridge".into()],
        smp: Vec::new(),
        queues: Vec::new(),
        flows: 1,
    })?;
    let e2e: Value = serde_json::from_str(
        &std::fs::read_to_string(&e2e_json).map_err(|e| format!("{}: {e}", e2e_json.display()))?,
    )
    .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&e2e_json);
    for path in ["bridge", "switch"] {
        let case = e2e["cases"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["path"] == path && c["test"] == "ping-rate" && c["size"] == 60)
            })
            .ok_or_else(|| format!("bench e2e gave no {path} ping-rate 60 B case"))?;
        let runs: Vec<f64> = case["runs"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r["rx_pps"].as_f64())
                    .map(|p| p / 1e6)
                    .collect()
            })
            .unwrap_or_default();
        rows.push(Row {
            name: format!("{path}-nic-60"),
            mpps: case["median"]["rx_pps"].as_f64().unwrap_or(0.0) / 1e6,
            frame: 60,
            runs,
        });
    }
    let load_after = report::load_average();
    let mut table = vec![vec![
        "name".to_string(),
        "Mpps".into(),
        "frame".into(),
        "runs".into(),
    ]];
    for r in &rows {
        table.push(vec![
            r.name.clone(),
            format!("{:.3}", r.mpps),
            r.frame.to_string(),
            r.runs
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    report::table(&table);
    let get = |n: &str| rows.iter().find(|r| r.name == n).map(|r| r.mpps);
    if let (Some(b), Some(s)) = (get("bridge-nic-60"), get("switch-nic-60")) {
        println!(
            "bridge app / switch, NIC to NIC over vhost-user, 60 B: {:.2}",
            b / s
        );
    }
    let show = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.1}"));
    println!(
        "host load average (1 min) {} before, {} after",
        show(load_before),
        show(load_after)
    );
    if let Some(path) = &args.json {
        let value = json!({
            "bench": "apps",
            "machine": report::machine(),
            "config": { "accel": "tcg", "kernel": elf, "rounds": args.runs, "frames": args.frames },
            "rows": rows.iter().map(|r| json!({"name": r.name, "mpps": r.mpps, "frame": r.frame, "runs": r.runs})).collect::<Vec<_>>(),
            "load_average": { "before": load_before, "after": load_after },
        });
        report::write_json(path, &value)?;
    }
    Ok(())
}

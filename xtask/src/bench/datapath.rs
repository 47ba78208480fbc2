//! `cargo xtask bench datapath`: the netmap crate's own benchmark binary
//! (`kernel/netmap/benches/datapath.rs`, written with the datapath), run
//! natively with `cargo bench`.

use std::process::Command;

use crate::build::workspace_root;
use crate::cli::DatapathBenchArgs;

const BENCH_SOURCE: &str = "kernel/netmap/benches/datapath.rs";

pub fn run(args: &DatapathBenchArgs) -> Result<i32, String> {
    let root = workspace_root();
    if !root.join(BENCH_SOURCE).is_file() {
        return Err(format!(
            "the datapath benchmark does not exist yet ({BENCH_SOURCE} is missing); nothing to measure"
        ));
    }
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&root)
        .args(["bench", "--package", "netmap", "--bench", "datapath", "--"]);
    if let Some(json) = &args.json {
        // Relative to where the user typed the command, not the workspace.
        let json = std::path::absolute(json).map_err(|e| format!("bad --json path: {e}"))?;
        let _ = std::fs::remove_file(&json);
        cmd.arg("--json").arg(json);
    }
    cmd.args(&args.args);
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("the datapath benchmark failed (its output is above)".into());
    }
    if let Some(json) = &args.json {
        if !json.is_file() {
            return Err(format!(
                "the datapath benchmark ran but did not write {} (does it accept --json FILE?)",
                json.display()
            ));
        }
    }
    Ok(0)
}

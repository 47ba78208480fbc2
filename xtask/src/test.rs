//! `cargo xtask test`: host unit tests, then the release kernel, then the
//! QEMU integration tests, and one summary line at the end.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::build;
use crate::cli::TestArgs;
use crate::setup;

/// The package with the QEMU harness and the integration tests.
const INTEGRATION: &str = "integration";
/// Not a host crate: built for x86_64-unknown-none, has no tests.
const KERNEL: &str = "kernel";

/// Counts from libtest's `test result:` lines.
#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// `test result: ok. 14 passed; 0 failed; 1 ignored; 0 measured; ...`
fn parse_result_line(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut counts = Counts::default();
    for part in rest.split(['.', ';']) {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => counts.passed = n,
            "failed" => counts.failed = n,
            "ignored" => counts.ignored = n,
            _ => {}
        }
    }
    Some(counts)
}

/// One step's outcome.
struct Step {
    name: &'static str,
    ok: bool,
    counts: Counts,
    secs: f64,
}

/// Run `cargo test ...`, echoing its stdout while counting results.
fn cargo_test(name: &'static str, cmd: &mut Command) -> Result<Step, String> {
    let started = Instant::now();
    eprintln!("xtask: {name}: {cmd:?}");
    cmd.current_dir(build::workspace_root())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut counts = Counts::default();
    let stdout = child.stdout.take().expect("piped");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading cargo test's output: {e}"))?;
        if let Some(c) = parse_result_line(&line) {
            counts.add(c);
        }
        let _ = writeln!(out, "{line}");
    }
    drop(out);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    Ok(Step {
        name,
        ok: status.success(),
        counts,
        secs: started.elapsed().as_secs_f64(),
    })
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Arguments for the test binaries: filter, thread count, pass-through.
fn libtest_args(args: &TestArgs, threads: Option<usize>) -> Vec<String> {
    let mut v = vec!["--".to_string()];
    if let Some(f) = &args.filter {
        v.push(f.clone());
    }
    if let Some(n) = threads {
        v.push(format!("--test-threads={n}"));
    }
    v.extend(args.test_args.iter().cloned());
    v
}

/// Returns the exit status: 0 when every step passed.
pub fn test(args: &TestArgs) -> Result<i32, String> {
    let started = Instant::now();
    let mut steps = Vec::new();
    let keep_going = |steps: &Vec<Step>| !args.fail_fast || steps.iter().all(|s| s.ok);

    if !args.integration_only {
        let mut cmd = cargo();
        cmd.args([
            "test",
            "--workspace",
            "--exclude",
            INTEGRATION,
            "--exclude",
            KERNEL,
        ]);
        if !args.fail_fast {
            cmd.arg("--no-fail-fast");
        }
        cmd.args(libtest_args(args, None));
        steps.push(cargo_test("host unit tests", &mut cmd)?);
    }

    // Tests that find they cannot run (no root, no tool) append a line
    // here (integration::skip) and are counted as skipped, not passed.
    let skips_file = std::env::temp_dir().join(format!("netmap-test-skips-{}", std::process::id()));
    let _ = std::fs::remove_file(&skips_file);
    if !args.unit_only && keep_going(&steps) {
        setup::ensure_qemu(true)?;
        setup::ensure_test_tools();
        let build_started = Instant::now();
        let elf = build::kernel(true)?;
        let xtask = std::env::current_exe().map_err(|e| format!("where is xtask itself? {e}"))?;
        eprintln!(
            "xtask: release kernel {} ({:.0} s)",
            elf.display(),
            build_started.elapsed().as_secs_f64()
        );
        let mut cmd = cargo();
        cmd.args(["test", "--package", INTEGRATION]);
        if !args.fail_fast {
            cmd.arg("--no-fail-fast");
        }
        cmd.args(libtest_args(args, args.test_threads));
        // The harness boots this kernel and runs this xtask instead of
        // calling cargo under the lock this `cargo test` holds.
        cmd.env("KERNEL_ELF", &elf)
            .env("XTASK_BIN", &xtask)
            .env(integration::skip::SKIPS_ENV, &skips_file);
        steps.push(cargo_test("QEMU integration tests", &mut cmd)?);
    }

    let skipped =
        integration::skip::parse(&std::fs::read_to_string(&skips_file).unwrap_or_default());
    let _ = std::fs::remove_file(&skips_file);
    let mut total = Counts::default();
    for step in &steps {
        total.add(step.counts);
        eprintln!(
            "xtask: {:<22} {:<6} {:>4} passed, {:>3} failed  {:>6.1} s",
            step.name,
            if step.ok { "ok" } else { "FAILED" },
            step.counts.passed,
            step.counts.failed,
            step.secs
        );
    }
    let ok = steps.iter().all(|s| s.ok) && !steps.is_empty();
    eprintln!(
        "xtask: test {} in {:.1} s",
        if ok { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    for (test, reason) in &skipped {
        eprintln!("xtask: skipped {test}: {reason}");
    }
    // A skipped test returned early and libtest counted it as passed.
    let passed = total.passed.saturating_sub(skipped.len() as u64);
    let skipped_n = total.ignored + skipped.len() as u64;
    // A failed build has no `test result:` line; still count it.
    let failed = total.failed.max(u64::from(!ok));
    println!("summary: {passed} passed, {failed} failed, {skipped_n} skipped");
    Ok(if ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_result_lines() {
        let c = parse_result_line(
            "test result: ok. 14 passed; 2 failed; 3 ignored; 0 measured; 0 filtered out; finished in 2.92s",
        )
        .unwrap();
        assert_eq!((c.passed, c.failed, c.ignored), (14, 2, 3));
        assert!(parse_result_line("running 14 tests").is_none());
    }
}

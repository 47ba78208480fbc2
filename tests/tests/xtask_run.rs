//! `cargo xtask run --headless --exec ...`, through the real xtask binary
//! (with `--kernel` so it does not run cargo under our cargo's lock).

use std::process::Command;
use std::time::Duration;

use integration::artifacts::{kernel_elf, xtask_bin};
use integration::process::{run_with_timeout, Output};
use integration::{contract, timeouts};
use regex_lite::Regex;

fn xtask_run(exec: &str) -> Output {
    let mut cmd = Command::new(xtask_bin().unwrap());
    cmd.args(["run", "--headless", "--exec", exec, "--kernel"])
        .arg(kernel_elf().unwrap());
    let timeout = timeouts::scaled(timeouts::BOOT + Duration::from_secs(60));
    run_with_timeout(cmd, timeout).unwrap()
}

#[test]
fn headless_exec_shutdown_0_prints_ready_and_exits_0() {
    let out = xtask_run("shutdown 0");
    let serial = integration::text::strip_ansi(&out.stdout);
    assert!(
        Regex::new(contract::READY).unwrap().is_match(&serial),
        "no ready line in:\n{serial}"
    );
    assert!(serial.contains("script> shutdown 0"), "{serial}");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", out.stderr);
}

#[test]
fn headless_exec_panic_exits_101_with_the_location() {
    let out = xtask_run("panic");
    let serial = integration::text::strip_ansi(&out.stdout);
    assert!(
        Regex::new(contract::PANIC).unwrap().is_match(&serial),
        "no panic location in:\n{serial}"
    );
    assert_eq!(
        out.status.code(),
        Some(i32::from(integration::boot_exit::PANIC_CODE))
    );
    assert!(
        out.stderr.contains("kernel panicked"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn vhost_user_nic_without_a_backend_is_one_error_line_not_a_qemu_failure() {
    let sock = std::env::temp_dir().join(format!(
        "xtask-run-no-vhost-backend-{}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&sock);
    let mut cmd = Command::new(xtask_bin().unwrap());
    cmd.args(["run", "--headless", "--exec", "shutdown 0", "--nic"])
        .arg(format!("vhost-user:{}", sock.display()))
        .arg("--kernel")
        .arg(kernel_elf().unwrap());
    let start = std::time::Instant::now();
    let out = run_with_timeout(cmd, Duration::from_secs(30)).unwrap();
    let took = start.elapsed();
    assert_ne!(out.status.code(), Some(0), "stderr: {}", out.stderr);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "stderr: {}", out.stderr);
    assert!(
        errors[0].contains(&sock.display().to_string()) && errors[0].contains("vhost-user NIC 0"),
        "{}",
        errors[0]
    );
    // xtask stopped before QEMU: no serial output.
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

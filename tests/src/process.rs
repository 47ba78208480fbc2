//! Child processes that cannot outlive their test.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Ask the kernel to SIGKILL the child when the thread that spawned it
/// dies: a test process killed from outside (a CI timeout, Ctrl-C) then
/// takes its QEMUs with it. Drop handles every orderly exit.
///
/// Linux ties this to the spawning *thread*, so spawn from the thread that
/// owns the child (the test's own thread does).
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours;
    // it is the only call made between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` (stdin closed) to completion or until `timeout`; on timeout
/// kill its whole process group (it may have started QEMU) and fail.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::new(format!("cannot start {shown}: {e}")))?;
    let pgid = child.id() as libc::pid_t;
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    // Whatever happened, nothing of the group survives this function.
    // SAFETY: kill(2) on a process group we created; no memory involved.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.wait();
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            return Err(Error::with_tail(
                format!("{shown} did not finish within {timeout:?}; killed it"),
                format!("{stdout}{stderr}"),
            ));
        }
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run_with_timeout(cmd, Duration::from_secs(10)).unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
    }

    #[test]
    fn kills_the_whole_group_on_timeout() {
        let marker =
            std::env::temp_dir().join(format!("harness-grandchild-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let mut cmd = Command::new("sh");
        // A grandchild that would create the marker after 2 s if it survived.
        cmd.args([
            "-c",
            &format!("(sleep 2; touch {}) & sleep 30", marker.display()),
        ]);
        let started = Instant::now();
        let e = run_with_timeout(cmd, Duration::from_millis(300)).unwrap_err();
        assert!(e.message.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }
}

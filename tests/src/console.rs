//! A child process seen as a serial console: its stdout is the guest's
//! serial output, its stdin the guest's serial input.
//!
//! This is the QEMU-independent half of [`crate::Vm`] (so the harness can
//! be tested against a fake kernel, a shell script). A reader thread
//! decodes stdout into a shared buffer and appends it to a log file;
//! `expect` waits on a condition variable for a pattern after a cursor.
//! The child is killed and reaped in `Drop`, also when the test panics;
//! the log file is kept only when something failed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use boot::KernelExit;
use regex_lite::Regex;

use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::process::die_with_parent;
use crate::text::{self, SerialDecoder};

/// The shell prompt (no newline after it).
pub const PROMPT: &str = "nm> ";
/// What the Enter key sends on a serial terminal in raw mode.
pub const ENTER: &str = "\r";
/// How many serial lines an error message shows.
const TAIL_LINES: usize = 25;

/// Output shared between the reader threads and the console.
#[derive(Default)]
struct State {
    /// Everything the guest printed, escape sequences removed.
    text: String,
    /// QEMU's own stderr (bad arguments, missing files).
    stderr: String,
    /// stdout reached end of file: the child is gone or going.
    eof: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    log: Mutex<Option<File>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader thread that panicked leaves the text intact: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self, s: &str) {
        if let Some(f) = self.log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = f.write_all(s.as_bytes());
        }
    }
}

/// A running child process driven over its stdin/stdout.
pub struct Console {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    /// Byte offset in the text up to which `expect` has consumed.
    cursor: usize,
    log_path: PathBuf,
    /// Set by any failed wait: the log is kept even if the test goes on.
    failed: bool,
    exit: Option<KernelExit>,
    started: Instant,
    /// Files deleted with the console unless something failed.
    scratch: Vec<PathBuf>,
}

impl Console {
    /// Start `cmd` with piped stdio; the log goes to `log_path`.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Self> {
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut log = File::create(log_path)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", log_path.display())))?;
        let _ = writeln!(log, "# {name}\n# {cmd:?}\n");

        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {:?}: {e}", cmd.get_program())))?;

        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            log: Mutex::new(Some(log)),
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // Detached: they end at EOF, which `Drop` waits for (bounded).
        spawn_reader(&shared, stdout, Stream::Serial);
        spawn_reader(&shared, stderr, Stream::Stderr);
        Ok(Self {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            shared,
            cursor: 0,
            log_path: log_path.to_path_buf(),
            failed: false,
            exit: None,
            started,
            scratch: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id (for `/proc/<pid>/stat`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When the child was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Where the serial log is written (kept only on failure).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Delete `path` with the console, unless something failed.
    pub fn add_scratch(&mut self, path: PathBuf) {
        self.scratch.push(path);
    }

    /// Keep the log even if the test passes.
    pub fn mark_failed(&mut self) {
        self.failed = true;
    }

    /// Everything the guest printed so far (escape sequences removed).
    pub fn output(&self) -> String {
        self.shared.lock().text.clone()
    }

    /// What QEMU itself wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.shared.lock().stderr.clone()
    }

    /// The output not yet consumed by `expect`.
    pub fn pending(&self) -> String {
        self.shared.lock().text[self.cursor..].to_string()
    }

    /// Wait until `pattern` appears after the cursor; return the text from
    /// the cursor up to and including the match, and move the cursor past it.
    pub fn expect(&mut self, pattern: impl Into<Pattern>, timeout: Duration) -> Result<String> {
        let pattern = pattern.into();
        self.wait_for(&pattern, timeout).map(|(text, _)| text)
    }

    /// Like `expect` with a regex; returns the capture groups (group 0 is
    /// the whole match; an unmatched optional group is ""). The regex only
    /// sees complete lines, so `$` means the end of a whole line.
    pub fn expect_regex(&mut self, re: &str, timeout: Duration) -> Result<Vec<String>> {
        let pattern = Pattern::regex(re);
        let (_, matched) = self.wait_for(&pattern, timeout)?;
        let Pattern::Regex(regex) = &pattern else {
            unreachable!()
        };
        let caps = regex
            .captures(&matched)
            .expect("the regex matched this text");
        Ok(caps
            .iter()
            .map(|c| c.map_or(String::new(), |m| m.as_str().to_string()))
            .collect())
    }

    /// Returns (text up to and incl. the match, the match itself).
    fn wait_for(&mut self, pattern: &Pattern, timeout: Duration) -> Result<(String, String)> {
        let deadline = Instant::now() + timeout;
        let shared = Arc::clone(&self.shared);
        let mut state = shared.lock();
        loop {
            // A regex sees complete lines only (up to the last newline) while
            // output can still come: `$` or a greedy `\d+` must not match a
            // line half received. Text without a newline (the prompt) is
            // matched with a substring pattern.
            let available = &state.text[self.cursor..];
            let haystack = match pattern {
                Pattern::Regex(_) if !state.eof => {
                    available.rfind('\n').map_or("", |i| &available[..=i])
                }
                _ => available,
            };
            if let Some((start, end)) = pattern.find(haystack) {
                let text = state.text[self.cursor..self.cursor + end].to_string();
                let matched = text[start..].to_string();
                self.cursor += end;
                return Ok((text, matched));
            }
            if state.eof {
                let pending = state.text[self.cursor..].to_string();
                let qemu_err = state.stderr.trim().to_string();
                drop(state);
                let how = self
                    .try_exit()
                    .map_or("is exiting".to_string(), |e| e.describe());
                let mut msg = format!("{}: {pattern} never appeared; the guest {how}", self.name);
                if !qemu_err.is_empty() {
                    msg.push_str(&format!(" (stderr: {})", qemu_err.replace('\n', " | ")));
                }
                return Err(self.fail(msg, &pending));
            }
            let now = Instant::now();
            if now >= deadline {
                let pending = state.text[self.cursor..].to_string();
                drop(state);
                let msg = format!(
                    "{}: timed out after {timeout:?} waiting for {pattern}",
                    self.name
                );
                return Err(self.fail(msg, &pending));
            }
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Record a failure and build its error (with the unconsumed output,
    /// or the end of all output if nothing is pending).
    fn fail(&mut self, message: String, pending: &str) -> Error {
        self.failed = true;
        let context = if pending.trim().is_empty() {
            self.output()
        } else {
            pending.to_string()
        };
        let message = format!("{message} [log: {}]", self.log_path.display());
        Error::with_tail(message, text::tail(&context, TAIL_LINES))
    }

    /// Write raw bytes to the guest's serial input.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let name = self.name.clone();
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        self.shared
            .log(&format!("\n[sent {:?}]\n", String::from_utf8_lossy(bytes)));
        result.map_err(|e| self.fail(format!("{name}: cannot write to the serial line: {e}"), ""))
    }

    /// Type `line` and press Enter.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}{ENTER}").as_bytes())
    }

    /// Run a shell command at the prompt: send it, wait for the next
    /// prompt, return the lines in between without the echo of the command
    /// and without kernel log records (those stay in `output()`).
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> Result<Vec<String>> {
        self.send_line(cmd)?;
        let text = self.expect(PROMPT, timeout)?;
        let body = strip_log_records(&text[..text.len() - PROMPT.len()]);
        let mut lines = text::lines(&body);
        lines.retain(|l| !is_log_record(l));
        match lines.first() {
            Some(echo) if echo == cmd => {
                lines.remove(0);
                Ok(lines)
            }
            _ => {
                let msg = format!("{}: expected the echo {cmd:?} before the output", self.name);
                Err(self.fail(msg, &text))
            }
        }
    }

    /// `command`, and fail if it printed an `error: ` line.
    pub fn command_ok(&mut self, cmd: &str, timeout: Duration) -> Result<Vec<String>> {
        let lines = self.command(cmd, timeout)?;
        if let Some(err) = lines.iter().find(|l| l.starts_with("error: ")) {
            let msg = format!("{}: `{cmd}` failed: {err}", self.name);
            return Err(self.fail(msg, &lines.join("\n")));
        }
        Ok(lines)
    }

    /// `command`, expecting exactly one `error: ` line; returns it.
    pub fn command_err(&mut self, cmd: &str, timeout: Duration) -> Result<String> {
        let lines = self.command(cmd, timeout)?;
        match lines.as_slice() {
            [only] if only.starts_with("error: ") => Ok(only.clone()),
            _ => {
                let msg = format!(
                    "{}: `{cmd}` should print exactly one `error: ` line, printed {} lines",
                    self.name,
                    lines.len()
                );
                Err(self.fail(msg, &lines.join("\n")))
            }
        }
    }

    /// The exit status if the child has exited (reaps it).
    fn try_exit(&mut self) -> Option<KernelExit> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(KernelExit::from_status(status));
            }
        }
        self.exit
    }

    /// Wait for the child to exit by itself; then wait (briefly) for the
    /// reader to drain its last output.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<KernelExit> {
        let deadline = Instant::now() + timeout;
        let exit = loop {
            if let Some(exit) = self.try_exit() {
                break exit;
            }
            if Instant::now() >= deadline {
                let pending = self.pending();
                self.kill();
                let msg = format!("{}: still running after {timeout:?}; killed it", self.name);
                return Err(self.fail(msg, &pending));
            }
            thread::sleep(Duration::from_millis(10));
        };
        self.drain(Duration::from_secs(5));
        Ok(exit)
    }

    /// Wait up to `limit` for the end of the child's output. stdout closes
    /// when the process is gone; a grandchild holding it open must not hang
    /// us, hence the bound.
    fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        while !state.eof && Instant::now() < deadline {
            state = self
                .shared
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Kill the child now (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(KernelExit::from_status(status));
            }
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stdin.take();
        self.kill();
        // Readers still blocked after this (a grandchild holds the pipe)
        // are left to finish on their own; the log is closed below.
        self.drain(Duration::from_secs(2));
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if self.failed || thread::panicking() {
            eprintln!(
                "{}: serial log kept at {}",
                self.name,
                self.log_path.display()
            );
        } else {
            let _ = std::fs::remove_file(&self.log_path);
            for path in &self.scratch {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// `text` without the kernel log records in it, each with its line end,
/// also those that began in the middle of a line: another CPU, or the
/// datapath between two typed bytes, may log while the shell echoes a
/// command (`if[ 0.19] WARN ...\nconfig virtio1`), and what is left of
/// the interrupted line joins up again.
fn strip_log_records(text: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let record = crate::contract::LOG_RECORD.trim_start_matches('^');
        Regex::new(&format!(r"{record}[^\r\n]*\r?\n")).expect("valid regex")
    })
    .replace_all(text, "")
    .into_owned()
}

/// Whether `line` is a kernel log record rather than command output.
fn is_log_record(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(crate::contract::LOG_RECORD).expect("valid regex"))
        .is_match(line)
}

#[derive(Clone, Copy)]
enum Stream {
    Serial,
    Stderr,
}

fn spawn_reader(shared: &Arc<Shared>, mut src: impl Read + Send + 'static, which: Stream) {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        let mut decoder = SerialDecoder::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            let chunk = if n == 0 {
                String::new()
            } else {
                decoder.push(&buf[..n])
            };
            match which {
                Stream::Serial => shared.log(&chunk),
                Stream::Stderr if !chunk.is_empty() => shared.log(&format!("[stderr] {chunk}")),
                Stream::Stderr => {}
            }
            let mut state = shared.lock();
            match which {
                Stream::Serial => {
                    state.text.push_str(&chunk);
                    state.eof |= n == 0;
                }
                Stream::Stderr => state.stderr.push_str(&chunk),
            }
            drop(state);
            shared.changed.notify_all();
            if n == 0 {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bash script (Enter is `\r`, as on a raw serial line) that speaks the kernel's serial contract: ready line,
    /// prompt, echo, `error: ` lines, exit codes encoded like QEMU's exit
    /// device (`2 * code + 3`).
    const FAKE_KERNEL: &str = r#"
printf '\033[2J\033[1;1HBdsDxe: loading\r\n'
printf 'kernel ready in 12 ms\r\n'
printf 'nm> '
while IFS= read -r -d $'\r' line; do
  printf '%s\r\n' "$line"
  case "$line" in
    version) printf 'kernel 0.1.0 (release)\r\n' ;;
    two) printf 'one\r\n[    1.000000] INFO  net: link up\r\ntwo\r\n' ;;
    bad) printf 'error: bad command\r\n' ;;
    silent) ;;
    hang) sleep 30 ;;
    slow) printf 'error: '; sleep 0.3; printf 'slow part\r\n' ;;
    shutdown*) code=${line#shutdown }; exit $((2 * code + 3)) ;;
    *) printf 'error: unknown command: %s\r\n' "$line" ;;
  esac
  printf 'nm> '
done
"#;

    fn fake(name: &str) -> Console {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", FAKE_KERNEL]);
        let log = std::env::temp_dir().join(format!("harness-{}-{name}.log", std::process::id()));
        Console::spawn(name, cmd, &log).unwrap()
    }

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn a_log_record_inside_an_echo_is_taken_out_and_the_echo_joins_up() {
        let text = "if[    0.196385] WARN  net::virtio::device: virtio1: resetting it\r\nconfig virtio1\r\nvirtio1: mac\r\n[    1.000000] INFO  x: y\r\nnext\r\n";
        assert_eq!(
            strip_log_records(text),
            "ifconfig virtio1\r\nvirtio1: mac\r\nnext\r\n"
        );
        assert_eq!(
            strip_log_records("plain [1.0] WARN not a record\n"),
            "plain [1.0] WARN not a record\n"
        );
    }

    #[test]
    fn expect_strips_escapes_and_consumes() {
        let mut c = fake("expect");
        let text = c.expect("ready in", T).unwrap();
        assert_eq!(text, "BdsDxe: loading\r\nkernel ready in");
        let caps = c.expect_regex(r" (\d+) ms", T).unwrap();
        assert_eq!(caps, [" 12 ms", "12"]);
        c.expect(PROMPT, T).unwrap();
        assert!(c.output().starts_with("BdsDxe"));
        assert_eq!(c.pending(), "");
    }

    #[test]
    fn a_regex_never_matches_half_a_line() {
        let mut c = fake("halfline");
        c.expect(PROMPT, T).unwrap();
        c.send_line("slow").unwrap();
        // `error: ` arrives 0.3 s before the rest of its line.
        let caps = c.expect_regex(r"(?m)^error: ([^\r]*)\r?$", T).unwrap();
        assert_eq!(caps[1], "slow part");
        c.expect(PROMPT, T).unwrap();
    }

    #[test]
    fn command_returns_lines_without_echo() {
        let mut c = fake("command");
        c.expect(PROMPT, T).unwrap();
        assert_eq!(c.command("version", T).unwrap(), ["kernel 0.1.0 (release)"]);
        // The log record in between is not output, but it is kept.
        assert_eq!(c.command("two", T).unwrap(), ["one", "two"]);
        assert!(c.output().contains("INFO  net: link up"));
        assert_eq!(c.command("silent", T).unwrap(), Vec::<String>::new());
        assert_eq!(c.command_err("bad", T).unwrap(), "error: bad command");
        assert!(c
            .command_ok("bad", T)
            .unwrap_err()
            .message
            .contains("error: bad command"));
        assert!(c.command_err("version", T).is_err());
    }

    #[test]
    fn wait_exit_decodes_the_exit_device() {
        let mut c = fake("exit");
        c.expect(PROMPT, T).unwrap();
        c.send_line("shutdown 7").unwrap();
        assert_eq!(c.wait_exit(T).unwrap(), KernelExit::Code(7));
        assert!(c.output().ends_with("shutdown 7\r\n"));
        // Waiting for more output from a dead guest fails at once, saying why.
        let e = c.expect("never", T).unwrap_err();
        assert!(e.message.contains("exited with code 7"), "{e}");
        c.failed = false;
    }

    #[test]
    fn timeouts_fail_with_the_pending_output() {
        let mut c = fake("timeout");
        c.expect(PROMPT, T).unwrap();
        c.send_line("hang").unwrap();
        let started = Instant::now();
        let e = c.expect(PROMPT, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(e.message.contains("timed out"), "{e}");
        assert!(e.serial_tail.contains("hang"), "{e}");
        let e = c.wait_exit(Duration::from_millis(200)).unwrap_err();
        assert!(e.message.contains("killed"), "{e}");
        assert!(c.failed);
        c.failed = false;
    }

    #[test]
    fn drop_kills_the_child_and_removes_the_log_on_success() {
        let c = fake("drop");
        let pid = c.pid();
        let log = c.log_path().to_path_buf();
        assert!(log.exists());
        drop(c);
        // SAFETY: kill with signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "child {pid} survived the console");
        assert!(!log.exists(), "the log of a passing test was kept");
    }

    #[test]
    fn a_failure_keeps_the_log() {
        let mut c = fake("keep");
        let _ = c.expect("never", Duration::from_millis(100));
        let log = c.log_path().to_path_buf();
        drop(c);
        let kept = std::fs::read_to_string(&log).unwrap();
        assert!(kept.contains("kernel ready in 12 ms"), "{kept}");
        std::fs::remove_file(log).unwrap();
    }
}

//! In-kernel applications ([`netmap_apps`]) on the idle loop.
//!
//! An application is a value: [`start`] builds one from its
//! [`AppInfo`] and the shell's arguments (opening its ports through the
//! registry, as a netmap program does), gives it an id and keeps it in
//! [`RUNNING`]; the idle loop's poller ([`poll`]) runs every one of them
//! on every pass. Several may run at once, of any kind.
//!
//! An application leaves the table when it is stopped (`app stop ID`),
//! when it says it has finished (its summary is printed), or when its
//! `poll` fails: its error goes to the console as one line, and dropping
//! it closes its handles, so every buffer it held returns to the pool
//! (the `mem` audit checks that). The kernel runs on.
//!
//! Locking: the table's lock is taken by the control plane (start, stop,
//! list) and tried by the poller, which skips a pass rather than wait.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use netmap_apps::{App, AppError, AppInfo, Handle, APPS};
use spin::Mutex;

use crate::{net, println, time};

/// A running application.
struct Running {
    id: u32,
    kind: &'static str,
    /// The command line it was started with.
    line: String,
    app: Box<dyn App>,
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// Fault injection: the id of an app whose next pass fails (0: none).
static FAIL_NEXT: AtomicU32 = AtomicU32::new(0);

/// Fault injection (`inject app-fail ID`): make app `id`'s next pass fail
/// as a real failure would (stopped, its error printed, its handles
/// dropped). Returns whether such an app runs.
pub fn inject_failure(id: u32) -> bool {
    let known = RUNNING.lock().iter().any(|r| r.id == id);
    if known {
        FAIL_NEXT.store(id, Ordering::Relaxed);
    }
    known
}

fn now_ns() -> u64 {
    time::since_boot().as_nanos() as u64
}

/// The application the shell command `name` starts.
pub fn find(name: &str) -> Option<&'static AppInfo> {
    APPS.iter().find(|a| a.name == name)
}

/// Every application the shell can start.
pub fn all() -> impl Iterator<Item = &'static AppInfo> {
    APPS.iter()
}

/// Start `info` with `args`; returns its id.
pub fn start(info: &AppInfo, args: &[&str]) -> Result<u32, AppError> {
    let net = net::get().ok_or_else(|| AppError::Failed("networking is not initialised".into()))?;
    let app = (info.start)(args, &net.registry, now_ns())?;
    Ok(run(info.name, args, app))
}

/// Run `app` (built by the caller from `args`) as an application of
/// `kind`; its id.
pub fn run(kind: &'static str, args: &[&str], app: Box<dyn App>) -> u32 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut line = String::from(kind);
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    RUNNING.lock().push(Running {
        id,
        kind,
        line,
        app,
    });
    net::register_poller(poll);
    id
}

/// Stop application `id`; its kind and summary, or `None` if no such app
/// runs.
pub fn stop(id: u32) -> Option<(&'static str, String)> {
    let mut table = RUNNING.lock();
    let i = table.iter().position(|r| r.id == id)?;
    let r = table.remove(i);
    drop(table);
    let mut s = String::new();
    let _ = r.app.summary(&mut s);
    Some((r.kind, s))
}

/// `(id, command line)` of every running application.
pub fn lines() -> Vec<(u32, String)> {
    RUNNING
        .lock()
        .iter()
        .map(|r| (r.id, r.line.clone()))
        .collect()
}

/// `(id, kind, status line)` of every running application.
pub fn list() -> Vec<(u32, &'static str, String)> {
    RUNNING
        .lock()
        .iter()
        .map(|r| {
            let mut s = String::new();
            let _ = r.app.status(&mut s);
            (r.id, r.kind, s)
        })
        .collect()
}

/// Runs `f` with every handle the applications hold (for the pool
/// audit, [`crate::net::audit`]).
pub fn with_handles<R>(f: impl FnOnce(&[&Handle]) -> R) -> R {
    let table = RUNNING.lock();
    let handles: Vec<&Handle> = table.iter().flat_map(|r| r.app.handles()).collect();
    f(&handles)
}

/// The idle loop's hook: one pass of every application. Returns whether
/// any moved a frame.
fn poll() -> bool {
    // Never spin on the control plane's lock from the datapath.
    let Some(mut table) = RUNNING.try_lock() else {
        return false;
    };
    let now = now_ns();
    let mut moved = 0u64;
    let mut i = 0;
    while i < table.len() {
        let r = &mut table[i];
        let result = if FAIL_NEXT.load(Ordering::Relaxed) == r.id {
            FAIL_NEXT.store(0, Ordering::Relaxed);
            Err(AppError::Failed(
                "injected failure (inject app-fail)".into(),
            ))
        } else {
            r.app.poll(now)
        };
        match result {
            Ok(n) => moved += u64::from(n),
            Err(e) => {
                let r = table.remove(i);
                println!("app {} ({}) stopped: error: {e}", r.id, r.kind);
                continue;
            }
        }
        let mut line = String::new();
        if let Ok(true) = r.app.report(now, &mut line) {
            println!("app {}: {line}", r.id);
        }
        if r.app.finished() {
            let r = table.remove(i);
            let mut s = String::new();
            let _ = r.app.summary(&mut s);
            println!("app {} ({}) done: {s}", r.id, r.kind);
            continue;
        }
        i += 1;
    }
    net::count_frames(moved);
    moved > 0
}

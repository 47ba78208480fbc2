//! `log` backend: one line per record on the serial console,
//! `[    1.234567] INFO  mem::dma: message`, timestamped with the
//! calibrated monotonic clock.

use crate::time;
use log::{LevelFilter, Log, Metadata, Record};

/// Level in force until the shell's `log` command changes it.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let since_boot = time::since_boot();
        // Module paths all start with the crate name; drop it.
        let target = record.target();
        let subsystem = target.strip_prefix("kernel::").unwrap_or(target);
        crate::println!(
            "[{:5}.{:06}] {:<5} {}: {}",
            since_boot.as_secs(),
            since_boot.subsec_micros(),
            record.level(),
            subsystem,
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the logger. Call once, after the console and the clock.
pub fn init() {
    // The only failure is a second call, which would be a kernel bug.
    log::set_logger(&LOGGER).expect("logger installed twice");
    log::set_max_level(DEFAULT_LEVEL);
}

/// Parses a level name as the shell's `log` command accepts it.
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    match name {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// The lower-case name of a level, as [`parse_level`] accepts it.
pub fn level_name(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::Off => "off",
        LevelFilter::Error => "error",
        LevelFilter::Warn => "warn",
        LevelFilter::Info => "info",
        LevelFilter::Debug => "debug",
        LevelFilter::Trace => "trace",
    }
}

//! Port names, as netmap spells them.
//!
//! | name | meaning |
//! | --- | --- |
//! | `valeX:port` | port `port` of VALE switch `valeX` (created on open if missing) |
//! | `NAME{K` / `NAME}K` | master / slave end of pipe `K` of `NAME` |
//! | `PORT/t`, `PORT/r`, `PORT/rt` | copy monitor of `PORT`'s tx, rx, or both |
//! | `PORT/z` | zero-copy monitor of `PORT` |
//! | `NAME` | a port the kernel registered (NIC, tap, tun, host) |
//!
//! Plain names use `[A-Za-z0-9_.-]`; whole names are at most [`MAX_NAME`]
//! bytes.

use crate::error::NameError;
use crate::monitor::MonitorMode;
use crate::pipe::PipeSide;

/// Longest accepted name, in bytes.
pub const MAX_NAME: usize = 64;

/// A parsed port name. Borrowed parts point into the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortName<'a> {
    /// `switch:port`, `switch` starting with `vale`.
    Vale { switch: &'a str, port: &'a str },
    /// `base{id` or `base}id`.
    Pipe {
        base: &'a str,
        id: u32,
        side: PipeSide,
    },
    /// `parent/mode`.
    Monitor { parent: &'a str, mode: MonitorMode },
    /// Any other name.
    Plain(&'a str),
}

fn plain(s: &str) -> Result<&str, NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        Some(c) => Err(NameError::BadChar(c)),
        None => Ok(s),
    }
}

/// A name that may carry a pipe suffix or a VALE prefix, but no monitor.
fn base(s: &str) -> Result<PortName<'_>, NameError> {
    if let Some(pos) = s.find(['{', '}']) {
        let side = if s.as_bytes()[pos] == b'{' {
            PipeSide::Master
        } else {
            PipeSide::Slave
        };
        let digits = &s[pos + 1..];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::BadPipeId);
        }
        let id = digits.parse().map_err(|_| NameError::BadPipeId)?;
        let b = &s[..pos];
        // The base is itself a plain or VALE name.
        match base(b)? {
            PortName::Plain(_) | PortName::Vale { .. } => Ok(PortName::Pipe { base: b, id, side }),
            _ => Err(NameError::BadPipeId),
        }
    } else if s.starts_with("vale") {
        let (switch, port) = s.split_once(':').ok_or(NameError::MissingPort)?;
        if port.is_empty() {
            return Err(NameError::MissingPort);
        }
        Ok(PortName::Vale {
            switch: plain(switch)?,
            port: plain(port)?,
        })
    } else {
        Ok(PortName::Plain(plain(s)?))
    }
}

/// Parses a port name.
pub fn parse(name: &str) -> Result<PortName<'_>, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if let Some((parent, suffix)) = name.rsplit_once('/') {
        let mode = match suffix {
            "t" => MonitorMode {
                tx: true,
                ..Default::default()
            },
            "r" => MonitorMode {
                rx: true,
                ..Default::default()
            },
            "rt" | "tr" => MonitorMode {
                tx: true,
                rx: true,
                zcopy: false,
            },
            "z" => MonitorMode {
                tx: true,
                rx: true,
                zcopy: true,
            },
            _ => return Err(NameError::BadMonitorMode),
        };
        if parent.contains('/') {
            return Err(NameError::BadMonitorMode); // no monitors of monitors
        }
        base(parent)?;
        return Ok(PortName::Monitor { parent, mode });
    }
    base(name)
}

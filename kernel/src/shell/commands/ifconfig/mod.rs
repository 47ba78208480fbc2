//! ifconfig: every network interface, by kind.
//!
//! `ifconfig` lists all interfaces; `ifconfig NAME [ARGS...]` goes to the
//! module of NAME's kind, chosen by its prefix:
//!
//! | prefix | kind | module |
//! | --- | --- | --- |
//! | `virtio` | virtio-net NIC | [`nic`] |
//! | `host` | the kernel's IP stack (`host0`) | [`host`] |
//! | `tap` | tap port (Ethernet) | [`tap`] |
//! | `tun` | tun port (IP) | [`tun`] |
//!
//! Each kind's module exports `PREFIX`, `list()` (one block per interface)
//! and `run(name, args)`.

mod host;
mod nic;
mod tap;
mod tun;

use super::{Command, CommandError, CommandResult};

pub const COMMANDS: &[Command] = &[Command {
    name: "ifconfig",
    usage: "[IF [ARGS...]]",
    help: "list network interfaces, or show/configure one (see the kind's options)",
    run: ifconfig,
}];

/// One kind of interface.
struct Kind {
    prefix: &'static str,
    list: fn() -> CommandResult,
    run: fn(&str, &[&str]) -> CommandResult,
}

const KINDS: &[Kind] = &[
    Kind {
        prefix: nic::PREFIX,
        list: nic::list,
        run: nic::run,
    },
    Kind {
        prefix: host::PREFIX,
        list: host::list,
        run: host::run,
    },
    Kind {
        prefix: tap::PREFIX,
        list: tap::list,
        run: tap::run,
    },
    Kind {
        prefix: tun::PREFIX,
        list: tun::list,
        run: tun::run,
    },
];

fn ifconfig(args: &[&str]) -> CommandResult {
    match args {
        [] => {
            for kind in KINDS {
                (kind.list)()?;
            }
            Ok(())
        }
        [name, rest @ ..] => {
            let kind = KINDS
                .iter()
                .find(|k| name.starts_with(k.prefix))
                .ok_or_else(|| CommandError::failed(alloc::format!("no interface {name}")))?;
            (kind.run)(name, rest)
        }
    }
}

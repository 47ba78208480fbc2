//! The listening socket: one rust-vmm daemon per QEMU connection, for as
//! long as the port exists.
//!
//! QEMU is the client. When it exits (or the guest is rebooted by a new
//! QEMU on the same socket) the connection ends, the daemon and its worker
//! thread go, and the next connection gets a fresh daemon: no state of a
//! dead guest leaks into the next one. A connection that only probes
//! (`cargo xtask run` asks for the features before starting QEMU) ends the
//! same way.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vhost::vhost_user::Listener;
use vhost_user_backend::VhostUserDaemon;
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::backend::{Conn, NetBackend, Shared};
use super::proxy;
use crate::wire::sys;

/// Serve connections on `listener` until `stop` is set.
pub fn serve(listener: UnixListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        match sys::wait(listener.as_fd(), libc::POLLIN, Duration::from_millis(50)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                eprintln!("vhost-user: waiting for a connection: {e}");
                return;
            }
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = one_connection(&listener, &shared, &stop) {
            eprintln!("vhost-user: connection ended: {e}");
        }
    }
}

fn one_connection(
    listener: &UnixListener,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let err = |what: &str, e: &dyn std::fmt::Display| io::Error::other(format!("{what}: {e}"));
    let (qemu, _) = listener.accept()?;
    qemu.set_nonblocking(false)?;
    let backend = Arc::new(NetBackend::new(shared.clone()));
    let mem = GuestMemoryAtomic::new(GuestMemoryMmap::<()>::new());
    let mut daemon = VhostUserDaemon::new("vhost-user-net".into(), backend.clone(), mem.clone())
        .map_err(|e| err("daemon", &e))?;

    // The vrings live in the daemon; its worker hands them to the backend
    // when asked through a custom event (the public way in).
    let hello = EventFd::new(EFD_NONBLOCK)?;
    daemon.get_epoll_handlers()[0].register_listener(
        hello.as_raw_fd(),
        EventSet::IN,
        shared.opts.hello_event() as u64,
    )?;
    hello.write(1)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let vrings = loop {
        if let Some(v) = backend.vrings.lock().unwrap().take() {
            break v;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the daemon's worker did not start"));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = daemon.get_epoll_handlers()[0].unregister_listener(
        hello.as_raw_fd(),
        EventSet::IN,
        shared.opts.hello_event() as u64,
    );

    // The daemon talks to the relay (see proxy.rs) over a private socket
    // pair made through an abstract-namespace listener: no file to clean up.
    let name = format!(
        "netmap-vhost-{}-{}",
        std::process::id(),
        NEXT_INNER.fetch_add(1, Ordering::Relaxed)
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let inner = UnixListener::bind_addr(&addr)?;
    let daemon_side = UnixStream::connect_addr(&addr)?;
    daemon
        .start(&mut Listener::from(inner))
        .map_err(|e| err("accept", &e))?;

    shared.install(Some(Conn { vrings, mem }));
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    *shared.shutdown.lock().unwrap() = Some(qemu.try_clone()?);
    if stop.load(Ordering::Acquire) {
        // The owner went away while we accepted: it may have missed the stream.
        let _ = qemu.shutdown(std::net::Shutdown::Both);
    }
    let relayed = proxy::relay(qemu, daemon_side);
    daemon.request_shutdown();
    let ended = daemon.wait();
    *shared.shutdown.lock().unwrap() = None;
    shared.install(None);
    relayed?;
    ended.map_err(|e| err("protocol", &e))
}

static NEXT_INNER: AtomicU64 = AtomicU64::new(0);

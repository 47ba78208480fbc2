//! The registry: opens ports by name and runs the control plane
//! (netmap's `NIOCREGIF` name resolution plus `vale-ctl`).
//!
//! | operation | netmap equivalent |
//! | --- | --- |
//! | [`Registry::open`] `valeX:p` | open an ephemeral VALE port: created (with its switch) on open, destroyed on close |
//! | [`Registry::create_persistent`] / [`delete_persistent`](Registry::delete_persistent) | `vale-ctl -n` / `-r`: a VALE port that outlives its handles |
//! | [`Registry::open`] `x{K` / `x}K` | open a pipe end; the pipe exists while either end is open |
//! | [`Registry::open`] `p/t`, `p/r`, `p/rt`, `p/z` | open a monitor of port `p` |
//! | [`Registry::register`] + [`Registry::open`] `name` | a kernel port (NIC, tap, tun, host) opened in native mode |
//! | [`Registry::attach`] / [`detach`](Registry::detach) | `vale-ctl -a` / `-d`: a kernel port joins a switch |
//!
//! A zero-copy monitor (`p/z`) is fed by the syncs of a handle on `p`;
//! a registered port attached to a switch has none (the switch, or a NIC's
//! bridge, drives it), so `p/z` of an attached port is `Unsupported`, and a
//! port with a zero-copy monitor does not attach (`Busy`).
//!
//! A name is one port per switch: a VALE port `valeX:p` and a registered
//! port `p` attached to `valeX` exclude each other (`Exists`), as netmap
//! refuses a second port of one name on a bridge.
//!
//! Each port has at most one open handle (`Busy` otherwise). Closing a
//! handle (dropping it) runs a hook that undoes what `open` did. The
//! registry lock is a control-plane lock: the datapath never takes it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::error::{AuditError, OpenError};
use crate::mem::BufferPool;
use crate::monitor::{attach_monitor, detach_monitor, MonitorPort};
use crate::name::{parse, PortName};
use crate::pipe::{PipePair, PipeSide};
use crate::port::{kring_bufs, Handle, Port, PortConfig};
use crate::vale::{Attachment, LearningBridge, LearningConfig, Switch, SwitchClock, ValePort};

struct ValeEntry {
    port: Arc<ValePort>,
    persistent: bool,
    open: bool,
}

struct PipeEntry {
    ends: [Arc<dyn Port>; 2],
    open: [bool; 2],
}

struct ExtEntry {
    port: Arc<dyn Port>,
    open: bool,
    /// Switch it is attached to.
    attached: Option<(String, Attachment)>,
    /// The port the switch sees, when it is not `port` itself (a native
    /// port is attached through a wrapper, netmap's bwrap); its krings hold
    /// buffers too.
    wrapper: Option<Arc<dyn Port>>,
}

struct MonEntry {
    parent: Arc<dyn Port>,
    mon: Arc<MonitorPort>,
}

struct Inner {
    /// The registry's clock, read by every switch it makes.
    clock: Arc<SwitchClock>,
    /// Bumped by every change (see [`Registry::generation`]).
    changes: Arc<AtomicU64>,
    switches: BTreeMap<String, Arc<Switch>>,
    vale: BTreeMap<String, ValeEntry>,
    /// Keyed by `base{id`.
    pipes: BTreeMap<String, PipeEntry>,
    external: BTreeMap<String, ExtEntry>,
    monitors: Vec<MonEntry>,
}

impl Inner {
    /// The port with that (non-monitor) name, if it exists.
    fn find(&self, name: &str) -> Option<Arc<dyn Port>> {
        match parse(name).ok()? {
            PortName::Vale { .. } => self.vale.get(name).map(|e| e.port.clone() as Arc<dyn Port>),
            PortName::Pipe { base, id, side } => self
                .pipes
                .get(&format!("{base}{{{id}"))
                .map(|e| e.ends[side as usize].clone()),
            PortName::Plain(_) => self.external.get(name).map(|e| e.port.clone()),
            PortName::Monitor { .. } => None,
        }
    }

    fn new(clock: Arc<SwitchClock>, changes: Arc<AtomicU64>) -> Self {
        Inner {
            clock,
            changes,
            switches: BTreeMap::new(),
            vale: BTreeMap::new(),
            pipes: BTreeMap::new(),
            external: BTreeMap::new(),
            monitors: Vec::new(),
        }
    }

    fn switch(&mut self, name: &str) -> Arc<Switch> {
        let clock = &self.clock;
        self.switches
            .entry(name.to_string())
            .or_insert_with(|| {
                let lookup = Box::new(LearningBridge::new(LearningConfig::default()));
                Switch::with_clock(name, lookup, clock.clone())
            })
            .clone()
    }

    /// Whether registered port `port` is attached to `switch`: its name
    /// is then taken on that switch (netmap refuses a second port of the
    /// same name on a bridge).
    fn attached_as(&self, switch: &str, port: &str) -> bool {
        self.external
            .get(port)
            .and_then(|e| e.attached.as_ref())
            .is_some_and(|(sw, _)| sw == switch)
    }

    /// Switches die with their last port, as netmap's bridges do.
    fn reap_switch(&mut self, name: &str) {
        if self.switches.get(name).is_some_and(|s| s.num_ports() == 0) {
            self.switches.remove(name);
        }
    }
}

/// Port names to ports, and the control plane.
pub struct Registry {
    pool: Arc<BufferPool>,
    defaults: PortConfig,
    /// Shared with `inner` and every switch: set without the lock.
    clock: Arc<SwitchClock>,
    /// Shared with `inner`: read without the lock.
    changes: Arc<AtomicU64>,
    inner: Arc<Mutex<Inner>>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry creating ports with [`PortConfig::default`] geometry.
    pub fn new(pool: Arc<BufferPool>) -> Self {
        Self::with_defaults(pool, PortConfig::default())
    }

    /// A registry creating ports with the given geometry.
    pub fn with_defaults(pool: Arc<BufferPool>, defaults: PortConfig) -> Self {
        let clock = SwitchClock::new();
        let changes = Arc::new(AtomicU64::new(0));
        Registry {
            pool,
            defaults,
            clock: clock.clone(),
            changes: changes.clone(),
            inner: Arc::new(Mutex::new(Inner::new(clock, changes))),
        }
    }

    /// A number that changes whenever a port or switch appears, goes,
    /// opens, closes, attaches or detaches; a failed operation leaves it
    /// alone. Read without the registry lock: a poller waiting for a port
    /// to appear (the kernel's `pcap start` on a port the startup script
    /// creates later) retries its open only when this moved, so its idle
    /// passes neither take the lock nor allocate.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn changed<T>(&self, r: Result<T, OpenError>) -> Result<T, OpenError> {
        if r.is_ok() {
            self.changes.fetch_add(1, Ordering::Release);
        }
        r
    }

    /// Sets the clock of every switch this registry made or will make
    /// (ticks of the caller's choosing, the unit of the learning table's
    /// `max_age`: milliseconds by default); it must not go backwards. One
    /// atomic store, without the registry lock: the kernel calls it on every
    /// pass of its poll loop, so every switch ages, whatever its ports.
    #[inline]
    pub fn set_clock(&self, now: u64) {
        self.clock.set(now);
    }

    /// The registry's clock.
    pub fn clock(&self) -> u64 {
        self.clock.get()
    }

    /// The buffer pool every port of this registry uses.
    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    /// Opens a port by name with the default geometry.
    pub fn open(&self, name: &str) -> Result<Handle, OpenError> {
        self.open_with(name, self.defaults)
    }

    /// Opens a port by name; `cfg` is used if the open creates the port.
    pub fn open_with(&self, name: &str, cfg: PortConfig) -> Result<Handle, OpenError> {
        let r = self.open_locked(name, cfg);
        self.changed(r)
    }

    fn open_locked(&self, name: &str, cfg: PortConfig) -> Result<Handle, OpenError> {
        let parsed = parse(name)?;
        let mut g = self.inner.lock();
        let weak = Arc::downgrade(&self.inner);
        let key = name.to_string();
        match parsed {
            PortName::Vale { switch, port } => {
                if g.attached_as(switch, port) {
                    return Err(OpenError::Exists);
                }
                if let Some(e) = g.vale.get_mut(name) {
                    if e.open {
                        return Err(OpenError::Busy);
                    }
                    e.open = true;
                    let h = Handle::new(e.port.clone());
                    return Ok(with_hook(h, weak, move |i| close_vale(i, &key)));
                }
                let sw = g.switch(switch);
                let port = ValePort::create(&self.pool, &sw, name, cfg)
                    .inspect_err(|_| g.reap_switch(switch))?;
                g.vale.insert(
                    key.clone(),
                    ValeEntry {
                        port: port.clone(),
                        persistent: false,
                        open: true,
                    },
                );
                Ok(with_hook(Handle::new(port), weak, move |i| {
                    close_vale(i, &key)
                }))
            }
            PortName::Pipe { base, id, side } => {
                cfg.check()?;
                let pkey = format!("{base}{{{id}");
                let s = side as usize;
                if !g.pipes.contains_key(&pkey) {
                    let pair = PipePair::new(
                        &self.pool,
                        base,
                        id,
                        cfg.tx_rings.max(cfg.rx_rings),
                        cfg.num_slots,
                        cfg.max_frame,
                    )?;
                    let ends: [Arc<dyn Port>; 2] =
                        [pair.end(PipeSide::Master), pair.end(PipeSide::Slave)];
                    g.pipes.insert(
                        pkey.clone(),
                        PipeEntry {
                            ends,
                            open: [false; 2],
                        },
                    );
                }
                let e = g.pipes.get_mut(&pkey).ok_or(OpenError::NotFound)?;
                if e.open[s] {
                    return Err(OpenError::Busy);
                }
                e.open[s] = true;
                let h = Handle::new(e.ends[s].clone());
                Ok(with_hook(h, weak, move |i| close_pipe(i, &pkey, s)))
            }
            PortName::Monitor { parent, mode } => {
                let p = g.find(parent).ok_or(OpenError::NotFound)?;
                // An attached port is driven by its switch (a NIC by its
                // bridge), not by a handle: a zero-copy monitor, fed only
                // by handle syncs, would never see a frame.
                if mode.zcopy && g.external.get(parent).is_some_and(|e| e.attached.is_some()) {
                    return Err(OpenError::Unsupported);
                }
                let mon = Arc::new(MonitorPort::new(&self.pool, name.to_string(), mode, &*p)?);
                attach_monitor(&*p, &mon)?;
                g.monitors.push(MonEntry {
                    parent: p,
                    mon: mon.clone(),
                });
                let h = Handle::new(mon.clone());
                Ok(with_hook(h, weak, move |i| close_monitor(i, &mon)))
            }
            PortName::Plain(_) => {
                let e = g.external.get_mut(name).ok_or(OpenError::NotFound)?;
                if !e.port.native_open() {
                    return Err(OpenError::Unsupported);
                }
                // Attached, the switch (or its wrapper) is the port's user.
                if e.open || e.attached.is_some() {
                    return Err(OpenError::Busy);
                }
                e.open = true;
                let h = Handle::new(e.port.clone());
                Ok(with_hook(h, weak, move |i| {
                    if let Some(e) = i.external.get_mut(&key) {
                        e.open = false;
                    }
                }))
            }
        }
    }

    /// Creates a persistent VALE port (`vale-ctl -n`), not opened.
    pub fn create_persistent(
        &self,
        name: &str,
        cfg: PortConfig,
    ) -> Result<Arc<ValePort>, OpenError> {
        let r = self.create_persistent_locked(name, cfg);
        self.changed(r)
    }

    fn create_persistent_locked(
        &self,
        name: &str,
        cfg: PortConfig,
    ) -> Result<Arc<ValePort>, OpenError> {
        let PortName::Vale { switch, port } = parse(name)? else {
            return Err(OpenError::Unsupported);
        };
        let mut g = self.inner.lock();
        if g.vale.contains_key(name) || g.attached_as(switch, port) {
            return Err(OpenError::Exists);
        }
        let sw = g.switch(switch);
        let port =
            ValePort::create(&self.pool, &sw, name, cfg).inspect_err(|_| g.reap_switch(switch))?;
        g.vale.insert(
            name.to_string(),
            ValeEntry {
                port: port.clone(),
                persistent: true,
                open: false,
            },
        );
        Ok(port)
    }

    /// Deletes a persistent VALE port (`vale-ctl -r`). Refused while open.
    pub fn delete_persistent(&self, name: &str) -> Result<(), OpenError> {
        let r = self.delete_persistent_locked(name);
        self.changed(r)
    }

    fn delete_persistent_locked(&self, name: &str) -> Result<(), OpenError> {
        let mut g = self.inner.lock();
        let e = g.vale.get(name).ok_or(OpenError::NotFound)?;
        if !e.persistent {
            return Err(OpenError::NotFound);
        }
        if e.open {
            return Err(OpenError::Busy);
        }
        let e = g.vale.remove(name).ok_or(OpenError::NotFound)?;
        e.port.detach();
        let sw = e.port.switch().name().to_string();
        g.reap_switch(&sw);
        Ok(())
    }

    /// Registers a port built by the kernel (NIC, tap, tun, host stack)
    /// under its [`Port::name`], a plain name.
    pub fn register(&self, port: Arc<dyn Port>) -> Result<(), OpenError> {
        let r = self.register_locked(port);
        self.changed(r)
    }

    fn register_locked(&self, port: Arc<dyn Port>) -> Result<(), OpenError> {
        let name = port.name().to_string();
        if !matches!(parse(&name)?, PortName::Plain(_)) {
            return Err(OpenError::Unsupported);
        }
        let mut g = self.inner.lock();
        if g.external.contains_key(&name) {
            return Err(OpenError::Exists);
        }
        g.external.insert(
            name,
            ExtEntry {
                port,
                open: false,
                attached: None,
                wrapper: None,
            },
        );
        Ok(())
    }

    /// Forgets a registered port (detaching it from its switch). Refused
    /// while open.
    pub fn unregister(&self, name: &str) -> Result<Arc<dyn Port>, OpenError> {
        let r = self.unregister_locked(name);
        self.changed(r)
    }

    fn unregister_locked(&self, name: &str) -> Result<Arc<dyn Port>, OpenError> {
        let mut g = self.inner.lock();
        let e = g.external.get(name).ok_or(OpenError::NotFound)?;
        if e.open {
            return Err(OpenError::Busy);
        }
        let e = g.external.remove(name).ok_or(OpenError::NotFound)?;
        if let Some((sw, a)) = e.attached {
            if let Some(s) = g.switches.get(&sw) {
                s.detach(a);
            }
            g.reap_switch(&sw);
        }
        Ok(e.port)
    }

    /// Attaches registered port `port` to switch `switch` (`vale-ctl -a
    /// valeX:port`), creating the switch if needed. The port then sends
    /// into the switch with [`Switch::forward`] and the returned attachment.
    pub fn attach(&self, switch: &str, port: &str) -> Result<(Arc<Switch>, Attachment), OpenError> {
        self.attach_with(switch, port, |sw, p| Ok((sw.attach(p.clone())?, p)))
    }

    /// Like [`attach`](Self::attach), but `make` decides what joins the
    /// switch: given the switch and the registered port, it attaches a port
    /// of its choosing and returns its attachment and that port. A native
    /// NIC, whose rx krings its hardware fills, joins through a wrapper that
    /// plays the application on its krings (netmap's bwrap). Refused while
    /// the port is open or attached.
    pub fn attach_with(
        &self,
        switch: &str,
        port: &str,
        make: impl FnOnce(&Arc<Switch>, Arc<dyn Port>) -> Result<(Attachment, Arc<dyn Port>), OpenError>,
    ) -> Result<(Arc<Switch>, Attachment), OpenError> {
        let r = self.attach_locked(switch, port, make);
        self.changed(r)
    }

    fn attach_locked(
        &self,
        switch: &str,
        port: &str,
        make: impl FnOnce(&Arc<Switch>, Arc<dyn Port>) -> Result<(Attachment, Arc<dyn Port>), OpenError>,
    ) -> Result<(Arc<Switch>, Attachment), OpenError> {
        let full = format!("{switch}:{port}");
        match parse(&full)? {
            PortName::Vale { .. } => {}
            _ => return Err(OpenError::Unsupported),
        }
        let mut g = self.inner.lock();
        let p = match g.external.get(port) {
            None => return Err(OpenError::NotFound),
            Some(e) if e.attached.is_some() || e.open => return Err(OpenError::Busy),
            Some(e) => e.port.clone(),
        };
        // A zero-copy monitor of the port would starve once it is attached.
        let zcopy_watched = g.monitors.iter().any(|m| {
            m.mon.mode().zcopy && core::ptr::addr_eq(Arc::as_ptr(&m.parent), Arc::as_ptr(&p))
        });
        if zcopy_watched {
            return Err(OpenError::Busy);
        }
        // The switch already has a VALE port of that name.
        if g.vale.contains_key(&full) {
            return Err(OpenError::Exists);
        }
        let sw = g.switch(switch);
        let (a, joined) = make(&sw, p.clone()).inspect_err(|_| g.reap_switch(switch))?;
        let wrapper =
            (!core::ptr::addr_eq(Arc::as_ptr(&joined), Arc::as_ptr(&p))).then_some(joined);
        if let Some(e) = g.external.get_mut(port) {
            e.attached = Some((switch.to_string(), a));
            e.wrapper = wrapper;
        }
        Ok((sw, a))
    }

    /// Detaches registered port `port` from switch `switch` (`vale-ctl -d`).
    pub fn detach(&self, switch: &str, port: &str) -> Result<(), OpenError> {
        let r = self.detach_locked(switch, port);
        self.changed(r)
    }

    fn detach_locked(&self, switch: &str, port: &str) -> Result<(), OpenError> {
        let mut g = self.inner.lock();
        let e = g.external.get_mut(port).ok_or(OpenError::NotFound)?;
        match e.attached.take() {
            Some((sw, a)) if sw == switch => {
                e.wrapper = None;
                if let Some(s) = g.switches.get(&sw) {
                    s.detach(a);
                }
                g.reap_switch(&sw);
                Ok(())
            }
            other => {
                e.attached = other;
                Err(OpenError::NotFound)
            }
        }
    }

    /// The switch with that name, if it exists.
    pub fn switch(&self, name: &str) -> Option<Arc<Switch>> {
        self.inner.lock().switches.get(name).cloned()
    }

    /// Names of existing switches.
    pub fn switches(&self) -> Vec<String> {
        self.inner.lock().switches.keys().cloned().collect()
    }

    /// Names of existing ports (VALE ports, pipe ends, registered ports,
    /// open monitors).
    pub fn ports(&self) -> Vec<String> {
        let g = self.inner.lock();
        let mut v: Vec<String> = g.vale.keys().cloned().collect();
        for e in g.pipes.values() {
            v.extend(e.ends.iter().map(|p| p.name().to_string()));
        }
        v.extend(g.external.keys().cloned());
        v.extend(g.monitors.iter().map(|m| m.mon.name().to_string()));
        v
    }

    /// The port with that name (monitors excluded).
    pub fn port(&self, name: &str) -> Option<Arc<dyn Port>> {
        self.inner.lock().find(name)
    }

    /// Conservation check over every port of the registry plus `handles`
    /// (all open handles must be passed, or their buffers count as lost).
    pub fn audit(&self, handles: &[&Handle]) -> Result<(), AuditError> {
        let g = self.inner.lock();
        let mut owned: Vec<u32> = Vec::new();
        for e in g.vale.values() {
            owned.extend(kring_bufs(&*e.port));
        }
        for e in g.pipes.values() {
            for p in &e.ends {
                owned.extend(kring_bufs(&**p));
            }
        }
        for e in g.external.values() {
            owned.extend(kring_bufs(&*e.port));
            if let Some(w) = &e.wrapper {
                owned.extend(kring_bufs(&**w));
            }
        }
        for m in &g.monitors {
            owned.extend(kring_bufs(&*m.mon));
        }
        for h in handles {
            owned.extend(h.held_bufs());
        }
        drop(g);
        self.pool.audit(owned)
    }
}

/// Installs a close hook that runs `f` on the registry state, if the
/// registry still exists.
fn with_hook(
    mut h: Handle,
    inner: Weak<Mutex<Inner>>,
    f: impl FnOnce(&mut Inner) + Send + Sync + 'static,
) -> Handle {
    h.set_on_close(Box::new(move || {
        if let Some(i) = inner.upgrade() {
            let mut g = i.lock();
            f(&mut g);
            g.changes.fetch_add(1, Ordering::Release);
        }
    }));
    h
}

fn close_vale(i: &mut Inner, name: &str) {
    let Some(e) = i.vale.get_mut(name) else {
        return;
    };
    e.open = false;
    if e.persistent {
        return;
    }
    if let Some(e) = i.vale.remove(name) {
        // Waits for batches in flight; frames still queued for the port go
        // back to the pool when the last reference drops.
        e.port.detach();
        let sw = e.port.switch().name().to_string();
        i.reap_switch(&sw);
    }
}

fn close_pipe(i: &mut Inner, key: &str, side: usize) {
    if let Some(e) = i.pipes.get_mut(key) {
        e.open[side] = false;
        if e.open == [false; 2] {
            i.pipes.remove(key);
        }
    }
}

fn close_monitor(i: &mut Inner, mon: &Arc<MonitorPort>) {
    if let Some(pos) = i.monitors.iter().position(|m| Arc::ptr_eq(&m.mon, mon)) {
        let m = i.monitors.remove(pos);
        detach_monitor(&*m.parent, &m.mon);
    }
}

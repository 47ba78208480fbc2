//! Frame I/O on the host side of a virtual NIC.
//!
//! An [`Endpoint`] sends and receives whole Ethernet frames (no FCS) over
//! whatever QEMU's NIC backend is: an `AF_PACKET` socket on a tap interface,
//! a unix datagram socket pair, or a unix stream socket. Everything is
//! non-blocking and batched (`sendmmsg` / `recvmmsg`); every wait takes a
//! timeout.
//!
//! ```no_run
//! use integration::wire::Endpoint;
//! use std::time::Duration;
//! // QEMU was given `--nic dgram:/tmp/q0:/tmp/h0`: it binds q0, sends to h0.
//! let mut ep = Endpoint::open("dgram:/tmp/q0:/tmp/h0").unwrap();
//! ep.send(&[0xff; 60]).unwrap();
//! let reply = ep.recv(Duration::from_secs(1)).unwrap();
//! ```

mod dgram;
pub mod netns;
mod packet;
mod sockpath;
mod spec;
mod stream;
pub mod sys;
pub mod tap;
pub mod vhost;

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

pub use spec::{Spec, SpecError};

use dgram::Dgram;
use packet::Packet;
use stream::Stream;
use sys::{RecvBatch, SendBatch};

/// The largest frame an endpoint receives whole: QEMU's own receive buffer
/// (`NET_BUFSIZE`, 4 KiB + 64 KiB).
pub const MAX_FRAME: usize = 4096 + 65536;

/// Tuning for [`Endpoint::open_with`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Frames per `sendmmsg` / `recvmmsg`.
    pub batch: usize,
    /// Receive buffer per frame; longer frames are cut (and counted).
    pub slot: usize,
    /// Before sleeping for frames, keep polling this long: saves the
    /// sleep/wake-up per batch when frames come steadily, at the price of a
    /// busy CPU. Zero: sleep at once.
    pub busy_poll: Duration,
    /// How a vhost-user port behaves as a device (other wires ignore it).
    pub vhost: vhost::BackendOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch: 64,
            slot: MAX_FRAME,
            busy_poll: Duration::ZERO,
            vhost: vhost::BackendOptions::default(),
        }
    }
}

enum Wire {
    Dgram(Dgram),
    Packet(Packet),
    Stream(Stream),
    Vhost(Box<vhost::VhostPort>),
}

/// Counters of frames the endpoint did not hand out as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Frames cut to the slot size.
    pub truncated: u64,
    /// Frames the host sent on a tap (ours or its own), skipped on receive.
    pub outgoing: u64,
}

/// One host-side wire. Dropping it closes the socket and removes the socket
/// file it bound.
pub struct Endpoint {
    wire: Wire,
    spec: Spec,
    tx: SendBatch,
    rx: RecvBatch,
    batch: usize,
    busy_poll: Duration,
    /// Frames received by a batch but not yet handed out by [`Endpoint::recv`].
    pending: VecDeque<Vec<u8>>,
    stats: EndpointStats,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Endpoint {
    /// Open the host side of the NIC spelled `spec` as QEMU's `--nic` is
    /// (`tap:IFNAME`, `dgram:LOCAL:REMOTE`, `stream:PATH`).
    pub fn open(spec: &str) -> io::Result<Self> {
        let spec: Spec = spec.parse().map_err(|e: SpecError| invalid(e.0))?;
        Self::open_with(&spec, &Options::default())
    }

    pub fn open_with(spec: &Spec, opts: &Options) -> io::Result<Self> {
        if opts.batch == 0 || opts.batch > 1024 {
            return Err(invalid(format!(
                "batch {} out of range 1..=1024",
                opts.batch
            )));
        }
        let wire = match spec {
            Spec::Tap { ifname } => Wire::Packet(Packet::open(ifname)?),
            Spec::Dgram { bind, peer } => Wire::Dgram(Dgram::open(bind, peer)?),
            Spec::Stream { path } => Wire::Stream(Stream::listen(path)?),
            // A vhost-user port polls a little before it sleeps on a kick
            // even when asked not to busy-poll: a wake-up through the
            // protocol thread costs more than the few microseconds a guest
            // takes to make the next buffers available.
            Spec::VhostUser { path, queues } => Wire::Vhost(Box::new(vhost::VhostPort::listen(
                path,
                vhost::BackendOptions {
                    queue_pairs: opts.vhost.queue_pairs.max(*queues),
                    ..opts.vhost
                },
                opts.batch,
                opts.slot,
                opts.busy_poll.max(Duration::from_micros(50)),
            )?)),
        };
        let names = matches!(wire, Wire::Packet(_));
        // Stream and vhost endpoints frame their own buffer; a one-slot
        // scratch will do.
        let own_buffer = matches!(wire, Wire::Stream(_) | Wire::Vhost(_));
        let rx_batch = if own_buffer { 1 } else { opts.batch };
        let rx_slot = if own_buffer { 1 } else { opts.slot.max(14) };
        Ok(Self {
            wire,
            spec: spec.clone(),
            tx: SendBatch::new(opts.batch),
            rx: RecvBatch::new(rx_batch, rx_slot, names),
            batch: opts.batch,
            busy_poll: opts.busy_poll,
            pending: VecDeque::new(),
            stats: EndpointStats::default(),
        })
    }

    /// QEMU's end of a stream wire, connecting to a listening endpoint: lets
    /// tests play QEMU.
    pub fn connect_stream(path: &std::path::Path) -> io::Result<Self> {
        Ok(Self {
            wire: Wire::Stream(Stream::connect(path)?),
            spec: Spec::Stream {
                path: path.to_path_buf(),
            },
            tx: SendBatch::new(1),
            rx: RecvBatch::new(1, 1, false),
            batch: Options::default().batch,
            busy_poll: Duration::ZERO,
            pending: VecDeque::new(),
            stats: EndpointStats::default(),
        })
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Frames per send/receive syscall.
    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// The vhost-user backend's counters, for a vhost-user wire.
    pub fn vhost_stats(&self) -> Option<vhost::VhostStats> {
        match &self.wire {
            Wire::Vhost(v) => Some(v.stats()),
            _ => None,
        }
    }

    /// For a vhost-user wire: how many of its queue pairs the guest has
    /// live now (see `VhostPort::live_pairs`).
    pub fn vhost_live_pairs(&mut self) -> Option<usize> {
        match &mut self.wire {
            Wire::Vhost(v) => Some(v.live_pairs()),
            _ => None,
        }
    }

    /// The vhost-user backend's frame counts per queue pair, for a
    /// vhost-user wire (one entry per pair it serves).
    pub fn vhost_pair_frames(&self) -> Option<Vec<vhost::PairFrames>> {
        match &self.wire {
            Wire::Vhost(v) => Some(v.pair_frames()),
            _ => None,
        }
    }

    /// For a vhost-user wire: the virtio-net header of the frames sent from
    /// now on (`None`: the honest one); see `VhostPort::set_net_hdr`.
    /// Returns whether the wire is vhost-user (other wires have QEMU write
    /// the header).
    pub fn set_vhost_net_hdr(&mut self, hdr: Option<[u8; 12]>) -> bool {
        match &mut self.wire {
            Wire::Vhost(v) => {
                v.set_net_hdr(hdr);
                true
            }
            _ => false,
        }
    }

    /// For a stream wire, wait until QEMU has connected, for a vhost-user
    /// wire until the guest's driver has set up its queues; other wires
    /// are always ready.
    pub fn wait_connected(&mut self, timeout: Duration) -> io::Result<()> {
        match &mut self.wire {
            Wire::Vhost(v) => {
                if v.wait_connected(timeout)? {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: no guest set up the NIC's queues within {:.1} s (is QEMU started with this NIC, and the kernel booted?)",
                            self.spec,
                            timeout.as_secs_f64()
                        ),
                    ))
                }
            }
            Wire::Stream(s) => {
                if s.accept(timeout)? {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: nobody connected within {:.1} s (is QEMU started with this NIC?)",
                            self.spec,
                            timeout.as_secs_f64()
                        ),
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// Send as many of `frames` as the wire takes now, in batches; returns
    /// how many went (from the front). Never blocks.
    pub fn send_batch<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> io::Result<usize> {
        let mut done = 0;
        while done < frames.len() {
            let chunk = &frames[done..frames.len().min(done + self.batch)];
            let n = match &mut self.wire {
                Wire::Dgram(d) => d.send_batch(&mut self.tx, chunk)?,
                Wire::Packet(p) => p.send_batch(&mut self.tx, chunk)?,
                Wire::Stream(s) => s.send_batch(chunk)?,
                Wire::Vhost(v) => v.send_batch(chunk)?,
            };
            done += n;
            if n < chunk.len() {
                break;
            }
        }
        Ok(done)
    }

    /// Send one frame if the wire takes it now.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        Ok(self.send_batch(&[frame])? == 1)
    }

    /// Send every frame (flushed), waiting for room up to `timeout` in all.
    pub fn send_all<F: AsRef<[u8]>>(&mut self, frames: &[F], timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut done = 0;
        while done < frames.len() {
            done += self.send_batch(&frames[done..])?;
            if done == frames.len() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{}: sent {done} of {} frames in {:.1} s; the peer is not reading",
                        self.spec,
                        frames.len(),
                        timeout.as_secs_f64()
                    ),
                ));
            }
            self.wait_writable(left.min(Duration::from_millis(100)))?;
        }
        self.flush(deadline.saturating_duration_since(Instant::now()))
    }

    /// Make sure every frame a send accepted is on the wire (a stream wire
    /// buffers what the socket did not take yet), waiting up to `timeout`.
    pub fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        match &mut self.wire {
            Wire::Stream(s) => {
                if s.drain_output(timeout)? {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: frames still queued after {:.1} s; the peer is not reading",
                            self.spec,
                            timeout.as_secs_f64()
                        ),
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// Push buffered frames out without waiting; returns whether none are
    /// left (always, but for a stream wire whose peer is slow).
    pub fn try_flush(&mut self) -> io::Result<bool> {
        match &mut self.wire {
            Wire::Stream(s) => s.drain_output(Duration::ZERO),
            _ => Ok(true),
        }
    }

    /// Bytes sent that the peer (QEMU) has not read yet, for a dgram wire
    /// (`None` for the others). Zero means QEMU took every frame, and so
    /// handed it to the guest (or dropped it).
    pub fn unread_by_peer(&self) -> io::Result<Option<usize>> {
        match &self.wire {
            Wire::Dgram(d) => sys::outq(d.fd()).map(Some),
            _ => Ok(None),
        }
    }

    /// Wait up to `timeout` for room to send; returns whether there is.
    pub fn wait_writable(&mut self, timeout: Duration) -> io::Result<bool> {
        match &mut self.wire {
            Wire::Dgram(d) => d.wait(libc::POLLOUT, timeout),
            Wire::Packet(p) => p.wait(libc::POLLOUT, timeout),
            Wire::Stream(s) => s.wait_writable(timeout),
            Wire::Vhost(v) => v.wait(vhost::RX_QUEUE, timeout),
        }
    }

    /// Hand every frame that arrives to `f`, from one batch: what is queued
    /// now, or else what arrives within `timeout` (zero: don't wait).
    /// Returns how many frames `f` saw.
    pub fn recv_batch(&mut self, timeout: Duration, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut n = 0;
        while let Some(frame) = self.pending.pop_front() {
            f(&frame);
            n += 1;
        }
        if n > 0 {
            return Ok(n);
        }
        match &mut self.wire {
            Wire::Stream(s) => s.recv_batch(timeout, f),
            Wire::Vhost(v) => v.recv_batch(timeout, f),
            _ => {
                let mut got = self.recv_raw()?;
                if got == 0 && !self.busy_poll.is_zero() && !timeout.is_zero() {
                    let until = Instant::now() + self.busy_poll.min(timeout);
                    while got == 0 && Instant::now() < until {
                        std::hint::spin_loop();
                        got = self.recv_raw()?;
                    }
                }
                if got == 0 && !timeout.is_zero() {
                    let ready = match &self.wire {
                        Wire::Dgram(d) => d.wait(libc::POLLIN, timeout)?,
                        Wire::Packet(p) => p.wait(libc::POLLIN, timeout)?,
                        Wire::Stream(_) | Wire::Vhost(_) => unreachable!(),
                    };
                    if ready {
                        got = self.recv_raw()?;
                    }
                }
                let is_packet = matches!(self.wire, Wire::Packet(_));
                for i in 0..got {
                    if is_packet && !Packet::incoming(&self.rx, i) {
                        self.stats.outgoing += 1;
                        continue;
                    }
                    if self.rx.truncated(i) {
                        self.stats.truncated += 1;
                    }
                    f(self.rx.frame(i));
                    n += 1;
                }
                Ok(n)
            }
        }
    }

    fn recv_raw(&mut self) -> io::Result<usize> {
        match &mut self.wire {
            Wire::Dgram(d) => d.recv_batch(&mut self.rx),
            Wire::Packet(p) => p.recv_batch(&mut self.rx),
            Wire::Stream(_) | Wire::Vhost(_) => {
                unreachable!("stream and vhost wires frame their own input")
            }
        }
    }

    /// The next frame, waiting up to `timeout` for one.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Ok(Some(f));
            }
            let mut got = VecDeque::new();
            let left = deadline.saturating_duration_since(Instant::now());
            self.recv_batch(left, &mut |f| got.push_back(f.to_vec()))?;
            self.pending = got;
            if self.pending.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}

/// Sleep until one of the endpoints is ready for its events (`libc::POLLIN`
/// to receive, `libc::POLLOUT` to send) or `timeout` passes: one thread
/// serving several ports waits here.
pub fn wait_any(endpoints: &mut [(&mut Endpoint, i16)], timeout: Duration) -> io::Result<()> {
    // A vhost-user port sleeps on its kick eventfd, once kicks are re-armed
    // (and work that raced in is found first).
    for (ep, events) in endpoints.iter_mut() {
        if let Wire::Vhost(v) = &mut ep.wire {
            let rx = *events & libc::POLLIN != 0 && v.arm(vhost::TX_QUEUE);
            let tx = *events & libc::POLLOUT != 0 && v.arm(vhost::RX_QUEUE);
            if rx || tx {
                return Ok(());
            }
        }
    }
    let mut fds = Vec::with_capacity(endpoints.len());
    for (ep, events) in endpoints.iter() {
        // Frames a receive already took in count as ready.
        if *events & libc::POLLIN != 0 && !ep.pending.is_empty() {
            return Ok(());
        }
        let fd = match &ep.wire {
            Wire::Dgram(d) => Some((d.fd(), *events)),
            Wire::Packet(p) => Some((p.fd(), *events)),
            Wire::Stream(s) => s.fd().map(|fd| (fd, *events)),
            Wire::Vhost(v) => Some((v.wake_fd(), libc::POLLIN)),
        };
        fds.extend(fd);
    }
    sys::wait_any(&fds, timeout)
}

#[cfg(test)]
pub(crate) mod tests;

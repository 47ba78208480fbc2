//! `pkt-gen`: netmap's packet generator and sink, on any port.
//!
//! ```text
//! pkt-gen -i vale0:b -f rx                     # count what arrives
//! pkt-gen -i vale0:a -f tx -l 60 -n 1000000    # send a million frames
//! pkt-gen -i x}1 -f rxseq                      # check their order
//! pkt-gen -i x{1 -f txseq -R 100000            # 100 kpps, numbered
//! pkt-gen -i vale0:b -f pong                   # echo back
//! pkt-gen -i vale0:a -f ping -n 1000           # round-trip times
//! pkt-gen -i vale0:a -S 02:00:00:00:00:01+4096 -s 10.0.0.1:1-100   # a flow mix
//! ```
//!
//! Two pkt-gens on `vale0:a` and `vale0:b` measure the switch alone, no
//! device in the path. Flags (see [`args`]): `-i PORT`, `-f MODE`, `-l LEN`
//! (60..=9216, at most the port's buffer), `-n COUNT` (0: no end), `-R PPS`
//! (0: no limit), `-b BATCH` (frames per txsync, default 512; for ping the
//! frames in flight, default 1), `-s`/`-d IP[-IP][:PORT[-PORT]]`,
//! `-S`/`-D MAC[-MAC|+N]` (defaults 10.0.0.1:1234, 10.1.0.1:1234,
//! 02:00:00:00:00:01, ff:ff:ff:ff:ff:ff), `-T MS` (report interval,
//! default 1000, 0: none).
//!
//! The frames ([`frame`]): Ethernet, IPv4 (valid checksum), UDP (checksum
//! 0), then a tag, a sequence number and a send time. Every frame is a
//! copy of a template built at start, patched with its flow's addresses
//! (when ranges are given), its sequence number and (ping) its time.
//! Nothing is allocated after start; each ring gets one txsync per pass.
//!
//! What it prints: [`App::report`] every `-T` ms,
//! `pkt-gen PORT MODE: X.XXX Mpps Y.YYY Gbps (total N)` over the interval;
//! [`App::status`] and [`App::summary`],
//! `PORT MODE: N frames B bytes in S.MMM s, X.XXX Mpps Y.YYY Gbps` over
//! the time from the first frame to the last, then per mode `lost L dup D
//! reordered R` (rxseq), `replies R rtt us min … avg … p50 … p90 … p99 …
//! max …` (ping; the summary adds `lost`), and `ignored N` if frames that
//! are not pkt-gen's arrived (rxseq, ping, pong).
//!
//! When it finishes (`-n`): tx and txseq once COUNT frames were sent and
//! the port gave every buffer back; rx and pong once COUNT frames came
//! (rxseq also once the sequence reached the COUNTth number: lost frames
//! count); ping once COUNT pings were sent and answered, or a second
//! passed since the last.

pub mod args;
pub mod frame;
pub mod stats;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::{open, App, AppError, AppInfo, Handle, Ports};
use args::{Args, Mode};
use frame::Flows;
use stats::{write_rate, write_secs, write_us, Bucket, Histogram, SeqCheck};

pub const INFO: AppInfo = AppInfo {
    name: "pkt-gen",
    usage: args::USAGE,
    help: "netmap's packet generator and sink: tx, rx, ping, pong, txseq, rxseq on any port",
    start,
};

/// How long a ping waits for the answers to a batch.
pub const PING_TIMEOUT_NS: u64 = 1_000_000_000;

fn start(args: &[&str], ports: &dyn Ports, now: u64) -> Result<Box<dyn App>, AppError> {
    Ok(Box::new(PktGen::start(args, ports, now)?))
}

/// Counters, in the frames of the mode: sent (tx, txseq, ping), received
/// (rx, rxseq) or echoed (pong).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub frames: u64,
    pub bytes: u64,
    /// Ping: answers received.
    pub replies: u64,
    /// Frames that were not pkt-gen's (rxseq, ping, pong), dropped.
    pub ignored: u64,
}

/// A running pkt-gen.
#[derive(Debug)]
pub struct PktGen {
    args: Args,
    handle: Handle,
    template: Vec<u8>,
    flows: Flows,
    counts: Counts,
    bucket: Bucket,
    /// The next sequence number to send.
    seq: u32,
    check: SeqCheck,
    rtt: Box<Histogram>,
    /// Ping: the first sequence number of the batch in flight, how many
    /// of it are unanswered, when it went.
    batch_seq: u32,
    in_flight: u32,
    batch_at: u64,
    /// When the first and the latest frame moved.
    first_ns: Option<u64>,
    last_ns: u64,
    /// Report: when the next is due, and the totals at the previous.
    next_report: u64,
    last_report: (u64, u64, u64),
    done: bool,
}

impl PktGen {
    /// Parse `args`, open the port, build the template.
    pub fn start(args: &[&str], ports: &dyn Ports, now: u64) -> Result<Self, AppError> {
        let a = Args::parse(args)?;
        let mut handle = open(ports, &a.port)?;
        let (ntx, nrx) = handle.num_rings();
        let ring = if a.mode == Mode::Rx || a.mode == Mode::RxSeq {
            handle.rx_ring(0)
        } else {
            handle.tx_ring(0)
        };
        // A sink needs rx rings only (a monitor, `PORT/r`, has no others);
        // a sender tx rings; ping and pong both.
        let needs = match a.mode {
            Mode::Rx | Mode::RxSeq => nrx > 0,
            Mode::Tx | Mode::TxSeq => ntx > 0,
            Mode::Ping | Mode::Pong => ntx > 0 && nrx > 0,
        };
        let Some(ring) = ring.filter(|_| needs) else {
            return Err(AppError::Usage(alloc::format!(
                "pkt-gen: {} has no rings",
                a.port
            )));
        };
        if a.len > ring.nr_buf_size() {
            return Err(AppError::Usage(alloc::format!(
                "pkt-gen: -l {} is more than {}'s buffers hold ({})",
                a.len,
                a.port,
                ring.nr_buf_size()
            )));
        }
        let ms = 1_000_000;
        Ok(PktGen {
            template: frame::template(&a),
            flows: Flows::new(a.src, a.dst, a.smac, a.dmac),
            counts: Counts::default(),
            bucket: Bucket::new(a.rate, a.batch, now),
            seq: 0,
            check: SeqCheck::default(),
            rtt: Box::default(),
            batch_seq: 0,
            in_flight: 0,
            batch_at: now,
            first_ns: None,
            last_ns: now,
            next_report: now.saturating_add(a.report_ms.saturating_mul(ms)),
            last_report: (now, 0, 0),
            done: false,
            handle,
            args: a,
        })
    }

    pub fn args(&self) -> &Args {
        &self.args
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// rxseq's sequence check.
    pub fn seq_check(&self) -> &SeqCheck {
        &self.check
    }

    /// Ping's round-trip times.
    pub fn rtt(&self) -> &Histogram {
        &self.rtt
    }

    fn moved(&mut self, n: u32, now: u64) {
        if n > 0 {
            self.first_ns.get_or_insert(now);
            self.last_ns = now;
        }
    }

    /// Frames still to do under `-n`.
    fn remaining(&self) -> u64 {
        match self.args.count {
            0 => u64::MAX,
            c => c.saturating_sub(self.counts.frames),
        }
    }

    /// Fill up to `budget` tx slots from the template, one txsync per ring
    /// (also to reclaim what was sent when nothing is due). Returns the
    /// frames sent and whether every ring is back to empty.
    fn send(&mut self, now: u64, budget: u64) -> (u32, bool) {
        let PktGen {
            args,
            handle,
            template,
            flows,
            seq,
            ..
        } = self;
        let len = template.len();
        let (numbered, timed) = (args.mode != Mode::Tx, args.mode == Mode::Ping);
        let mut left = budget;
        let mut sent = 0u32;
        let mut drained = true;
        for r in 0..handle.num_rings().0 {
            let Some(t) = handle.tx_ring(r) else { break };
            let n = u64::from(t.space()).min(left) as u32;
            let mut i = t.cur;
            let mut done = 0;
            while done < n {
                let Ok(buf) = t.buf_mut(i) else { break };
                let f = &mut buf[..len];
                f.copy_from_slice(template);
                if flows.varies() {
                    flows.patch_and_step(f);
                }
                if numbered {
                    frame::set_seq(f, *seq);
                    *seq = seq.wrapping_add(1);
                }
                if timed {
                    frame::set_time(f, now);
                }
                t.slot[i as usize].len = len as u16;
                i = t.next(i);
                done += 1;
            }
            (t.head, t.cur) = (i, i);
            let pending = t.space() + 1 < t.num_slots();
            if done > 0 || pending {
                // A sync error is a ring reinit (head and cur stay in range,
                // so it cannot happen) or a port's own error; the next pass
                // starts clean either way.
                let _ = handle.txsync(r);
            }
            if let Some(t) = handle.tx_ring(r) {
                drained &= t.space() + 1 >= t.num_slots();
            }
            left -= u64::from(done);
            sent += done;
        }
        self.counts.frames += u64::from(sent);
        self.counts.bytes += u64::from(sent) * len as u64;
        (sent, drained)
    }

    /// Drain the rx rings, at most `limit` frames (a chain of fragments,
    /// `NS_MOREFRAG`, is one frame, read from its first slot, its bytes
    /// all counted; an incomplete chain waits for the next pass); one
    /// rxsync to look and one to give the slots back, per ring.
    fn receive(&mut self, now: u64, limit: u64) -> u32 {
        let mut left = limit;
        let mut got = 0u32;
        for r in 0..self.handle.num_rings().1 {
            let _ = self.handle.rxsync(r);
            let Some(ring) = self.handle.rx_ring(r) else {
                break;
            };
            let start = ring.cur;
            let mut n = 0u32;
            while u64::from(n) < left {
                let Some(k) = crate::frame_slots(ring) else {
                    break;
                };
                let f = ring.frame(ring.cur).unwrap_or(&[]);
                let mut len = f.len() as u64;
                let mut i = ring.cur;
                for _ in 1..k {
                    i = ring.next(i);
                    len += u64::from(ring.slot[i as usize].len);
                }
                match self.args.mode {
                    Mode::RxSeq | Mode::Ping if !frame::is_pktgen(f) => self.counts.ignored += 1,
                    Mode::RxSeq => {
                        self.check.see(frame::seq(f));
                        self.counts.frames += 1;
                        self.counts.bytes += len;
                    }
                    Mode::Ping => {
                        self.rtt.record(now.saturating_sub(frame::time(f)));
                        let s = frame::seq(f).wrapping_sub(self.batch_seq);
                        if s < self.seq.wrapping_sub(self.batch_seq) {
                            self.in_flight = self.in_flight.saturating_sub(1);
                        }
                        self.counts.replies += 1;
                    }
                    _ => {
                        self.counts.frames += 1;
                        self.counts.bytes += len;
                    }
                }
                ring.cur = ring.next(i);
                n += 1;
            }
            if ring.cur != start {
                ring.head = ring.cur;
                let _ = self.handle.rxsync(r);
            }
            left -= u64::from(n);
            got += n;
        }
        got
    }

    /// Pong: every pkt-gen frame back out, addresses swapped (rx ring `r`
    /// to tx ring `r` modulo the tx rings, by buffer swap).
    fn pong(&mut self) -> u32 {
        let mut left = self.remaining();
        let mut echoed = 0u32;
        let (ntx, nrx) = self.handle.num_rings();
        for r in 0..nrx {
            let _ = self.handle.rxsync(r);
            let (tx, rx) = self.handle.rings_mut();
            let (Some(rr), Some(t)) = (rx.get_mut(r), tx.get_mut(r % ntx)) else {
                break;
            };
            let start = rr.cur;
            let mut j = t.cur;
            let mut sent = 0u32;
            while let Some(k) = crate::frame_slots(rr) {
                let i = rr.cur;
                let f = rr.frame(i).unwrap_or(&[]);
                if k > 1 || !frame::is_pktgen(f) {
                    // Not ours (pkt-gen never sends chains): dropped.
                    self.counts.ignored += 1;
                    for _ in 0..k {
                        rr.cur = rr.next(rr.cur);
                    }
                    continue;
                }
                if left == 0 || t.space() == 0 || rr.swap_buf(i, t, j).is_err() {
                    break;
                }
                let len = usize::from(t.slot[j as usize].len);
                if let Ok(b) = t.buf_mut(j) {
                    frame::swap_addresses(&mut b[..len]);
                }
                self.counts.bytes += len as u64;
                j = t.next(j);
                (t.head, t.cur) = (j, j);
                rr.cur = rr.next(i);
                sent += 1;
                left -= 1;
            }
            let consumed = rr.cur != start;
            rr.head = rr.cur;
            let pending = t.space() + 1 < t.num_slots();
            if sent > 0 || pending {
                let _ = self.handle.txsync(r % ntx);
            }
            if consumed {
                let _ = self.handle.rxsync(r);
            }
            echoed += sent;
        }
        self.counts.frames += u64::from(echoed);
        echoed
    }

    fn ping(&mut self, now: u64) -> u32 {
        let got = self.receive(now, u64::MAX);
        let timed_out = now.saturating_sub(self.batch_at) >= PING_TIMEOUT_NS;
        let mut sent = 0;
        if self.in_flight == 0 || timed_out {
            let budget = u64::from(self.args.batch)
                .min(self.bucket.available(now))
                .min(self.remaining());
            if budget > 0 {
                let first = self.seq;
                let (n, _) = self.send(now, budget);
                self.bucket.take(n.into());
                if n > 0 {
                    (self.batch_seq, self.in_flight, self.batch_at) = (first, n, now);
                }
                sent = n;
            }
        }
        if sent == 0 {
            // Reclaim what went.
            let _ = self.send(now, 0);
        }
        let waited = now.saturating_sub(self.batch_at) >= PING_TIMEOUT_NS;
        if self.args.count > 0
            && self.counts.frames >= self.args.count
            && (self.in_flight == 0 || waited)
        {
            self.done = true;
        }
        got + sent
    }

    fn write_counts(&self, out: &mut dyn fmt::Write, summary: bool) -> fmt::Result {
        let a = &self.args;
        let c = &self.counts;
        write!(
            out,
            "{} {}: {} frames {} bytes",
            a.port,
            a.mode.name(),
            c.frames,
            c.bytes
        )?;
        if let Some(first) = self.first_ns {
            let span = self.last_ns - first;
            out.write_str(" in ")?;
            write_secs(out, span)?;
            if span > 0 {
                out.write_str(", ")?;
                write_rate(out, c.frames, c.bytes, span)?;
            }
        }
        match a.mode {
            Mode::RxSeq => {
                let k = &self.check;
                write!(
                    out,
                    ", lost {} dup {} reordered {}",
                    k.lost, k.dup, k.reordered
                )?;
            }
            Mode::Ping => {
                write!(out, ", replies {}", c.replies)?;
                if summary {
                    write!(out, " lost {}", c.frames.saturating_sub(c.replies))?;
                }
                let h = &*self.rtt;
                if let (Some(min), Some(avg), Some(max)) = (h.min(), h.mean(), h.max()) {
                    out.write_str(", rtt us min ")?;
                    write_us(out, min)?;
                    out.write_str(" avg ")?;
                    write_us(out, avg)?;
                    for p in [50, 90, 99] {
                        write!(out, " p{p} ")?;
                        write_us(out, h.percentile(p).unwrap_or(0))?;
                    }
                    out.write_str(" max ")?;
                    write_us(out, max)?;
                }
            }
            _ => {}
        }
        if c.ignored > 0 {
            write!(out, ", ignored {}", c.ignored)?;
        }
        Ok(())
    }
}

impl App for PktGen {
    fn poll(&mut self, now: u64) -> Result<u32, AppError> {
        if self.done {
            return Ok(0);
        }
        let n = match self.args.mode {
            Mode::Tx | Mode::TxSeq => {
                let budget = u64::from(self.args.batch)
                    .min(self.bucket.available(now))
                    .min(self.remaining());
                let (n, drained) = self.send(now, budget);
                self.bucket.take(n.into());
                self.done = self.args.count > 0 && self.remaining() == 0 && drained;
                n
            }
            Mode::Rx | Mode::RxSeq => {
                let n = self.receive(now, self.remaining());
                self.done = self.args.count > 0
                    && (self.remaining() == 0 || self.check.span() >= self.args.count);
                n
            }
            Mode::Pong => {
                let n = self.pong();
                self.done = self.args.count > 0 && self.remaining() == 0;
                n
            }
            Mode::Ping => self.ping(now),
        };
        self.moved(n, now);
        Ok(n)
    }

    fn status(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.write_counts(out, false)
    }

    fn report(&mut self, now: u64, out: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
        let a = &self.args;
        if a.report_ms == 0 || now < self.next_report {
            return Ok(false);
        }
        let (t0, f0, b0) = self.last_report;
        let c = &self.counts;
        write!(out, "pkt-gen {} {}: ", a.port, a.mode.name())?;
        write_rate(out, c.frames - f0, c.bytes - b0, now.saturating_sub(t0))?;
        write!(out, " (total {})", c.frames)?;
        match a.mode {
            Mode::RxSeq => {
                let k = &self.check;
                write!(
                    out,
                    " lost {} dup {} reordered {}",
                    k.lost, k.dup, k.reordered
                )?;
            }
            Mode::Ping => {
                write!(out, " replies {}", c.replies)?;
                if let Some(p) = self.rtt.percentile(50) {
                    out.write_str(" rtt p50 ")?;
                    write_us(out, p)?;
                    out.write_str(" us")?;
                }
            }
            _ => {}
        }
        self.last_report = (now, c.frames, c.bytes);
        let period = a.report_ms.saturating_mul(1_000_000);
        // On the beat; after a long pause, one report and a new beat.
        self.next_report = self.next_report.saturating_add(period);
        if self.next_report <= now {
            self.next_report = now.saturating_add(period);
        }
        Ok(true)
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn summary(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.write_counts(out, true)
    }

    fn handles(&self) -> Vec<&Handle> {
        vec![&self.handle]
    }
}

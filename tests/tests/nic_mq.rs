//! Multi-queue vhost-user NICs (`--nic vhost-user:PATH,queues=2`) through
//! the real image. The test is the device side of both NICs (the
//! project's backend serving two queue pairs, spreading frames over the
//! guest's receive queues by a flow hash of the Ethernet and IPv4
//! addresses and UDP ports); the guest negotiates `VIRTIO_NET_F_MQ`, turns
//! both pairs on with `VQ_PAIRS_SET` and puts both NICs on `vale0`.
//!
//! Frames of many flows go from the host through the switch: every frame
//! arrives once, byte for byte, each flow in order (the device keeps a flow
//! on one queue, and a frame that came in on pair k leaves on pair k), and
//! the per-pair counters on both sides show that both pairs carried
//! traffic. With `--smp 1`, `--smp 2` (two pairs) and `--smp 4` (four
//! pairs): pair k is polled by CPU k mod N, and each CPU's own frame count
//! (`stats`) shows it forwarded its pairs' frames itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use integration::lab::{self, host_mac, BROADCAST};
use integration::timeouts::{scaled, COMMAND};
use integration::wire::{Endpoint, Options, Spec};
use integration::{Nic, Vm, VmOptions};

/// Frames in flight at most: under one pair's 512-slot transmit ring, so
/// nothing can be dropped however the flows fall on the pairs.
const WINDOW: usize = 256;
const FLOWS: u32 = 64;

fn frame_wait() -> Duration {
    scaled(Duration::from_secs(15))
}

struct Lab {
    vm: Vm,
    ends: Vec<Endpoint>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn boot(smp: u32, pairs: u16) -> Lab {
    boot_nics(smp, pairs, 2)
}

/// `nics` multi-queue NICs; the first two on `vale0`.
fn boot_nics(smp: u32, pairs: u16, nics: usize) -> Lab {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nmmq-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut opts = VmOptions::default().smp(smp);
    let mut ends = Vec::new();
    for i in 0..nics {
        let path = dir.join(format!("vu{i}"));
        let spec: Spec = format!("vhost-user:{},queues={pairs}", path.display())
            .parse()
            .unwrap();
        ends.push(Endpoint::open_with(&spec, &Options::default()).unwrap());
        opts = opts.nic(Nic::vhost_user(path).with_queues(pairs));
    }
    let mut vm = Vm::boot_to_prompt(opts).unwrap();
    for ep in &mut ends {
        ep.wait_connected(frame_wait()).unwrap();
    }
    for i in 0..2 {
        let out = vm
            .command_ok(&format!("vale-ctl -a vale0:virtio{i}"), COMMAND)
            .unwrap();
        assert_eq!(out, [format!("attached virtio{i} to vale0")]);
    }
    Lab { vm, ends, dir }
}

/// Ethernet/IPv4/UDP from `from`'s host to `to`'s, flow `seq % FLOWS`
/// (its source address and port), `seq` in the payload, 60..=1514 bytes.
fn udp(from: usize, to: usize, seq: u32) -> Vec<u8> {
    let flow = seq % FLOWS;
    let len = 60 + (seq as usize * 37) % 1455;
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&host_mac(to));
    f[6..12].copy_from_slice(&host_mac(from));
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, from as u8, 0, flow as u8]);
    f[30..34].copy_from_slice(&[10, to as u8, 0, 1]);
    f[34..36].copy_from_slice(&(2000 + flow as u16).to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&((len - 34) as u16).to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2654435761) | 1;
    for b in &mut f[46..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    f
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_be_bytes(f[42..46].try_into().unwrap())
}

impl Lab {
    /// The switch learns both hosts (a broadcast from each, received by
    /// the other).
    fn learn(&mut self) {
        for (from, to) in [(1, 0), (0, 1)] {
            let f = lab::frame(BROADCAST, host_mac(from), 1, 60);
            self.ends[from]
                .send_all(std::slice::from_ref(&f), frame_wait())
                .unwrap();
            assert_eq!(self.ends[to].recv(frame_wait()).unwrap(), Some(f));
        }
    }

    /// `count` frames of [`FLOWS`] flows from `from`'s host to `to`'s, at
    /// most [`WINDOW`] in flight: every one arrives once, byte for byte,
    /// each flow in order.
    fn forward(&mut self, from: usize, to: usize, count: u32) {
        forward(&mut self.ends, from, to, count);
    }
}

/// [`Lab::forward`] on the host ends alone (so another thread can drive
/// the console meanwhile).
fn forward(ends: &mut [Endpoint], from: usize, to: usize, count: u32) {
    let (mut next, mut got) = (0u32, 0u32);
    let mut seen: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut last: BTreeMap<u32, u32> = BTreeMap::new();
    while got < count {
        if next < count && (next - got) < WINDOW as u32 {
            let n = (count - next).min(WINDOW as u32 - (next - got));
            let batch: Vec<Vec<u8>> = (next..next + n).map(|s| udp(from, to, s)).collect();
            ends[from].send_all(&batch, frame_wait()).unwrap();
            next += n;
        }
        let g = ends[to]
            .recv(frame_wait())
            .unwrap()
            .unwrap_or_else(|| panic!("{from}->{to}: stalled after {got} of {count}"));
        let seq = seq_of(&g);
        assert!(seq < count, "{from}->{to}: unexpected seq {seq}");
        assert_eq!(g, udp(from, to, seq), "{from}->{to}: seq {seq} changed");
        assert!(
            seen.insert(seq, g).is_none(),
            "{from}->{to}: seq {seq} twice"
        );
        if let Some(prev) = last.insert(seq % FLOWS, seq) {
            assert!(prev < seq, "{from}->{to}: flow {} reordered", seq % FLOWS);
        }
        got += 1;
    }
    assert_eq!(seen.len() as u32, count);
}

fn frames_of_many_flows_cross_queue_pairs(smp: u32, pairs: u16) {
    let mut lab = boot(smp, pairs);
    let lines = lab.vm.command_ok("ifconfig virtio0", COMMAND).unwrap();
    let features: Vec<&str> = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("features "))
        .unwrap_or_else(|| panic!("no features line: {lines:?}"))
        .split_whitespace()
        .collect();
    for f in ["MQ", "CTRL_VQ"] {
        assert!(features.contains(&f), "{f} not negotiated: {features:?}");
    }
    let want = format!("queue-pairs {pairs} of {pairs}");
    assert!(lines.iter().any(|l| l.trim() == want), "{lines:?}");
    lab.learn();
    lab.vm.command_ok("stats reset", COMMAND).unwrap();
    const N: u32 = 3000;
    lab.forward(0, 1, N);
    lab.forward(1, 0, 1000);
    let p = usize::from(pairs);
    // Every pair carried traffic both ways, on both sides of both NICs.
    for i in 0..2 {
        let pf = lab.ends[i].vhost_pair_frames().unwrap();
        assert_eq!(pf.len(), p);
        for (k, q) in pf.iter().enumerate() {
            assert!(q.rx > 0 && q.tx > 0, "backend {i} pair {k}: {pf:?}");
        }
        let sent_in = pf.iter().map(|p| p.rx).sum::<u64>();
        let n = lab::nic_info(&mut lab.vm, &format!("virtio{i}"), COMMAND).unwrap();
        assert_eq!(n.pairs.len(), p, "virtio{i}: {n:?}");
        for (k, c) in n.pairs.iter().enumerate() {
            assert!(c.rx_pkts > 0 && c.tx_pkts > 0, "virtio{i} pair{k}: {n:?}");
            // The guest's pair k receives what the device put on queue 2k.
            assert_eq!(c.rx_pkts, pf[k].rx, "virtio{i} pair{k}: {n:?} vs {pf:?}");
            assert_eq!(n.pair_cpus[k], k % smp as usize, "virtio{i}: {n:?}");
        }
        assert_eq!(n.counters.rx_pkts, sent_in, "virtio{i}: {n:?}");
        assert_eq!(
            n.pairs.iter().map(|c| c.tx_pkts).sum::<u64>(),
            n.counters.tx_pkts
        );
        assert_eq!((n.device_errors, n.resets), (0, 0), "virtio{i}: {n:?}");
        let s = lab.ends[i].vhost_stats().unwrap();
        assert_eq!(
            (s.bad_chains, s.broken_queues),
            (0, 0),
            "backend {i}: {s:?}"
        );
    }
    // Each CPU that owns a pair forwarded frames itself; the others none.
    let stats = lab.vm.command_ok("stats", COMMAND).unwrap();
    let cpus = lab::cpu_stats(&stats).unwrap();
    assert_eq!(cpus.len(), smp as usize, "{stats:?}");
    for (c, s) in cpus.iter().enumerate() {
        if c < p {
            assert!(
                s.frames > 0 && s.busy > 0,
                "cpu{c} forwarded nothing: {stats:?}"
            );
        } else {
            assert_eq!(s.frames, 0, "cpu{c} owns no pair: {stats:?}");
        }
    }
    assert!(!lab.vm.output().contains("PANIC"));
}

#[test]
fn two_queue_pairs_forward_every_frame_once_in_flow_order() {
    frames_of_many_flows_cross_queue_pairs(1, 2);
}

#[test]
fn two_queue_pairs_on_two_cpus_forward_every_frame_once() {
    frames_of_many_flows_cross_queue_pairs(2, 2);
}

#[test]
fn four_queue_pairs_on_four_cpus_forward_every_frame_once() {
    frames_of_many_flows_cross_queue_pairs(4, 4);
}

#[test]
fn a_device_reset_brings_both_pairs_back() {
    let mut lab = boot(2, 2);
    lab.learn();
    lab.forward(0, 1, 500);
    let before: Vec<_> = lab.ends[1].vhost_pair_frames().unwrap();
    // The reset re-programs every pair and sends VQ_PAIRS_SET again.
    let out = lab.vm.command_ok("inject reset virtio1", COMMAND).unwrap();
    assert_eq!(out, ["virtio1: device reset requested"]);
    let deadline = std::time::Instant::now() + frame_wait();
    loop {
        let n = lab::nic_info(&mut lab.vm, "virtio1", COMMAND).unwrap();
        if n.resets == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reset: {n:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    lab.ends[1].wait_connected(frame_wait()).unwrap();
    lab.forward(0, 1, 500);
    lab.forward(1, 0, 500);
    let after = lab.ends[1].vhost_pair_frames().unwrap();
    for k in 0..2 {
        assert!(
            after[k].tx > before[k].tx && after[k].rx > before[k].rx,
            "pair {k} idle after the reset: {before:?} -> {after:?}"
        );
    }
    let n = lab::nic_info(&mut lab.vm, "virtio1", COMMAND).unwrap();
    assert_eq!((n.device_errors, n.resets), (0, 1), "{n:?}");
    assert!(!lab.vm.output().contains("PANIC"));
}

/// `mem`'s buffer pool audit says every buffer is accounted for.
fn assert_buffers_audited(vm: &mut Vm) {
    let mem = vm.command_ok("mem", COMMAND).unwrap();
    let re = regex_lite::Regex::new(integration::contract::MEM_BUFFERS).unwrap();
    let audit = mem
        .iter()
        .find_map(|l| re.captures(l.trim()))
        .unwrap_or_else(|| panic!("no buffers line: {mem:?}"));
    assert_eq!(&audit[3], "ok", "{mem:?}");
}

/// Attach and detach while both CPUs forward: frames of many flows go
/// from NIC 0 to NIC 1 (each CPU forwarding its own pair of each) while
/// the shell, on CPU 0, attaches and detaches a third two-pair NIC (whose
/// pairs join and leave both CPUs' poll lists) and creates and removes a
/// VALE port, over and over. The traffic loses nothing and keeps flow
/// order; afterwards the pool audit is exact and both directions still
/// forward.
#[test]
fn attach_and_detach_while_both_cpus_forward() {
    let mut lab = boot_nics(2, 2, 3);
    lab.ends[2].wait_connected(frame_wait()).unwrap();
    lab.learn();
    let Lab { vm, ends, .. } = &mut lab;
    let done = std::sync::atomic::AtomicBool::new(false);
    let cycles = std::thread::scope(|s| {
        let traffic = s.spawn(|| {
            forward(ends, 0, 1, 60_000);
            done.store(true, Ordering::Release);
        });
        // Cycles in all, and those that ended while the traffic still ran.
        let (mut cycles, mut during) = (0u32, 0u32);
        while !done.load(Ordering::Acquire) || cycles < 10 {
            for (cmd, want) in [
                ("vale-ctl -a vale0:virtio2", "attached virtio2 to vale0"),
                ("vale-ctl -n vale0:p9", "created vale0:p9"),
                ("vale-ctl -d vale0:virtio2", "detached virtio2 from vale0"),
                ("vale-ctl -r vale0:p9", "deleted vale0:p9"),
            ] {
                let out = vm.command_ok(cmd, COMMAND).unwrap();
                assert_eq!(out.len(), 1, "{cmd}: {out:?}");
                assert!(out[0].starts_with(want), "{cmd}: {out:?}");
            }
            cycles += 1;
            during += u32::from(!done.load(Ordering::Acquire));
            if traffic.is_finished() && cycles >= 10 {
                break;
            }
        }
        traffic.join().unwrap();
        (cycles, during)
    });
    let (cycles, during) = cycles;
    assert!(cycles >= 10, "{cycles} cycles");
    assert!(
        during >= 3,
        "only {during} of {cycles} cycles overlapped the traffic"
    );
    eprintln!("{during} of {cycles} attach/detach cycles overlapped the traffic");
    assert_buffers_audited(vm);
    for i in 0..2 {
        let n = lab::nic_info(vm, &format!("virtio{i}"), COMMAND).unwrap();
        assert_eq!((n.device_errors, n.resets), (0, 0), "virtio{i}: {n:?}");
    }
    lab.forward(1, 0, 2000);
    lab.forward(0, 1, 2000);
    assert!(!lab.vm.output().contains("PANIC"));
}

/// Interrupts wake the CPU that owns a pair: with every CPU asleep (no
/// traffic for a while), single frames of flows that land on each pair
/// cross one at a time, each woken by a NIC interrupt (not left for the
/// next timer tick), and CPU 1's interrupts count wake-ups besides its
/// ticks. Failed first: a multi-queue NIC's INTx line, raised at probe by
/// its control queue and not yet acknowledged when the line was routed,
/// never reached the CPU again, so every wake-up waited for a tick.
fn single_frames_wake_the_owning_cpu(smp: u32, pairs: u16) {
    let mut lab = boot(smp, pairs);
    lab.learn();
    lab.vm.command_ok("stats reset", COMMAND).unwrap();
    // QEMU kicks every queue once when the device starts: count from here.
    let before = lab.ends[1].vhost_pair_frames().unwrap();
    const FRAMES: u32 = 40;
    for seq in 0..FRAMES {
        // Long enough for every CPU to finish busy polling and halt.
        std::thread::sleep(Duration::from_millis(30));
        let f = udp(0, 1, seq);
        lab.ends[0]
            .send_all(std::slice::from_ref(&f), frame_wait())
            .unwrap();
        assert_eq!(lab.ends[1].recv(frame_wait()).unwrap(), Some(f));
    }
    // The backend sleeps between these frames with notifications on, so
    // the guest must ring each pair's transmit doorbell itself: every
    // queue has its own (failed first: only queues 0 and 1 had one, and
    // pair 1's frames waited for the backend to wake for another reason).
    let after = lab.ends[1].vhost_pair_frames().unwrap();
    for (k, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a.tx > b.tx,
            "pair {k} carried nothing: {before:?} -> {after:?}"
        );
        assert!(
            a.kicks > b.kicks,
            "pair {k} sent without a doorbell: {before:?} -> {after:?}"
        );
    }
    let stats = lab.vm.command_ok("stats", COMMAND).unwrap();
    let exits = stats
        .iter()
        .find_map(|l| integration::lab::Exits::parse(l))
        .unwrap_or_else(|| panic!("no exits line: {stats:?}"));
    // Every frame woke a halted guest: a NIC interrupt each time at least
    // (a tick may have come first now and then).
    assert!(
        exits.nic >= u64::from(FRAMES) / 2,
        "frames crossed without NIC interrupts: {stats:?}"
    );
    if smp > 1 {
        let cpus = lab::cpu_stats(&stats).unwrap();
        assert!(cpus[1].frames > 0, "{stats:?}");
        assert!(
            cpus[1].irqs > cpus[1].ticks,
            "cpu1 was woken by its ticks only: {stats:?}"
        );
    }
}

#[test]
fn single_frames_wake_one_cpu() {
    single_frames_wake_the_owning_cpu(1, 2);
}

#[test]
fn single_frames_wake_the_cpu_that_owns_their_pair() {
    single_frames_wake_the_owning_cpu(2, 2);
}

/// The single-queue NIC (no control queue) as the baseline.
#[test]
fn single_frames_wake_one_cpu_one_pair() {
    single_frames_wake_the_owning_cpu(1, 1);
}

/// Device resets while both CPUs forward: CPU 0 resets `virtio1` (all its
/// pairs, VQ_PAIRS_SET again) over and over while a host thread keeps
/// frames of many flows going from NIC 0 to NIC 1, so CPU 1 is syncing
/// pair 1 of the NIC being reset. Frames in flight may be lost (counted in
/// `lost-in-reset`), nothing else: every reset is counted and recovers,
/// the pool audit is exact, and afterwards both directions forward every
/// frame again.
#[test]
fn device_resets_while_both_cpus_forward() {
    let mut lab = boot(2, 2);
    lab.learn();
    lab.vm.command_ok("stats reset", COMMAND).unwrap();
    let Lab { vm, ends, .. } = &mut lab;
    let stop = std::sync::atomic::AtomicBool::new(false);
    const RESETS: u64 = 8;
    let sent = std::thread::scope(|s| {
        let traffic = s.spawn(|| {
            let mut seq = 0u32;
            while !stop.load(Ordering::Acquire) {
                let batch: Vec<Vec<u8>> = (seq..seq + 64).map(|q| udp(0, 1, q)).collect();
                ends[0].send_all(&batch, frame_wait()).unwrap();
                seq += 64;
                // Drain what arrived; losses during a reset are expected.
                while ends[1].recv(Duration::from_millis(1)).unwrap().is_some() {}
            }
            seq
        });
        // However this thread leaves the scope (a failed assertion too),
        // the traffic thread stops: the scope waits for it.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let stopper = Stop(&stop);
        for n in 1..=RESETS {
            let out = vm.command_ok("inject reset virtio1", COMMAND).unwrap();
            assert_eq!(out, ["virtio1: device reset requested"]);
            let deadline = std::time::Instant::now() + frame_wait();
            loop {
                let i = lab::nic_info(vm, "virtio1", COMMAND).unwrap();
                if i.resets == n {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "reset {n}: {i:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        drop(stopper);
        traffic.join().unwrap()
    });
    assert!(sent > 0);
    // Both CPUs forwarded while the resets ran.
    let stats = vm.command_ok("stats", COMMAND).unwrap();
    let cpus = lab::cpu_stats(&stats).unwrap();
    assert!(cpus.iter().all(|c| c.frames > 0), "{stats:?}");
    assert_buffers_audited(vm);
    let n = lab::nic_info(vm, "virtio1", COMMAND).unwrap();
    assert_eq!((n.resets, n.device_errors), (RESETS, 0), "{n:?}");
    lab.ends[1].wait_connected(frame_wait()).unwrap();
    // Frames of the traffic still queued in the guest come out now: let
    // them, before counting exactly.
    let quiet = scaled(Duration::from_millis(300));
    lab::drain(&mut lab.ends[1], quiet, quiet).unwrap();
    lab.forward(0, 1, 2000);
    lab.forward(1, 0, 2000);
    assert!(!lab.vm.output().contains("PANIC"));
}

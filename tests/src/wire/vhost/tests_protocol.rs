//! The whole backend (protocol, relay, datapath) against the guest driver
//! model: what QEMU and a guest would do, and what a hostile one would.

use std::time::{Duration, Instant};

use vm_memory::{Bytes, GuestAddress};

use super::backend::{BackendOptions, RX_QUEUE, TX_QUEUE};
use super::model::{GuestModel, RAM};
use crate::wire::{Endpoint, Options, Spec};

const WAIT: Duration = Duration::from_secs(10);

/// A backend listening on a fresh socket (shared with `tests_mq`).
pub(super) struct Rig {
    pub(super) ep: Endpoint,
    pub(super) path: std::path::PathBuf,
}

pub(super) fn rig(name: &str, vhost: BackendOptions) -> Rig {
    let path = std::env::temp_dir().join(format!("nm-vu-{name}-{}.sock", std::process::id()));
    let opts = Options {
        vhost,
        ..Options::default()
    };
    let ep = Endpoint::open_with(
        &Spec::VhostUser {
            path: path.clone(),
            queues: 1,
        },
        &opts,
    )
    .unwrap();
    Rig { ep, path }
}

impl Rig {
    fn guest(&mut self) -> GuestModel {
        let mut g = GuestModel::connect(&self.path, 256).unwrap();
        g.post_rx_all();
        self.ep.wait_connected(WAIT).unwrap();
        g
    }
}

fn frame(seq: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seq).collect()
}

/// Poll the model until it has `n` frames (or the wait ends).
fn receive(g: &mut GuestModel, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        got.extend(g.receive());
        std::thread::sleep(Duration::from_micros(100));
    }
    got
}

#[test]
fn frames_cross_the_protocol_both_ways_byte_for_byte() {
    let mut r = rig("both", BackendOptions::default());
    let mut g = r.guest();
    // Into the guest: several ring's worth, sizes 14..1514.
    let sent: Vec<Vec<u8>> = (0..600)
        .map(|i| frame(i as u8, 14 + (i * 37) % 1501))
        .collect();
    let (mut next, mut got) = (0, Vec::new());
    let deadline = Instant::now() + WAIT;
    while got.len() < sent.len() && Instant::now() < deadline {
        next += r.ep.send_batch(&sent[next..]).unwrap();
        got.extend(g.receive());
    }
    assert_eq!(got, sent);
    // Out of the guest.
    let out: Vec<Vec<u8>> = (0..300)
        .map(|i| frame(i as u8 ^ 0x55, 60 + i % 1455))
        .collect();
    let mut got = Vec::new();
    let mut next = 0;
    let deadline = Instant::now() + WAIT;
    while got.len() < out.len() && Instant::now() < deadline {
        let refs: Vec<&[u8]> = out[next..].iter().map(|f| &f[..]).collect();
        next += g.transmit(&refs);
        r.ep.recv_batch(Duration::from_millis(1), &mut |f| got.push(f.to_vec()))
            .unwrap();
    }
    assert_eq!(got, out);
    let s = r.ep.vhost_stats().unwrap();
    assert_eq!(
        (s.rx_frames, s.tx_frames, s.bad_chains, s.broken_queues),
        (600, 300, 0, 0)
    );
    assert_eq!(s.connections, 1);
    // The backend wrote the header: zero but num_buffers = 1.
    let mut hdr = [0u8; 12];
    g.mem
        .read_slice(&mut hdr, GuestAddress(g.q[RX_QUEUE].buf(0)))
        .unwrap();
    assert_eq!(hdr, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
}

#[test]
fn out_of_order_mode_completes_each_batch_in_reverse() {
    let mut r = rig(
        "ooo",
        BackendOptions {
            out_of_order: true,
            ..Default::default()
        },
    );
    let mut g = r.guest();
    assert_eq!(
        g.features & (1 << 35),
        0,
        "no IN_ORDER offered in this mode"
    );
    let sent: Vec<Vec<u8>> = (0..4).map(|i| frame(i, 60)).collect();
    assert_eq!(r.ep.send_batch(&sent).unwrap(), 4);
    let used = g.take_used(RX_QUEUE);
    let ids: Vec<u32> = used.iter().map(|u| u.0).collect();
    assert_eq!(ids, [3, 2, 1, 0]);
    assert!(used.iter().all(|u| u.1 == 72));
}

#[test]
fn event_idx_is_offered_unless_asked_not_to() {
    let mut r = rig(
        "evidx",
        BackendOptions {
            event_idx: false,
            ..Default::default()
        },
    );
    let g = r.guest();
    assert_eq!(g.features & (1 << 29), 0);
    assert_ne!(g.features & (1 << 32), 0, "VERSION_1");
    let mut r2 = rig("evidx2", BackendOptions::default());
    assert_ne!(r2.guest().features & (1 << 29), 0);
}

#[test]
fn a_hostile_driver_is_counted_and_the_backend_goes_on() {
    let mut r = rig("hostile", BackendOptions::default());
    let mut g = r.guest();
    // A transmit descriptor outside guest RAM: handed back unused, counted.
    g.write_desc(TX_QUEUE, 0, RAM as u64 + 4096, 100, 0, 0);
    g.push_avail(TX_QUEUE, 0);
    g.publish(TX_QUEUE);
    let mut seen = 0;
    r.ep.recv_batch(Duration::from_millis(100), &mut |_| seen += 1)
        .unwrap();
    assert_eq!(seen, 0);
    assert_eq!(r.ep.vhost_stats().unwrap().bad_chains, 1);
    assert_eq!(g.take_used(TX_QUEUE), [(0, 0)]);
    // A loop and a chain shorter than the header, the same way.
    g.write_desc(TX_QUEUE, 2, g.q[TX_QUEUE].buf(2), 8, 1, 2);
    g.write_desc(TX_QUEUE, 4, g.q[TX_QUEUE].buf(4), 8, 0, 0);
    g.push_avail(TX_QUEUE, 2);
    g.push_avail(TX_QUEUE, 4);
    g.publish(TX_QUEUE);
    r.ep.recv_batch(Duration::from_millis(100), &mut |_| seen += 1)
        .unwrap();
    assert_eq!((seen, r.ep.vhost_stats().unwrap().bad_chains), (0, 3));
    // A good frame still passes.
    let f = frame(9, 100);
    assert_eq!(g.transmit(&[&f]), 1);
    assert_eq!(r.ep.recv(WAIT).unwrap(), Some(f));
    // An avail index a ring and more ahead: the queue is broken and left
    // alone; nothing panics, the receive side still works.
    let jump = g.q[TX_QUEUE].avail_idx.wrapping_add(1000);
    g.set_avail_idx(TX_QUEUE, jump);
    assert_eq!(r.ep.recv(Duration::from_millis(200)).unwrap(), None);
    assert_eq!(r.ep.vhost_stats().unwrap().broken_queues, 1);
    assert_eq!(r.ep.send_batch(&[frame(1, 60)]).unwrap(), 1);
    assert_eq!(receive(&mut g, 1), [frame(1, 60)]);
    // A receive chain of a readable buffer: wrong direction, given back
    // with length 0 and the frame goes into the next good buffer.
    let used_before = r.ep.vhost_stats().unwrap().bad_chains;
    drop(g);
    let mut g = GuestModel::connect(&r.path, 256).unwrap();
    g.write_desc(RX_QUEUE, 0, g.q[RX_QUEUE].buf(0), 2048, 0, 0);
    g.write_desc(RX_QUEUE, 1, g.q[RX_QUEUE].buf(1), 2048, 2, 0);
    g.push_avail(RX_QUEUE, 0);
    g.push_avail(RX_QUEUE, 1);
    g.publish(RX_QUEUE);
    r.ep.wait_connected(WAIT).unwrap();
    assert_eq!(r.ep.send_batch(&[frame(2, 60)]).unwrap(), 1);
    assert_eq!(g.take_used(RX_QUEUE), [(0, 0), (1, 72)]);
    assert_eq!(r.ep.vhost_stats().unwrap().bad_chains, used_before + 1);
}

#[test]
fn a_new_connection_is_served_after_the_old_one_ends() {
    let mut r = rig("reconnect", BackendOptions::default());
    for round in 1..=3u64 {
        let mut g = r.guest();
        let f = frame(round as u8, 200);
        r.ep.send_all(&[&f], WAIT).unwrap();
        assert_eq!(receive(&mut g, 1), std::slice::from_ref(&f));
        assert_eq!(g.transmit(&[&f]), 1);
        assert_eq!(r.ep.recv(WAIT).unwrap(), Some(f));
        assert_eq!(r.ep.vhost_stats().unwrap().connections, round);
        drop(g); // the frontend's socket closes: QEMU exiting
    }
    // With nobody connected, nothing is taken and nothing blocks.
    let deadline = Instant::now() + WAIT;
    while r.ep.send_batch(&[frame(0, 60)]).unwrap() != 0 {
        assert!(
            Instant::now() < deadline,
            "the old connection was never torn down"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_frame_too_big_for_the_guests_buffer_is_dropped_and_counted() {
    let mut r = rig("toobig", BackendOptions::default());
    let mut g = r.guest();
    let big = frame(1, 2048); // + 12-byte header > one 2048-byte buffer
    let ok = frame(2, 60);
    assert_eq!(r.ep.send_batch(&[&big[..], &ok[..]]).unwrap(), 2);
    assert_eq!(receive(&mut g, 1), [ok]);
    assert_eq!(r.ep.vhost_stats().unwrap().rx_too_big, 1);
}

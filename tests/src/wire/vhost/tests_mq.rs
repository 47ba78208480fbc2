//! Several queue pairs (`BackendOptions::queue_pairs`) against the guest
//! driver model: frames to the guest spread over its receive queues by
//! flow, every frame once and each flow in order; frames from every
//! transmit queue drained; a guest that uses one pair gets everything there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::backend::{BackendOptions, VIRTIO_NET_F_MQ};
use super::model::GuestModel;
use super::port::flow_queue;
use crate::wire::Endpoint;

const WAIT: Duration = Duration::from_secs(10);

fn open(name: &str, pairs: u16) -> (Endpoint, std::path::PathBuf) {
    let vhost = BackendOptions {
        queue_pairs: pairs,
        ..Default::default()
    };
    let r = super::tests_protocol::rig(&format!("mq-{name}"), vhost);
    (r.ep, r.path)
}

/// Ethernet/IPv4/UDP, flow `flow` (its source address and port), sequence
/// number `seq` in the payload, `len` bytes.
fn udp(flow: u16, seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(60)];
    f[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, (flow >> 8) as u8, flow as u8]);
    f[30..34].copy_from_slice(&[10, 1, 0, 1]);
    f[34..36].copy_from_slice(&(1000 + flow).to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[46..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ seq as u8;
    }
    f
}

fn flow_of(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[28], f[29]])
}

#[test]
fn mq_is_offered_only_with_several_pairs() {
    let one = BackendOptions::default();
    assert_eq!(one.features() & (1 << VIRTIO_NET_F_MQ), 0);
    assert_eq!(one.num_queues(), 2);
    let two = BackendOptions {
        queue_pairs: 2,
        ..one
    };
    assert_ne!(two.features() & (1 << VIRTIO_NET_F_MQ), 0);
    assert_eq!(two.num_queues(), 4);
    let (_ep, path) = open("offer", 2);
    let g = GuestModel::connect_pairs(&path, 256, 2).unwrap();
    assert_ne!(g.features & (1 << VIRTIO_NET_F_MQ), 0);
}

#[test]
fn frames_of_many_flows_spread_over_every_rx_queue_each_flow_in_order() {
    let (mut ep, path) = open("spread", 2);
    let mut g = GuestModel::connect_pairs(&path, 256, 2).unwrap();
    g.post_rx_all_on(0);
    g.post_rx_all_on(1);
    ep.wait_connected(WAIT).unwrap();
    // 64 flows, 20 frames each, interleaved; more than both rings hold.
    let sent: Vec<Vec<u8>> = (0..1280u32)
        .map(|i| udp((i % 64) as u16, i / 64, 60 + (i as usize * 31) % 1455))
        .collect();
    let mut got: [Vec<Vec<u8>>; 2] = Default::default();
    let (mut next, deadline) = (0, Instant::now() + WAIT);
    while got[0].len() + got[1].len() < sent.len() && Instant::now() < deadline {
        next += ep.send_batch(&sent[next..]).unwrap();
        for (k, v) in got.iter_mut().enumerate() {
            v.extend(g.receive_on(k));
        }
    }
    assert_eq!(next, sent.len());
    // Every frame once, byte for byte, on the queue its flow hashes to.
    let mut all: Vec<Vec<u8>> = got.iter().flatten().cloned().collect();
    let mut want = sent.clone();
    all.sort();
    want.sort();
    assert_eq!(all, want);
    for (k, v) in got.iter().enumerate() {
        assert!(!v.is_empty(), "pair {k} carried nothing");
        assert!(v.iter().all(|f| flow_queue(f, 2) == k));
        // Within a queue each flow is in order.
        let mut last: BTreeMap<u16, u32> = BTreeMap::new();
        for f in v {
            let seq = u32::from_be_bytes(f[42..46].try_into().unwrap());
            if let Some(prev) = last.insert(flow_of(f), seq) {
                assert_eq!(seq, prev + 1, "flow {} out of order", flow_of(f));
            }
        }
    }
    let pf = ep.vhost_pair_frames().unwrap();
    assert_eq!(pf.len(), 2);
    assert_eq!(pf[0].rx, got[0].len() as u64);
    assert_eq!(pf[1].rx, got[1].len() as u64);
    assert_eq!(ep.vhost_stats().unwrap().rx_frames, sent.len() as u64);
}

#[test]
fn every_tx_queue_is_drained() {
    let (mut ep, path) = open("drain", 3);
    let mut g = GuestModel::connect_pairs(&path, 256, 3).unwrap();
    ep.wait_connected(WAIT).unwrap();
    let frames: Vec<Vec<u8>> = (0..300u32)
        .map(|i| udp(i as u16, i, 64 + i as usize))
        .collect();
    let mut got = Vec::new();
    let mut next = [0usize; 3];
    let deadline = Instant::now() + WAIT;
    while got.len() < frames.len() && Instant::now() < deadline {
        #[allow(clippy::needless_range_loop)]
        for k in 0..3 {
            // Pair k sends the frames i with i % 3 == k.
            let mine: Vec<&[u8]> = frames
                .iter()
                .skip(k)
                .step_by(3)
                .skip(next[k])
                .map(|f| &f[..])
                .collect();
            next[k] += g.transmit_on(k, &mine);
        }
        ep.recv_batch(Duration::from_millis(1), &mut |f| got.push(f.to_vec()))
            .unwrap();
    }
    got.sort();
    let mut want = frames.clone();
    want.sort();
    assert_eq!(got, want);
    let pf = ep.vhost_pair_frames().unwrap();
    assert_eq!(pf.iter().map(|p| p.tx).collect::<Vec<_>>(), [100, 100, 100]);
}

#[test]
fn a_guest_on_one_pair_gets_every_frame_there() {
    // A driver that did not negotiate MQ sets up pair 0 only.
    let (mut ep, path) = open("onepair", 2);
    let mut g = GuestModel::connect(&path, 256).unwrap();
    g.post_rx_all();
    ep.wait_connected(WAIT).unwrap();
    let sent: Vec<Vec<u8>> = (0..100u32).map(|i| udp(i as u16, i, 60)).collect();
    assert_eq!(ep.send_batch(&sent).unwrap(), 100);
    assert_eq!(g.receive(), sent);
    drop(g);
    // A guest that set up two pairs and switched pair 1 off again.
    let deadline = Instant::now() + WAIT;
    let mut g = loop {
        match GuestModel::connect_pairs(&path, 256, 2) {
            Ok(g) => break g,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    g.post_rx_all_on(0);
    g.post_rx_all_on(1);
    g.enable_pair(1, false).unwrap();
    ep.wait_connected(WAIT).unwrap();
    // The switch-off reaches the datapath through the protocol thread:
    // until it has, frames may still be steered to pair 1 (and those of
    // pair 0 past them sent twice, see `send_batch`).
    let deadline = Instant::now() + WAIT;
    while ep.vhost_live_pairs() != Some(1) {
        assert!(Instant::now() < deadline, "pair 1 still live");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = Vec::new();
    let (mut next, deadline) = (0, Instant::now() + WAIT);
    while got.len() < sent.len() && Instant::now() < deadline {
        next += ep.send_batch(&sent[next..]).unwrap();
        got.extend(g.receive_on(0));
        assert!(g.receive_on(1).is_empty());
    }
    assert_eq!(got, sent);
}

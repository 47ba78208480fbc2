//! Switch ingress with arbitrary frames: any bytes, lengths and fragment
//! flags, through a learning switch and a patch panel, from a VALE port and
//! from a kernel port's device ring. Never a panic; every frame accounted
//! for (forwarded or counted as a drop); every buffer conserved.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netmap::vale::{Batch, ForwardScratch, LearningBridge, LearningConfig, PatchPanel};
use netmap::{BufferPool, Dir, Handle, Kring, PortConfig, Switch, ValePort};

#[derive(Arbitrary, Debug)]
struct Frame {
    bytes: Vec<u8>,
    /// Claimed length (may exceed what was written, up to the buffer).
    len: u16,
    flags: u16,
    from: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    patch: bool,
    buckets: u8,
    frames: Vec<Frame>,
    syncs: Vec<u8>,
    clock: Vec<u16>,
}

const SLOTS: u32 = 16;

fuzz_target!(|inp: Input| {
    let pool = BufferPool::on_heap(1024, 256).unwrap();
    let sw = if inp.patch {
        Switch::with_lookup(
            "vale0",
            Box::new(PatchPanel::new().connect(0, 1).route(2, 0)),
        )
    } else {
        let cfg = LearningConfig {
            buckets: inp.buckets as usize % 4 + 1,
            max_age: 50,
            hold: u64::from(inp.buckets % 3) * 10,
            seed: 1,
        };
        Switch::with_lookup("vale0", Box::new(LearningBridge::new(cfg)))
    };
    let cfg = |max_frame| PortConfig {
        num_slots: SLOTS,
        max_frame,
        ..PortConfig::default()
    };
    let ports: Vec<Arc<ValePort>> = (0..3)
        .map(|i| {
            ValePort::create(
                &pool,
                &sw,
                &format!("vale0:{i}"),
                cfg(if i == 2 { 100 } else { 1000 }),
            )
            .unwrap()
        })
        .collect();
    let mut hs: Vec<Handle> = ports.iter().map(|p| Handle::new(p.clone())).collect();
    let dev = Kring::new(&pool, Dir::Rx, 0, SLOTS).unwrap();
    // Stand-in for a kernel (NIC) port: its device ring feeds the switch.
    let nic_port = ValePort::create(&pool, &sw, "vale0:nic", cfg(1000)).unwrap();
    let nic = nic_port.attachment();
    let mut scratch = ForwardScratch::new(&pool);
    let mut clock = inp.clock.iter();

    for (n, f) in inp.frames.iter().take(512).enumerate() {
        let from = f.from as usize % 4;
        if from == 3 {
            // A device ring of a kernel port: frames straight from the wire.
            let fwd = {
                let mut g = dev.lock();
                if g.rx_direct_space() > 0 {
                    let i = g.hwtail() as usize;
                    if let Ok(b) = g.slots.buf_mut(i) {
                        let l = f.bytes.len().min(b.len());
                        b[..l].copy_from_slice(&f.bytes[..l]);
                    }
                    let len = (f.len as usize % 300) as u16;
                    let _ = g.slots.set_len(i, len);
                    g.slots.set_flags(i, f.flags);
                    g.rx_publish_direct(1, 0, 0); // the device received it
                }
                let k = &mut *g;
                let (first, count) = k.arrived();
                let batch = Batch {
                    src: nic,
                    src_ring: 0,
                    slots: &k.slots,
                    first,
                    count,
                    max_frame: 1000,
                };
                let r = sw.forward(batch, &mut k.stats, &mut scratch);
                if let Ok(fw) = &r {
                    assert_eq!(k.release(fw.consumed), fw.consumed);
                }
                k.rx_take_released(); // the device re-posts them
                r
            };
            if let Ok(fw) = fwd {
                sw.wake(&fw.wakeups);
            }
            continue;
        }
        let h = &mut hs[from];
        let r = h.tx_ring(0).unwrap();
        if r.space() > 0 {
            let i = r.head;
            if let Ok(b) = r.buf_mut(i) {
                let l = f.bytes.len().min(b.len());
                b[..l].copy_from_slice(&f.bytes[..l]);
            }
            r.slot[i as usize].len = f.len % 300;
            r.slot[i as usize].flags = f.flags;
            r.advance(1);
        }
        if inp.syncs.get(n).is_none_or(|s| s & 1 == 0) {
            let _ = h.txsync(0);
        }
        if let Some(t) = clock.next() {
            sw.set_clock(sw.clock() + *t as u64);
        }
        for h in hs.iter_mut() {
            if inp.syncs.get(n).is_none_or(|s| s & 2 == 0) {
                let _ = h.rxsync(0);
                let r = h.rx_ring(0).unwrap();
                let k = r.space();
                r.advance(k);
            }
        }
    }
    for h in hs.iter_mut() {
        let _ = h.txsync(0);
    }
    // Accounting: nothing is delivered that was not accepted, at most once
    // per other port (floods).
    let (mut accepted, mut delivered) = (dev.lock().stats.packets, 0);
    for p in ports.iter().chain([&nic_port]) {
        let c = netmap::Port::counters(&**p);
        accepted += c.tx.packets;
        delivered += c.rx.packets;
    }
    assert!(
        delivered <= accepted * 3,
        "{delivered} delivered, {accepted} accepted"
    );
    let mut owned: Vec<u32> = dev.owned_bufs();
    for p in ports.iter().chain([&nic_port]) {
        owned.extend(netmap::port::kring_bufs(&**p));
    }
    for h in &hs {
        owned.extend(h.held_bufs());
    }
    pool.audit(owned).expect("buffer conservation");
    drop(hs);
    for p in &ports {
        p.detach();
    }
    nic_port.detach();
    assert_eq!(sw.num_ports(), 0);
});

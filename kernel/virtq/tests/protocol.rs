//! Property: whatever order the driver and a well-behaved device act in,
//! the driver gets back exactly the chains it posted, in order, never holds
//! more than the queue size in flight, and never sleeps on pending work.

use std::collections::VecDeque;

use proptest::prelude::*;
use virtq::mem::words_for;
use virtq::sim::SimDevice;
use virtq::{QueueLayout, QueueMem, Virtqueue};

#[derive(Clone, Debug)]
enum Op {
    DriverPush(u8),
    DriverPublish,
    DriverReap,
    DriverArm,
    DriverDisarm,
    DeviceConsume(u8),
    DevicePublish,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..20).prop_map(Op::DriverPush),
        Just(Op::DriverPublish),
        Just(Op::DriverReap),
        Just(Op::DriverArm),
        Just(Op::DriverDisarm),
        (1u8..20).prop_map(Op::DeviceConsume),
        Just(Op::DevicePublish),
    ]
}

proptest! {
    #[test]
    fn chains_come_back_in_order(event_idx: bool, log2 in 0u32..6, ops in prop::collection::vec(op(), 1..400)) {
        let layout = QueueLayout::new(1 << log2).unwrap();
        let words = words_for(layout);
        let mem = QueueMem::from_words(&words, layout).unwrap();
        let mut q = Virtqueue::new(mem, event_idx);
        let mut dev = SimDevice::new(mem, event_idx);
        let size = q.size();
        let mut next_head: u16 = 0;
        let mut posted: VecDeque<u16> = VecDeque::new();
        let mut seen_by_device: VecDeque<u16> = VecDeque::new();
        let mut irq_pending = false;
        for op in ops {
            match op {
                Op::DriverPush(n) => for _ in 0..n {
                    if q.push(next_head % size).is_err() {
                        prop_assert_eq!(q.in_flight(), size);
                        break;
                    }
                    posted.push_back(next_head % size);
                    next_head = next_head.wrapping_add(1);
                },
                Op::DriverPublish => { q.publish(); }
                Op::DriverReap => {
                    let n = q.poll_used().expect("well-behaved device");
                    for _ in 0..n {
                        let e = q.pop_used().unwrap();
                        prop_assert_eq!(Some(e.id as u16), posted.pop_front());
                    }
                    prop_assert!(q.pop_used().is_none());
                    irq_pending = false;
                }
                Op::DriverArm => {
                    let more = q.enable_interrupts();
                    // If the driver may sleep, the device must interrupt
                    // for the next element it publishes.
                    if !more { irq_pending = true; }
                }
                Op::DriverDisarm => { q.disable_interrupts(); irq_pending = false; }
                Op::DeviceConsume(n) => for _ in 0..n {
                    match dev.pop_avail() {
                        Some(h) => { seen_by_device.push_back(h); dev.push_used(u32::from(h), 0); }
                        None => break,
                    }
                },
                Op::DevicePublish => {
                    let had_new = !seen_by_device.is_empty();
                    let irq = dev.publish_used();
                    if had_new && irq_pending {
                        prop_assert!(irq, "armed driver would sleep through used elements");
                        irq_pending = false;
                    }
                    seen_by_device.clear();
                }
            }
            prop_assert!(q.in_flight() <= size);
        }
    }
}

//! The backend's guest-memory validation against a hostile driver: a
//! driver model writes rings and descriptors into an anonymous "guest RAM"
//! and the device side must refuse every bad index, address and chain
//! without touching memory outside it.

use std::sync::Arc;

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::mem::GuestRam;
use super::ring::{Chain, ChainError, RingError, RingView, MAX_SEGS};

const RAM: usize = 1 << 20;
const SIZE: u16 = 8;
const DESC: u64 = 0x1000;
const AVAIL: u64 = 0x2000;
const USED: u64 = 0x3000;
const BUFS: u64 = 0x10000;
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const INDIRECT: u16 = 4;

struct Driver {
    mem: Arc<GuestMemoryMmap<()>>,
    ram: GuestRam,
}

impl Driver {
    fn new() -> Self {
        let mem = Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM)]).unwrap());
        let ram = GuestRam::new(mem.clone());
        Self { mem, ram }
    }

    fn ring(&self, event_idx: bool) -> RingView<'_> {
        RingView::new(&self.ram, SIZE, DESC, AVAIL, USED, event_idx).unwrap()
    }

    fn desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = DESC + 16 * i as u64;
        self.mem.write_obj(addr, GuestAddress(at)).unwrap();
        self.mem.write_obj(len, GuestAddress(at + 8)).unwrap();
        self.mem.write_obj(flags, GuestAddress(at + 12)).unwrap();
        self.mem.write_obj(next, GuestAddress(at + 14)).unwrap();
    }

    /// Make `heads` available after `base` entries.
    fn avail(&self, base: u16, heads: &[u16]) {
        for (k, h) in heads.iter().enumerate() {
            let slot = (base as usize + k) % SIZE as usize;
            self.mem
                .write_obj(*h, GuestAddress(AVAIL + 4 + 2 * slot as u64))
                .unwrap();
        }
        self.mem
            .write_obj(
                base.wrapping_add(heads.len() as u16),
                GuestAddress(AVAIL + 2),
            )
            .unwrap();
    }

    fn used_idx(&self) -> u16 {
        self.mem.read_obj(GuestAddress(USED + 2)).unwrap()
    }

    fn used(&self, i: u16) -> (u32, u32) {
        let at = USED + 4 + 8 * (i % SIZE) as u64;
        (
            self.mem.read_obj(GuestAddress(at)).unwrap(),
            self.mem.read_obj(GuestAddress(at + 4)).unwrap(),
        )
    }
}

#[test]
fn a_good_two_buffer_chain_is_read_and_written_in_place() {
    let d = Driver::new();
    d.mem.write_slice(&[0xaa; 12], GuestAddress(BUFS)).unwrap();
    d.mem
        .write_slice(b"hello, guest", GuestAddress(BUFS + 0x800))
        .unwrap();
    d.desc(3, BUFS, 12, NEXT, 5);
    d.desc(5, BUFS + 0x800, 12, 0, 0);
    d.avail(0, &[3]);
    let r = d.ring(false);
    assert_eq!(r.pending(0), Ok(1));
    let head = r.avail_head(0).unwrap();
    let mut c = Chain::new();
    r.chain(head, false, &mut c).unwrap();
    assert_eq!((c.head, c.n, c.total), (3, 2, 24));
    let mut out = [0u8; 12];
    assert_eq!(c.read_from(12, &mut out), 12);
    assert_eq!(&out, b"hello, guest");
    // The same chain as a receive chain is the wrong direction.
    assert_eq!(r.chain(head, true, &mut c), Err(ChainError::WrongDirection));
}

#[test]
fn writes_span_buffers_and_stop_at_the_chain() {
    let d = Driver::new();
    d.desc(0, BUFS, 4, NEXT | WRITE, 1);
    d.desc(1, BUFS + 100, 4, WRITE, 0);
    let mut c = Chain::new();
    d.ring(false).chain(0, true, &mut c).unwrap();
    assert_eq!(c.write_at(2, b"abcd"), 4);
    let mut a = [0u8; 4];
    let mut b = [0u8; 4];
    d.mem.read_slice(&mut a, GuestAddress(BUFS)).unwrap();
    d.mem.read_slice(&mut b, GuestAddress(BUFS + 100)).unwrap();
    assert_eq!(&a, b"\0\0ab");
    assert_eq!(&b, b"cd\0\0");
}

#[test]
fn buffers_outside_guest_ram_are_refused() {
    let d = Driver::new();
    let r = d.ring(false);
    let mut c = Chain::new();
    // Past the end, straddling the end, and wrapping the address space.
    for (addr, len) in [(RAM as u64, 1), (RAM as u64 - 10, 11), (u64::MAX - 4, 16)] {
        d.desc(0, addr, len, 0, 0);
        assert_eq!(
            r.chain(0, false, &mut c),
            Err(ChainError::OutOfRam { addr, len }),
            "{addr:#x}+{len}"
        );
    }
    // A length beyond any buffer (4 GiB - 1 from a valid start).
    d.desc(0, BUFS, u32::MAX, 0, 0);
    assert!(matches!(
        r.chain(0, false, &mut c),
        Err(ChainError::OutOfRam { .. })
    ));
}

#[test]
fn loops_long_chains_bad_next_and_indirect_are_refused() {
    let d = Driver::new();
    let r = d.ring(false);
    let mut c = Chain::new();
    d.desc(0, BUFS, 64, NEXT, 0); // a loop on itself
    assert_eq!(r.chain(0, false, &mut c), Err(ChainError::TooLong));
    d.desc(0, BUFS, 64, NEXT, 1);
    d.desc(1, BUFS, 64, NEXT, 0); // a two-element loop
    assert_eq!(r.chain(1, false, &mut c), Err(ChainError::TooLong));
    d.desc(0, BUFS, 64, NEXT, SIZE); // next past the table
    assert_eq!(r.chain(0, false, &mut c), Err(ChainError::BadNext(SIZE)));
    d.desc(0, BUFS, 64, INDIRECT, 0);
    assert_eq!(r.chain(0, false, &mut c), Err(ChainError::Indirect));
    assert!(
        MAX_SEGS >= SIZE as usize,
        "a loop must be caught by the bound"
    );
}

#[test]
fn index_jumps_and_bad_heads_break_the_queue() {
    let d = Driver::new();
    let r = d.ring(false);
    d.mem.write_obj(SIZE + 1, GuestAddress(AVAIL + 2)).unwrap();
    assert_eq!(
        r.pending(0),
        Err(RingError::AvailJump {
            pending: SIZE + 1,
            size: SIZE
        })
    );
    // Exactly a ring's worth is fine, also across the u16 wrap.
    d.mem.write_obj(2u16, GuestAddress(AVAIL + 2)).unwrap();
    assert_eq!(r.pending(2), Ok(0));
    assert_eq!(r.pending(2u16.wrapping_sub(SIZE)), Ok(SIZE));
    assert!(r.pending(2u16.wrapping_sub(SIZE + 1)).is_err());
    d.avail(0, &[SIZE, 0xffff]);
    assert_eq!(r.avail_head(0), Err(RingError::BadHead(SIZE)));
    assert_eq!(r.avail_head(1), Err(RingError::BadHead(0xffff)));
}

#[test]
fn rings_outside_ram_misaligned_or_of_odd_size_are_refused() {
    let d = Driver::new();
    let bad = |size, desc, avail, used| RingView::new(&d.ram, size, desc, avail, used, true).err();
    assert_eq!(
        bad(SIZE, RAM as u64, AVAIL, USED),
        Some(RingError::BadLayout)
    );
    assert_eq!(
        bad(SIZE, DESC, RAM as u64 - 4, USED),
        Some(RingError::BadLayout)
    );
    assert_eq!(
        bad(SIZE, DESC, AVAIL, RAM as u64 - 8),
        Some(RingError::BadLayout)
    );
    assert_eq!(bad(SIZE, DESC + 8, AVAIL, USED), Some(RingError::BadLayout));
    assert_eq!(bad(SIZE, DESC, AVAIL + 1, USED), Some(RingError::BadLayout));
    assert_eq!(bad(SIZE, DESC, AVAIL, USED + 2), Some(RingError::BadLayout));
    assert_eq!(bad(6, DESC, AVAIL, USED), Some(RingError::BadLayout));
    assert_eq!(bad(0, DESC, AVAIL, USED), Some(RingError::BadLayout));
    assert!(bad(SIZE, DESC, AVAIL, USED).is_none());
}

#[test]
fn used_index_is_stored_once_and_interrupts_follow_the_driver() {
    let d = Driver::new();
    let r = d.ring(false);
    r.put_used(0, 3, 60);
    r.put_used(1, 5, 70);
    assert_eq!(d.used_idx(), 0, "nothing visible before publish");
    assert!(r.publish_used(0, 2), "no NO_INTERRUPT: interrupt");
    assert_eq!(d.used_idx(), 2);
    assert_eq!((d.used(0), d.used(1)), ((3, 60), (5, 70)));
    d.mem.write_obj(1u16, GuestAddress(AVAIL)).unwrap(); // NO_INTERRUPT
    assert!(!r.publish_used(2, 3));

    // EVENT_IDX: an interrupt only when the batch crosses used_event.
    let r = d.ring(true);
    let used_event = AVAIL + 4 + 2 * SIZE as u64;
    d.mem.write_obj(10u16, GuestAddress(used_event)).unwrap();
    assert!(!r.publish_used(3, 10), "[3,10) does not include 10");
    assert!(r.publish_used(10, 12), "[10,12) includes 10");
}

#[test]
fn kicks_are_switched_off_while_polling_and_rearmed_before_sleep() {
    let d = Driver::new();
    let r = d.ring(false);
    r.want_kicks(false, 0);
    assert_eq!(d.mem.read_obj::<u16>(GuestAddress(USED)).unwrap(), 1);
    r.want_kicks(true, 0);
    assert_eq!(d.mem.read_obj::<u16>(GuestAddress(USED)).unwrap(), 0);
    let r = d.ring(true);
    r.want_kicks(true, 42);
    let avail_event = USED + 4 + 8 * SIZE as u64;
    assert_eq!(
        d.mem.read_obj::<u16>(GuestAddress(avail_event)).unwrap(),
        42
    );
}

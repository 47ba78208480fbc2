//! Buffer pool and slot array rules.

mod common;

use netmap::{AuditError, BufferPool, PoolError, Region, SlotArray};
use std::sync::Arc;

#[test]
fn geometry_and_reserved_indices() {
    let p = BufferPool::on_heap(16, 2048).unwrap();
    assert_eq!(p.buf_size(), 2048);
    assert_eq!(p.nbufs(), 16);
    assert_eq!(p.free_count(), 14, "0 and 1 are reserved");
    assert!(!p.is_valid(0) && !p.is_valid(1) && p.is_valid(2) && p.is_valid(15) && !p.is_valid(16));
    assert_eq!(p.buf_offset(2), Ok(4096));
    assert_eq!(p.buf_offset(15), Ok(15 * 2048));
    assert_eq!(p.buf_offset(1), Err(PoolError::BadIndex(1)));
    assert_eq!(p.buf_offset(16), Err(PoolError::BadIndex(16)));
    p.audit([]).unwrap();
}

#[test]
fn bad_configuration_is_refused() {
    for bad in [0, 32, 100, 3000, 1 << 17] {
        let r = Region::alloc(1 << 20).unwrap();
        assert_eq!(
            BufferPool::new(r, bad).unwrap_err(),
            PoolError::BadBufSize(bad)
        );
    }
    let r = Region::alloc(2 * 2048).unwrap();
    assert_eq!(
        BufferPool::new(r, 2048).unwrap_err(),
        PoolError::RegionTooSmall
    );
    let r = Region::alloc(3 * 64 + 63).unwrap();
    let p = BufferPool::new(r, 64).unwrap();
    assert_eq!(p.nbufs(), 3, "a trailing partial buffer is not used");
}

#[test]
fn static_region() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 8 * 256].into_boxed_slice());
    let p = Arc::new(BufferPool::new(Region::from_static(mem), 256).unwrap());
    let mut a = SlotArray::new_filled(&p, 6).unwrap();
    a.buf_mut(0).unwrap().fill(7);
    assert!(a.buf(0).unwrap().iter().all(|&b| b == 7));
    assert_eq!(p.free_count(), 0);
    assert_eq!(
        SlotArray::new_filled(&p, 1).unwrap_err(),
        PoolError::Exhausted
    );
    drop(a);
    assert_eq!(p.free_count(), 6);
}

#[test]
fn slot_arrays_own_their_buffers() {
    let p = common::pool(64);
    let mut a = SlotArray::new_filled(&p, 8).unwrap();
    let mut b = SlotArray::new_empty(&p, 8);
    assert_eq!(p.free_count(), 62 - 8);
    p.audit(a.bufs().chain(b.bufs())).unwrap();

    assert_eq!(b.buf(0).unwrap_err(), PoolError::SlotEmpty(0));
    assert_eq!(a.buf(8).unwrap_err(), PoolError::SlotOutOfRange(8));
    let idx = a.buf_idx(3);
    a.set_len(3, 100).unwrap();
    a.move_to(3, &mut b, 5).unwrap();
    assert_eq!(b.buf_idx(5), idx);
    assert_eq!(b.get(5).len, 100);
    assert!(!a.is_held(3));
    assert_eq!(
        a.move_to(4, &mut b, 5).unwrap_err(),
        PoolError::SlotOccupied(5)
    );
    a.swap(0, &mut b, 5).unwrap();
    assert_eq!(a.buf_idx(0), idx);
    p.audit(a.bufs().chain(b.bufs())).unwrap();

    assert_eq!(a.set_len(0, 2049).unwrap_err(), PoolError::BadLen(2049));
    a.buf_mut(0).unwrap()[..4].copy_from_slice(b"abcd");
    a.set_len(0, 4).unwrap();
    a.copy_to(0, &mut b, 5, 4).unwrap();
    assert_eq!(b.frame(5).unwrap(), b"abcd");

    let other = common::pool(8);
    let mut c = SlotArray::new_filled(&other, 1).unwrap();
    assert_eq!(a.swap(0, &mut c, 0).unwrap_err(), PoolError::PoolMismatch);
    assert_eq!(
        a.move_to(0, &mut SlotArray::new_empty(&other, 1), 0)
            .unwrap_err(),
        PoolError::PoolMismatch
    );

    drop(a);
    drop(b);
    assert_eq!(
        p.free_count(),
        62,
        "dropping slot arrays returns every buffer"
    );
    p.audit([]).unwrap();
}

#[test]
fn audit_reports_each_kind_of_error() {
    let p = common::pool(16);
    let a = SlotArray::new_filled(&p, 2).unwrap();
    let (x, y) = (a.buf_idx(0), a.buf_idx(1));
    assert_eq!(
        p.audit([x]),
        Err(AuditError::Missing { first: y, count: 1 })
    );
    assert_eq!(p.audit([x, y, x]), Err(AuditError::Duplicate(x)));
    assert_eq!(p.audit([x, y, 1]), Err(AuditError::Reserved(1)));
    assert_eq!(p.audit([x, y, 16]), Err(AuditError::OutOfRange(16)));
    // An index on the free list claimed by a slot too.
    assert_eq!(
        p.audit([x, y, 2.max(x.max(y) + 1)]),
        Err(AuditError::Duplicate(x.max(y) + 1))
    );
    p.audit(a.bufs()).unwrap();
}

/// `append_from` gathers a fragment into another slot's buffer (the
/// virtio-net transmit of a `NS_MOREFRAG` chain, issue 11 defect 9).
#[test]
fn append_from_gathers_within_the_buffer_only() {
    let p = common::pool(16);
    let mut a = SlotArray::new_filled(&p, 4).unwrap();
    a.buf_mut(0).unwrap().fill(1);
    a.buf_mut(1).unwrap().fill(2);
    a.set_len(0, 60).unwrap();
    a.set_len(1, 40).unwrap();
    a.append_from(0, 1).unwrap();
    assert_eq!(a.get(0).len, 100);
    assert!(a.frame(0).unwrap()[..60].iter().all(|&b| b == 1));
    assert!(a.frame(0).unwrap()[60..].iter().all(|&b| b == 2));
    assert_eq!(a.get(1).len, 40, "the source is left alone");
    assert!(a.append_from(0, 0).is_err(), "not onto itself");
    a.set_len(1, 2000).unwrap();
    assert!(a.append_from(0, 1).is_err(), "2100 bytes do not fit");
    assert_eq!(a.get(0).len, 100, "a refusal changes nothing");
    a.release(2);
    assert!(a.append_from(0, 2).is_err(), "an empty slot");
    assert!(a.append_from(0, 9).is_err(), "out of range");
    p.audit(a.bufs()).unwrap();
}

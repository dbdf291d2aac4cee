//! Protect and unprotect allocate nothing per packet: a counting global allocator (this
//! test binary only) sees no allocation across a thousand RTP and RTCP round trips.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use switchboard_srtp::{MasterKey, SrtpContext, Suite};

struct Counting;

thread_local! {
    /// Allocations made by this thread (the test harness's own threads do not count).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_thousand_round_trips_allocate_nothing() {
    let key = MasterKey::new([3; 16], [5; 14]);
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key);
    let mut buf = [0u8; 256];
    let mut rtcp = [0u8; 64];
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..1000u16 {
        buf[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        buf[2..4].copy_from_slice(&i.to_be_bytes());
        buf[12..172].fill(i as u8);
        let n = tx.protect_rtp(&mut buf, 172).expect("protect");
        assert_eq!(rx.unprotect_rtp(&mut buf[..n]), Ok(172));
        rtcp[..8].copy_from_slice(&[0x81, 201, 0, 1, 0, 0, 0, 7]);
        let n = tx.protect_rtcp(&mut rtcp, 8).expect("protect rtcp");
        assert_eq!(rx.unprotect_rtcp(&mut rtcp[..n]), Ok(8));
    }
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
}

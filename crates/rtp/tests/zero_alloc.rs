//! Once warm, parsing a packet and passing it through the jitter buffer allocates nothing
//! (STYLE 2.8). A counting global allocator watches the hot loop. Counting is per thread,
//! so the test harness's own threads (output capture, other tests) cannot disturb it.

mod netem;

use bytes::{Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;
use switchboard_rtp::{JitterBuffer, JitterConfig, Playout, RtpHeader, RtpPacket};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn parse_push_pop_serialize_allocate_nothing_once_warm() {
    const N: usize = 2000;
    // One receive buffer holding every datagram, as a driver's reused BytesMut would.
    let mut rx = BytesMut::with_capacity(N * 172);
    for i in 0..N {
        let h = RtpHeader::new(0, i as u16, 160 * i as u32, 42);
        RtpPacket::new(h, Bytes::from_static(&[0x55; 160])).write_to(&mut rx);
    }
    let rx = rx.freeze();
    let _promote = rx.slice(0..1); // first slice of a Vec-backed Bytes may allocate once
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut out = BytesMut::with_capacity(4096);
    let t0 = netem::epoch();
    let mut measure_from = 0;
    let mut played = 0;
    for i in 0..N {
        if i == 200 {
            measure_from = ALLOCS.with(Cell::get);
        }
        let now = t0 + Duration::from_millis(20 * i as u64);
        let dg = rx.slice(i * 172..(i + 1) * 172);
        let p = RtpPacket::parse(dg).expect("valid");
        jb.push(now, p);
        if let Playout::Frame(p) = jb.pop(now + Duration::from_millis(1)) {
            out.clear();
            p.write_to(&mut out);
            played += 1;
        }
    }
    let allocs = ALLOCS.with(Cell::get) - measure_from;
    assert!(played > N - 10, "{played}");
    assert_eq!(
        allocs,
        0,
        "allocations in the warm loop over {} packets",
        N - 200
    );
}

//! A counting global allocator for the server's unit tests (never in the binary): each
//! thread counts its own allocations, so a test measures only its own code while other
//! tests run on other threads. Used by the hot-path tests (`call/relay.rs`) and the
//! per-call memory accounting (`call/footprint.rs`: bytes this thread allocated and has
//! not freed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread.
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn count(allocated: usize, freed: usize) {
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + allocated as i64 - freed as i64));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the count is a
// thread-local `Cell` (no allocation, no lock).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        count(layout.size(), 0);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        count(layout.size(), 0);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        count(new_size, layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) made by this thread so far.
pub(crate) fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Bytes this thread allocated and has not freed itself (frees on other threads of
/// memory allocated here are not seen: the difference across a piece of code is what it
/// allocated and still holds, plus anything it handed to another thread).
pub(crate) fn live_bytes() -> i64 {
    LIVE_BYTES.with(Cell::get)
}

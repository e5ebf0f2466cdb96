//! A global allocator for this test binary that records, per thread, the largest single
//! allocation request (granted or not), so that a test can check that a reader never reserves
//! memory its input does not back (a header claiming 10^12 rows must not make it try).
#![allow(unsafe_code)] // Implementing `GlobalAlloc` is unsafe by definition; this only forwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, noting each request's size.
struct Recording;

thread_local! {
    /// Largest request on this thread since the last reset. Const-initialised and without a
    /// destructor, so reading it never allocates.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; `record` only touches a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

/// Runs `f` and returns its result with the largest allocation request it made on this thread,
/// in bytes.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    let value = f();
    (value, LARGEST.with(Cell::get))
}

#[test]
fn the_recorder_sees_large_requests_even_when_they_fail() {
    let (_, largest) = largest_allocation(|| Vec::<u8>::with_capacity(3 << 20));
    assert!(largest >= 3 << 20, "{largest}");
    let (result, largest) = largest_allocation(|| Vec::<u8>::new().try_reserve_exact(1 << 60));
    assert!(result.is_err());
    assert!(largest >= 1 << 60, "{largest}");
}

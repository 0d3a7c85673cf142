//! A global allocator for adapters built for `wasm32-unknown-unknown`.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large are aligned to [`LARGE_ALIGN`]: the smallest size at which
/// glibc's `memmove` switches to `rep movsb` on x86-64 (2048 bytes times the vector width
/// in 16-byte units, so at least 2 KiB).
pub const LARGE_BLOCK: usize = 2048;

/// The alignment of blocks of [`LARGE_BLOCK`] bytes or more.
pub const LARGE_ALIGN: usize = 16;

/// std's allocator, except that blocks of [`LARGE_BLOCK`] bytes or more are aligned to
/// 16 bytes. Install it in an adapter built for `wasm32-unknown-unknown`:
///
/// ```
/// #[cfg(target_arch = "wasm32")]
/// #[global_allocator]
/// static ALLOCATOR: byoc_guest_sdk::Allocator = byoc_guest_sdk::Allocator;
/// ```
///
/// Why: a guest's `memory.copy` (every clone of a value) is run by the host's `memmove`.
/// On x86-64 with glibc, `memmove` copies large blocks with `rep movsb`, which on some
/// CPUs (this project's AMD EPYC machines among them) is many times slower when the
/// destination is 8 bytes off a 16-byte boundary and the source is not (BENCHMARKS.md).
/// Rust's allocator on `wasm32-unknown-unknown` aligns blocks to
/// 8 bytes only, so which copies were slow depended on where blocks happened to land.
/// (On `wasm32-wasip2`, wasi-libc's allocator aligns every block to 16 bytes already.)
/// Small blocks keep the 8-byte alignment, so small allocations cost what they did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// The layout `layout` is allocated with: its alignment raised to [`LARGE_ALIGN`] for
/// large blocks. It depends on the size and alignment only, which are the same when a
/// block is freed or resized as when it was allocated, so every block is always freed
/// with the layout it was allocated with.
fn adjusted(layout: Layout) -> Layout {
    if layout.size() >= LARGE_BLOCK {
        layout.align_to(LARGE_ALIGN).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every method forwards to std's `System` allocator with `adjusted(layout)`, a
// valid layout of the same size and at least the requested alignment; a block is freed
// and resized with the same adjusted layout it was allocated with (see `adjusted`).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `adjusted` keeps the size, which the caller guarantees is non-zero.
        unsafe { System.alloc(adjusted(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(adjusted(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` with `adjusted(layout)` (the caller
        // passes the layout it allocated with).
        unsafe { System.dealloc(ptr, adjusted(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = adjusted(layout);
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = adjusted(new);
        if new.align() == old.align() {
            // SAFETY: `ptr` was allocated with `old`; the new size is valid for its
            // alignment (checked above).
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // The block crosses `LARGE_BLOCK`: a new block with the other alignment.
        // SAFETY: `new` has a non-zero size (the caller guarantees `new_size > 0`).
        let grown = unsafe { System.alloc(new) };
        if !grown.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and do not
            // overlap; `ptr` was allocated with `old`.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, grown, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
        }
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_16_byte_aligned_and_resize_across_the_threshold() {
        let small = Layout::from_size_align(100, 1).expect("layout");
        let large = Layout::from_size_align(LARGE_BLOCK, 1).expect("layout");
        assert_eq!(adjusted(small).align(), 1);
        assert_eq!(adjusted(large).align(), LARGE_ALIGN);
        assert_eq!(adjusted(large).size(), LARGE_BLOCK);
        let a = Allocator;
        #[allow(unsafe_code)]
        // SAFETY: every block is used within its size and freed with its own layout.
        unsafe {
            let p = a.alloc(small);
            assert!(!p.is_null());
            p.write_bytes(7, 100);
            let p = a.realloc(p, small, 4 * LARGE_BLOCK);
            assert!(!p.is_null());
            assert_eq!(p as usize % LARGE_ALIGN, 0);
            assert_eq!(*p.add(99), 7, "the contents moved with the block");
            let grown = Layout::from_size_align(4 * LARGE_BLOCK, 1).expect("layout");
            let p = a.realloc(p, grown, 50);
            assert!(!p.is_null());
            assert_eq!(*p.add(49), 7);
            a.dealloc(p, Layout::from_size_align(50, 1).expect("layout"));
        }
    }
}

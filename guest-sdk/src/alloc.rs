//! A global allocator for adapters built for `wasm32-unknown-unknown`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

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
/// Small blocks keep the 8-byte alignment.
///
/// On wasm32 (one thread), blocks of up to [`SMALL_MAX`] bytes freed are kept in
/// per-size free lists (at most [`CACHED_PER_CLASS`] per 16-byte size class and
/// [`CACHED_BYTES`] in all) and handed out again by the next allocation of their class:
/// a hit allocates its key (through `cabi_realloc`) and a copy of its value and frees both
/// in the same call, and a free-list push and pop cost less than the general allocator's
/// free and malloc.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// The largest block kept in the free lists.
pub const SMALL_MAX: usize = 1024;

/// Size classes: 16, 32, .., [`SMALL_MAX`] bytes.
const CLASS_BYTES: usize = 16;
const CLASSES: usize = SMALL_MAX / CLASS_BYTES;

/// Free blocks kept per size class at most.
pub const CACHED_PER_CLASS: u8 = 8;

/// Bytes of free blocks kept in all classes at most.
pub const CACHED_BYTES: usize = 64 << 10;

/// The alignment every small block is allocated with (all the general allocator gives).
const SMALL_ALIGN: usize = 8;

/// The size class of `layout`, if its blocks go through the free lists.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= SMALL_MAX && layout.align() <= SMALL_ALIGN && layout.size() > 0)
        .then(|| (layout.size() - 1) / CLASS_BYTES)
}

/// The layout the general allocator sees for every block of class `c`.
fn class_layout(c: usize) -> Layout {
    // A multiple of 16 up to `SMALL_MAX` with alignment 8: always a valid layout.
    Layout::from_size_align((c + 1) * CLASS_BYTES, SMALL_ALIGN).unwrap_or(Layout::new::<u64>())
}

/// Free blocks by size class, each list linked through the blocks' first word.
#[cfg_attr(
    not(all(target_arch = "wasm32", not(target_feature = "atomics"))),
    allow(dead_code)
)]
struct FreeLists {
    heads: [*mut u8; CLASSES],
    counts: [u8; CLASSES],
    bytes: usize,
}

#[cfg_attr(
    not(all(target_arch = "wasm32", not(target_feature = "atomics"))),
    allow(dead_code)
)]
#[allow(unsafe_code)]
impl FreeLists {
    const fn new() -> FreeLists {
        FreeLists {
            heads: [ptr::null_mut(); CLASSES],
            counts: [0; CLASSES],
            bytes: 0,
        }
    }

    /// A free block of class `c`, if one is kept.
    ///
    /// # Safety
    /// Every block in the lists was pushed by [`push`](Self::push) and is not in use.
    unsafe fn pop(&mut self, c: usize) -> *mut u8 {
        let head = self.heads[c];
        if !head.is_null() {
            // SAFETY: `head` is a free block of at least 16 bytes, aligned to 8, whose
            // first word `push` set to the next free block.
            self.heads[c] = unsafe { head.cast::<*mut u8>().read() };
            self.counts[c] -= 1;
            self.bytes -= (c + 1) * CLASS_BYTES;
        }
        head
    }

    /// Keeps the free block `block` of class `c`; false (nothing done) when its list or
    /// the byte budget is full.
    ///
    /// # Safety
    /// `block` was allocated with `class_layout(c)` and is no longer used by anyone.
    unsafe fn push(&mut self, c: usize, block: *mut u8) -> bool {
        let size = (c + 1) * CLASS_BYTES;
        if self.counts[c] >= CACHED_PER_CLASS || self.bytes + size > CACHED_BYTES {
            return false;
        }
        // SAFETY: the block is free, at least 16 bytes and aligned to 8.
        unsafe { block.cast::<*mut u8>().write(self.heads[c]) };
        self.heads[c] = block;
        self.counts[c] += 1;
        self.bytes += size;
        true
    }
}

/// The free lists of the one thread a wasm32 module without threads runs on.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod local {
    use super::FreeLists;
    use std::cell::UnsafeCell;

    pub(super) struct Local(pub(super) UnsafeCell<FreeLists>);

    #[allow(unsafe_code)]
    // SAFETY: without the `atomics` feature a wasm32 module runs on one thread only.
    unsafe impl Sync for Local {}

    pub(super) static LISTS: Local = Local(UnsafeCell::new(FreeLists::new()));

    /// Runs `f` on the free lists. Never re-entered: `f` does not allocate.
    #[allow(unsafe_code)]
    pub(super) fn with<R>(f: impl FnOnce(&mut FreeLists) -> R) -> R {
        // SAFETY: one thread, and no `with` runs inside another (see above), so this is
        // the only reference to the lists while `f` runs.
        f(unsafe { &mut *LISTS.0.get() })
    }
}

/// A kept block of class `c`, or null.
#[allow(unsafe_code)]
fn take_small(c: usize) -> *mut u8 {
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    {
        // SAFETY: the lists only hold blocks pushed by `keep_small`, free.
        local::with(|lists| unsafe { lists.pop(c) })
    }
    // Natively the allocator may be called from many threads: no free lists.
    #[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
    {
        let _ = c;
        ptr::null_mut()
    }
}

/// Keeps the freed block `block` of class `c`; false if it must go back to `System`.
///
/// # Safety
/// `block` was allocated with `class_layout(c)` and is no longer used.
#[allow(unsafe_code)]
unsafe fn keep_small(c: usize, block: *mut u8) -> bool {
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    {
        // SAFETY: as the caller guarantees.
        local::with(|lists| unsafe { lists.push(c, block) })
    }
    #[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
    {
        let _ = (c, block);
        false
    }
}

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

// SAFETY: a small block (see `class`) is allocated from `System` with its class's
// layout, at least its size and alignment, and goes back to `System` with that layout or
// into a free list, from which it is only handed out for a layout of the same class. Any
// other block is forwarded to `System` with `adjusted(layout)`, a valid layout of the same
// size and at least the requested alignment, and freed or resized with that same layout.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(c) = class(layout) {
            let block = take_small(c);
            if !block.is_null() {
                return block;
            }
            // SAFETY: a class layout has a non-zero size.
            return unsafe { System.alloc(class_layout(c)) };
        }
        // SAFETY: `adjusted` keeps the size, which the caller guarantees is non-zero.
        unsafe { System.alloc(adjusted(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_some() {
            // SAFETY: as in `alloc`; the block is valid for `layout.size()` bytes.
            unsafe {
                let block = self.alloc(layout);
                if !block.is_null() {
                    block.write_bytes(0, layout.size());
                }
                return block;
            }
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(adjusted(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(layout) {
            // SAFETY: `ptr` was allocated by `alloc` for a layout of class `c`, so with
            // `class_layout(c)` (the caller passes the layout it allocated with).
            unsafe {
                if !keep_small(c, ptr) {
                    System.dealloc(ptr, class_layout(c));
                }
            }
            return;
        }
        // SAFETY: `ptr` was allocated by `alloc` with `adjusted(layout)` (the caller
        // passes the layout it allocated with).
        unsafe { System.dealloc(ptr, adjusted(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let (from, to) = (class(layout), class(new));
        if from.is_some() || to.is_some() {
            if from == to {
                // The same class: the block already has room.
                return ptr;
            }
            // SAFETY: a new block for `new` (non-zero size), both valid for the smaller
            // size and distinct; `ptr` is freed with the layout it was allocated for.
            unsafe {
                let moved = self.alloc(new);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                return moved;
            }
        }
        let old = adjusted(layout);
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
                ptr::copy_nonoverlapping(ptr, grown, layout.size().min(new_size));
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

    #[test]
    fn free_lists_hand_back_blocks_of_the_same_class_within_their_bounds() {
        assert_eq!(
            class(Layout::from_size_align(1, 1).expect("layout")),
            Some(0)
        );
        assert_eq!(
            class(Layout::from_size_align(16, 8).expect("layout")),
            Some(0)
        );
        assert_eq!(
            class(Layout::from_size_align(17, 1).expect("layout")),
            Some(1)
        );
        assert_eq!(
            class(Layout::from_size_align(SMALL_MAX, 1).expect("layout")),
            Some(CLASSES - 1)
        );
        assert_eq!(
            class(Layout::from_size_align(SMALL_MAX + 1, 1).expect("layout")),
            None
        );
        assert_eq!(
            class(Layout::from_size_align(16, 16).expect("layout")),
            None
        );
        let mut lists = FreeLists::new();
        let mut blocks = Vec::new();
        #[allow(unsafe_code)]
        // SAFETY: blocks come from `System` with their class layout and are freed with it.
        unsafe {
            for _ in 0..=CACHED_PER_CLASS {
                let b = System.alloc(class_layout(2));
                assert!(!b.is_null());
                blocks.push(b);
            }
            for &b in &blocks[..usize::from(CACHED_PER_CLASS)] {
                assert!(lists.push(2, b));
            }
            assert!(
                !lists.push(2, blocks[usize::from(CACHED_PER_CLASS)]),
                "the class is full"
            );
            assert_eq!(lists.bytes, usize::from(CACHED_PER_CLASS) * 48);
            assert!(lists.pop(1).is_null(), "another class is empty");
            let mut back = Vec::new();
            loop {
                let b = lists.pop(2);
                if b.is_null() {
                    break;
                }
                back.push(b);
            }
            assert_eq!(lists.bytes, 0);
            back.sort();
            let mut pushed = blocks[..usize::from(CACHED_PER_CLASS)].to_vec();
            pushed.sort();
            assert_eq!(back, pushed, "every kept block comes back once");
            for b in blocks {
                System.dealloc(b, class_layout(2));
            }
        }
    }
}

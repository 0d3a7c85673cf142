//! Seeds for hash maps whose keys come from clients.

/// A random seed for a hash map whose keys clients choose, so that they cannot pick keys
/// that collide on purpose. `salt` tells apart the maps of one instance.
///
/// Inside a component it comes from `wasi:random/insecure-seed`, the WASI interface meant
/// for exactly this (one value per instance, drawn by the host). It is read directly, not
/// through std's `RandomState`, so an adapter built for `wasm32-unknown-unknown` (no std
/// WASI support, hence no WASI imports but the ones it names) is seeded as well; there
/// std's `RandomState` would be a constant. Elsewhere it is std's `RandomState`.
///
/// ```
/// assert_ne!(byoc_common::hash_seed(1), byoc_common::hash_seed(2));
/// ```
pub fn hash_seed(salt: u64) -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        let (low, high) = wasi::random::insecure_seed::insecure_seed();
        // One round of SplitMix64's finaliser over the salted seed: each salt gives an
        // unrelated value.
        let mut x = low ^ high.rotate_left(29) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::hash::BuildHasher;
        std::hash::RandomState::new().hash_one(salt)
    }
}

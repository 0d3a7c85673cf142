//! A hash that gives the same value for the same key on every platform and in every run
//! (wasm32 and native), so the policy's decisions are reproducible.

use std::hash::{Hash, Hasher};

/// FxHash-style word hasher over little-endian 8-byte chunks, finished with a
/// SplitMix64 mix.
#[derive(Default)]
struct StableHasher {
    state: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl StableHasher {
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        // Same value on 32- and 64-bit targets.
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut z = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The 64-bit hash of `key`, the same on every platform and in every run.
pub fn stable_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut h = StableHasher::default();
    key.hash(&mut h);
    h.finish()
}

/// The hasher of the policies' own maps (key to node, ghost hash to slot): foldhash, several
/// times faster than std's SipHash on short keys. Their iteration order never decides
/// anything, so it may differ between runs.
pub(crate) type IndexHasher = foldhash::fast::FixedState;

/// An [`IndexHasher`] with a random seed ([`byoc_common::hash_seed`]: `wasi:random` in
/// wasm), so that keys cannot be chosen to collide.
pub(crate) fn index_hasher() -> IndexHasher {
    IndexHasher::with_seed(byoc_common::hash_seed(0x0074_696e_796c_6675))
}

#[cfg(test)]
mod tests {
    use super::stable_hash;

    #[test]
    fn stable_and_spread() {
        assert_eq!(stable_hash("abc"), stable_hash("abc"));
        assert_ne!(stable_hash("abc"), stable_hash("abd"));
        assert_ne!(stable_hash(&1u64), stable_hash(&2u64));
    }
}

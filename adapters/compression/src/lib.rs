//! The BYOC compression wrapper: values of at least `threshold` bytes are compressed with
//! LZ4 before they reach the layer below, and decompressed on the way back.
//!
//! - **Frame** (what the inner layer stores): a header byte, then `0` = the value as is,
//!   or `1` = LZ4: the value's length and its XXH32 checksum (4 bytes each,
//!   little-endian), then one LZ4 block (which has no checksum of its own). Values
//!   under the threshold, and values LZ4 does not shrink, are stored raw, so both kinds
//!   coexist under one cache (changing `threshold` later needs no migration).
//! - **Corrupt frames** (an unknown header byte, a truncated or damaged block, a length
//!   that does not match, one above `max-size`, a checksum that does not match) are an
//!   `internal` error, never garbage; counted in `stats` as `compression.corrupt`.
//! - **Codec**: `lz4_flex` (pure Rust, safe decoder; LZ4 has no levels). zstd compresses
//!   more but its crate needs a C toolchain for wasm; LZ4 is the fast choice for a cache.
//! - **Stacking** with encryption: configure `compression` with `encryption` as its inner
//!   layer, so a value is compressed, then encrypted (the stack
//!   `compression(encryption(...))`); with the layers the other way round the wrapper
//!   would get ciphertext, which does not compress, and store it raw.
//! - **Atomics**: when the layer has them, `compare-and-swap` decodes the stored bytes to
//!   compare and swaps with the layer's own compare-and-swap on exactly those bytes;
//!   `increment` loops on that. Everything else passes through.

use byoc_guest_sdk::{
    Capabilities, Config, ConfigField, ConfigKind, Error, Item, Result, Stat, Stats, Wrapper,
    atomic, inner,
};

/// Header byte: the value follows as is.
pub const RAW: u8 = 0;
/// Header byte: the value's length and XXH32 (u32 LE each) and an LZ4 block follow.
pub const LZ4: u8 = 1;

/// Default `threshold`: values shorter than this are stored raw.
pub const DEFAULT_THRESHOLD: u64 = 512;
/// Default `max-size`: the largest value a frame may claim to decompress to.
pub const DEFAULT_MAX_SIZE: u64 = 64 << 20;

/// The compression wrapper's state.
pub struct Compression {
    threshold: usize,
    max_size: usize,
    corrupt: u64,
    compressed: u64,
    bytes_in: u64,
    bytes_stored: u64,
}

/// Why a frame does not decode.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No header byte.
    Empty,
    /// A header byte this wrapper does not know.
    UnknownHeader(u8),
    /// The length is missing, above the limit, or does not match the block.
    BadLength,
    /// The LZ4 block is damaged.
    BadBlock,
    /// The block decodes to bytes whose checksum is not the frame's.
    BadChecksum,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty frame"),
            FrameError::UnknownHeader(b) => write!(f, "unknown header byte {b}"),
            FrameError::BadLength => f.write_str("bad length"),
            FrameError::BadBlock => f.write_str("damaged LZ4 block"),
            FrameError::BadChecksum => f.write_str("checksum mismatch"),
        }
    }
}

/// The frame of `value`: compressed when it is at least `threshold` bytes and LZ4 makes
/// it smaller, raw otherwise.
pub fn encode(value: &[u8], threshold: usize) -> Vec<u8> {
    if value.len() >= threshold
        && let Ok(len) = u32::try_from(value.len())
    {
        let block = lz4_flex::block::compress(value);
        if block.len() + 8 < value.len() {
            let mut out = Vec::with_capacity(9 + block.len());
            out.push(LZ4);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&checksum(value).to_le_bytes());
            out.extend_from_slice(&block);
            return out;
        }
    }
    let mut out = Vec::with_capacity(1 + value.len());
    out.push(RAW);
    out.extend_from_slice(value);
    out
}

/// XXH32 of `value` (seed 0), as the LZ4 frame format checksums content.
fn checksum(value: &[u8]) -> u32 {
    twox_hash::XxHash32::oneshot(0, value)
}

/// The value of `frame`, which may claim at most `max_size` bytes.
pub fn decode(frame: &[u8], max_size: usize) -> std::result::Result<Vec<u8>, FrameError> {
    match frame {
        [] => Err(FrameError::Empty),
        [RAW, value @ ..] => Ok(value.to_vec()),
        [LZ4, rest @ ..] => {
            let (len, rest) = rest.split_first_chunk::<4>().ok_or(FrameError::BadLength)?;
            let (sum, block) = rest.split_first_chunk::<4>().ok_or(FrameError::BadLength)?;
            let len =
                usize::try_from(u32::from_le_bytes(*len)).map_err(|_| FrameError::BadLength)?;
            if len > max_size {
                return Err(FrameError::BadLength);
            }
            // Sized from the header (bounded above), filled exactly or rejected.
            let mut out = vec![0; len];
            let wrote = lz4_flex::block::decompress_into(block, &mut out)
                .map_err(|_| FrameError::BadBlock)?;
            if wrote != len {
                return Err(FrameError::BadLength);
            }
            if checksum(&out) != u32::from_le_bytes(*sum) {
                return Err(FrameError::BadChecksum);
            }
            Ok(out)
        }
        [other, ..] => Err(FrameError::UnknownHeader(*other)),
    }
}

impl Compression {
    fn pack(&mut self, value: &[u8]) -> Vec<u8> {
        let frame = encode(value, self.threshold);
        self.bytes_in += value.len() as u64;
        self.bytes_stored += frame.len() as u64;
        if frame.first() == Some(&LZ4) {
            self.compressed += 1;
        }
        frame
    }

    fn unpack(&mut self, key: &str, frame: &[u8]) -> Result<Vec<u8>> {
        decode(frame, self.max_size).map_err(|e| {
            self.corrupt += 1;
            Error::Internal(format!(
                "the value under `{key}` is not a valid compression frame: {e}"
            ))
        })
    }

    fn unpack_opt(&mut self, key: &str, stored: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        stored.map(|frame| self.unpack(key, &frame)).transpose()
    }
}

fn size_field(config: &Config, name: &str, default: u64) -> Result<usize> {
    let value = config.size(name).unwrap_or(default);
    usize::try_from(value)
        .ok()
        .filter(|&v| u32::try_from(v).is_ok())
        .ok_or_else(|| Error::InvalidConfig(format!("{name}: {value} is above 4 GiB")))
}

impl Wrapper for Compression {
    const NAME: &'static str = "compression";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::GET
        .union(Capabilities::SET)
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "threshold",
                ConfigKind::Size,
                false,
                "Values of at least this many bytes are compressed (default 512 B).",
            ),
            ConfigField::new(
                "max-size",
                ConfigKind::Size,
                false,
                "Largest value a stored frame may decompress to; a larger claim is a \
                 corrupt frame (default 64 MiB).",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        Ok(Compression {
            threshold: size_field(config, "threshold", DEFAULT_THRESHOLD)?,
            max_size: size_field(config, "max-size", DEFAULT_MAX_SIZE)?,
            corrupt: 0,
            compressed: 0,
            bytes_in: 0,
            bytes_stored: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let stored = inner::get(0, key)?;
        self.unpack_opt(key, stored)
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        let frame = self.pack(&value);
        inner::set(0, key, &frame, ttl)
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let stored = inner::get_multi(0, &keys)?;
        keys.iter()
            .zip(stored)
            .map(|(key, value)| self.unpack_opt(key, value))
            .collect()
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        let framed: Vec<Item> = items
            .into_iter()
            .map(|item| Item {
                value: self.pack(&item.value),
                ..item
            })
            .collect();
        inner::set_multi(0, &framed)
    }

    fn stats(&mut self) -> Result<Stats> {
        let mut stats = inner::stats(0)?;
        for (name, value) in [
            ("compression.corrupt", self.corrupt),
            ("compression.compressed", self.compressed),
            ("compression.bytes-in", self.bytes_in),
            ("compression.bytes-stored", self.bytes_stored),
        ] {
            stats.extra.push(Stat {
                name: name.into(),
                value,
            });
        }
        Ok(stats)
    }

    fn atomics_supported(&mut self) -> bool {
        inner::atomics_supported(0)
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        let (threshold, max_size) = (self.threshold, self.max_size);
        let corrupt = std::cell::Cell::new(0);
        let result = atomic::transformed_increment(
            0,
            key,
            delta,
            ttl,
            |frame| decode(frame, max_size).map_err(|e| frame_error(key, &corrupt, e)),
            |value| Ok(encode(value, threshold)),
        );
        self.corrupt += corrupt.get();
        result
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        let (threshold, max_size) = (self.threshold, self.max_size);
        let corrupt = std::cell::Cell::new(0);
        let result = atomic::transformed_compare_and_swap(
            0,
            key,
            expected,
            &new,
            ttl,
            |frame| decode(frame, max_size).map_err(|e| frame_error(key, &corrupt, e)),
            |value| Ok(encode(value, threshold)),
        );
        self.corrupt += corrupt.get();
        result
    }
}

/// A corrupt frame met by an atomic operation, counted in `corrupt`.
fn frame_error(key: &str, corrupt: &std::cell::Cell<u64>, e: FrameError) -> Error {
    corrupt.set(corrupt.get() + 1);
    Error::Internal(format!(
        "the value under `{key}` is not a valid compression frame: {e}"
    ))
}

byoc_guest_sdk::export_wrapper!(Compression);

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressible, but not trivially: a repeating text with a counter in it.
    fn sample(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = 0u64;
        while out.len() < len {
            out.extend_from_slice(
                format!("{{\"id\":{i},\"name\":\"user-{}\"}},", i % 97).as_bytes(),
            );
            i += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn every_size_round_trips() {
        let mut sizes: Vec<usize> = (0..=1100).collect();
        for p in 11..=20 {
            let b = 1usize << p;
            sizes.extend([b - 1, b, b + 1]);
        }
        for len in sizes {
            let value = sample(len);
            let frame = encode(&value, 512);
            assert_eq!(
                decode(&frame, DEFAULT_MAX_SIZE as usize).as_deref(),
                Ok(&value[..]),
                "{len}"
            );
            let expect = if len >= 512 { LZ4 } else { RAW };
            assert_eq!(frame[0], expect, "header of {len}");
        }
    }

    #[test]
    fn incompressible_values_are_stored_raw() {
        // A xorshift stream: LZ4 cannot shrink it.
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let value: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let frame = encode(&value, 512);
        assert_eq!(frame[0], RAW);
        assert_eq!(decode(&frame, 1 << 20).as_deref(), Ok(&value[..]));
    }

    #[test]
    fn corrupt_frames_are_errors() {
        let frame = encode(&sample(10_000), 512);
        assert_eq!(frame[0], LZ4);
        assert_eq!(decode(&[], 1 << 20), Err(FrameError::Empty));
        assert_eq!(
            decode(&[7, 1, 2], 1 << 20),
            Err(FrameError::UnknownHeader(7))
        );
        assert_eq!(decode(&[LZ4, 1, 0], 1 << 20), Err(FrameError::BadLength));
        // A claimed length above the limit is refused before anything is allocated.
        let mut huge = frame.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge, 1 << 20), Err(FrameError::BadLength));
        // Truncated, or with a wrong length: never a short or padded value.
        for cut in [frame.len() - 1, frame.len() / 2, 6] {
            assert!(decode(&frame[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
        let mut longer = frame.clone();
        longer[1..5].copy_from_slice(&10_001u32.to_le_bytes());
        assert!(decode(&longer, 1 << 20).is_err());
        let mut shorter = frame.clone();
        shorter[1..5].copy_from_slice(&9_999u32.to_le_bytes());
        assert!(decode(&shorter, 1 << 20).is_err());
        // A flipped byte anywhere after the header byte: always an error (the checksum
        // catches damage the LZ4 block still decodes).
        for i in 1..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x5A;
            assert!(decode(&bad, 1 << 20).is_err(), "flip at {i}");
        }
    }
}

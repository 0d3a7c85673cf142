//! Hostile components assembled at test time from `hostile.wat` and the `adapter` world,
//! for what Rust cannot emit (`table.grow`) or hides behind its allocator (raw
//! `memory.grow`). On any key but a `hostile:` one, [`component`] does no work: its `get`
//! answers a 12-byte probe, so the `paired` bench also calls it to measure BYOC's host
//! path over a guest that does nothing.

use std::path::Path;

/// What `$misbehave` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatBehaviour {
    /// Grows the table one element at a time until `table.grow` fails, then traps.
    TableBomb,
    /// Grows the table one element at a time until `table.grow` fails, then answers the
    /// probe (whose first word is the table size reached).
    TableProbe,
    /// Grows memory a page at a time until `memory.grow` fails, then traps.
    MemoryBomb,
    /// Recurses without bound.
    Recurse,
    /// Loops forever, calling nothing.
    Spin,
}

impl WatBehaviour {
    fn body(self) -> &'static str {
        match self {
            WatBehaviour::TableBomb => {
                "(block $full (loop $grow
                   (br_if $full (i32.eq (table.grow $t (ref.null func) (i32.const 1))
                                        (i32.const -1)))
                   (br $grow)))
                 unreachable"
            }
            WatBehaviour::TableProbe => {
                "(block $full (loop $grow
                   (br_if $full (i32.eq (table.grow $t (ref.null func) (i32.const 1))
                                        (i32.const -1)))
                   (br $grow)))"
            }
            WatBehaviour::MemoryBomb => {
                "(loop $grow
                   (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
                 unreachable"
            }
            WatBehaviour::Recurse => "(drop (call $recurse (i32.const 0)))",
            WatBehaviour::Spin => "(loop $spin (br $spin))",
        }
    }
}

/// The probe a `get` answers: (table elements, memory pages, `$misbehave` runs).
pub fn probe(value: &[u8]) -> (u32, u32, u32) {
    let word = |i: usize| {
        let bytes: [u8; 4] = value[i * 4..i * 4 + 4].try_into().expect("a 12-byte probe");
        u32::from_le_bytes(bytes)
    };
    assert_eq!(value.len(), 12, "probe {value:?}");
    (word(0), word(1), word(2))
}

/// How the `bulk` export of [`bulk_component`] answers `get-multi-packed` of `n` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatPacking {
    /// `n` lengths of 0 over 5 bytes of data: the lengths do not add up.
    LengthMismatch,
    /// A length of -2 first (only -1 is allowed).
    NegativeLength,
    /// `n + 1` lengths of 0 over no data: one value too many.
    Miscount,
    /// `held` (the host's answer handed back) when the host holds none.
    HeldNothing,
}

impl WatPacking {
    /// Sets `$data_len` and `$count`, and writes the lengths at `$out` (fresh, zeroed).
    fn body(self) -> &'static str {
        match self {
            WatPacking::LengthMismatch => {
                "(local.set $data_len (i32.const 5)) (local.set $count (local.get $n))"
            }
            WatPacking::NegativeLength => {
                "(i32.store (local.get $out) (i32.const -2))
                 (local.set $count (local.get $n))"
            }
            WatPacking::Miscount => "(local.set $count (i32.add (local.get $n) (i32.const 1)))",
            WatPacking::HeldNothing => "(local.set $held (i32.const 1))",
        }
    }
}

/// `get-multi-packed`: answers `ok(values(packed-values))` with `$data_len` bytes at 16
/// and `$count` lengths at `$out`, or `ok(held)` when `$held` is set. Flat parameters:
/// the keys' text and their lengths. The answer at 512: the result's case (0, ok) at 512,
/// the `packed-answer` case at 516, the `packed-values` record at 520.
const BULK_EXPORT: &str = r#"
  (func (export "byoc:cache/bulk@0.1.0#get-multi-packed")
    (param $text i32) (param $text_len i32) (param $lengths i32) (param $n i32)
    (result i32)
    (local $out i32) (local $data_len i32) (local $count i32) (local $held i32)
    (local.set $out
      (call $alloc (i32.const 4) (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 4))))
    {{PACKING}}
    (drop (call $zero))
    (i32.store8 (i32.const 516) (local.get $held))
    (i32.store (i32.const 520) (i32.const 16))
    (i32.store (i32.const 524) (local.get $data_len))
    (i32.store (i32.const 528) (local.get $out))
    (i32.store (i32.const 532) (local.get $count))
    (i32.const 512))
"#;

/// The component: `hostile.wat` with `behaviour` and a table of `table_min` elements,
/// its `adapter` world embedded, encoded as a component.
pub fn component(behaviour: WatBehaviour, table_min: u32) -> Vec<u8> {
    encode(behaviour, table_min, None)
}

/// `hostile.wat` with a `bulk` export that answers with `packing` (and a `$misbehave`
/// that only counts), in the `wrapper-bulk` world.
pub fn bulk_component(packing: WatPacking) -> Vec<u8> {
    encode(WatBehaviour::Recurse, 1, Some(packing))
}

fn encode(behaviour: WatBehaviour, table_min: u32, packing: Option<WatPacking>) -> Vec<u8> {
    let bulk = packing.map_or(String::new(), |p| {
        BULK_EXPORT.replace("{{PACKING}}", p.body())
    });
    let text = include_str!("hostile.wat")
        .replace("{{TABLE_MIN}}", &table_min.to_string())
        .replace("{{MISBEHAVE}}", behaviour.body())
        .replace("{{BULK}}", &bulk);
    let mut module = wat::parse_str(&text).expect("hostile.wat assembles");
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(&wit).expect("the WIT package parses");
    let world_name = if packing.is_some() {
        "wrapper-bulk"
    } else {
        "adapter"
    };
    let world = resolve
        .select_world(&[package], Some(world_name))
        .expect("the world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed the world");
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .expect("a core module of the adapter world")
        .encode()
        .expect("encode the component")
}

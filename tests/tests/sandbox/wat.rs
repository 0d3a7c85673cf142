//! Hostile components assembled at test time from `hostile.wat` and the `adapter` world,
//! for what Rust cannot emit (`table.grow`) or hides behind its allocator (raw
//! `memory.grow`).

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

/// The component: `hostile.wat` with `behaviour` and a table of `table_min` elements,
/// its `adapter` world embedded, encoded as a component.
pub fn component(behaviour: WatBehaviour, table_min: u32) -> Vec<u8> {
    let text = include_str!("hostile.wat")
        .replace("{{TABLE_MIN}}", &table_min.to_string())
        .replace("{{MISBEHAVE}}", behaviour.body());
    let mut module = wat::parse_str(&text).expect("hostile.wat assembles");
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(&wit).expect("the WIT package parses");
    let world = resolve
        .select_world(&[package], Some("adapter"))
        .expect("the adapter world");
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

;; A hostile adapter written directly in WebAssembly text, for what Rust cannot emit
;; (`table.grow`) or would hide behind its allocator (raw `memory.grow`).
;; `wat_hostile.rs` substitutes the two placeholders in double braces (the table's initial
;; size, and the body of `$misbehave`), then wraps the core module into a component of the
;; `adapter` world. A third placeholder is empty, or holds a `bulk` export whose packed
;; answers are malformed; the component's world is then `wrapper-bulk`.
;;
;; It stores nothing. `get` of any key answers a 12-byte probe of the instance:
;; table size (u32 LE), memory pages (u32 LE), `$misbehave` runs (u32 LE); a fresh
;; instance answers its initial table size, 1, 0. A `get` or `set` of a key starting with
;; `hostile:`, and a `get-multi` / `set-multi` holding one, runs `$misbehave` first.
;; Every other function answers the zero value of its result (ok: false, 0, none, empty).
;;
;; Canonical ABI layout used below (wasm32): results are written to a 64-byte return
;; area at 512; `result<T, error>` has its discriminant at 0 and `T` at 4 (8 when T holds
;; a u64).
(module
  (memory (export "memory") 1)
  (table $t {{TABLE_MIN}} funcref)
  (global $heap (mut i32) (i32.const 4096))
  (global $runs (mut i32) (i32.const 0))

  ;; Strings of the provider-info.
  (data (i32.const 16) "wat-hostile")
  (data (i32.const 32) "0.1.0")
  ;; adapter-description at 256: provider-info { name, version, contract, native: none },
  ;; then config: an empty list. provider-info alone is its first 28 bytes.
  (data (i32.const 256)
    "\10\00\00\00\0b\00\00\00"
    "\20\00\00\00\05\00\00\00"
    "\20\00\00\00\05\00\00\00"
    "\00\00\00\00"
    "\08\00\00\00\00\00\00\00")

  ;; A bump allocator that grows memory as needed (and traps when it cannot).
  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $p i32)
    (local.set $p
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (block $done
      (loop $more
        (br_if $done
          (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $more)))
    (local.get $p))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)
    (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (call $alloc (local.get $align) (local.get $size)))
    (if (local.get $old_size)
      (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  ;; The return area, zeroed: ok with the zero value of any result used here.
  (func $zero (result i32)
    (memory.fill (i32.const 512) (i32.const 0) (i32.const 64))
    (i32.const 512))

  ;; Whether the string (ptr, len) starts with "hostile:".
  (func $is_hostile (param $ptr i32) (param $len i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $len) (i32.const 8))
      (then (i32.const 0))
      (else (i64.eq (i64.load align=1 (local.get $ptr)) (i64.const 0x3a656c6974736f68)))))

  ;; Whether any of the `n` records of `stride` bytes at `ptr`, each starting with a
  ;; string, names a hostile key.
  (func $any_hostile (param $ptr i32) (param $n i32) (param $stride i32) (result i32)
    (block $no
      (loop $next
        (br_if $no (i32.eqz (local.get $n)))
        (if (call $is_hostile (i32.load (local.get $ptr)) (i32.load offset=4 (local.get $ptr)))
          (then (return (i32.const 1))))
        (local.set $ptr (i32.add (local.get $ptr) (local.get $stride)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $recurse (param $depth i32) (result i32)
    (i32.add
      (call $recurse (i32.add (local.get $depth) (i32.const 1)))
      (local.get $depth)))

  (func $misbehave
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    {{MISBEHAVE}})

  ;; ok(some(probe)).
  (func $probe (result i32)
    (i32.store (i32.const 600) (table.size $t))
    (i32.store (i32.const 604) (memory.size))
    (i32.store (i32.const 608) (global.get $runs))
    (drop (call $zero))
    (i32.store8 (i32.const 516) (i32.const 1))
    (i32.store (i32.const 520) (i32.const 600))
    (i32.store (i32.const 524) (i32.const 12))
    (i32.const 512))

  (func (export "byoc:cache/lifecycle@0.1.0#describe") (result i32) (i32.const 256))
  (func (export "byoc:cache/lifecycle@0.1.0#init") (param i32 i32) (result i32) (call $zero))

  (func (export "byoc:cache/provider@0.1.0#get") (param $k i32) (param $kl i32) (result i32)
    (if (call $is_hostile (local.get $k) (local.get $kl)) (then (call $misbehave)))
    (call $probe))
  (func (export "byoc:cache/provider@0.1.0#set")
    (param $k i32) (param $kl i32) (param i32 i32 i32 i64) (result i32)
    (if (call $is_hostile (local.get $k) (local.get $kl)) (then (call $misbehave)))
    (call $zero))
  (func (export "byoc:cache/provider@0.1.0#delete") (param i32 i32) (result i32) (call $zero))
  (func (export "byoc:cache/provider@0.1.0#exists") (param i32 i32) (result i32) (call $zero))
  ;; list<string>: 8 bytes a key; answers a list of `none` (12 bytes each, fresh memory
  ;; is zero).
  (func (export "byoc:cache/provider@0.1.0#get-multi") (param $keys i32) (param $n i32)
    (result i32)
    (local $out i32)
    (if (call $any_hostile (local.get $keys) (local.get $n) (i32.const 8))
      (then (call $misbehave)))
    (local.set $out (call $alloc (i32.const 4) (i32.mul (local.get $n) (i32.const 12))))
    (drop (call $zero))
    (i32.store (i32.const 516) (local.get $out))
    (i32.store (i32.const 520) (local.get $n))
    (i32.const 512))
  ;; list<item>: 32 bytes an item, its key first.
  (func (export "byoc:cache/provider@0.1.0#set-multi") (param $items i32) (param $n i32)
    (result i32)
    (if (call $any_hostile (local.get $items) (local.get $n) (i32.const 32))
      (then (call $misbehave)))
    (call $zero))
  (func (export "byoc:cache/provider@0.1.0#delete-multi") (param i32 i32) (result i32)
    (call $zero))
  (func (export "byoc:cache/provider@0.1.0#scan") (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $zero))
  (func (export "byoc:cache/provider@0.1.0#ttl") (param i32 i32) (result i32) (call $zero))
  (func (export "byoc:cache/provider@0.1.0#expire") (param i32 i32 i32 i64) (result i32)
    (call $zero))
  (func (export "byoc:cache/provider@0.1.0#clear") (result i32) (call $zero))
  (func (export "byoc:cache/provider@0.1.0#stats") (result i32) (call $zero))
  (func (export "byoc:cache/provider@0.1.0#ping") (result i32) (call $zero))
  (func (export "byoc:cache/provider@0.1.0#info") (result i32) (i32.const 256))

  {{BULK}}
)

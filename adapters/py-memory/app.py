"""BYOC in-memory cache adapter in Python: world `byoc:cache/adapter` (wit/worlds.wit).

Exports `lifecycle` (describe, init) and `provider` (every operation natively) of the world
`adapter`. Built into a component with componentize-py (see ../polyglot/build.sh), which
generates the `wit_world` bindings package this module imports. TTLs use Python's
`time.monotonic_ns()`, which CPython's wasi-libc serves from wasi:clocks/monotonic-clock.

WIT -> Python mapping used here (componentize-py conventions):
- `list<u8>` is `bytes`, integers are `int`, `option<T>` is `Optional[T]`;
- a `result<T, error>` export returns T, and reports the error by raising
  `componentize_py_types.Err(types.Error_InvalidKey("message"))` (one class per case);
- flags are an `enum.Flag` (`types.Capabilities.GET | ...`).
"""

import bisect
import time
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

CONTRACT = "0.1.0"
NAME = "py-memory"
VERSION = "0.1.0"
MAX_KEY_BYTES = 1024
MAX_PATTERN_BYTES = 4096
CURSOR_PREFIX = "after:"
# Keys a scan page may examine per key it may return (as guest-sdk/common/src/scan.rs).
EXAMINE_PER_RESULT = 16
DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024

C = types.Capabilities
NATIVE = (
    C.GET | C.SET | C.DELETE | C.EXISTS | C.GET_MULTI | C.SET_MULTI | C.DELETE_MULTI
    | C.SCAN | C.TTL | C.EXPIRE | C.CLEAR | C.STATS
)
INFO = types.ProviderInfo(name=NAME, version=VERSION, contract=CONTRACT, native=NATIVE)


def now_ms() -> float:
    """Milliseconds on the monotonic clock (wasi:clocks/monotonic-clock, through libc)."""
    return time.monotonic_ns() / 1_000_000


class _State:
    def __init__(self) -> None:
        # key -> [value: bytes, expires_at: Optional[float] (ms, monotonic)]
        self.store: dict = {}
        # Keys of `store`, sorted; rebuilt lazily after a key is added or removed.
        self.sorted_keys: Optional[List[str]] = None
        self.max_value_bytes = DEFAULT_MAX_VALUE_BYTES
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.expirations = 0


S = _State()


def check_key(key: str) -> None:
    if not key:
        raise Err(types.Error_InvalidKey("key is empty"))
    n = len(key.encode("utf-8", "surrogatepass"))
    if n > MAX_KEY_BYTES:
        raise Err(types.Error_InvalidKey(f"key is {n} bytes long; the limit is {MAX_KEY_BYTES}"))
    for i, ch in enumerate(key):
        o = ord(ch)
        if o < 0x20 or o == 0x7F:
            raise Err(types.Error_InvalidKey(f"key contains a control character at {i}"))


def check_value(value: bytes) -> None:
    if len(value) > S.max_value_bytes:
        raise Err(types.Error_ValueTooLarge(
            f"value is {len(value)} bytes; this adapter takes at most {S.max_value_bytes}"))


def check_set_ttl(ttl: Optional[int]) -> None:
    if ttl is not None and ttl == 0:
        raise Err(types.Error_InvalidArgument("a TTL of 0 ms is not allowed in set"))


def cost(key: str, value: bytes) -> int:
    return len(key.encode("utf-8", "surrogatepass")) + len(value)


def remove(key: str, entry: list) -> None:
    del S.store[key]
    S.bytes -= cost(key, entry[0])
    S.sorted_keys = None


def live(key: str) -> Optional[list]:
    """The live entry under `key`, purging it when it has expired."""
    entry = S.store.get(key)
    if entry is None:
        return None
    if entry[1] is not None and entry[1] <= now_ms():
        remove(key, entry)
        S.expirations += 1
        return None
    return entry


def put(key: str, value: bytes, ttl: Optional[int]) -> None:
    old = S.store.get(key)
    if old is not None:
        S.bytes -= cost(key, old[0])
    else:
        S.sorted_keys = None
    expires_at = None if ttl is None else now_ms() + ttl
    S.store[key] = [bytes(value), expires_at]
    S.bytes += cost(key, value)


def read(key: str) -> Optional[bytes]:
    entry = live(key)
    if entry is None:
        S.misses += 1
        return None
    S.hits += 1
    return entry[0]


# Redis glob matching over Unicode characters, as guest-sdk/common/src/glob.rs: `*`, `?`,
# `[abc]`, `[^abc]`/`[!abc]`, `[a-z]` (reversed ranges allowed) and `\` escapes.
def validate_pattern(pattern: str) -> None:
    n = len(pattern.encode("utf-8", "surrogatepass"))
    if n > MAX_PATTERN_BYTES:
        raise Err(types.Error_InvalidArgument(
            f"glob pattern is {n} bytes long; the limit is {MAX_PATTERN_BYTES}"))
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            at = i
            closed = False
            i += 1
            while i < len(pattern):
                if pattern[i] == "\\":
                    i += 1
                elif pattern[i] == "]":
                    closed = True
                    break
                i += 1
            if not closed:
                raise Err(types.Error_InvalidArgument(
                    f"glob pattern has an unterminated '[' at character {at}"))
        i += 1


def match_class(p: str, start: int, c: str):
    i = start
    negate = i < len(p) and p[i] in "^!"
    if negate:
        i += 1
    matched = False
    while i < len(p) and p[i] != "]":
        lo = p[i]
        if lo == "\\" and i + 1 < len(p):
            i += 1
            lo = p[i]
        if i + 2 < len(p) and p[i + 1] == "-" and p[i + 2] != "]":
            hi = p[i + 2]
            skip = 3
            if hi == "\\" and i + 3 < len(p):
                hi = p[i + 3]
                skip = 4
            a, b = (lo, hi) if lo <= hi else (hi, lo)
            matched = matched or a <= c <= b
            i += skip
        else:
            matched = matched or lo == c
            i += 1
    return matched != negate, (i + 1 if i < len(p) else i)


def glob_match(p: str, s: str) -> bool:
    if p == "*":
        return True
    pi = si = 0
    star_p = -1
    star_s = 0
    while si < len(s):
        if pi < len(p):
            c = p[pi]
            if c == "*":
                while pi < len(p) and p[pi] == "*":
                    pi += 1
                star_p, star_s = pi, si
                continue
            if c == "?":
                pi += 1
                si += 1
                continue
            if c == "[":
                ok, nxt = match_class(p, pi + 1, s[si])
                if ok:
                    pi = nxt
                    si += 1
                    continue
            elif c == "\\" and pi + 1 < len(p):
                if p[pi + 1] == s[si]:
                    pi += 2
                    si += 1
                    continue
            elif c == s[si]:
                pi += 1
                si += 1
                continue
        if star_p < 0:
            return False
        star_s += 1
        si = star_s
        pi = star_p
    return all(ch == "*" for ch in p[pi:])


class Lifecycle(exports.Lifecycle):
    def describe(self) -> types.AdapterDescription:
        return types.AdapterDescription(info=INFO, config=[types.ConfigField(
            name="max-value-bytes",
            kind=types.ConfigKind.SIZE,
            required=False,
            doc="Largest value accepted, in bytes; larger values fail with value-too-large. "
                "Default 16 MiB.",
        )])

    def init(self, config: List[types.ConfigEntry]) -> None:
        limit = DEFAULT_MAX_VALUE_BYTES
        for entry in config:
            if entry.name == "max-value-bytes" and isinstance(entry.value, types.ConfigValue_Size):
                if entry.value.value == 0:
                    raise Err(types.Error_InvalidConfig("max-value-bytes must be at least 1"))
                limit = entry.value.value
            else:
                raise Err(types.Error_InvalidConfig(f"unknown field or wrong kind: {entry.name}"))
        S.max_value_bytes = limit


class Provider(exports.Provider):
    def get(self, key: str) -> Optional[bytes]:
        check_key(key)
        return read(key)

    def set(self, key: str, value: bytes, ttl: Optional[int]) -> None:
        check_key(key)
        check_value(value)
        check_set_ttl(ttl)
        put(key, value, ttl)

    def delete(self, key: str) -> bool:
        check_key(key)
        entry = live(key)
        if entry is None:
            return False
        remove(key, entry)
        return True

    def exists(self, key: str) -> bool:
        check_key(key)
        return read(key) is not None

    def get_multi(self, keys: List[str]) -> List[Optional[bytes]]:
        for key in keys:
            check_key(key)
        return [read(key) for key in keys]

    def set_multi(self, items: List[types.Item]) -> None:
        for item in items:
            check_key(item.key)
            check_value(item.value)
            check_set_ttl(item.ttl)
        for item in items:
            put(item.key, item.value, item.ttl)

    def delete_multi(self, keys: List[str]) -> int:
        for key in keys:
            check_key(key)
        removed = 0
        for key in keys:
            entry = live(key)
            if entry is not None:
                remove(key, entry)
                removed += 1
        return removed

    def scan(self, pattern: str, cursor: Optional[str], count: int) -> types.ScanPage:
        validate_pattern(pattern)
        start = 0
        if S.sorted_keys is None:
            S.sorted_keys = sorted(S.store)
        keys_sorted = S.sorted_keys
        if cursor is not None:
            if not cursor.startswith(CURSOR_PREFIX):
                raise Err(types.Error_InvalidArgument("unknown scan cursor"))
            start = bisect.bisect_right(keys_sorted, cursor[len(CURSOR_PREFIX):])
        want = max(count, 1)
        budget = want * EXAMINE_PER_RESULT
        now = now_ms()
        found: List[str] = []
        i = start
        while i < len(keys_sorted) and len(found) < want and i - start < budget:
            key = keys_sorted[i]
            i += 1
            if glob_match(pattern, key):
                entry = S.store.get(key)
                if entry is not None and (entry[1] is None or entry[1] > now):
                    found.append(key)
        nxt = CURSOR_PREFIX + keys_sorted[i - 1] if i < len(keys_sorted) and i > start else None
        return types.ScanPage(keys=found, cursor=nxt)

    def ttl(self, key: str) -> types.KeyTtl:
        check_key(key)
        entry = live(key)
        if entry is None:
            return types.KeyTtl_Missing()
        if entry[1] is None:
            return types.KeyTtl_Persistent()
        left = entry[1] - now_ms()
        return types.KeyTtl_ExpiresIn(max(1, int(-(-left // 1))))

    def expire(self, key: str, ttl: Optional[int]) -> bool:
        check_key(key)
        entry = live(key)
        if entry is None:
            return False
        if ttl is None:
            entry[1] = None
        elif ttl == 0:
            remove(key, entry)
        else:
            entry[1] = now_ms() + ttl
        return True

    def clear(self) -> None:
        S.store.clear()
        S.sorted_keys = None
        S.bytes = 0

    def stats(self) -> types.CacheStats:
        return types.CacheStats(
            hits=S.hits, misses=S.misses, keys=len(S.store), bytes=S.bytes,
            evictions=0, expirations=S.expirations, extra=[])

    def ping(self) -> None:
        return None

    def info(self) -> types.ProviderInfo:
        return INFO

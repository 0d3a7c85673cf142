// BYOC in-memory cache adapter in JavaScript: world `byoc:cache/adapter` (wit/worlds.wit).
//
// Exports `lifecycle` (describe, init) and `provider` (every operation natively). Built into
// a component by calling componentize-js directly (see ../polyglot/build.sh; `jco
// componentize` cannot read the WIT folder).
//
// WIT -> JS mapping used here (componentize-js conventions):
// - `list<u8>` is a Uint8Array, `u64` a BigInt, `u32` a number, `option<T>` is T or undefined;
// - a `result<T, error>` export returns T, and reports the error by throwing a
//   `{ tag: 'invalid-key', val: 'message' }` object (the `error` variant case);
// - records and flags use lowerCamelCase field names (`getMulti`, `durationMs`).

const CONTRACT = '0.1.0';
const NAME = 'js-memory';
const VERSION = '0.1.0';
const MAX_KEY_BYTES = 1024;
const MAX_PATTERN_BYTES = 4096;
const CURSOR_PREFIX = 'after:';
// Keys a scan page may examine per key it may return (as guest-sdk/common/src/scan.rs).
const EXAMINE_PER_RESULT = 16;
const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;

const NATIVE = {
  get: true, set: true, delete: true, exists: true,
  getMulti: true, setMulti: true, deleteMulti: true,
  scan: true, ttl: true, expire: true, clear: true, stats: true,
};

const INFO = { name: NAME, version: VERSION, contract: CONTRACT, native: NATIVE };

// key -> { value: Uint8Array, expiresAt: number | undefined (ms, monotonic) }
const store = new Map();
// Keys of `store`, sorted; rebuilt lazily after a key is added or removed.
let sortedKeys = null;
let maxValueBytes = DEFAULT_MAX_VALUE_BYTES;
let bytes = 0;
let hits = 0n;
let misses = 0n;
let expirations = 0n;

function fail(tag, message) {
  // componentize-js turns a thrown object into the `err` case of the result.
  throw { tag, val: message };
}

// Milliseconds from a monotonic clock (wasi:clocks/monotonic-clock under StarlingMonkey).
function nowMs() {
  return performance.now();
}

function utf8Length(text) {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

function checkKey(key) {
  if (key.length === 0) fail('invalid-key', 'key is empty');
  const len = utf8Length(key);
  if (len > MAX_KEY_BYTES) {
    fail('invalid-key', `key is ${len} bytes long; the limit is ${MAX_KEY_BYTES}`);
  }
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) fail('invalid-key', `key contains a control character at ${i}`);
  }
}

function checkValue(value) {
  if (value.length > maxValueBytes) {
    fail('value-too-large', `value is ${value.length} bytes; this adapter takes at most ${maxValueBytes}`);
  }
}

function checkSetTtl(ttl) {
  if (ttl !== undefined && ttl === 0n) fail('invalid-argument', 'a TTL of 0 ms is not allowed in set');
}

function cost(key, value) {
  return utf8Length(key) + value.length;
}

// The live entry under `key`, purging it when it has expired.
function live(key) {
  const entry = store.get(key);
  if (entry === undefined) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= nowMs()) {
    remove(key, entry);
    expirations += 1n;
    return undefined;
  }
  return entry;
}

function remove(key, entry) {
  store.delete(key);
  bytes -= cost(key, entry.value);
  sortedKeys = null;
}

function put(key, value, ttl) {
  const old = store.get(key);
  if (old !== undefined) {
    bytes -= cost(key, old.value);
  } else {
    sortedKeys = null;
  }
  // Copy: the bindings may hand us a view of memory they reuse.
  const copy = new Uint8Array(value);
  const expiresAt = ttl === undefined ? undefined : nowMs() + Number(ttl);
  store.set(key, { value: copy, expiresAt });
  bytes += cost(key, copy);
}

function read(key) {
  const entry = live(key);
  if (entry === undefined) {
    misses += 1n;
    return undefined;
  }
  hits += 1n;
  return entry.value;
}

// Redis glob matching over Unicode characters, as guest-sdk/common/src/glob.rs: `*`, `?`,
// `[abc]`, `[^abc]`/`[!abc]`, `[a-z]` (reversed ranges allowed) and `\` escapes.
function validatePattern(pattern) {
  const len = utf8Length(pattern);
  if (len > MAX_PATTERN_BYTES) {
    fail('invalid-argument', `glob pattern is ${len} bytes long; the limit is ${MAX_PATTERN_BYTES}`);
  }
  const p = Array.from(pattern);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') {
      i++;
    } else if (p[i] === '[') {
      const at = i;
      let closed = false;
      for (i++; i < p.length; i++) {
        if (p[i] === '\\') i++;
        else if (p[i] === ']') { closed = true; break; }
      }
      if (!closed) fail('invalid-argument', `glob pattern has an unterminated '[' at character ${at}`);
    }
  }
}

function matchClass(p, start, c) {
  let i = start;
  const negate = i < p.length && (p[i] === '^' || p[i] === '!');
  if (negate) i++;
  let matched = false;
  while (i < p.length && p[i] !== ']') {
    let lo = p[i];
    if (lo === '\\' && i + 1 < p.length) { i++; lo = p[i]; }
    if (i + 2 < p.length && p[i + 1] === '-' && p[i + 2] !== ']') {
      let hi = p[i + 2];
      let skip = 3;
      if (hi === '\\' && i + 3 < p.length) { hi = p[i + 3]; skip = 4; }
      const a = lo.codePointAt(0);
      const b = hi.codePointAt(0);
      const x = c.codePointAt(0);
      matched = matched || (x >= Math.min(a, b) && x <= Math.max(a, b));
      i += skip;
    } else {
      matched = matched || lo === c;
      i++;
    }
  }
  return [matched !== negate, i < p.length ? i + 1 : i];
}

function globMatch(p, key) {
  const s = Array.from(key);
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length) {
      const c = p[pi];
      if (c === '*') {
        while (pi < p.length && p[pi] === '*') pi++;
        starP = pi;
        starS = si;
        continue;
      } else if (c === '?') {
        pi++; si++;
        continue;
      } else if (c === '[') {
        const [ok, next] = matchClass(p, pi + 1, s[si]);
        if (ok) { pi = next; si++; continue; }
      } else if (c === '\\' && pi + 1 < p.length) {
        if (p[pi + 1] === s[si]) { pi += 2; si++; continue; }
      } else if (c === s[si]) {
        pi++; si++;
        continue;
      }
    }
    if (starP < 0) return false;
    starS++;
    si = starS;
    pi = starP;
  }
  while (pi < p.length) {
    if (p[pi] !== '*') return false;
    pi++;
  }
  return true;
}

// Index of the first key in `sorted` strictly greater than `after`.
function firstAfter(sorted, after) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseConfig(entries) {
  let max = DEFAULT_MAX_VALUE_BYTES;
  for (const { name, value } of entries) {
    if (name === 'max-value-bytes' && value.tag === 'size') {
      if (value.val === 0n) fail('invalid-config', 'max-value-bytes must be at least 1');
      max = Number(value.val);
    } else {
      fail('invalid-config', `unknown field or wrong kind: ${name}`);
    }
  }
  return max;
}

export const lifecycle = {
  describe() {
    return {
      info: INFO,
      config: [{
        name: 'max-value-bytes',
        kind: 'size',
        required: false,
        doc: 'Largest value accepted, in bytes; larger values fail with value-too-large. Default 16 MiB.',
      }],
    };
  },

  init(config) {
    maxValueBytes = parseConfig(config);
  },
};

export const provider = {
  get(key) {
    checkKey(key);
    return read(key);
  },

  set(key, value, ttl) {
    checkKey(key);
    checkValue(value);
    checkSetTtl(ttl);
    put(key, value, ttl);
  },

  delete(key) {
    checkKey(key);
    const entry = live(key);
    if (entry === undefined) return false;
    remove(key, entry);
    return true;
  },

  exists(key) {
    checkKey(key);
    return read(key) !== undefined;
  },

  getMulti(keys) {
    keys.forEach(checkKey);
    return keys.map(read);
  },

  setMulti(items) {
    for (const { key, value, ttl } of items) {
      checkKey(key);
      checkValue(value);
      checkSetTtl(ttl);
    }
    for (const { key, value, ttl } of items) put(key, value, ttl);
  },

  deleteMulti(keys) {
    keys.forEach(checkKey);
    let removed = 0n;
    for (const key of keys) {
      const entry = live(key);
      if (entry !== undefined) {
        remove(key, entry);
        removed += 1n;
      }
    }
    return removed;
  },

  scan(pattern, cursor, count) {
    validatePattern(pattern);
    let after;
    if (cursor !== undefined) {
      if (!cursor.startsWith(CURSOR_PREFIX)) fail('invalid-argument', 'unknown scan cursor');
      after = cursor.slice(CURSOR_PREFIX.length);
    }
    if (sortedKeys === null) sortedKeys = Array.from(store.keys()).sort();
    const sorted = sortedKeys;
    const want = Math.max(count, 1);
    const budget = want * EXAMINE_PER_RESULT;
    const p = Array.from(pattern);
    const all = pattern === '*';
    const keys = [];
    const start = after === undefined ? 0 : firstAfter(sorted, after);
    let i = start;
    while (i < sorted.length && keys.length < want && i - start < budget) {
      const key = sorted[i];
      i++;
      if ((all || globMatch(p, key)) && store.has(key)) {
        const entry = store.get(key);
        if (entry.expiresAt !== undefined && entry.expiresAt <= nowMs()) continue;
        keys.push(key);
      }
    }
    const next = i < sorted.length && i > start ? CURSOR_PREFIX + sorted[i - 1] : undefined;
    return { keys, cursor: next };
  },

  ttl(key) {
    checkKey(key);
    const entry = live(key);
    if (entry === undefined) return { tag: 'missing' };
    if (entry.expiresAt === undefined) return { tag: 'persistent' };
    const left = Math.max(1, Math.ceil(entry.expiresAt - nowMs()));
    return { tag: 'expires-in', val: BigInt(left) };
  },

  expire(key, ttl) {
    checkKey(key);
    const entry = live(key);
    if (entry === undefined) return false;
    if (ttl === undefined) {
      entry.expiresAt = undefined;
    } else if (ttl === 0n) {
      remove(key, entry);
    } else {
      entry.expiresAt = nowMs() + Number(ttl);
    }
    return true;
  },

  clear() {
    store.clear();
    sortedKeys = null;
    bytes = 0;
  },

  stats() {
    return {
      hits,
      misses,
      keys: BigInt(store.size),
      bytes: BigInt(bytes),
      evictions: 0n,
      expirations,
      extra: [],
    };
  },

  ping() {},

  info() {
    return INFO;
  },
};

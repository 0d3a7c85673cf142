// BYOC in-memory cache adapter in C: world `byoc:cache/adapter` (wit/worlds.wit).
//
// Exports `lifecycle` (describe, init) and `provider` (every operation natively) through the
// bindings `wit-bindgen c` generates (adapter.h). Built with clang for wasm32-wasi (wasi-libc)
// and turned into a component by `wasm-tools component new` with the preview1 adapter; see
// ../polyglot/build.sh.
//
// Binding conventions (wit-bindgen c): an export returning `result<T, error>` returns true
// and fills `ret`, or returns false and fills `err`. Arguments belong to the callee (freed
// or kept); every returned string and list is malloc'ed and freed by the bindings after the
// host has read it.

#include "adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME "c-memory"
#define VERSION "0.1.0"
#define CONTRACT "0.1.0"
#define MAX_KEY_BYTES 1024
#define MAX_PATTERN_BYTES 4096
#define CURSOR_PREFIX "after:"
#define CURSOR_PREFIX_LEN 6
// Keys a scan page may examine per key it may return (as guest-sdk/common/src/scan.rs).
#define EXAMINE_PER_RESULT 16
#define DEFAULT_MAX_VALUE_BYTES (16u << 20)

typedef byoc_cache_types_error_t error_t_;

typedef struct entry {
  uint8_t *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
  uint64_t expires_at; // ms, monotonic; 0 = never
  uint64_t hash;
  struct entry *next;
} entry_t;

static entry_t **buckets;
static size_t bucket_count;
static size_t entry_count;
static uint64_t bytes_stored, hits, misses, expirations;
static uint64_t max_value_bytes = DEFAULT_MAX_VALUE_BYTES;
// Every key, sorted by bytes (= by code point for UTF-8); NULL after a key is added/removed.
static entry_t **sorted;
static size_t sorted_len;

#ifdef BYOC_IMPORT_SOCKETS
// Test variant: an import the host never provides (see wit-sockets/).
volatile uint32_t byoc_probe_result;
#endif

// ---- helpers ----------------------------------------------------------------------------

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  // +1 so that a real time is never 0 (0 marks "no expiry").
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort(); // out of memory: a trap, the host replaces the instance
  return p;
}

static bool fail(error_t_ *err, uint8_t tag, const char *message) {
  err->tag = tag;
  // Every case carries a string at the same place.
  adapter_string_dup(&err->val.invalid_key, message);
  return false;
}

static void dup_str(adapter_string_t *out, const uint8_t *s, size_t len) {
  out->ptr = xmalloc(len);
  memcpy(out->ptr, s, len);
  out->len = len;
}

static bool check_key(const adapter_string_t *key, error_t_ *err) {
  if (key->len == 0) return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_KEY, "key is empty");
  if (key->len > MAX_KEY_BYTES) {
    char msg[96];
    snprintf(msg, sizeof msg, "key is %zu bytes long; the limit is %d", key->len, MAX_KEY_BYTES);
    return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_KEY, msg);
  }
  for (size_t i = 0; i < key->len; i++) {
    if (key->ptr[i] < 0x20 || key->ptr[i] == 0x7f) {
      char msg[96];
      snprintf(msg, sizeof msg, "key contains a control character at byte %zu", i);
      return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_KEY, msg);
    }
  }
  return true;
}

static bool check_value(size_t len, error_t_ *err) {
  if (len > max_value_bytes) {
    char msg[128];
    snprintf(msg, sizeof msg, "value is %zu bytes; this adapter takes at most %llu", len,
             (unsigned long long)max_value_bytes);
    return fail(err, BYOC_CACHE_TYPES_ERROR_VALUE_TOO_LARGE, msg);
  }
  return true;
}

static bool check_set_ttl(const byoc_cache_types_option_ttl_ms_t *ttl, error_t_ *err) {
  if (ttl && ttl->is_some && ttl->val == 0)
    return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_ARGUMENT, "a TTL of 0 ms is not allowed in set");
  return true;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void grow(void) {
  size_t count = bucket_count ? bucket_count * 2 : 64;
  entry_t **table = calloc(count, sizeof *table);
  if (!table) abort();
  for (size_t i = 0; i < bucket_count; i++) {
    entry_t *e = buckets[i];
    while (e) {
      entry_t *next = e->next;
      size_t b = e->hash & (count - 1);
      e->next = table[b];
      table[b] = e;
      e = next;
    }
  }
  free(buckets);
  buckets = table;
  bucket_count = count;
}

// The slot that points at `key`'s entry (or the NULL at the end of its chain).
static entry_t **slot_of(const uint8_t *key, size_t len, uint64_t h) {
  if (!bucket_count) grow();
  entry_t **slot = &buckets[h & (bucket_count - 1)];
  while (*slot) {
    entry_t *e = *slot;
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) return slot;
    slot = &e->next;
  }
  return slot;
}

static void drop_sorted(void) {
  free(sorted);
  sorted = NULL;
  sorted_len = 0;
}

static void unlink_entry(entry_t **slot) {
  entry_t *e = *slot;
  *slot = e->next;
  bytes_stored -= e->key_len + e->value_len;
  entry_count--;
  free(e->key);
  free(e->value);
  free(e);
  drop_sorted();
}

static bool expired(const entry_t *e, uint64_t now) {
  return e->expires_at != 0 && e->expires_at <= now;
}

// The live entry's slot, or NULL; an expired entry is purged.
static entry_t **live(const adapter_string_t *key) {
  uint64_t h = hash_bytes(key->ptr, key->len);
  entry_t **slot = slot_of(key->ptr, key->len, h);
  if (!*slot) return NULL;
  if (expired(*slot, now_ms())) {
    unlink_entry(slot);
    expirations++;
    return NULL;
  }
  return slot;
}

// Stores `value` under `key`, taking ownership of both buffers.
static void put(adapter_string_t *key, adapter_list_u8_t *value, const byoc_cache_types_option_ttl_ms_t *ttl) {
  uint64_t h = hash_bytes(key->ptr, key->len);
  entry_t **slot = slot_of(key->ptr, key->len, h);
  uint64_t expires_at = ttl->is_some ? now_ms() + ttl->val : 0;
  if (*slot) {
    entry_t *e = *slot;
    bytes_stored -= e->value_len;
    free(e->value);
    e->value = value->ptr;
    e->value_len = value->len;
    e->expires_at = expires_at;
    bytes_stored += e->value_len;
    adapter_string_free(key);
  } else {
    if (entry_count + 1 > bucket_count) {
      grow();
      slot = slot_of(key->ptr, key->len, h);
    }
    entry_t *e = xmalloc(sizeof *e);
    e->key = key->ptr;
    e->key_len = key->len;
    e->value = value->ptr;
    e->value_len = value->len;
    e->expires_at = expires_at;
    e->hash = h;
    e->next = NULL;
    *slot = e;
    entry_count++;
    bytes_stored += e->key_len + e->value_len;
    drop_sorted();
  }
  value->ptr = NULL;
  value->len = 0;
  key->ptr = NULL;
  key->len = 0;
}

static bool read_into(const adapter_string_t *key, adapter_option_list_u8_t *out) {
  entry_t **slot = live(key);
  if (!slot) {
    misses++;
    out->is_some = false;
    return false;
  }
  hits++;
  entry_t *e = *slot;
  out->is_some = true;
  out->val.ptr = xmalloc(e->value_len);
  memcpy(out->val.ptr, e->value, e->value_len);
  out->val.len = e->value_len;
  return true;
}

// ---- Redis glob over Unicode code points (guest-sdk/common/src/glob.rs) -----------------

// Decodes UTF-8 (valid: it came through the component model as a string) into code points.
static uint32_t *decode(const uint8_t *s, size_t n, size_t *out_len) {
  uint32_t *cp = xmalloc((n + 1) * sizeof *cp);
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    uint8_t b = s[i];
    uint32_t c;
    size_t extra;
    if (b < 0x80) { c = b; extra = 0; }
    else if (b < 0xe0) { c = b & 0x1f; extra = 1; }
    else if (b < 0xf0) { c = b & 0x0f; extra = 2; }
    else { c = b & 0x07; extra = 3; }
    i++;
    for (size_t j = 0; j < extra && i < n; j++, i++) c = (c << 6) | (s[i] & 0x3f);
    cp[k++] = c;
  }
  *out_len = k;
  return cp;
}

static bool validate_pattern(const uint32_t *p, size_t n, size_t bytes, error_t_ *err) {
  if (bytes > MAX_PATTERN_BYTES)
    return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_ARGUMENT, "glob pattern is longer than 4096 bytes");
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\') {
      i++;
    } else if (p[i] == '[') {
      bool closed = false;
      for (i++; i < n; i++) {
        if (p[i] == '\\') i++;
        else if (p[i] == ']') { closed = true; break; }
      }
      if (!closed)
        return fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_ARGUMENT, "glob pattern has an unterminated '['");
    }
  }
  return true;
}

static bool match_class(const uint32_t *p, size_t n, size_t start, uint32_t c, size_t *next) {
  size_t i = start;
  bool negate = i < n && (p[i] == '^' || p[i] == '!');
  if (negate) i++;
  bool matched = false;
  while (i < n && p[i] != ']') {
    uint32_t lo = p[i];
    if (lo == '\\' && i + 1 < n) lo = p[++i];
    if (i + 2 < n && p[i + 1] == '-' && p[i + 2] != ']') {
      uint32_t hi = p[i + 2];
      size_t skip = 3;
      if (hi == '\\' && i + 3 < n) { hi = p[i + 3]; skip = 4; }
      uint32_t a = lo <= hi ? lo : hi, b = lo <= hi ? hi : lo;
      matched = matched || (c >= a && c <= b);
      i += skip;
    } else {
      matched = matched || lo == c;
      i++;
    }
  }
  *next = i < n ? i + 1 : i;
  return matched != negate;
}

static bool glob_match(const uint32_t *p, size_t pn, const uint32_t *s, size_t sn) {
  size_t pi = 0, si = 0, star_p = 0, star_s = 0;
  bool star = false;
  while (si < sn) {
    if (pi < pn) {
      uint32_t c = p[pi];
      if (c == '*') {
        while (pi < pn && p[pi] == '*') pi++;
        star = true;
        star_p = pi;
        star_s = si;
        continue;
      } else if (c == '?') {
        pi++; si++;
        continue;
      } else if (c == '[') {
        size_t next;
        if (match_class(p, pn, pi + 1, s[si], &next)) { pi = next; si++; continue; }
      } else if (c == '\\' && pi + 1 < pn) {
        if (p[pi + 1] == s[si]) { pi += 2; si++; continue; }
      } else if (c == s[si]) {
        pi++; si++;
        continue;
      }
    }
    if (!star) return false;
    star_s++;
    si = star_s;
    pi = star_p;
  }
  while (pi < pn) if (p[pi++] != '*') return false;
  return true;
}

static int compare_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

static int compare_entries(const void *a, const void *b) {
  const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
  return compare_bytes(x->key, x->key_len, y->key, y->key_len);
}

static void build_sorted(void) {
  if (sorted) return;
  sorted = xmalloc(entry_count * sizeof *sorted);
  sorted_len = 0;
  for (size_t i = 0; i < bucket_count; i++)
    for (entry_t *e = buckets[i]; e; e = e->next) sorted[sorted_len++] = e;
  qsort(sorted, sorted_len, sizeof *sorted, compare_entries);
}

// ---- lifecycle -------------------------------------------------------------------------

static const byoc_cache_types_capabilities_t NATIVE =
    BYOC_CACHE_TYPES_CAPABILITIES_GET | BYOC_CACHE_TYPES_CAPABILITIES_SET |
    BYOC_CACHE_TYPES_CAPABILITIES_DELETE | BYOC_CACHE_TYPES_CAPABILITIES_EXISTS |
    BYOC_CACHE_TYPES_CAPABILITIES_GET_MULTI | BYOC_CACHE_TYPES_CAPABILITIES_SET_MULTI |
    BYOC_CACHE_TYPES_CAPABILITIES_DELETE_MULTI | BYOC_CACHE_TYPES_CAPABILITIES_SCAN |
    BYOC_CACHE_TYPES_CAPABILITIES_TTL | BYOC_CACHE_TYPES_CAPABILITIES_EXPIRE |
    BYOC_CACHE_TYPES_CAPABILITIES_CLEAR | BYOC_CACHE_TYPES_CAPABILITIES_STATS;

static void fill_info(byoc_cache_types_provider_info_t *info) {
  adapter_string_dup(&info->name, NAME);
  adapter_string_dup(&info->version, VERSION);
  adapter_string_dup(&info->contract, CONTRACT);
  info->native = NATIVE;
}

void exports_byoc_cache_lifecycle_describe(exports_byoc_cache_lifecycle_adapter_description_t *ret) {
  fill_info(&ret->info);
  ret->config.len = 1;
  ret->config.ptr = xmalloc(sizeof *ret->config.ptr);
  byoc_cache_types_config_field_t *f = &ret->config.ptr[0];
  adapter_string_dup(&f->name, "max-value-bytes");
  f->kind = BYOC_CACHE_TYPES_CONFIG_KIND_SIZE;
  f->required = false;
  adapter_string_dup(&f->doc, "Largest value accepted, in bytes; larger values fail with "
                              "value-too-large. Default 16 MiB.");
}

bool exports_byoc_cache_lifecycle_init(exports_byoc_cache_lifecycle_list_config_entry_t *config,
                                       exports_byoc_cache_lifecycle_error_t *err) {
  uint64_t limit = DEFAULT_MAX_VALUE_BYTES;
  bool ok = true;
  for (size_t i = 0; i < config->len && ok; i++) {
    byoc_cache_types_config_entry_t *e = &config->ptr[i];
    const char *name = "max-value-bytes";
    if (e->name.len == strlen(name) && memcmp(e->name.ptr, name, e->name.len) == 0 &&
        e->value.tag == BYOC_CACHE_TYPES_CONFIG_VALUE_SIZE) {
      if (e->value.val.size == 0) ok = fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_CONFIG, "max-value-bytes must be at least 1");
      limit = e->value.val.size;
    } else {
      ok = fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_CONFIG, "unknown field or wrong kind");
    }
  }
  exports_byoc_cache_lifecycle_list_config_entry_free(config);
  if (ok) max_value_bytes = limit;
#ifdef BYOC_IMPORT_SOCKETS
  byoc_probe_result = wasi_sockets_network_probe();
#endif
  return ok;
}

// ---- provider --------------------------------------------------------------------------

bool exports_byoc_cache_provider_get(adapter_string_t *key, adapter_option_list_u8_t *ret,
                                     exports_byoc_cache_provider_error_t *err) {
  bool ok = check_key(key, err);
  if (ok) read_into(key, ret);
  adapter_string_free(key);
  return ok;
}

bool exports_byoc_cache_provider_set(adapter_string_t *key, adapter_list_u8_t *value,
                                     exports_byoc_cache_provider_ttl_ms_t *maybe_ttl,
                                     exports_byoc_cache_provider_error_t *err) {
  byoc_cache_types_option_ttl_ms_t ttl = {.is_some = maybe_ttl != NULL, .val = maybe_ttl ? *maybe_ttl : 0};
  if (check_key(key, err) && check_value(value->len, err) && check_set_ttl(&ttl, err)) {
    put(key, value, &ttl);
    return true;
  }
  adapter_string_free(key);
  adapter_list_u8_free(value);
  return false;
}

bool exports_byoc_cache_provider_delete(adapter_string_t *key, bool *ret,
                                        exports_byoc_cache_provider_error_t *err) {
  bool ok = check_key(key, err);
  if (ok) {
    entry_t **slot = live(key);
    *ret = slot != NULL;
    if (slot) unlink_entry(slot);
  }
  adapter_string_free(key);
  return ok;
}

bool exports_byoc_cache_provider_exists(adapter_string_t *key, bool *ret,
                                        exports_byoc_cache_provider_error_t *err) {
  bool ok = check_key(key, err);
  if (ok) {
    *ret = live(key) != NULL;
    if (*ret) hits++;
    else misses++;
  }
  adapter_string_free(key);
  return ok;
}

static bool check_keys(const adapter_list_string_t *keys, error_t_ *err) {
  for (size_t i = 0; i < keys->len; i++)
    if (!check_key(&keys->ptr[i], err)) return false;
  return true;
}

bool exports_byoc_cache_provider_get_multi(adapter_list_string_t *keys, adapter_list_option_list_u8_t *ret,
                                           exports_byoc_cache_provider_error_t *err) {
  bool ok = check_keys(keys, err);
  if (ok) {
    ret->len = keys->len;
    ret->ptr = xmalloc(keys->len * sizeof *ret->ptr);
    for (size_t i = 0; i < keys->len; i++) read_into(&keys->ptr[i], &ret->ptr[i]);
  }
  adapter_list_string_free(keys);
  return ok;
}

bool exports_byoc_cache_provider_set_multi(exports_byoc_cache_provider_list_item_t *items,
                                           exports_byoc_cache_provider_error_t *err) {
  bool ok = true;
  for (size_t i = 0; i < items->len && ok; i++) {
    byoc_cache_types_item_t *it = &items->ptr[i];
    ok = check_key(&it->key, err) && check_value(it->value.len, err) && check_set_ttl(&it->ttl, err);
  }
  if (ok)
    for (size_t i = 0; i < items->len; i++) put(&items->ptr[i].key, &items->ptr[i].value, &items->ptr[i].ttl);
  // Taken buffers were reset to NULL; free() of NULL is a no-op.
  exports_byoc_cache_provider_list_item_free(items);
  return ok;
}

bool exports_byoc_cache_provider_delete_multi(adapter_list_string_t *keys, uint64_t *ret,
                                              exports_byoc_cache_provider_error_t *err) {
  bool ok = check_keys(keys, err);
  if (ok) {
    *ret = 0;
    for (size_t i = 0; i < keys->len; i++) {
      entry_t **slot = live(&keys->ptr[i]);
      if (slot) {
        unlink_entry(slot);
        (*ret)++;
      }
    }
  }
  adapter_list_string_free(keys);
  return ok;
}

bool exports_byoc_cache_provider_scan(adapter_string_t *pattern, adapter_string_t *maybe_cursor, uint32_t count,
                                      exports_byoc_cache_provider_scan_page_t *ret,
                                      exports_byoc_cache_provider_error_t *err) {
  size_t pn;
  uint32_t *p = decode(pattern->ptr, pattern->len, &pn);
  bool ok = validate_pattern(p, pn, pattern->len, err);
  if (ok && maybe_cursor &&
      (maybe_cursor->len < CURSOR_PREFIX_LEN || memcmp(maybe_cursor->ptr, CURSOR_PREFIX, CURSOR_PREFIX_LEN) != 0))
    ok = fail(err, BYOC_CACHE_TYPES_ERROR_INVALID_ARGUMENT, "unknown scan cursor");
  if (ok) {
    build_sorted();
    size_t start = 0;
    if (maybe_cursor) {
      const uint8_t *after = maybe_cursor->ptr + CURSOR_PREFIX_LEN;
      size_t after_len = maybe_cursor->len - CURSOR_PREFIX_LEN;
      size_t lo = 0, hi = sorted_len; // first key > after
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (compare_bytes(sorted[mid]->key, sorted[mid]->key_len, after, after_len) <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    size_t want = count ? count : 1;
    size_t budget = want * EXAMINE_PER_RESULT;
    bool all = pattern->len == 1 && pattern->ptr[0] == '*';
    uint64_t now = now_ms();
    ret->keys.ptr = xmalloc(want * sizeof *ret->keys.ptr);
    ret->keys.len = 0;
    size_t i = start;
    while (i < sorted_len && ret->keys.len < want && i - start < budget) {
      entry_t *e = sorted[i++];
      if (expired(e, now)) continue;
      bool match = all;
      if (!match) {
        size_t kn;
        uint32_t *k = decode(e->key, e->key_len, &kn);
        match = glob_match(p, pn, k, kn);
        free(k);
      }
      if (match) dup_str(&ret->keys.ptr[ret->keys.len++], e->key, e->key_len);
    }
    ret->cursor.is_some = i < sorted_len && i > start;
    if (ret->cursor.is_some) {
      entry_t *last = sorted[i - 1];
      ret->cursor.val.len = CURSOR_PREFIX_LEN + last->key_len;
      ret->cursor.val.ptr = xmalloc(ret->cursor.val.len);
      memcpy(ret->cursor.val.ptr, CURSOR_PREFIX, CURSOR_PREFIX_LEN);
      memcpy(ret->cursor.val.ptr + CURSOR_PREFIX_LEN, last->key, last->key_len);
    }
  }
  free(p);
  adapter_string_free(pattern);
  if (maybe_cursor) adapter_string_free(maybe_cursor);
  return ok;
}

bool exports_byoc_cache_provider_ttl(adapter_string_t *key, exports_byoc_cache_provider_key_ttl_t *ret,
                                     exports_byoc_cache_provider_error_t *err) {
  bool ok = check_key(key, err);
  if (ok) {
    entry_t **slot = live(key);
    if (!slot) {
      ret->tag = BYOC_CACHE_TYPES_KEY_TTL_MISSING;
    } else if ((*slot)->expires_at == 0) {
      ret->tag = BYOC_CACHE_TYPES_KEY_TTL_PERSISTENT;
    } else {
      uint64_t now = now_ms();
      ret->tag = BYOC_CACHE_TYPES_KEY_TTL_EXPIRES_IN;
      ret->val.expires_in = (*slot)->expires_at > now ? (*slot)->expires_at - now : 1;
    }
  }
  adapter_string_free(key);
  return ok;
}

bool exports_byoc_cache_provider_expire(adapter_string_t *key, exports_byoc_cache_provider_ttl_ms_t *maybe_ttl,
                                        bool *ret, exports_byoc_cache_provider_error_t *err) {
  bool ok = check_key(key, err);
  if (ok) {
    entry_t **slot = live(key);
    *ret = slot != NULL;
    if (slot) {
      if (!maybe_ttl) (*slot)->expires_at = 0;
      else if (*maybe_ttl == 0) unlink_entry(slot);
      else (*slot)->expires_at = now_ms() + *maybe_ttl;
    }
  }
  adapter_string_free(key);
  return ok;
}

bool exports_byoc_cache_provider_clear(exports_byoc_cache_provider_error_t *err) {
  (void)err;
  for (size_t i = 0; i < bucket_count; i++) {
    entry_t *e = buckets[i];
    while (e) {
      entry_t *next = e->next;
      free(e->key);
      free(e->value);
      free(e);
      e = next;
    }
    buckets[i] = NULL;
  }
  entry_count = 0;
  bytes_stored = 0;
  drop_sorted();
  return true;
}

bool exports_byoc_cache_provider_stats(exports_byoc_cache_provider_cache_stats_t *ret,
                                       exports_byoc_cache_provider_error_t *err) {
  (void)err;
  ret->hits = hits;
  ret->misses = misses;
  ret->keys = entry_count;
  ret->bytes = bytes_stored;
  ret->evictions = 0;
  ret->expirations = expirations;
  ret->extra.ptr = NULL;
  ret->extra.len = 0;
  return true;
}

bool exports_byoc_cache_provider_ping(exports_byoc_cache_provider_error_t *err) {
  (void)err;
  return true;
}

void exports_byoc_cache_provider_info(exports_byoc_cache_provider_provider_info_t *ret) {
  fill_info(ret);
}

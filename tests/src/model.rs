//! Model-based testing: random operation sequences run against a provider and against a
//! simple reference model, with every answer compared.
//!
//! TTLs in the sequences are either absent or an hour long, so nothing expires during a
//! run; `expire` with zero deletes, as the contract says. Values stay small, so a bounded
//! provider never evicts. A provider that declares it cannot scan (`scan` absent from its
//! native operations, and answering `unsupported`: memcached) is reset by deleting every
//! key of [`KEYS`], and its `keys` and `clear` must answer `unsupported`, changing nothing.

use byoc::{Capability, Error, Item, KeyTtl, Provider};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// One operation of a sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// `set(key, value, ttl)`; `true`: a one-hour TTL.
    Set(usize, Vec<u8>, bool),
    /// `get(key)`.
    Get(usize),
    /// `delete(key)`.
    Delete(usize),
    /// `exists(key)`.
    Exists(usize),
    /// `get_multi(keys)`.
    GetMulti(Vec<usize>),
    /// `set_multi(items)`.
    SetMulti(Vec<(usize, Vec<u8>)>),
    /// `delete_multi(keys)`.
    DeleteMulti(Vec<usize>),
    /// `expire(key, ttl)`: 0 none (persist), 1 an hour, 2 zero (delete).
    Expire(usize, u8),
    /// `ttl(key)`.
    Ttl(usize),
    /// `keys(pattern)` with one of [`PATTERNS`].
    Keys(usize),
    /// `clear()`.
    Clear,
}

/// The keys sequences draw from: a few that share prefixes, and odd characters.
pub const KEYS: [&str; 8] = ["a", "ab", "abc", "b", "user:1", "user:2", "ключ", "x*y"];
/// The patterns `Keys` draws from.
pub const PATTERNS: [&str; 6] = ["*", "a*", "user:?", "?", "[ab]*", r"x\*y"];

/// A strategy for one operation.
pub fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let value = proptest::collection::vec(any::<u8>(), 0..16);
    prop_oneof![
        4 => (key.clone(), value.clone(), any::<bool>()).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        4 => key.clone().prop_map(Op::Get),
        2 => key.clone().prop_map(Op::Delete),
        2 => key.clone().prop_map(Op::Exists),
        2 => proptest::collection::vec(key.clone(), 0..5).prop_map(Op::GetMulti),
        2 => proptest::collection::vec((key.clone(), value), 0..4).prop_map(Op::SetMulti),
        1 => proptest::collection::vec(key.clone(), 0..4).prop_map(Op::DeleteMulti),
        2 => (key.clone(), 0u8..3).prop_map(|(k, t)| Op::Expire(k, t)),
        2 => key.prop_map(Op::Ttl),
        2 => (0..PATTERNS.len()).prop_map(Op::Keys),
        1 => Just(Op::Clear),
    ]
}

/// A strategy for a sequence of up to `len` operations.
pub fn sequence(len: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..len)
}

/// The reference: key → (value, has a TTL).
type Model = BTreeMap<String, (Vec<u8>, bool)>;

/// Runs `ops` on `provider` (cleared first) and on the model; panics at the first
/// difference, naming the step.
pub async fn check_sequence(provider: &Arc<dyn Provider>, ops: &[Op]) {
    let scans = can_scan(provider).await;
    let key = |i: usize| KEYS[i].to_owned();
    if scans {
        provider.clear().await.expect("clear before the sequence");
    } else {
        let all: Vec<String> = (0..KEYS.len()).map(key).collect();
        provider
            .delete_multi(&all)
            .await
            .expect("reset before the sequence");
    }
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        let at = format!("{}: step {step} {op:?}", provider.info().name);
        match op {
            Op::Set(k, v, ttl) => {
                provider
                    .set(&key(*k), v, ttl.then_some(HOUR))
                    .await
                    .expect(&at);
                model.insert(key(*k), (v.clone(), *ttl));
            }
            Op::Get(k) => {
                let got = provider.get(&key(*k)).await.expect(&at);
                assert_eq!(got, model.get(&key(*k)).map(|(v, _)| v.clone()), "{at}");
            }
            Op::Delete(k) => {
                let got = provider.delete(&key(*k)).await.expect(&at);
                assert_eq!(got, model.remove(&key(*k)).is_some(), "{at}");
            }
            Op::Exists(k) => {
                let got = provider.exists(&key(*k)).await.expect(&at);
                assert_eq!(got, model.contains_key(&key(*k)), "{at}");
            }
            Op::GetMulti(ks) => {
                let keys: Vec<String> = ks.iter().map(|k| key(*k)).collect();
                let got = provider.get_multi(&keys).await.expect(&at);
                let want: Vec<Option<Vec<u8>>> = keys
                    .iter()
                    .map(|k| model.get(k).map(|(v, _)| v.clone()))
                    .collect();
                assert_eq!(got, want, "{at}");
            }
            Op::SetMulti(items) => {
                let items: Vec<Item> = items
                    .iter()
                    .map(|(k, v)| Item::new(key(*k), v.clone(), None))
                    .collect();
                provider.set_multi(&items).await.expect(&at);
                for item in items {
                    model.insert(item.key, (item.value, false));
                }
            }
            Op::DeleteMulti(ks) => {
                let keys: Vec<String> = ks.iter().map(|k| key(*k)).collect();
                let got = provider.delete_multi(&keys).await.expect(&at);
                let mut removed = 0;
                for k in &keys {
                    removed += u64::from(model.remove(k).is_some());
                }
                assert_eq!(got, removed, "{at}");
            }
            Op::Expire(k, t) => {
                let ttl = match t {
                    0 => None,
                    1 => Some(HOUR),
                    _ => Some(Duration::ZERO),
                };
                let got = provider.expire(&key(*k), ttl).await.expect(&at);
                let existed = model.contains_key(&key(*k));
                assert_eq!(got, existed, "{at}");
                if existed {
                    match t {
                        2 => {
                            model.remove(&key(*k));
                        }
                        t => {
                            if let Some(entry) = model.get_mut(&key(*k)) {
                                entry.1 = *t == 1;
                            }
                        }
                    }
                }
            }
            Op::Ttl(k) => {
                let got = provider.ttl(&key(*k)).await.expect(&at);
                match model.get(&key(*k)) {
                    None => assert_eq!(got, KeyTtl::Missing, "{at}"),
                    Some((_, false)) => assert_eq!(got, KeyTtl::Persistent, "{at}"),
                    Some((_, true)) => assert!(
                        matches!(got, KeyTtl::ExpiresIn(d) if d <= HOUR && d > HOUR - Duration::from_secs(60)),
                        "{at}: {got:?}"
                    ),
                }
            }
            Op::Keys(_) | Op::Clear if !scans => {
                let got = match op {
                    Op::Clear => provider.clear().await,
                    _ => provider.keys("*").await.map(drop),
                };
                assert!(matches!(got, Err(Error::Unsupported(_))), "{at}: {got:?}");
            }
            Op::Keys(p) => {
                let mut got = provider.keys(PATTERNS[*p]).await.expect(&at);
                got.sort();
                let want: Vec<String> = model
                    .keys()
                    .filter(|k| byoc_common_glob(PATTERNS[*p], k))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "{at}");
            }
            Op::Clear => {
                provider.clear().await.expect(&at);
                model.clear();
            }
        }
    }
}

/// Whether `provider` can scan: it lists `scan` as native, or answers one. A provider
/// that lists it not and answers `unsupported` declares it cannot.
pub async fn can_scan(provider: &Arc<dyn Provider>) -> bool {
    provider.info().native.contains(&Capability::Scan)
        || !matches!(
            provider.scan("*", None, 1).await,
            Err(Error::Unsupported(_))
        )
}

/// The reference glob matcher: a direct recursive transcription of the Redis rules,
/// independent of the matcher under test.
fn byoc_common_glob(pattern: &str, key: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        let mut i = 1;
        let negate = matches!(p.get(1), Some('^' | '!'));
        if negate {
            i += 1;
        }
        let mut hit = false;
        while i < p.len() && p[i] != ']' {
            let mut lo = p[i];
            if lo == '\\' && i + 1 < p.len() {
                i += 1;
                lo = p[i];
            }
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                let hi = p[i + 2];
                let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                hit |= a <= c && c <= b;
                i += 3;
            } else {
                hit |= lo == c;
                i += 1;
            }
        }
        Some((hit != negate, (i + 1).min(p.len())))
    }
    fn rec(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => rec(&p[1..], s) || (!s.is_empty() && rec(p, &s[1..])),
            Some('?') => !s.is_empty() && rec(&p[1..], &s[1..]),
            Some('[') => match s.first().and_then(|c| class(p, *c)) {
                Some((true, next)) => rec(&p[next..], &s[1..]),
                _ => false,
            },
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && rec(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && rec(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = key.chars().collect();
    rec(&p, &s)
}

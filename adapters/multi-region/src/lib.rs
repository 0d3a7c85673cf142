//! The BYOC multi-region wrapper: N layers, each tagged with a region (`regions`, in layer
//! order), kept in step by the wrapper.
//!
//! - `primary-backup` (default): reads and writes go to the first region that is healthy
//!   and up to date (the primary, layer 0, unless it is down); the others get each write
//!   at once (`replication: sync`, default) or from the following calls (`async`).
//! - `nearest`: reads go to the region with the lowest measured latency; writes go to all.
//! - `broadcast`: writes go to all; reads go to the first healthy region.
//!
//! A region that answers `unavailable` is down for a back-off (`backoff`, doubling up to
//! `max-backoff`) and skipped; the keys it missed are remembered (at most `max-pending`,
//! beyond which they are counted as `not-replicated`) and copied to it from an up-to-date
//! region once it answers again, before it serves reads. `stats` counts the wrapper's own
//! hits and misses and adds per-region counters (`multi-region.<region>.*`).

use byoc_guest_sdk::{
    Capabilities, Config, ConfigField, ConfigKind, Error, Item, KeyTtl, Result, ScanPage, Stat,
    Stats, Wrapper, inner,
};
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// How reads and writes are spread over the regions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PrimaryBackup,
    Nearest,
    Broadcast,
}

/// One region: its layer's health, latency and the keys it has missed.
struct Region {
    name: String,
    /// Consecutive `unavailable` answers.
    failures: u32,
    /// Skipped until then.
    down_until: Option<Instant>,
    /// Smoothed call latency, in microseconds (`None` until measured).
    latency_us: Option<f64>,
    measured_at: Option<Instant>,
    /// Keys whose latest state this region lacks, oldest first.
    pending: VecDeque<String>,
    pending_set: BTreeSet<String>,
    /// The region missed a `clear`: replayed before its pending keys.
    clear_pending: bool,
    reads: u64,
    writes: u64,
    unavailable: u64,
    replicated: u64,
    not_replicated: u64,
}

impl Region {
    fn new(name: String) -> Region {
        Region {
            name,
            failures: 0,
            down_until: None,
            latency_us: None,
            measured_at: None,
            pending: VecDeque::new(),
            pending_set: BTreeSet::new(),
            clear_pending: false,
            reads: 0,
            writes: 0,
            unavailable: 0,
            replicated: 0,
            not_replicated: 0,
        }
    }

    fn usable(&self, now: Instant) -> bool {
        self.down_until.is_none_or(|t| now >= t)
    }

    fn current(&self) -> bool {
        self.pending_set.is_empty() && !self.clear_pending
    }

    /// Whether this region holds the latest state of `key`.
    fn has(&self, key: &str) -> bool {
        !self.clear_pending && !self.pending_set.contains(key)
    }

    /// This region now holds the latest state of `key` (its queue entry is skipped later).
    fn settled(&mut self, key: &str) {
        self.pending_set.remove(key);
    }

    fn forget_all(&mut self) {
        self.pending.clear();
        self.pending_set.clear();
    }
}

/// The multi-region wrapper's state.
pub struct MultiRegion {
    mode: Mode,
    sync: bool,
    backoff: Duration,
    max_backoff: Duration,
    max_pending: usize,
    batch: usize,
    probe_every: Duration,
    regions: Vec<Region>,
    /// The wrapper's own hit and miss counts: a layer's include the reads of catch-up.
    hits: u64,
    misses: u64,
}

/// Whether an answer says the layer is down (as opposed to refusing this call).
fn is_down<T>(outcome: &Result<T>) -> bool {
    matches!(outcome, Err(Error::Unavailable(_)))
}

impl MultiRegion {
    /// Runs `op` on `layer`, recording its latency and health.
    fn call<T>(&mut self, layer: usize, op: impl FnOnce(u32) -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let outcome = op(layer as u32);
        let now = Instant::now();
        let region = &mut self.regions[layer];
        if is_down(&outcome) {
            region.unavailable += 1;
            region.failures = region.failures.saturating_add(1);
            let factor = 1u32 << (region.failures - 1).min(16);
            region.down_until =
                Some(now + self.backoff.saturating_mul(factor).min(self.max_backoff));
        } else {
            region.failures = 0;
            region.down_until = None;
            let us = now.duration_since(start).as_micros() as f64;
            region.latency_us = Some(match region.latency_us {
                Some(avg) => avg * 0.8 + us * 0.2,
                None => us,
            });
            region.measured_at = Some(now);
        }
        outcome
    }

    /// Regions in the order reads try them: usable and up to date first (by configuration
    /// order, or by latency in `nearest`), then usable ones still catching up.
    fn read_order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut order: Vec<usize> = (0..self.regions.len())
            .filter(|&i| self.regions[i].usable(now))
            .collect();
        if self.mode == Mode::Nearest {
            // Unmeasured regions first, so each gets measured.
            order.sort_by(|&a, &b| {
                let la = self.regions[a].latency_us.unwrap_or(0.0);
                let lb = self.regions[b].latency_us.unwrap_or(0.0);
                la.total_cmp(&lb)
            });
        }
        order.sort_by_key(|&i| !self.regions[i].current());
        order
    }

    /// Runs a read on the first region of [`read_order`](Self::read_order) that answers;
    /// `unavailable` moves on to the next.
    fn read<T>(&mut self, op: impl Fn(u32) -> Result<T>) -> Result<T> {
        self.read_at(op).map(|(_, value)| value)
    }

    /// [`read`](Self::read), also answering which region served it.
    fn read_at<T>(&mut self, op: impl Fn(u32) -> Result<T>) -> Result<(usize, T)> {
        self.tick();
        let mut last = None;
        for layer in self.read_order() {
            match self.call(layer, &op) {
                Err(Error::Unavailable(e)) => last = Some(e),
                outcome => {
                    self.regions[layer].reads += 1;
                    return outcome.map(|value| (layer, value));
                }
            }
        }
        Err(Error::Unavailable(format!(
            "no region answered: {}",
            last.unwrap_or_else(|| "every region is backing off".into())
        )))
    }

    /// Remembers that `layer` lacks the latest state of `keys`.
    fn remember(&mut self, layer: usize, keys: &[String]) {
        let max = self.max_pending;
        let region = &mut self.regions[layer];
        for key in keys {
            if region.pending_set.contains(key) {
                continue;
            }
            if region.pending_set.len() >= max {
                region.not_replicated += 1;
                continue;
            }
            region.pending_set.insert(key.clone());
            region.pending.push_back(key.clone());
        }
        // Entries of keys settled since are skipped when met; drop them when they pile up.
        if region.pending.len() > 2 * max {
            let live = &region.pending_set;
            region.pending.retain(|k| live.contains(k));
        }
    }

    /// Runs a write of `keys`: on the first region of the read order that answers, then
    /// (sync, nearest, broadcast) on every other usable region, or (async) remembered for
    /// them. Regions that are down or fail remember the keys.
    fn write<T>(&mut self, keys: &[String], op: impl Fn(u32) -> Result<T>) -> Result<T> {
        self.tick();
        let order = self.read_order();
        let mut answer: Option<Result<T>> = None;
        let mut written = vec![false; self.regions.len()];
        for &layer in &order {
            if answer.is_some() {
                break;
            }
            match self.call(layer, &op) {
                Err(Error::Unavailable(_)) => continue,
                outcome => {
                    written[layer] = outcome.is_ok();
                    if outcome.is_ok() {
                        let region = &mut self.regions[layer];
                        region.writes += 1;
                        keys.iter().for_each(|k| region.settled(k));
                    }
                    answer = Some(outcome);
                }
            }
        }
        let Some(answer) = answer else {
            return Err(Error::Unavailable("no region accepted the write".into()));
        };
        let value = answer?;
        let now = Instant::now();
        let unwritten: Vec<usize> = (0..written.len()).filter(|&l| !written[l]).collect();
        for layer in unwritten {
            let replicate_now = (self.mode != Mode::PrimaryBackup || self.sync)
                && self.regions[layer].usable(now)
                && self.regions[layer].current();
            if replicate_now && self.call(layer, &op).is_ok() {
                let region = &mut self.regions[layer];
                region.writes += 1;
                region.replicated += keys.len() as u64;
            } else {
                self.remember(layer, keys);
            }
        }
        Ok(value)
    }

    /// A usable region holding the latest state of `key`, other than `target`.
    fn source_for(&self, target: usize, key: &str) -> Option<usize> {
        let now = Instant::now();
        (0..self.regions.len())
            .find(|&i| i != target && self.regions[i].usable(now) && self.regions[i].has(key))
    }

    /// Copies `key`'s state from `source` to `target`.
    fn copy_key(&mut self, source: usize, target: usize, key: &str) -> Result<()> {
        let value = self.call(source, |l| inner::get(l, key))?;
        let ttl = self.call(source, |l| inner::ttl(l, key))?;
        match (value, ttl) {
            (Some(v), KeyTtl::ExpiresIn(ms)) => {
                self.call(target, |l| inner::set(l, key, &v, Some(ms.max(1))))
            }
            (Some(v), KeyTtl::Persistent) => self.call(target, |l| inner::set(l, key, &v, None)),
            _ => self.call(target, |l| inner::delete(l, key)).map(drop),
        }
    }

    /// Brings regions up to date (at most `limit` keys in all) and probes latencies.
    fn catch_up(&mut self, limit: usize) {
        let mut budget = limit;
        for target in 0..self.regions.len() {
            let now = Instant::now();
            if self.regions[target].current() || !self.regions[target].usable(now) {
                continue;
            }
            if self.regions[target].clear_pending {
                if self.call(target, inner::clear).is_err() {
                    continue;
                }
                self.regions[target].clear_pending = false;
            }
            while budget > 0 {
                let Some(key) = self.regions[target].pending.front().cloned() else {
                    break;
                };
                if !self.regions[target].pending_set.contains(&key) {
                    self.regions[target].pending.pop_front();
                    continue;
                }
                let Some(source) = self.source_for(target, &key) else {
                    break;
                };
                budget -= 1;
                match self.copy_key(source, target, &key) {
                    Ok(()) => self.regions[target].replicated += 1,
                    // Down (now backing off) or the source failed: try again later.
                    Err(Error::Unavailable(_)) => break,
                    // Refused for good (e.g. too large for this region).
                    Err(_) => self.regions[target].not_replicated += 1,
                }
                let region = &mut self.regions[target];
                region.pending.pop_front();
                region.settled(&key);
            }
        }
        if self.mode == Mode::Nearest {
            for layer in 0..self.regions.len() {
                let now = Instant::now();
                let region = &self.regions[layer];
                let stale = region
                    .measured_at
                    .is_none_or(|t| now.duration_since(t) >= self.probe_every);
                if stale && region.usable(now) {
                    let _ = self.call(layer, inner::ping);
                }
            }
        }
    }

    /// Work done before every call: a bounded catch-up.
    fn tick(&mut self) {
        self.catch_up(self.batch);
    }
}

impl Wrapper for MultiRegion {
    const NAME: &'static str = "multi-region";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::all();

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "regions",
                ConfigKind::TextList,
                true,
                "The region of each inner layer, in layer order (distinct names).",
            ),
            ConfigField::new(
                "mode",
                ConfigKind::Text,
                false,
                "primary-backup (default), nearest or broadcast.",
            ),
            ConfigField::new(
                "replication",
                ConfigKind::Text,
                false,
                "primary-backup: sync (default: backups written before the call returns) \
                 or async (backups written by the following calls).",
            ),
            ConfigField::new(
                "backoff",
                ConfigKind::DurationMs,
                false,
                "How long a region that answered unavailable is skipped, doubling with \
                 each failure (default 500 ms).",
            ),
            ConfigField::new(
                "max-backoff",
                ConfigKind::DurationMs,
                false,
                "The longest back-off (default 30 s).",
            ),
            ConfigField::new(
                "max-pending",
                ConfigKind::Integer,
                false,
                "Keys remembered per region for catching up (default 100000).",
            ),
            ConfigField::new(
                "catch-up-batch",
                ConfigKind::Integer,
                false,
                "Keys copied to lagging regions before each call (default 64).",
            ),
            ConfigField::new(
                "probe-interval",
                ConfigKind::DurationMs,
                false,
                "nearest: how often an unused region's latency is measured (default 1 s).",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let names = config.text_list("regions").unwrap_or_default();
        let layers = inner::layers() as usize;
        if layers == 0 || names.len() != layers {
            return Err(Error::InvalidConfig(format!(
                "multi-region needs one region name per inner layer: {} names for {layers} \
                 layers",
                names.len()
            )));
        }
        for (i, name) in names.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid || names[..i].contains(name) {
                return Err(Error::InvalidConfig(format!(
                    "region names must be distinct, 1 to 64 of [A-Za-z0-9_-]: `{name}`"
                )));
            }
        }
        let mode = match config.text("mode").unwrap_or("primary-backup") {
            "primary-backup" => Mode::PrimaryBackup,
            "nearest" => Mode::Nearest,
            "broadcast" => Mode::Broadcast,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "mode `{other}` is not one of primary-backup, nearest, broadcast"
                )));
            }
        };
        let sync = match config.text("replication").unwrap_or("sync") {
            "sync" => true,
            "async" => false,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "replication `{other}` is not sync or async"
                )));
            }
        };
        let positive = |name: &str, default: i64| -> Result<usize> {
            match config.integer(name).unwrap_or(default) {
                n if n > 0 => Ok(n as usize),
                n => Err(Error::InvalidConfig(format!(
                    "`{name}` must be above 0, got {n}"
                ))),
            }
        };
        let ms = |name: &str, default: u64| {
            Duration::from_millis(config.duration_ms(name).unwrap_or(default))
        };
        Ok(MultiRegion {
            mode,
            sync,
            backoff: ms("backoff", 500),
            max_backoff: ms("max-backoff", 30_000),
            max_pending: positive("max-pending", 100_000)?,
            batch: positive("catch-up-batch", 64)?,
            probe_every: ms("probe-interval", 1000),
            regions: names.iter().cloned().map(Region::new).collect(),
            hits: 0,
            misses: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self.read(|l| inner::get(l, key))?;
        self.count(value.is_some());
        Ok(value)
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        self.write(&[key.to_owned()], |l| inner::set(l, key, &value, ttl))
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.write(&[key.to_owned()], |l| inner::delete(l, key))
    }

    fn exists(&mut self, key: &str) -> Result<bool> {
        let found = self.read(|l| inner::exists(l, key))?;
        self.count(found);
        Ok(found)
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let values = self.read(|l| inner::get_multi(l, &keys))?;
        values.iter().for_each(|v| self.count(v.is_some()));
        Ok(values)
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        self.write(&keys, |l| inner::set_multi(l, &items))
    }

    fn delete_multi(&mut self, keys: Vec<String>) -> Result<u64> {
        self.write(&keys, |l| inner::delete_multi(l, &keys))
    }

    fn scan(&mut self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        // A scan stays on the region it started on: its cursor names that region.
        let (layer, cursor) = match cursor {
            None => (None, None),
            Some(c) => {
                let (layer, rest) = c
                    .split_once(':')
                    .and_then(|(l, rest)| Some((l.parse::<usize>().ok()?, rest)))
                    .filter(|(l, _)| *l < self.regions.len())
                    .ok_or_else(|| Error::InvalidArgument(format!("unknown scan cursor `{c}`")))?;
                (Some(layer), Some(rest.to_owned()))
            }
        };
        let (layer, page) = match layer {
            Some(layer) => {
                let page =
                    self.call(layer, |l| inner::scan(l, pattern, cursor.as_deref(), count))?;
                (layer as u32, page)
            }
            None => {
                let (layer, page) = self.read_at(|l| inner::scan(l, pattern, None, count))?;
                (layer as u32, page)
            }
        };
        Ok(ScanPage {
            keys: page.keys,
            cursor: page.cursor.map(|c| format!("{layer}:{c}")),
        })
    }

    fn ttl(&mut self, key: &str) -> Result<KeyTtl> {
        self.read(|l| inner::ttl(l, key))
    }

    fn expire(&mut self, key: &str, ttl: Option<u64>) -> Result<bool> {
        self.write(&[key.to_owned()], |l| inner::expire(l, key, ttl))
    }

    fn clear(&mut self) -> Result<()> {
        self.tick();
        let mut cleared = false;
        let mut last = None;
        for layer in 0..self.regions.len() {
            let outcome = self.call(layer, inner::clear);
            let region = &mut self.regions[layer];
            region.forget_all();
            region.clear_pending = outcome.is_err();
            match outcome {
                Ok(()) => cleared = true,
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if !cleared => Err(e),
            _ => Ok(()),
        }
    }

    fn stats(&mut self) -> Result<Stats> {
        let mut stats = self.read(inner::stats)?;
        stats.hits = self.hits;
        stats.misses = self.misses;
        let now = Instant::now();
        for region in &self.regions {
            let healthy = u64::from(region.usable(now) && region.failures == 0);
            let counters = [
                ("healthy", healthy),
                ("reads", region.reads),
                ("writes", region.writes),
                ("unavailable", region.unavailable),
                ("latency-us", region.latency_us.unwrap_or(0.0) as u64),
                (
                    "pending",
                    region.pending_set.len() as u64 + u64::from(region.clear_pending),
                ),
                ("replicated", region.replicated),
                ("not-replicated", region.not_replicated),
            ];
            for (name, value) in counters {
                stats.extra.push(Stat {
                    name: format!("multi-region.{}.{name}", region.name),
                    value,
                });
            }
        }
        Ok(stats)
    }

    /// Pings every region, catches lagging ones up (as far as they answer), and answers
    /// `Ok` when at least one region answers.
    fn ping(&mut self) -> Result<()> {
        let mut last = None;
        let mut any = false;
        for layer in 0..self.regions.len() {
            match self.call(layer, inner::ping) {
                Ok(()) => any = true,
                Err(e) => last = Some(e),
            }
        }
        self.catch_up(self.max_pending);
        match last {
            Some(e) if !any => Err(e),
            _ => Ok(()),
        }
    }

    fn atomics_supported(&mut self) -> bool {
        (0..self.regions.len()).all(|l| inner::atomics_supported(l as u32))
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        let (source, value) = self.read_at(|l| inner::increment(l, key, delta, ttl))?;
        self.spread(source, key);
        Ok(value)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        let (source, swapped) =
            self.read_at(|l| inner::compare_and_swap(l, key, expected, &new, ttl))?;
        if swapped {
            self.spread(source, key);
        }
        Ok(swapped)
    }
}

impl MultiRegion {
    fn count(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    /// After an atomic operation answered by `source`: the other regions get `key` from it
    /// (at once, unless replication is async) or remember it.
    fn spread(&mut self, source: usize, key: &str) {
        let keys = [key.to_owned()];
        self.regions[source].settled(key);
        let now = Instant::now();
        for target in (0..self.regions.len()).filter(|&t| t != source) {
            let replicate_now = (self.mode != Mode::PrimaryBackup || self.sync)
                && self.regions[target].usable(now)
                && self.regions[target].current();
            if replicate_now && self.copy_key(source, target, key).is_ok() {
                self.regions[target].replicated += 1;
            } else {
                self.remember(target, &keys);
            }
        }
    }
}

byoc_guest_sdk::export_wrapper!(MultiRegion);

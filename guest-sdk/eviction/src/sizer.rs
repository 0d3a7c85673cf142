//! How a weight-bounded W-TinyLFU's window is sized: a sign test on samples of ghost hits (the local
//! search) and a restart from the start size when the hit rate drops (the global escape).
//!
//! Both are O(1) per access and allocate nothing.

/// Ghost hits per sample: a sample moves the window only if its split between the two
/// ghosts is significant. Small samples move in time on short traces.
const SAMPLE: u32 = 16;
/// A sample's move is capped at the ghosts' depth in hits, but never below this many
/// (small caches have ghosts of a few entries).
const MIN_MOVE_HITS: u64 = 32;
/// The sign test's threshold: |window hits − main hits| ≥ Z·√n (n = hits in the sample).
const Z: f64 = 2.0;
/// Significant samples in a row on the same side double the move, up to 2^4 = 16 times.
const MAX_RUN_DOUBLINGS: u32 = 4;
/// Hit-rate periods last this many times the expected entry count ...
const PERIOD_PER_ENTRY: u64 = 10;
/// ... and at least this many accesses.
const PERIOD_MIN: u64 = 1000;
/// A period whose hits fall below (1 − DROP) × the previous period's ...
const DROP: f64 = 0.2;
/// ... by more than this many standard deviations (Poisson, √(previous + current)) is a
/// phase change.
const DROP_SIGMAS: f64 = 3.0;

/// Which ghost list a miss was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The window's ghost (candidates that lost admission): a larger window would have hit.
    Window,
    /// The main space's ghost (entries evicted for an admitted candidate): a larger main
    /// space would have hit.
    Main,
}

/// Decides the window's moves. The caller applies them.
///
/// - **Local search**: ghost hits are counted in samples of [`SAMPLE`]; a sample whose
///   split between the two ghosts passes a sign test (z ≥ [`Z`]) moves the window toward
///   the side with more hits by the weight of the sample's hits, doubled for each earlier
///   significant sample in a row on that side (up to 16×), and never by more than the
///   ghost's depth (a ghost only measures the gain of a move that deep). An insignificant
///   sample does not move the window and ends the run. Hits are not moved one by one, so
///   on a stationary load the window does not follow noise.
/// - **Global escape**: the hit rate is counted per period of [`PERIOD_PER_ENTRY`] × the
///   expected entries. When a period's hits fall by more than [`DROP`] (and by more than
///   [`DROP_SIGMAS`] standard deviations) below the previous period's, the load has
///   changed, and the search restarts from the start size. This leaves the trap a local
///   search cannot: after a recency-heavy phase parks the window at the top, a
///   frequency-heavy load can give the window's ghost more hits than the main space's
///   (the window's tail holds hot keys the tiny main space rejects), so every sample
///   argues for a large window while a small one is far better.
#[derive(Debug, Clone)]
pub(crate) struct WindowSizer {
    window_hits: u32,
    main_hits: u32,
    /// Total weight of the sample's ghost hits.
    sample_weight: u64,
    /// Significant samples in a row: > 0 toward the window, < 0 toward the main space.
    run: i64,
    /// The deepest move per sample, in ghost hits (the ghosts' depth, at least a sample).
    max_move_hits: u64,
    period_len: u64,
    period_accesses: u64,
    period_hits: u64,
    previous_hits: u64,
    restarts: u64,
}

impl WindowSizer {
    /// A sizer for a policy expecting `entries` entries, with ghosts `ghost_depth` deep.
    pub(crate) fn new(entries: usize, ghost_depth: usize) -> Self {
        WindowSizer {
            window_hits: 0,
            main_hits: 0,
            sample_weight: 0,
            run: 0,
            max_move_hits: (ghost_depth as u64).max(MIN_MOVE_HITS),
            period_len: (entries as u64)
                .saturating_mul(PERIOD_PER_ENTRY)
                .max(PERIOD_MIN),
            period_accesses: 0,
            period_hits: 0,
            previous_hits: 0,
            restarts: 0,
        }
    }

    /// Records a miss on a key of `weight` found in the ghost of `side`; returns the
    /// window's move in weight units (> 0 grow, < 0 shrink, 0 none).
    pub(crate) fn ghost_hit(&mut self, side: Side, weight: u64) -> i64 {
        match side {
            Side::Window => self.window_hits += 1,
            Side::Main => self.main_hits += 1,
        }
        self.sample_weight = self.sample_weight.saturating_add(weight);
        let n = self.window_hits + self.main_hits;
        if n < SAMPLE {
            return 0;
        }
        let d = i64::from(self.window_hits) - i64::from(self.main_hits);
        let weight = self.sample_weight;
        self.window_hits = 0;
        self.main_hits = 0;
        self.sample_weight = 0;
        if ((d * d) as f64) < Z * Z * f64::from(n) {
            self.run = 0;
            return 0;
        }
        let direction = d.signum();
        self.run = if self.run.signum() == direction {
            self.run.saturating_add(direction)
        } else {
            direction
        };
        let doublings = u32::try_from(self.run.unsigned_abs() - 1)
            .unwrap_or(u32::MAX)
            .min(MAX_RUN_DOUBLINGS);
        let doubled = weight.saturating_mul(1 << doublings);
        let deepest = weight.saturating_mul(self.max_move_hits) / u64::from(n);
        let step = i64::try_from(doubled.min(deepest)).unwrap_or(i64::MAX);
        direction.saturating_mul(step)
    }

    /// Records an access (`hit` or miss); returns true when it ends a period whose hits
    /// dropped significantly below the previous period's: the caller restarts the window
    /// from its start size (the sample in progress is dropped here).
    pub(crate) fn access(&mut self, hit: bool) -> bool {
        self.period_accesses += 1;
        self.period_hits += u64::from(hit);
        if self.period_accesses < self.period_len {
            return false;
        }
        let (current, previous) = (self.period_hits as f64, self.previous_hits as f64);
        self.previous_hits = self.period_hits;
        self.period_accesses = 0;
        self.period_hits = 0;
        let dropped = current < previous * (1.0 - DROP)
            && previous - current > DROP_SIGMAS * (previous + current).sqrt();
        if dropped {
            self.restarts += 1;
            self.run = 0;
            self.window_hits = 0;
            self.main_hits = 0;
            self.sample_weight = 0;
        }
        dropped
    }

    /// Phase changes detected so far.
    pub(crate) fn phase_changes(&self) -> u64 {
        self.restarts
    }

    /// Forgets every sample and period (the policy was cleared).
    pub(crate) fn reset(&mut self) {
        *self = WindowSizer {
            max_move_hits: self.max_move_hits,
            period_len: self.period_len,
            ..WindowSizer::new(0, 0)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{Side, WindowSizer};

    fn sample(s: &mut WindowSizer, window: u32, main: u32) -> i64 {
        let mut moved = 0;
        for _ in 0..window {
            moved += s.ghost_hit(Side::Window, 1);
        }
        for _ in 0..main {
            moved += s.ghost_hit(Side::Main, 1);
        }
        moved
    }

    #[test]
    fn only_a_significant_sample_moves_and_runs_double_up_to_the_ghost_depth() {
        let mut s = WindowSizer::new(10_000, 200);
        // 11 vs 5: z = 6 / √16 = 1.5 < 2, no move (and no run).
        assert_eq!(sample(&mut s, 11, 5), 0);
        // 12 vs 4: z = 2, the sample's weight toward the window.
        assert_eq!(sample(&mut s, 12, 4), 16);
        assert_eq!(sample(&mut s, 12, 4), 32);
        assert_eq!(sample(&mut s, 12, 4), 64);
        assert_eq!(sample(&mut s, 12, 4), 128);
        // 16× would be 256: capped at the ghost's depth.
        assert_eq!(sample(&mut s, 12, 4), 200);
        assert_eq!(sample(&mut s, 12, 4), 200);
        // A significant sample the other way starts a new run.
        assert_eq!(sample(&mut s, 4, 12), -16);
        // An insignificant one ends it.
        assert_eq!(sample(&mut s, 8, 8), 0);
        assert_eq!(sample(&mut s, 4, 12), -16);
    }

    #[test]
    fn moves_are_in_weight_units() {
        let mut s = WindowSizer::new(100, 5);
        let mut moved = 0;
        for _ in 0..16 {
            moved += s.ghost_hit(Side::Main, 10);
        }
        // The sample's weight (160; the cap is 32 hits of 10).
        assert_eq!(moved, -160);
    }

    #[test]
    fn a_significant_drop_of_the_hit_rate_restarts() {
        let mut s = WindowSizer::new(100, 5);
        let period = |s: &mut WindowSizer, hits: u32| {
            let mut restarted = false;
            for i in 0..1000 {
                restarted |= s.access(i < hits);
            }
            restarted
        };
        assert!(!period(&mut s, 600), "nothing to compare with");
        // Noise: 600 → 560 is −6.7%.
        assert!(!period(&mut s, 560));
        // A 25% drop, 4.5 σ.
        assert!(period(&mut s, 420));
        assert_eq!(s.phase_changes(), 1);
        // A rising hit rate never restarts; a collapse does, once.
        assert!(!period(&mut s, 900));
        assert!(period(&mut s, 10));
        // Low and flat: never.
        for _ in 0..20 {
            assert!(!period(&mut s, 10));
        }
        // 20 → 10 hits is half, but only 1.8 σ.
        assert!(!period(&mut s, 20));
        assert!(!period(&mut s, 10));
        assert_eq!(s.phase_changes(), 2);
        // A restart drops the sample in progress.
        for _ in 0..15 {
            assert_eq!(s.ghost_hit(Side::Window, 1), 0);
        }
        assert!(!period(&mut s, 900));
        assert!(period(&mut s, 100));
        assert_eq!(s.ghost_hit(Side::Window, 1), 0, "a new sample");
    }
}

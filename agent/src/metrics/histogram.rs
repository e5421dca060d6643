//! Explicit-bucket histograms with the semantic conventions' boundaries for durations.

/// Upper bounds in seconds, from the OpenTelemetry HTTP and database semantic conventions
/// (`ExplicitBucketBoundaries` advice of `http.server.request.duration` and friends).
pub const BOUNDS_SECONDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// One bucket per bound plus the last one, `(10 s, +Inf)`.
pub const BUCKETS: usize = BOUNDS_SECONDS.len() + 1;

/// A cumulative histogram: counts only grow. Bucket `i` holds values `v` with
/// `BOUNDS[i-1] < v <= BOUNDS[i]`, which is both OTLP's rule for explicit bounds and
/// Prometheus's `le`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Per bucket, not cumulative (as OTLP sends them; Prometheus rendering sums them up).
    pub buckets: [u64; BUCKETS],
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; BUCKETS],
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Histogram {
    /// Records one value in seconds. Negative or NaN durations (clock steps) count as 0.
    pub fn record(&mut self, seconds: f64) {
        let v = if seconds.is_nan() {
            0.0
        } else {
            seconds.max(0.0)
        };
        // The first bound at or above v; past the last bound, the +Inf bucket.
        let i = BOUNDS_SECONDS.partition_point(|&bound| bound < v);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Counts of values `<= BOUNDS[i]`, then the total (the `+Inf` bucket).
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut out = self.buckets;
        for i in 1..BUCKETS {
            out[i] += out[i - 1];
        }
        out
    }

    /// Min and max, once at least one value was recorded.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        (self.count > 0).then_some((self.min, self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_semantic_conventions_ones() {
        assert_eq!(
            BOUNDS_SECONDS,
            [
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
            ]
        );
        assert!(BOUNDS_SECONDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_value_on_a_bound_goes_to_that_bucket() {
        let mut h = Histogram::default();
        for v in [0.0, 0.005, 0.0051, 0.1, 10.0, 10.5, 1e9] {
            h.record(v);
        }
        let mut expected = [0u64; BUCKETS];
        expected[0] = 2; // 0 and 0.005: le="0.005"
        expected[1] = 1; // 0.0051: le="0.01"
        expected[5] = 1; // 0.1: le="0.1"
        expected[13] = 1; // 10: le="10"
        expected[14] = 2; // above 10: +Inf only
        assert_eq!(h.buckets, expected);
        assert_eq!(h.count, 7);
        assert_eq!(h.min_max(), Some((0.0, 1e9)));
    }

    #[test]
    fn cumulative_counts_end_with_the_total() {
        let mut h = Histogram::default();
        for v in [0.001, 0.02, 0.02, 3.0] {
            h.record(v);
        }
        let c = h.cumulative();
        assert_eq!(c[0], 1);
        assert_eq!(c[2], 3); // le="0.025"
        assert_eq!(c[11], 4); // le="5"
        assert_eq!(c[BUCKETS - 1], h.count);
        assert!((h.sum - 3.041).abs() < 1e-9);
    }

    #[test]
    fn bad_durations_count_as_zero() {
        let mut h = Histogram::default();
        h.record(-1.0);
        h.record(f64::NAN);
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.sum, 0.0);
        assert_eq!(Histogram::default().min_max(), None);
    }
}

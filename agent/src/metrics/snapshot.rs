//! A copy of every series' current value, taken under the store's lock and rendered (to OTLP
//! or the Prometheus text) after it is released. Labels are shared, not copied.

use std::sync::Arc;

use super::{histogram::Histogram, instruments::MetricDesc, series::Labels};

#[derive(Debug)]
pub struct Snapshot {
    /// Only families with at least one point, in a fixed order.
    pub families: Vec<Family>,
}

#[derive(Debug)]
pub struct Family {
    pub desc: &'static MetricDesc,
    pub points: Vec<Point>,
}

#[derive(Debug)]
pub struct Point {
    pub labels: Arc<Labels>,
    pub start_unix_ns: u64,
    pub value: PointValue,
}

#[derive(Debug, PartialEq)]
pub enum PointValue {
    Histogram(Histogram),
    Counter(u64),
}

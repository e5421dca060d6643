//! The series of one metric, found by a byte key built in a reused buffer (no allocation to
//! record into an existing series), and capped: past `max_series`, measurements of new
//! attribute sets go to one overflow series with `otel.metric.overflow=true`, as the
//! OpenTelemetry SDK specification's cardinality limit does.

use std::sync::Arc;

// foldhash: these maps are looked up per span or per event; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};

use super::services::{ServiceId, ServiceResource};
use crate::{stats::SelfStats, trace::span::AttrValue};

/// What a series is reported with: its service's resource and its attributes. Shared by the
/// store and its snapshots; never changes after the series is made.
#[derive(Debug, PartialEq)]
pub struct Labels {
    pub resource: Arc<ServiceResource>,
    pub attributes: Vec<(&'static str, AttrValue)>,
}

pub const OVERFLOW_KEY: &str = "otel.metric.overflow";

#[derive(Debug)]
pub struct Series<V> {
    pub labels: Arc<Labels>,
    /// Start of the cumulative stream: the start of the first measurement's span.
    pub start_unix_ns: u64,
    pub value: V,
}

pub struct SeriesTable<V> {
    index: HashMap<Box<[u8]>, usize>,
    series: Vec<Series<V>>,
    overflow: Option<Series<V>>,
    /// Including the overflow series, as in the SDK specification.
    max_series: usize,
    /// `SelfStats::metric_series_overflow`: measurements folded into the overflow series.
    overflowed: Arc<SelfStats>,
}

impl<V: Default> SeriesTable<V> {
    pub fn new(max_series: usize, stats: Arc<SelfStats>) -> SeriesTable<V> {
        SeriesTable {
            index: HashMap::new(),
            series: Vec::new(),
            overflow: None,
            max_series: max_series.max(1),
            overflowed: stats,
        }
    }

    /// The value of the series `key` names, made with `labels()` if it is new and the cap
    /// allows; else the overflow series, reported under `agent`.
    pub fn value(
        &mut self,
        key: &[u8],
        start_unix_ns: u64,
        labels: impl FnOnce() -> Labels,
        agent: &Arc<ServiceResource>,
    ) -> &mut V {
        if let Some(&i) = self.index.get(key) {
            return &mut self.series[i].value;
        }
        // One place stays free for the overflow series.
        if self.series.len() + 1 >= self.max_series {
            return self.overflow(start_unix_ns, agent);
        }
        self.index.insert(key.into(), self.series.len());
        self.series.push(Series {
            labels: Arc::new(labels()),
            start_unix_ns,
            value: V::default(),
        });
        let last = self.series.len() - 1;
        &mut self.series[last].value
    }

    /// The overflow series, for a measurement that cannot have its own; counts it.
    pub fn overflow(&mut self, start_unix_ns: u64, agent: &Arc<ServiceResource>) -> &mut V {
        SelfStats::add(&self.overflowed.metric_series_overflow, 1);
        &mut self
            .overflow
            .get_or_insert_with(|| Series {
                labels: Arc::new(Labels {
                    resource: agent.clone(),
                    attributes: vec![(OVERFLOW_KEY, AttrValue::Bool(true))],
                }),
                start_unix_ns,
                value: V::default(),
            })
            .value
    }

    /// Every series, the overflow one last.
    pub fn iter(&self) -> impl Iterator<Item = &Series<V>> {
        self.series.iter().chain(self.overflow.as_ref())
    }
}

/// Builds series keys: a service id and attribute values in a fixed order, each tagged and
/// length-prefixed so that no two different sets encode alike.
pub fn encode_key(buf: &mut Vec<u8>, service: ServiceId, values: &[Option<&AttrValue>]) {
    buf.clear();
    buf.extend_from_slice(&service.0.to_le_bytes());
    for value in values {
        match value {
            None => buf.push(0),
            Some(AttrValue::Str(s)) => {
                buf.push(1);
                buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
            Some(AttrValue::Int(i)) => {
                buf.push(2);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Some(AttrValue::Bool(b)) => buf.extend_from_slice(&[3, u8::from(*b)]),
        }
    }
}

/// For tests that build tables by hand.
#[cfg(test)]
pub fn no_stats() -> Arc<SelfStats> {
    Arc::new(SelfStats::default())
}

#[cfg(test)]
pub fn overflow_count(stats: &SelfStats) -> u64 {
    SelfStats::get(&stats.metric_series_overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Arc<ServiceResource> {
        Arc::new(ServiceResource::agent("h", &[]))
    }

    fn labels(route: &str) -> Labels {
        Labels {
            resource: agent(),
            attributes: vec![("http.route", route.into())],
        }
    }

    fn key(route: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_key(&mut buf, ServiceId(0), &[Some(&route.into())]);
        buf
    }

    #[test]
    fn same_key_same_series() {
        let mut table: SeriesTable<u64> = SeriesTable::new(10, no_stats());
        let agent = agent();
        *table.value(&key("/a"), 5, || labels("/a"), &agent) += 1;
        *table.value(&key("/a"), 9, || unreachable!(), &agent) += 1;
        *table.value(&key("/b"), 7, || labels("/b"), &agent) += 1;
        let all: Vec<_> = table.iter().map(|s| (s.start_unix_ns, s.value)).collect();
        assert_eq!(all, [(5, 2), (7, 1)]);
    }

    #[test]
    fn past_the_cap_measurements_fold_into_one_overflow_series() {
        let stats = no_stats();
        let mut table: SeriesTable<u64> = SeriesTable::new(3, stats.clone());
        let agent = agent();
        for n in 0..10 {
            let route = format!("/r{n}");
            *table.value(&key(&route), 1, || labels(&route), &agent) += 1;
        }
        // Two own series plus the overflow one: the cap counts the overflow series.
        assert_eq!(table.iter().count(), 3);
        let series: Vec<_> = table.iter().collect();
        assert_eq!(series[0].labels.attributes[0].1, AttrValue::from("/r0"));
        assert_eq!(series[1].labels.attributes[0].1, AttrValue::from("/r1"));
        assert_eq!(
            series[2].labels.attributes,
            vec![(OVERFLOW_KEY, AttrValue::Bool(true))]
        );
        assert_eq!(series[2].labels.resource.name, "sonde");
        assert_eq!(series[2].value, 8);
        assert_eq!(overflow_count(&stats), 8);
        // Known series keep counting on their own.
        *table.value(&key("/r0"), 1, || unreachable!(), &agent) += 1;
        assert_eq!(table.iter().next().map(|s| s.value), Some(2));
        assert_eq!(overflow_count(&stats), 8);
    }

    #[test]
    fn keys_do_not_collide_across_types_or_boundaries() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode_key(
            &mut a,
            ServiceId(1),
            &[Some(&"ab".into()), Some(&"c".into())],
        );
        encode_key(
            &mut b,
            ServiceId(1),
            &[Some(&"a".into()), Some(&"bc".into())],
        );
        assert_ne!(a, b);
        encode_key(&mut a, ServiceId(1), &[Some(&AttrValue::Int(200)), None]);
        encode_key(&mut b, ServiceId(1), &[Some(&"200".into()), None]);
        assert_ne!(a, b);
        encode_key(&mut a, ServiceId(1), &[None, Some(&"x".into())]);
        encode_key(&mut b, ServiceId(2), &[None, Some(&"x".into())]);
        assert_ne!(a, b);
    }
}

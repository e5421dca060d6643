//! The one source of truth: every series' cumulative value, fed span by span from the
//! pipeline thread, read as snapshots by /metrics and the OTLP exporter.

use std::{sync::Arc, time::Instant};

use super::{
    histogram::Histogram,
    instruments::{
        GRAPH_CLIENT_SECONDS, GRAPH_FAILED, GRAPH_REQUESTS, GRAPH_SERVER_SECONDS, Instrument,
        MAX_KEYS, MetricDesc,
    },
    series::{Labels, SeriesTable, encode_key},
    service_graph::{EdgeStats, GraphSpan, ServiceGraph, Side},
    services::{self, ServiceResource, Services},
    snapshot::{Family, Point, PointValue, Snapshot},
};
use crate::{
    conn::ConnInfo,
    stats::SelfStats,
    trace::span::{AttrValue, SpanKind, SpanRecord, SpanStatus},
};

pub struct Store {
    services: Services,
    /// sonde's own resource: overflow series and the service graph.
    agent: Arc<ServiceResource>,
    /// One table per [`Instrument`], in `Instrument::ALL` order.
    durations: [SeriesTable<Histogram>; 3],
    graph: ServiceGraph,
    /// The series key of the span being recorded; reused so that recording allocates nothing.
    key_buf: Vec<u8>,
}

impl Store {
    /// `max_series` bounds each metric's series (the overflow series included) and the
    /// number of services.
    pub fn new(max_series: usize, agent: ServiceResource, stats: Arc<SelfStats>) -> Store {
        let agent = Arc::new(agent);
        Store {
            services: Services::new(max_series),
            durations: std::array::from_fn(|_| SeriesTable::new(max_series, stats.clone())),
            graph: ServiceGraph::new(max_series, agent.clone(), stats),
            agent,
            key_buf: Vec::with_capacity(128),
        }
    }

    /// Records one finished span: its duration histogram and its service-graph edge.
    pub fn record(&mut self, span: &SpanRecord, info: Option<&ConnInfo>, now: Instant) {
        let seconds = span.end_unix_ns.saturating_sub(span.start_unix_ns) as f64 / 1e9;
        if let Some(instrument) = Instrument::of(span) {
            self.record_duration(instrument, span, seconds);
            self.graph.record(
                GraphSpan {
                    side: match span.kind {
                        SpanKind::Client => Side::Client,
                        SpanKind::Server => Side::Server,
                    },
                    service: services::service_name(&span.resource),
                    server_address: str_attr(span, "server.address"),
                    server_port: int_attr(span, "server.port"),
                    conn: info.map(|i| (i.local, i.peer)),
                    pairable: instrument != Instrument::DbClient,
                    seconds,
                    failed: matches!(span.status, SpanStatus::Error { .. }),
                    start_unix_ns: span.start_unix_ns,
                },
                now,
            );
        } else {
            self.graph.expire(now);
        }
    }

    fn record_duration(&mut self, instrument: Instrument, span: &SpanRecord, seconds: f64) {
        let keys = instrument.keys();
        let mut values: [Option<&AttrValue>; MAX_KEYS] = [None; MAX_KEYS];
        for (value, key) in values.iter_mut().zip(keys) {
            *value = span.attr(key);
        }
        let table = &mut self.durations[instrument as usize];
        let histogram = match self.services.id(&span.resource) {
            Some(service) => {
                encode_key(&mut self.key_buf, service, &values[..keys.len()]);
                let resource = self.services.get(service);
                table.value(
                    &self.key_buf,
                    span.start_unix_ns,
                    || Labels {
                        resource: resource.clone(),
                        attributes: keys
                            .iter()
                            .zip(values)
                            .filter_map(|(k, v)| Some((*k, v?.clone())))
                            .collect(),
                    },
                    &self.agent,
                )
            }
            None => table.overflow(span.start_unix_ns, &self.agent),
        };
        histogram.record(seconds);
    }

    /// Reports service-graph halves that waited past their window.
    pub fn expire(&mut self, now: Instant) {
        self.graph.expire(now);
    }

    /// Reports every waiting service-graph half (at shutdown).
    pub fn expire_all(&mut self) {
        self.graph.expire_all();
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut families = Vec::with_capacity(7);
        for instrument in Instrument::ALL {
            let table = &self.durations[instrument as usize];
            push_family(
                &mut families,
                instrument.desc(),
                table.iter().map(|s| Point {
                    labels: s.labels.clone(),
                    start_unix_ns: s.start_unix_ns,
                    value: PointValue::Histogram(s.value.clone()),
                }),
            );
        }
        let edges = self.graph.edges();
        let counter = |get: fn(&EdgeStats) -> u64| {
            edges.iter().map(move |s| Point {
                labels: s.labels.clone(),
                start_unix_ns: s.start_unix_ns,
                value: PointValue::Counter(get(&s.value)),
            })
        };
        // Durations only where that side was measured: an edge to an unwatched server has
        // no server durations.
        let histogram = |get: fn(&EdgeStats) -> &Histogram| {
            edges
                .iter()
                .filter(move |s| get(&s.value).count > 0)
                .map(move |s| Point {
                    labels: s.labels.clone(),
                    start_unix_ns: s.start_unix_ns,
                    value: PointValue::Histogram(get(&s.value).clone()),
                })
        };
        push_family(&mut families, &GRAPH_REQUESTS, counter(|e| e.requests));
        push_family(&mut families, &GRAPH_FAILED, counter(|e| e.failed));
        push_family(
            &mut families,
            &GRAPH_SERVER_SECONDS,
            histogram(|e| &e.server),
        );
        push_family(
            &mut families,
            &GRAPH_CLIENT_SECONDS,
            histogram(|e| &e.client),
        );
        Snapshot { families }
    }
}

fn push_family(
    families: &mut Vec<Family>,
    desc: &'static MetricDesc,
    points: impl Iterator<Item = Point>,
) {
    let points: Vec<Point> = points.collect();
    if !points.is_empty() {
        families.push(Family { desc, points });
    }
}

fn str_attr<'a>(span: &'a SpanRecord, key: &str) -> Option<&'a str> {
    match span.attr(key)? {
        AttrValue::Str(s) => Some(s),
        _ => None,
    }
}

fn int_attr(span: &SpanRecord, key: &str) -> Option<i64> {
    match span.attr(key)? {
        AttrValue::Int(i) => Some(*i),
        _ => None,
    }
}

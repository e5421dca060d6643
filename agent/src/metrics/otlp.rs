//! Snapshots to an OTLP `ExportMetricsServiceRequest`: one `ResourceMetrics` per service
//! (sonde's own resource for the service graph and overflow series), one `ScopeMetrics`
//! "sonde", cumulative temporality. Histograms carry per-bucket (not cumulative) counts, as
//! OTLP defines them, with the semantic conventions' explicit bounds.

use std::{collections::HashMap, sync::Arc};

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{InstrumentationScope, KeyValue},
    metrics::v1::{
        AggregationTemporality, Histogram as ProtoHistogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
    },
    resource::v1::Resource as ProtoResource,
};

use super::{
    histogram::BOUNDS_SECONDS,
    instruments::{MetricDesc, MetricKind},
    series::Labels,
    services::ServiceResource,
    snapshot::{Point, PointValue, Snapshot},
};
use crate::export::proto::{SCOPE_NAME, value_to_proto};

/// Builds one request holding every series; `now_unix_ns` is the time of each point.
pub fn export_request(snapshot: &Snapshot, now_unix_ns: u64) -> ExportMetricsServiceRequest {
    let mut groups: Vec<(&Arc<ServiceResource>, Vec<Metric>)> = Vec::new();
    let mut group_of: HashMap<*const ServiceResource, usize> = HashMap::new();
    for family in &snapshot.families {
        for point in &family.points {
            let resource = &point.labels.resource;
            let index = *group_of.entry(Arc::as_ptr(resource)).or_insert_with(|| {
                groups.push((resource, Vec::new()));
                groups.len() - 1
            });
            let metrics = &mut groups[index].1;
            // Families come one after another, so a resource's metric for this family, if
            // any, is its last one.
            if metrics.last().is_none_or(|m| m.name != family.desc.name) {
                metrics.push(empty_metric(family.desc));
            }
            if let Some(metric) = metrics.last_mut() {
                add_point(metric, point, now_unix_ns);
            }
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: groups
            .into_iter()
            .map(|(resource, metrics)| ResourceMetrics {
                resource: Some(ProtoResource {
                    attributes: resource
                        .attributes
                        .iter()
                        .map(|(k, v)| KeyValue {
                            key: k.clone(),
                            value: Some(value_to_proto(v)),
                        })
                        .collect(),
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn empty_metric(desc: &MetricDesc) -> Metric {
    let temporality = AggregationTemporality::Cumulative as i32;
    let data = match desc.kind {
        MetricKind::Histogram => Data::Histogram(ProtoHistogram {
            data_points: Vec::new(),
            aggregation_temporality: temporality,
        }),
        MetricKind::Counter => Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: temporality,
            is_monotonic: true,
        }),
    };
    Metric {
        name: desc.name.to_owned(),
        description: desc.description.to_owned(),
        unit: desc.unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn add_point(metric: &mut Metric, point: &Point, now_unix_ns: u64) {
    let attributes = attributes(&point.labels);
    let start = point.start_unix_ns;
    // A point never ends before it starts, whatever the clocks did.
    let time = now_unix_ns.max(start);
    match (&mut metric.data, &point.value) {
        (Some(Data::Histogram(h)), PointValue::Histogram(value)) => {
            let (min, max) = value.min_max().unzip();
            h.data_points.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: value.count,
                sum: Some(value.sum),
                bucket_counts: value.buckets.to_vec(),
                explicit_bounds: BOUNDS_SECONDS.to_vec(),
                min,
                max,
                ..Default::default()
            });
        }
        (Some(Data::Sum(s)), PointValue::Counter(n)) => s.data_points.push(NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(*n).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        }),
        // A family has one kind; the store never mixes them.
        _ => {}
    }
}

fn attributes(labels: &Labels) -> Vec<KeyValue> {
    labels
        .attributes
        .iter()
        .map(|(k, v)| KeyValue {
            key: (*k).to_owned(),
            value: Some(value_to_proto(v)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{
        histogram::{BUCKETS, Histogram},
        instruments::{DB_CLIENT_DURATION, GRAPH_REQUESTS, HTTP_SERVER_DURATION},
        snapshot::Family,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn string_of(kv: &KeyValue) -> String {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn resource(name: &str) -> Arc<ServiceResource> {
        let mut r = ServiceResource::agent("h", &[]);
        r.name = name.into();
        r.attributes[0].1 = name.into();
        Arc::new(r)
    }

    fn point(resource: &Arc<ServiceResource>, route: &str, value: PointValue) -> Point {
        Point {
            labels: Arc::new(Labels {
                resource: resource.clone(),
                attributes: vec![("http.route", route.into())],
            }),
            start_unix_ns: 1_000,
            value,
        }
    }

    fn histogram(values: &[f64]) -> PointValue {
        let mut h = Histogram::default();
        for v in values {
            h.record(*v);
        }
        PointValue::Histogram(h)
    }

    #[test]
    fn one_resource_metrics_per_service_with_cumulative_points() {
        let nginx = resource("nginx");
        let app = resource("app");
        let sonde = resource("sonde");
        let snapshot = Snapshot {
            families: vec![
                Family {
                    desc: &HTTP_SERVER_DURATION,
                    points: vec![
                        point(&nginx, "/a", histogram(&[0.001, 0.002, 0.3])),
                        point(&app, "/b", histogram(&[20.0])),
                        point(&nginx, "/c", histogram(&[0.05])),
                    ],
                },
                Family {
                    desc: &DB_CLIENT_DURATION,
                    points: vec![point(&app, "x", histogram(&[0.01]))],
                },
                Family {
                    desc: &GRAPH_REQUESTS,
                    points: vec![point(&sonde, "e", PointValue::Counter(20))],
                },
            ],
        };
        let request = export_request(&snapshot, 5_000);
        let services: Vec<String> = request
            .resource_metrics
            .iter()
            .map(|rm| string_of(&rm.resource.as_ref().unwrap().attributes[0]))
            .collect();
        assert_eq!(services, ["nginx", "app", "sonde"]);

        let nginx_metrics = &request.resource_metrics[0].scope_metrics[0];
        assert_eq!(nginx_metrics.scope.as_ref().unwrap().name, "sonde");
        assert_eq!(nginx_metrics.metrics.len(), 1);
        let metric = &nginx_metrics.metrics[0];
        assert_eq!(metric.name, "http.server.request.duration");
        assert_eq!(metric.unit, "s");
        let Some(Data::Histogram(h)) = &metric.data else {
            panic!("{metric:?}")
        };
        assert_eq!(
            h.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(h.data_points.len(), 2);
        let p = &h.data_points[0];
        assert_eq!(p.count, 3);
        assert!((p.sum.unwrap() - 0.303).abs() < 1e-12);
        assert_eq!(p.start_time_unix_nano, 1_000);
        assert_eq!(p.time_unix_nano, 5_000);
        assert_eq!(p.explicit_bounds, BOUNDS_SECONDS.to_vec());
        let mut buckets = vec![0u64; BUCKETS];
        buckets[0] = 2;
        buckets[7] = 1; // 0.3: (0.25, 0.5]
        assert_eq!(p.bucket_counts, buckets);
        assert_eq!(p.min, Some(0.001));
        assert_eq!(p.max, Some(0.3));
        assert_eq!(p.attributes[0].key, "http.route");
        assert_eq!(string_of(&p.attributes[0]), "/a");

        // The app has both histograms, in family order.
        let app_names: Vec<&str> = request.resource_metrics[1].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            app_names,
            [
                "http.server.request.duration",
                "db.client.operation.duration"
            ]
        );

        let graph = &request.resource_metrics[2].scope_metrics[0].metrics[0];
        let Some(Data::Sum(sum)) = &graph.data else {
            panic!("{graph:?}")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(20))
        );
    }

    #[test]
    fn point_time_never_precedes_its_start() {
        let snapshot = Snapshot {
            families: vec![Family {
                desc: &GRAPH_REQUESTS,
                points: vec![point(&resource("s"), "e", PointValue::Counter(1))],
            }],
        };
        let request = export_request(&snapshot, 10);
        let Some(Data::Sum(sum)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!()
        };
        assert_eq!(sum.data_points[0].time_unix_nano, 1_000);
        assert!(
            export_request(&Snapshot { families: vec![] }, 1)
                .resource_metrics
                .is_empty()
        );
    }
}

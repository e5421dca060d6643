//! The OpenTelemetry SDK environment variables sonde honours.

use std::time::Duration;

use super::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Clone, Debug)]
pub struct OtelEnv {
    pub endpoint: Option<String>,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub resource_attributes: Vec<(String, String)>,
    pub bsp_schedule_delay: Duration,
    pub bsp_max_queue: usize,
    pub bsp_max_batch: usize,
    pub export_timeout: Duration,
    pub metric_export_interval: Duration,
}

fn millis(
    getenv: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    number(getenv, name, default_ms).map(Duration::from_millis)
}

fn number<T: std::str::FromStr + Copy>(
    getenv: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match getenv(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
            name,
            value: value.clone(),
            message: e.to_string(),
        }),
    }
}

impl OtelEnv {
    pub fn read(getenv: &dyn Fn(&str) -> Option<String>) -> Result<OtelEnv, ConfigError> {
        let protocol = match getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("grpc") => Protocol::Grpc,
            Some("http/protobuf") => Protocol::HttpProtobuf,
            Some(other) => {
                return Err(ConfigError::Env {
                    name: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    value: other.to_owned(),
                    message: "expected grpc or http/protobuf".into(),
                });
            }
        };
        let endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|e| !e.trim().is_empty());
        let headers = getenv("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|h| crate::export::parse_headers(&h))
            .unwrap_or_default();
        let resource_attributes = getenv("OTEL_RESOURCE_ATTRIBUTES")
            .map(|h| crate::export::parse_headers(&h))
            .unwrap_or_default();
        Ok(OtelEnv {
            endpoint,
            protocol,
            headers,
            resource_attributes,
            // Defaults from the OpenTelemetry SDK environment specification.
            bsp_schedule_delay: millis(getenv, "OTEL_BSP_SCHEDULE_DELAY", 5000)?,
            // The SDK default is 2048 for one process; one sonde exports for every process of
            // a host, so a burst (redis-benchmark: 20,000 spans in a second) needs more room.
            bsp_max_queue: number(getenv, "OTEL_BSP_MAX_QUEUE_SIZE", 16384)?,
            bsp_max_batch: number(getenv, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
            export_timeout: millis(getenv, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
            metric_export_interval: millis(getenv, "OTEL_METRIC_EXPORT_INTERVAL", 60_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let e = OtelEnv::read(&env(&[])).unwrap();
        assert_eq!(e.endpoint, None);
        assert_eq!(e.protocol, Protocol::Grpc);
        assert_eq!(e.bsp_schedule_delay, Duration::from_millis(5000));
        assert_eq!(e.bsp_max_queue, 16384);
    }

    #[test]
    fn bad_values_are_named() {
        let err = OtelEnv::read(&env(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")])).unwrap_err();
        assert!(err.to_string().contains("OTEL_BSP_SCHEDULE_DELAY"));
        let err = OtelEnv::read(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).unwrap_err();
        assert!(err.to_string().contains("grpc or http/protobuf"));
    }

    #[test]
    fn protocol_and_endpoint() {
        let e = OtelEnv::read(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]))
        .unwrap();
        assert_eq!(e.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(e.protocol, Protocol::HttpProtobuf);
    }
}

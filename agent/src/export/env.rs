//! The `OTEL_*` environment variables of the export stage, read as the OpenTelemetry SDKs
//! read them.

use std::time::Duration;

use super::{ExportConfig, ExportError, ExporterKind};

impl ExportConfig {
    /// Reads `OTEL_EXPORTER_OTLP_{ENDPOINT,PROTOCOL,HEADERS,TIMEOUT}` and
    /// `OTEL_BSP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE}` through `var`
    /// (`|k| std::env::var(k).ok()` in the daemon, a map in tests).
    ///
    /// The kind is OTLP when an endpoint is set and the console otherwise; a `--exporter`
    /// flag may override it afterwards. The protocol defaults to grpc.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<ExportConfig, ExportError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let defaults = ExportConfig::default();

        let endpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
        let protocol = match set("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
            None | Some("grpc") => ExporterKind::OtlpGrpc,
            Some("http/protobuf") => ExporterKind::OtlpHttp,
            Some(other) => {
                return Err(ExportError::InvalidSetting {
                    var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    value: other.to_owned(),
                    reason: "expected grpc or http/protobuf",
                });
            }
        };
        let kind = if endpoint.is_empty() {
            ExporterKind::Console
        } else {
            protocol
        };

        let millis = |name: &'static str, default: Duration| -> Result<Duration, ExportError> {
            set(name).map_or(Ok(default), |v| {
                parse_number(name, &v).map(Duration::from_millis)
            })
        };
        let count = |name: &'static str, default: usize| -> Result<usize, ExportError> {
            set(name).map_or(Ok(default), |v| {
                let n = parse_number(name, &v)?;
                usize::try_from(n).map_err(|_| ExportError::InvalidSetting {
                    var: name,
                    value: v.clone(),
                    reason: "too large",
                })
            })
        };

        // At least one span per queue; a batch never larger than the queue (as the SDKs do).
        let max_queue = count("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue)?.max(1);
        let max_batch =
            count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", defaults.max_batch)?.clamp(1, max_queue);

        Ok(ExportConfig {
            kind,
            endpoint: endpoint.trim().to_owned(),
            headers: set("OTEL_EXPORTER_OTLP_HEADERS")
                .map(|h| parse_headers(&h))
                .unwrap_or_default(),
            schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", defaults.schedule_delay)?,
            max_queue,
            max_batch,
            timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", defaults.timeout)?,
        })
    }
}

fn parse_number(var: &'static str, value: &str) -> Result<u64, ExportError> {
    value
        .trim()
        .parse()
        .map_err(|_| ExportError::InvalidSetting {
            var,
            value: value.to_owned(),
            reason: "expected a non-negative integer",
        })
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by commas, values
/// percent-decoded (the W3C baggage format). Pairs without `=` or with an empty key are
/// skipped, as the SDKs skip them.
pub fn parse_headers(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            if key.is_empty() {
                return None;
            }
            Some((key.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex_value(hi).zip(hex_value(lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The TCP port an export endpoint such as `http://collector:4317/` connects to: the explicit
/// port, else the scheme's (80 for http, 443 for https), as tonic and reqwest resolve it.
/// None when the endpoint is empty or not a URL. `ExportConfig::export_port` applies the
/// OTLP defaults (4317 for gRPC, 4318 for http/protobuf) when no endpoint is set at all.
pub fn endpoint_port(endpoint: &str) -> Option<u16> {
    let (scheme, rest) = endpoint.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    // Userinfo never holds the port; IPv6 literals are bracketed.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let port = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && !host.is_empty() => Some(port),
        _ => None,
    };
    match port {
        Some(port) => port.parse().ok(),
        None if host_port.is_empty() => None,
        None => match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn headers_split_on_commas_and_trim() {
        assert_eq!(
            parse_headers("api-key=secret, x-tenant = acme"),
            pairs(&[("api-key", "secret"), ("x-tenant", "acme")])
        );
    }

    #[test]
    fn header_values_are_percent_decoded() {
        assert_eq!(
            parse_headers("Authorization=Basic%20dXNlcjpwYXNz%3D%3D,k=a%2Cb"),
            pairs(&[("Authorization", "Basic dXNlcjpwYXNz=="), ("k", "a,b")])
        );
    }

    #[test]
    fn value_may_contain_equals_sign() {
        assert_eq!(parse_headers("k=a=b"), pairs(&[("k", "a=b")]));
    }

    #[test]
    fn malformed_pairs_are_skipped() {
        assert_eq!(
            parse_headers("novalue,=orphan,,ok=1, "),
            pairs(&[("ok", "1")])
        );
        assert!(parse_headers("").is_empty());
    }

    #[test]
    fn bad_percent_escapes_stay_literal() {
        assert_eq!(
            parse_headers("a=100%,b=%zz,c=%4"),
            pairs(&[("a", "100%"), ("b", "%zz"), ("c", "%4")])
        );
    }

    #[test]
    fn endpoint_port_reads_explicit_port() {
        assert_eq!(endpoint_port("http://127.0.0.1:4317"), Some(4317));
        assert_eq!(endpoint_port("http://collector:4318/"), Some(4318));
        assert_eq!(endpoint_port("http://[::1]:9000/v1/traces"), Some(9000));
        assert_eq!(endpoint_port("http://user:pw@host:1234"), Some(1234));
    }

    #[test]
    fn endpoint_port_falls_back_to_scheme() {
        assert_eq!(endpoint_port("http://collector"), Some(80));
        assert_eq!(endpoint_port("https://[::1]/"), Some(443));
        assert_eq!(endpoint_port("http://user:pw@host"), Some(80));
    }

    #[test]
    fn endpoint_port_rejects_non_urls() {
        assert_eq!(endpoint_port(""), None);
        assert_eq!(endpoint_port("collector:4317"), None);
        assert_eq!(endpoint_port("http://host:notaport"), None);
        assert_eq!(endpoint_port("http://"), None);
    }

    #[test]
    fn export_port_uses_otlp_defaults_without_endpoint() {
        let grpc = ExportConfig {
            kind: ExporterKind::OtlpGrpc,
            ..ExportConfig::default()
        };
        let http = ExportConfig {
            kind: ExporterKind::OtlpHttp,
            ..ExportConfig::default()
        };
        assert_eq!(grpc.export_port(), Some(4317));
        assert_eq!(http.export_port(), Some(4318));
        assert_eq!(ExportConfig::default().export_port(), None);
    }

    fn from_map(vars: &[(&str, &str)]) -> Result<ExportConfig, ExportError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ExportConfig::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn env_without_endpoint_is_console_with_spec_defaults() {
        let config = from_map(&[]).expect("valid");
        assert_eq!(config, ExportConfig::default());
    }

    #[test]
    fn env_reads_every_setting() {
        let config = from_map(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
        ])
        .expect("valid");
        assert_eq!(config.kind, ExporterKind::OtlpHttp);
        assert_eq!(config.endpoint, "http://127.0.0.1:4318");
        assert_eq!(config.headers, pairs(&[("a", "1")]));
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert_eq!(config.schedule_delay, Duration::from_millis(100));
        assert_eq!(config.max_queue, 64);
        // A batch never exceeds the queue.
        assert_eq!(config.max_batch, 64);
    }

    #[test]
    fn env_defaults_to_grpc_when_endpoint_set() {
        let config =
            from_map(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")]).expect("valid");
        assert_eq!(config.kind, ExporterKind::OtlpGrpc);
    }

    #[test]
    fn env_rejects_bad_values_naming_the_variable() {
        let err = from_map(&[("OTEL_BSP_SCHEDULE_DELAY", "5s")]).expect_err("invalid");
        assert!(err.to_string().contains("OTEL_BSP_SCHEDULE_DELAY"), "{err}");
        let err = from_map(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).expect_err("invalid");
        assert!(
            err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
    }
}

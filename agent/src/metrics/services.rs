//! The services metrics are reported for: one per `service.name`, whatever the number of its
//! processes, with the resource of the first process seen minus the per-process attributes.
//!
//! Why not one per process, as spans have: a pid per series would make every short-lived
//! client (each `curl` run) a new set of cumulative series that never ends, and two workers
//! of one service (nginx) would give the same Prometheus label set twice.
//!
//! For the same reason `unknown_service:<pid>`, discovery's name for a process that exited
//! before it could be read from /proc (a short `curl` run often has), counts as one service,
//! `unknown_service`.

use std::sync::Arc;

// foldhash: these maps are looked up per span or per event; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};

use crate::trace::span::{AttrValue, Resource};

/// The resource of one service's metrics (an OTLP `ResourceMetrics`).
#[derive(Debug, PartialEq)]
pub struct ServiceResource {
    pub name: String,
    pub attributes: Vec<(String, AttrValue)>,
}

impl ServiceResource {
    /// sonde's own resource: the service graph and the overflow series belong to no one
    /// watched service, so they are reported as sonde's (as an SDK reports them under its
    /// provider's resource).
    pub fn agent(host_name: &str, extra: &[(String, String)]) -> ServiceResource {
        let mut attributes: Vec<(String, AttrValue)> = vec![
            ("service.name".into(), "sonde".into()),
            ("host.name".into(), host_name.into()),
            ("telemetry.distro.name".into(), "sonde".into()),
            (
                "telemetry.distro.version".into(),
                env!("CARGO_PKG_VERSION").into(),
            ),
        ];
        for (k, v) in extra {
            if !attributes.iter().any(|(existing, _)| existing == k) {
                attributes.push((k.clone(), v.as_str().into()));
            }
        }
        ServiceResource {
            name: "sonde".into(),
            attributes,
        }
    }

    fn of_process(resource: &Resource) -> ServiceResource {
        let name = service_name(resource);
        ServiceResource {
            name: name.to_owned(),
            attributes: resource
                .attributes
                .iter()
                .filter(|(k, _)| !k.starts_with("process."))
                .map(|(k, v)| match k.as_str() {
                    "service.name" => (k.clone(), name.into()),
                    _ => (k.clone(), v.clone()),
                })
                .collect(),
        }
    }
}

/// The service a process's metrics count under: its `service.name`, without a pid suffix.
pub fn service_name(resource: &Resource) -> &str {
    let name = resource.service_name();
    match name.strip_prefix("unknown_service:") {
        Some(pid) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
            "unknown_service"
        }
        _ => name,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceId(pub u32);

/// Interned services, bounded: past `max`, new services have no id (their measurements go
/// to the overflow series).
pub struct Services {
    index: HashMap<Box<str>, ServiceId>,
    list: Vec<Arc<ServiceResource>>,
    max: usize,
}

impl Services {
    pub fn new(max: usize) -> Services {
        Services {
            index: HashMap::new(),
            list: Vec::new(),
            max,
        }
    }

    /// The id of the span's service; allocates only the first time a service is seen.
    pub fn id(&mut self, resource: &Resource) -> Option<ServiceId> {
        let name = service_name(resource);
        if let Some(&id) = self.index.get(name) {
            return Some(id);
        }
        if self.list.len() >= self.max {
            return None;
        }
        let id = ServiceId(u32::try_from(self.list.len()).ok()?);
        self.index.insert(name.into(), id);
        self.list
            .push(Arc::new(ServiceResource::of_process(resource)));
        Some(id)
    }

    pub fn get(&self, id: ServiceId) -> &Arc<ServiceResource> {
        &self.list[id.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(service: &str, pid: i64) -> Resource {
        Resource {
            attributes: vec![
                ("service.name".into(), service.into()),
                ("process.pid".into(), AttrValue::Int(pid)),
                ("process.executable.name".into(), "curl".into()),
                ("host.name".into(), "h".into()),
            ],
        }
    }

    #[test]
    fn processes_of_one_service_share_an_id_without_process_attributes() {
        let mut services = Services::new(10);
        let a = services.id(&process("curl", 1)).unwrap();
        let b = services.id(&process("curl", 2)).unwrap();
        let c = services.id(&process("nginx", 3)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            services.get(a).attributes,
            vec![
                ("service.name".to_owned(), AttrValue::from("curl")),
                ("host.name".to_owned(), AttrValue::from("h")),
            ]
        );
    }

    #[test]
    fn processes_gone_before_discovery_are_one_service() {
        let mut services = Services::new(10);
        let a = services.id(&process("unknown_service:4242", 4242)).unwrap();
        let b = services.id(&process("unknown_service:4243", 4243)).unwrap();
        assert_eq!(a, b);
        assert_eq!(services.get(a).name, "unknown_service");
        assert_eq!(
            services.get(a).attributes[0],
            (
                "service.name".to_owned(),
                AttrValue::from("unknown_service")
            )
        );
        // An SDK-style name with an executable stays as it is.
        let c = services.id(&process("unknown_service:java", 1)).unwrap();
        assert_eq!(services.get(c).name, "unknown_service:java");
    }

    #[test]
    fn past_the_bound_new_services_have_no_id() {
        let mut services = Services::new(1);
        assert!(services.id(&process("a", 1)).is_some());
        assert!(services.id(&process("b", 2)).is_none());
        assert!(services.id(&process("a", 3)).is_some());
    }

    #[test]
    fn agent_resource_adds_otel_resource_attributes_once() {
        let r = ServiceResource::agent(
            "h",
            &[
                ("deployment.environment".into(), "prod".into()),
                ("service.name".into(), "ignored".into()),
            ],
        );
        assert_eq!(r.name, "sonde");
        assert_eq!(
            r.attributes
                .iter()
                .filter(|(k, _)| k == "service.name")
                .count(),
            1
        );
        assert!(
            r.attributes
                .contains(&("deployment.environment".to_owned(), AttrValue::from("prod")))
        );
    }
}

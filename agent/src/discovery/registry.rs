//! Resources of watched processes, computed once per exec and cached with a bound.

use std::sync::Arc;

// foldhash: these maps are looked up per span or per event; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};

use super::{naming, procfs_read};
use crate::trace::span::{AttrValue, Resource};

/// Most processes kept; past that the cache is cleared (it refills from /proc on demand).
const MAX_PROCESSES: usize = 8192;

pub struct ProcessRegistry {
    host_name: String,
    /// OTEL_RESOURCE_ATTRIBUTES of sonde itself, added to every resource.
    extra: Vec<(String, String)>,
    cache: HashMap<u32, Arc<Resource>>,
}

impl ProcessRegistry {
    pub fn new(extra: Vec<(String, String)>) -> Self {
        let host_name = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            host_name,
            extra,
            cache: HashMap::new(),
        }
    }

    /// The resource for `pid`, read from /proc on first use.
    pub fn resource(&mut self, pid: u32) -> Arc<Resource> {
        if let Some(r) = self.cache.get(&pid) {
            return r.clone();
        }
        if self.cache.len() >= MAX_PROCESSES {
            self.cache.clear();
        }
        let resource = Arc::new(self.build(pid, None));
        self.cache.insert(pid, resource.clone());
        resource
    }

    /// Reads the process's identity now (it just opened a connection, so it most likely still
    /// runs); if /proc has no entry any more, `comm` names it.
    pub fn remember(&mut self, pid: u32, comm: &str) {
        if self.cache.contains_key(&pid) {
            return;
        }
        if self.cache.len() >= MAX_PROCESSES {
            self.cache.clear();
        }
        let resource = Arc::new(self.build(pid, Some(comm)));
        self.cache.insert(pid, resource);
    }

    /// The process exec'd or exited: its identity changed.
    pub fn forget(&mut self, pid: u32) {
        self.cache.remove(&pid);
    }

    fn build(&self, pid: u32, comm: Option<&str>) -> Resource {
        let mut attributes: Vec<(String, AttrValue)> = Vec::with_capacity(8);
        let facts = procfs_read::read(pid);
        let (service, exe_name) = match &facts {
            Some(f) => (
                naming::service_name(f),
                f.exe
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.comm.clone()),
            ),
            None => match comm.filter(|c| !c.is_empty()) {
                Some(c) => (c.to_owned(), c.to_owned()),
                None => (format!("unknown_service:{pid}"), String::new()),
            },
        };
        attributes.push(("service.name".into(), service.into()));
        attributes.push(("process.pid".into(), AttrValue::Int(pid as i64)));
        if !exe_name.is_empty() {
            attributes.push(("process.executable.name".into(), exe_name.into()));
        }
        if let Some(path) = facts.as_ref().and_then(|f| f.exe.as_ref()) {
            attributes.push((
                "process.executable.path".into(),
                path.display().to_string().into(),
            ));
        }
        attributes.push(("host.name".into(), self.host_name.clone().into()));
        attributes.push(("telemetry.distro.name".into(), "sonde".into()));
        attributes.push((
            "telemetry.distro.version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ));
        // The process's own OTEL_RESOURCE_ATTRIBUTES, then sonde's; earlier keys win.
        let own = facts
            .iter()
            .flat_map(|f| f.otel_env.iter())
            .filter(|(k, _)| k == "OTEL_RESOURCE_ATTRIBUTES")
            .flat_map(|(_, v)| crate::export::parse_headers(v));
        for (k, v) in own.chain(self.extra.iter().cloned()) {
            if !attributes.iter().any(|(existing, _)| *existing == k) {
                attributes.push((k, v.into()));
            }
        }
        Resource { attributes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_resource() {
        let mut reg = ProcessRegistry::new(vec![("deployment.environment".into(), "test".into())]);
        let r = reg.resource(std::process::id());
        assert_eq!(
            r.get("process.pid"),
            Some(&AttrValue::Int(std::process::id() as i64))
        );
        assert_eq!(
            r.get("telemetry.distro.name"),
            Some(&AttrValue::Str("sonde".into()))
        );
        assert_eq!(
            r.get("deployment.environment"),
            Some(&AttrValue::Str("test".into()))
        );
        assert!(Arc::ptr_eq(&r, &reg.resource(std::process::id())));
    }
}

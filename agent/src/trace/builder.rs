//! Turns finished exchanges into spans and links them into traces.
//!
//! Parent links: while a process serves a request (read, not yet answered) on thread T, the
//! client calls that T makes belong to that request. The conn stage reports each server
//! request when its head arrives (`server_request_started`); the span ids are chosen then,
//! so the children, which finish first, can name their parent.

// foldhash: `active` is looked up per event and per span; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};
use rand::{RngCore as _, SeedableRng as _, rngs::SmallRng};

use super::{
    clock::Clock,
    db_span, http_span,
    route::Routes,
    span::{SpanKind, SpanRecord},
    traceparent,
};
use crate::{
    conn::Finished,
    discovery::ProcessRegistry,
    protocol::{Exchange, Role},
};

/// In-flight server requests remembered at once; past that the table is cleared (children of
/// the dropped requests then start their own traces).
const MAX_ACTIVE: usize = 65536;

#[derive(Clone, Copy, Debug)]
struct Active {
    conn_id: u64,
    request_start_ns: u64,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
}

pub struct SpanBuilder {
    registry: ProcessRegistry,
    clock: Clock,
    routes: Routes,
    /// (pid, tid) -> the request that thread is serving.
    active: HashMap<(u32, u32), Active>,
    ids: IdGenerator,
}

/// Trace and span ids. A small non-cryptographic generator (xoshiro, seeded from the OS
/// once) as the OpenTelemetry SDKs use: ids must be unique and unpredictable enough to not
/// collide, not secret, and the thread-local ChaCha generator cost a visible share of each
/// span.
struct IdGenerator(SmallRng);

impl IdGenerator {
    fn new() -> Self {
        IdGenerator(SmallRng::from_os_rng())
    }

    // `fill_bytes` takes whole 64-bit outputs; `random::<[u8; N]>()` draws each byte alone.
    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0; 16];
        while id == [0; 16] {
            self.0.fill_bytes(&mut id);
        }
        id
    }

    fn span_id(&mut self) -> [u8; 8] {
        let mut id = [0; 8];
        while id == [0; 8] {
            self.0.fill_bytes(&mut id);
        }
        id
    }
}

impl SpanBuilder {
    pub fn new(registry: ProcessRegistry, clock: Clock, routes: Routes) -> Self {
        Self {
            registry,
            clock,
            routes,
            active: HashMap::new(),
            ids: IdGenerator::new(),
        }
    }

    pub fn registry(&mut self) -> &mut ProcessRegistry {
        &mut self.registry
    }

    /// A server request's head arrived on `conn_id`, read by thread `tid` of `pid`.
    pub fn server_request_started(
        &mut self,
        pid: u32,
        tid: u32,
        conn_id: u64,
        request_start_ns: u64,
        traceparent: Option<&str>,
    ) {
        if let Some(a) = self.active.get(&(pid, tid))
            && a.conn_id == conn_id
            && a.request_start_ns == request_start_ns
        {
            return;
        }
        if self.active.len() >= MAX_ACTIVE {
            self.active.clear();
        }
        let parent = traceparent.and_then(traceparent::parse);
        self.active.insert(
            (pid, tid),
            Active {
                conn_id,
                request_start_ns,
                trace_id: match parent {
                    Some(p) => p.trace_id,
                    None => self.ids.trace_id(),
                },
                span_id: self.ids.span_id(),
                parent_span_id: parent.map(|p| p.parent_id),
            },
        );
    }

    /// Forget the threads of an exited process.
    pub fn process_exit(&mut self, pid: u32) {
        self.active.retain(|(p, _), _| *p != pid);
        self.registry.forget(pid);
    }

    /// The span of a finished exchange; None for exchanges that are not reported (the
    /// server side of a database protocol: its client reports the same operation). The
    /// exchange's strings are moved into the span, so `f.exchange` is spent afterwards.
    pub fn build(&mut self, f: &mut Finished) -> Option<SpanRecord> {
        let info = f.info.as_deref();
        let (name, kind, attributes, status, tid, start_ns, end_ns, traceparent) =
            match &mut f.exchange {
                Exchange::Http(x) => {
                    let p = http_span::parts(x, info, &self.routes);
                    (
                        p.name,
                        p.kind,
                        p.attributes,
                        p.status,
                        x.tid,
                        x.request_start_ns,
                        x.response_end_ns,
                        x.traceparent.take(),
                    )
                }
                Exchange::Db(x) => {
                    if x.role != Role::Client {
                        return None;
                    }
                    let p = db_span::parts(x, info);
                    (
                        p.name,
                        p.kind,
                        p.attributes,
                        p.status,
                        x.tid,
                        x.start_ns,
                        x.end_ns,
                        None,
                    )
                }
            };
        let (trace_id, span_id, parent_span_id) = match kind {
            SpanKind::Server => {
                self.server_ids(f.pid, tid, f.conn_id, start_ns, traceparent.as_deref())
            }
            SpanKind::Client => self.client_ids(f.pid, tid, start_ns),
        };
        Some(SpanRecord {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start_unix_ns: self.clock.to_unix_ns(start_ns),
            end_unix_ns: self.clock.to_unix_ns(end_ns.max(start_ns)),
            attributes,
            status,
            resource: self.registry.resource(f.pid),
        })
    }

    fn server_ids(
        &mut self,
        pid: u32,
        tid: u32,
        conn_id: u64,
        start_ns: u64,
        traceparent: Option<&str>,
    ) -> ([u8; 16], [u8; 8], Option<[u8; 8]>) {
        if let Some(a) = self.active.get(&(pid, tid)).copied()
            && a.conn_id == conn_id
            && a.request_start_ns == start_ns
        {
            self.active.remove(&(pid, tid));
            return (a.trace_id, a.span_id, a.parent_span_id);
        }
        let parent = traceparent.and_then(traceparent::parse);
        (
            match parent {
                Some(p) => p.trace_id,
                None => self.ids.trace_id(),
            },
            self.ids.span_id(),
            parent.map(|p| p.parent_id),
        )
    }

    fn client_ids(
        &mut self,
        pid: u32,
        tid: u32,
        start_ns: u64,
    ) -> ([u8; 16], [u8; 8], Option<[u8; 8]>) {
        match self.active.get(&(pid, tid)) {
            Some(a) if a.request_start_ns <= start_ns => {
                (a.trace_id, self.ids.span_id(), Some(a.span_id))
            }
            _ => (self.ids.trace_id(), self.ids.span_id(), None),
        }
    }
}

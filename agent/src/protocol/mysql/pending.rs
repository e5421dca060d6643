//! Commands waiting for their answers, in the order they were sent: the server answers
//! strictly in order, so the answer being read always belongs to the oldest one here.

use std::sync::Arc;

use super::response::Expect;
use super::sql_text::Summary;
use crate::protocol::{DbError, DbExchange, DbSystem, Incomplete, Role};

/// What a waiting command was, as far as its exchange and the connection's state go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Query,
    Prepare,
    Execute,
    /// COM_INIT_DB: the database it switches to once the server says OK.
    InitDb(Option<String>),
    /// COM_CHANGE_USER: the database of the new login.
    ChangeUser(Option<String>),
    ResetConnection,
    Other,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub kind: Kind,
    pub expect: Expect,
    /// Time and thread of the chunk that carried the command's first byte.
    pub start_ns: u64,
    pub tid: u32,
    /// The command's end, then the time of the latest answer bytes: timeouts count from it,
    /// and an answer that ends in uncaptured bytes ends here.
    pub last_activity_ns: u64,
    pub namespace: Option<String>,
    pub summary: Option<Arc<Summary>>,
    /// An execute of a statement whose prepare answer had not been read when it was sent.
    pub unresolved_statement: Option<u32>,
    /// Rows returned (counted row packets) plus rows affected (OK packets).
    pub rows: u64,
    /// False once rows went by uncounted (their headers were not captured).
    pub rows_known: bool,
    pub error: Option<DbError>,
}

impl Pending {
    /// Whether the exchange becomes a span: statements and executes always; a prepare only
    /// when the server refused it (its executes report the statement otherwise); the
    /// bookkeeping commands (ping, init db, reset, ...) never.
    pub(super) fn is_reported(&self) -> bool {
        match self.kind {
            Kind::Query | Kind::Execute => true,
            Kind::Prepare => self.error.is_some(),
            _ => false,
        }
    }
}

impl Pending {
    /// The exchange this command makes once it leaves the queue, if it is reported.
    pub(super) fn into_exchange(
        self,
        system: DbSystem,
        role: Role,
        end_ns: u64,
        incomplete: Option<Incomplete>,
    ) -> Option<DbExchange> {
        if !self.is_reported() {
            return None;
        }
        let summary = self.summary.as_deref();
        let rows =
            (self.rows_known && self.error.is_none() && incomplete.is_none()).then_some(self.rows);
        Some(DbExchange {
            system,
            role,
            namespace: self.namespace,
            operation: summary.and_then(|s| s.operation.clone()),
            collection: summary.and_then(|s| s.collection.clone()),
            query_text: summary
                .filter(|s| !s.text.is_empty())
                .map(|s| s.text.clone()),
            error: self.error,
            start_ns: self.start_ns,
            end_ns: end_ns.max(self.start_ns),
            tid: self.tid,
            rows,
            incomplete,
        })
    }
}

/// Commands waiting for their answers, oldest first.
pub(super) type PendingQueue = crate::protocol::bounded_fifo::BoundedFifo<Pending>;

impl PendingQueue {
    /// Memory held: the slots and the strings of the waiting commands.
    pub(super) fn held_bytes(&self) -> usize {
        let strings: usize = self
            .iter()
            .map(|p| {
                p.namespace.as_ref().map_or(0, String::capacity)
                    + p.error
                        .as_ref()
                        .map_or(0, |e| e.code.capacity() + e.message.capacity())
            })
            .sum();
        self.slots() * size_of::<Pending>() + strings
    }
}

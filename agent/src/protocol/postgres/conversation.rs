//! The state of one connection above message framing: start-up, prepared statements, the
//! operations waiting for their answers, and the exchanges they become.

use std::sync::Arc;

use super::backend;
use super::exchange::{new_exchange, query_statements};
use super::framer::{Frame, FrameKind};
use super::frontend;
use super::pending::{ExecuteOp, Op, ParseInfo, PendingOps, QueryOp};
use super::resync::Before;
use super::startup::{self, Packet};
use super::statements::{Portal, Statements};
use super::{PgError, PostgresStats};
use crate::protocol::sql::{SqlDialect, summarize_shared};
use crate::protocol::{DbError, DbExchange, Exchange, Incomplete, ParserLimits, Role};

/// What the framing of the two directions must do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    None,
    /// SSLRequest or GSSENCRequest: the server answers with one untyped byte.
    AwaitEncryptionAnswer,
    /// The StartupMessage is in: typed messages from the client from now on.
    StartupDone,
    /// The server declined encryption: typed messages from the server from now on.
    EncryptionDeclined,
    /// TLS or GSS encryption, or a cancel connection: nothing more to read.
    Stop,
}

pub(super) struct Conversation {
    role: Role,
    namespace: Option<String>,
    statements: Statements,
    pending: PendingOps,
    /// The last Parse of the group being sent (until its Sync).
    group_parse: Option<ParseInfo>,
    /// A statement parsed or bound and not executed yet in the group being sent: if the
    /// frontend boundaries are lost now (a long statement or large parameters running into
    /// uncaptured bytes), what they most likely hid is its Execute.
    unexecuted: Option<Portal>,
    backend_lost: bool,
    last_backend_ns: u64,
    timeout_ns: u64,
    pub stats: PostgresStats,
}

impl Conversation {
    pub(super) fn role(&self) -> Role {
        self.role
    }

    pub(super) fn new(role: Role, limits: ParserLimits) -> Self {
        Self {
            role,
            namespace: None,
            statements: Statements::new(),
            pending: PendingOps::new(limits.max_pending),
            group_parse: None,
            unexecuted: None,
            backend_lost: false,
            last_backend_ns: 0,
            timeout_ns: u64::try_from(limits.request_timeout.as_nanos()).unwrap_or(u64::MAX),
            stats: PostgresStats::default(),
        }
    }

    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn statements_len(&self) -> usize {
        self.statements.len()
    }

    pub(super) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Counters, with those the statement registry keeps.
    pub(super) fn stats(&self) -> PostgresStats {
        PostgresStats {
            statements_evicted: self.statements.evicted,
            unknown_statements: self.statements.unknown,
            ..self.stats.clone()
        }
    }

    /// A backend chunk arrived (captured or not).
    pub(super) fn saw_backend(&mut self, ts_ns: u64) {
        self.last_backend_ns = ts_ns;
        self.pending.last_activity_ns = ts_ns;
    }

    // ---- frontend ------------------------------------------------------------------------

    pub(super) fn on_frontend(&mut self, f: &Frame<'_>, out: &mut Vec<Exchange>) -> Action {
        match f.kind {
            FrameKind::Startup => self.on_startup(f.body),
            FrameKind::Message => {
                self.on_frontend_message(f, out);
                Action::None
            }
            FrameKind::EncryptionAnswer => Action::None,
        }
    }

    fn on_startup(&mut self, body: &[u8]) -> Action {
        match startup::classify(body) {
            Packet::Start { params } => {
                self.namespace = startup::namespace(params);
                Action::StartupDone
            }
            Packet::SslRequest | Packet::GssEncRequest => Action::AwaitEncryptionAnswer,
            Packet::CancelRequest => {
                self.stats.cancel_requests += 1;
                Action::Stop
            }
            Packet::Unknown => Action::Stop,
        }
    }

    fn on_frontend_message(&mut self, f: &Frame<'_>, out: &mut Vec<Exchange>) {
        let unexecuted = self.unexecuted.take();
        match f.tag {
            b'Q' => {
                let statements = query_statements(&frontend::query(f.body));
                let op = Op::Query(QueryOp {
                    statements,
                    next_start_ns: f.ts_ns,
                    tid: f.tid,
                });
                self.push(op, f.ts_ns, out);
            }
            b'P' => {
                if let Some((name, text)) = frontend::parse(f.body) {
                    let statement = summarize_shared(&text, SqlDialect::Postgres);
                    self.statements.define(name, Arc::clone(&statement));
                    self.unexecuted = Some(Portal {
                        statement: Some(Arc::clone(&statement)),
                        start_ns: f.ts_ns,
                        tid: f.tid,
                    });
                    self.group_parse = Some(ParseInfo {
                        statement,
                        start_ns: f.ts_ns,
                        tid: f.tid,
                    });
                }
            }
            b'B' => {
                if let Some((portal, name)) = frontend::bind(f.body) {
                    let p = Portal {
                        statement: self.statements.lookup(name),
                        start_ns: f.ts_ns,
                        tid: f.tid,
                    };
                    self.statements.bind(portal, p.clone());
                    self.unexecuted = Some(p);
                }
            }
            b'E' => {
                let portal =
                    frontend::execute(f.body).and_then(|name| self.statements.portal(name));
                let op = match portal {
                    Some(p) => ExecuteOp {
                        statement: p.statement,
                        start_ns: p.start_ns,
                        tid: p.tid,
                        rows_seen: 0,
                        presumed: false,
                    },
                    None => ExecuteOp {
                        statement: None,
                        start_ns: f.ts_ns,
                        tid: f.tid,
                        rows_seen: 0,
                        presumed: false,
                    },
                };
                self.push(Op::Execute(op), f.ts_ns, out);
            }
            b'C' => match frontend::target(f.body) {
                Some((b'S', name)) => self.statements.forget(name),
                Some((b'P', name)) => self.statements.forget_portal(name),
                _ => {}
            },
            b'S' => {
                let parse = self.group_parse.take();
                self.push(Op::Sync { parse }, f.ts_ns, out);
            }
            b'F' => self.push(Op::FunctionCall, f.ts_ns, out),
            // The client leaves. It reads every answer before it does, so if the answers were
            // lost in uncaptured bytes, they ended before this.
            b'X' if self.backend_lost => {
                self.flush_all(self.last_backend_ns, Incomplete::Desync, out);
            }
            // Describe and Flush leave the group's statement still to be executed.
            b'D' | b'H' => self.unexecuted = unexecuted,
            // Password and SASL messages, COPY data: nothing to pair.
            _ => {}
        }
    }

    fn push(&mut self, op: Op, ts_ns: u64, out: &mut Vec<Exchange>) {
        if self.backend_lost
            && let Some(end) = self.pending.last_group_end()
        {
            // A client sends its next group after reading the answer to the last one; that
            // answer was lost in uncaptured bytes, so the groups before are over.
            for _ in 0..=end {
                if let Some(op) = self.pending.pop_front() {
                    self.finish_unanswered(op, self.last_backend_ns, Incomplete::Desync, out);
                }
            }
        }
        if !self.pending.push(op, ts_ns) {
            self.stats.pending_overflows += 1;
        }
    }

    /// The frontend boundaries were lost (a gap, or bytes that are not messages).
    pub(super) fn frontend_lost(&mut self, error: PgError, ts_ns: u64, out: &mut Vec<Exchange>) {
        self.stats.frontend_desyncs += 1;
        self.stats.last_error = Some(error);
        self.group_parse = None;
        if let Some(p) = self.unexecuted.take() {
            let op = ExecuteOp {
                statement: p.statement,
                start_ns: p.start_ns,
                tid: p.tid,
                rows_seen: 0,
                presumed: true,
            };
            self.push(Op::Execute(op), ts_ns, out);
        }
    }

    // ---- backend -------------------------------------------------------------------------

    pub(super) fn on_backend(&mut self, f: &Frame<'_>, out: &mut Vec<Exchange>) -> Action {
        match f.kind {
            FrameKind::EncryptionAnswer if f.tag == b'N' => Action::EncryptionDeclined,
            FrameKind::EncryptionAnswer => {
                self.stats.encrypted = true;
                Action::Stop
            }
            FrameKind::Startup => Action::None,
            FrameKind::Message => {
                match f.tag {
                    b'D' => {
                        if let Some(Op::Execute(e)) = self.pending.front_mut() {
                            e.rows_seen += 1;
                        }
                    }
                    b'C' => self.complete(f.ts_ns, backend::command_rows(f.body), out),
                    b's' => {
                        let rows = match self.pending.front_mut() {
                            Some(Op::Execute(e)) => Some(e.rows_seen),
                            _ => None,
                        };
                        self.complete(f.ts_ns, rows, out);
                    }
                    b'I' => self.complete_empty(),
                    b'E' => self.error(backend::error(f.body), f.ts_ns, out),
                    b'Z' => self.ready(),
                    _ => {}
                }
                Action::None
            }
        }
    }

    /// CommandComplete or PortalSuspended: the operation being answered is done.
    fn complete(&mut self, ts_ns: u64, rows: Option<u64>, out: &mut Vec<Exchange>) {
        match self.pending.front_mut() {
            Some(Op::Query(q)) => match q.statements.pop() {
                Some(statement) => {
                    let x = new_exchange(
                        self.role,
                        &self.namespace,
                        Some(&statement),
                        q.next_start_ns,
                        ts_ns,
                        q.tid,
                    );
                    q.next_start_ns = ts_ns;
                    out.push(Exchange::Db(DbExchange { rows, ..x }));
                }
                None => self.stats.unmatched_responses += 1,
            },
            Some(Op::Execute(_)) => {
                if let Some(Op::Execute(e)) = self.pending.pop_front() {
                    let x = new_exchange(
                        self.role,
                        &self.namespace,
                        e.statement.as_deref(),
                        e.start_ns,
                        ts_ns,
                        e.tid,
                    );
                    out.push(Exchange::Db(DbExchange { rows, ..x }));
                }
            }
            _ => self.stats.unmatched_responses += 1,
        }
    }

    /// EmptyQueryResponse: an empty statement ran; it makes no span.
    fn complete_empty(&mut self) {
        if matches!(self.pending.front_mut(), Some(Op::Execute(_))) {
            self.pending.pop_front();
        }
    }

    /// ErrorResponse: the operation being answered failed; the server skips the rest of
    /// its group (the other statements of a Query, the other Executes before the Sync).
    fn error(&mut self, error: DbError, ts_ns: u64, out: &mut Vec<Exchange>) {
        match self.pending.front_mut() {
            Some(Op::Query(q)) => {
                let statement = q.statements.pop();
                let x = new_exchange(
                    self.role,
                    &self.namespace,
                    statement.as_deref(),
                    q.next_start_ns,
                    ts_ns,
                    q.tid,
                );
                let skipped = q.statements.clear();
                self.stats.skipped_after_error += skipped as u64;
                out.push(Exchange::Db(DbExchange {
                    error: Some(error),
                    ..x
                }));
            }
            Some(Op::Execute(_)) => {
                let mut failed = None;
                while let Some(Op::Execute(_)) = self.pending.front_mut() {
                    if let Some(Op::Execute(e)) = self.pending.pop_front() {
                        if failed.is_none() {
                            failed = Some(e);
                        } else if !e.presumed {
                            self.stats.skipped_after_error += 1;
                        }
                    }
                }
                if let Some(e) = failed {
                    let x = new_exchange(
                        self.role,
                        &self.namespace,
                        e.statement.as_deref(),
                        e.start_ns,
                        ts_ns,
                        e.tid,
                    );
                    out.push(Exchange::Db(DbExchange {
                        error: Some(error),
                        ..x
                    }));
                }
            }
            Some(Op::Sync { parse }) => match parse.take() {
                // The group ran nothing: its Parse (or Bind) failed.
                Some(p) => {
                    let x = new_exchange(
                        self.role,
                        &self.namespace,
                        Some(&p.statement),
                        p.start_ns,
                        ts_ns,
                        p.tid,
                    );
                    out.push(Exchange::Db(DbExchange {
                        error: Some(error),
                        ..x
                    }));
                }
                None => self.stats.unmatched_responses += 1,
            },
            Some(Op::FunctionCall) => {}
            // An error outside any operation: failed authentication, a shutdown notice.
            None => self.stats.unmatched_responses += 1,
        }
    }

    /// ReadyForQuery: the front group is over. What it still held got no answer (skipped
    /// after an error, or inferred and not there).
    fn ready(&mut self) {
        if !self.pending.has_group_end() {
            // The group end was lost or refused: what is queued belongs to this group.
            while let Some(op) = self.pending.pop_front() {
                if !matches!(op, Op::Execute(ExecuteOp { presumed: true, .. })) {
                    self.stats.unanswered += 1;
                }
            }
            self.pending.refused_group_answered();
            return;
        }
        while let Some(op) = self.pending.pop_front() {
            match op {
                Op::Execute(e) => {
                    if !e.presumed {
                        self.stats.unanswered += 1;
                    }
                }
                Op::Query(q) => {
                    self.stats.unanswered += q.statements.len() as u64;
                    break;
                }
                Op::Sync { .. } | Op::FunctionCall => break,
            }
        }
    }

    /// The backend boundaries were lost: answers wait until a ReadyForQuery is found again.
    pub(super) fn backend_lost(&mut self, error: PgError) {
        self.stats.backend_desyncs += 1;
        self.stats.last_error = Some(error);
        self.backend_lost = true;
    }

    /// A ReadyForQuery was found in a lost backend stream: it ends the front group. A group
    /// that owed one span gets the outcome read just before the `Z`; with more, which answer
    /// was which is unknown and they end as `Desync`.
    pub(super) fn backend_found(&mut self, before: Before, ts_ns: u64, out: &mut Vec<Exchange>) {
        self.backend_lost = false;
        self.stats.backend_resyncs += 1;
        let units = self.pending.front_group_units();
        match before {
            Before::Complete(rows) if units == 1 => self.complete(ts_ns, rows, out),
            Before::Error(error) if units <= 1 => self.error(error, ts_ns, out),
            _ => self.flush_front_group(ts_ns, Incomplete::Desync, out),
        }
        self.ready();
    }

    // ---- endings -------------------------------------------------------------------------

    /// Ends what the front group owes with `cause` (the ops stay for `ready` to pop).
    fn flush_front_group(&mut self, end_ns: u64, cause: Incomplete, out: &mut Vec<Exchange>) {
        while let Some(op) = self.pending.front_mut() {
            match op {
                Op::Execute(_) => {
                    if let Some(op) = self.pending.pop_front() {
                        self.finish_unanswered(op, end_ns, cause, out);
                    }
                }
                Op::Query(q) => {
                    if let Some(statement) = q.statements.pop() {
                        let x = new_exchange(
                            self.role,
                            &self.namespace,
                            Some(&statement),
                            q.next_start_ns,
                            end_ns,
                            q.tid,
                        );
                        self.stats.unanswered += q.statements.clear() as u64;
                        out.push(Exchange::Db(DbExchange {
                            incomplete: Some(cause),
                            ..x
                        }));
                    }
                    return;
                }
                Op::Sync { .. } | Op::FunctionCall => return,
            }
        }
    }

    /// An op that will get no answer: its span (if it owes one) ends with `cause`. A Query
    /// reports the statement it was running; the statements after it never ran.
    fn finish_unanswered(
        &mut self,
        op: Op,
        end_ns: u64,
        cause: Incomplete,
        out: &mut Vec<Exchange>,
    ) {
        let x = match op {
            Op::Execute(e) if !e.presumed => new_exchange(
                self.role,
                &self.namespace,
                e.statement.as_deref(),
                e.start_ns,
                end_ns,
                e.tid,
            ),
            Op::Query(mut q) => {
                let Some(statement) = q.statements.pop() else {
                    return;
                };
                self.stats.unanswered += q.statements.len() as u64;
                new_exchange(
                    self.role,
                    &self.namespace,
                    Some(&statement),
                    q.next_start_ns,
                    end_ns,
                    q.tid,
                )
            }
            _ => return,
        };
        out.push(Exchange::Db(DbExchange {
            incomplete: Some(cause),
            ..x
        }));
    }

    /// Ends every waiting op with `cause`.
    pub(super) fn flush_all(&mut self, end_ns: u64, cause: Incomplete, out: &mut Vec<Exchange>) {
        while let Some(op) = self.pending.pop_front() {
            self.finish_unanswered(op, end_ns, cause, out);
        }
        self.pending.clear();
    }

    /// Ops that saw no activity for longer than the request timeout end as `Timeout`.
    pub(super) fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        if now_ns.saturating_sub(self.pending.last_activity_ns) > self.timeout_ns {
            self.flush_all(now_ns, Incomplete::Timeout, out);
        }
    }

    /// The connection closed: waiting ops end as `ConnectionClosed` (as `Desync` when their
    /// answers were lost in uncaptured bytes, at the time of the last server bytes).
    pub(super) fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        if self.backend_lost {
            let end = self.last_backend_ns.max(self.pending.last_activity_ns);
            self.flush_all(end, Incomplete::Desync, out);
        } else {
            self.flush_all(ts_ns, Incomplete::ConnectionClosed, out);
        }
        self.backend_lost = false;
        self.group_parse = None;
        self.unexecuted = None;
    }
}

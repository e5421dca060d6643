//! The state of one MySQL connection above the packets: the connection phase, the
//! negotiated capabilities, the current database, prepared statements, and the commands
//! waiting for their answers. Packets come in from the two framers; exchanges go out.

use std::borrow::Cow;
use std::sync::Arc;

use super::command::{Command, parse_command};
use super::error::MysqlError;
use super::framer::{Packet, PacketSink};
use super::handshake::{Login, database_name, parse_greeting, parse_login};
use super::pending::{Kind, Pending, PendingQueue};
use super::reply::{Ending, parse_ok};
use super::response::{Event, Expect, ResponseReader};
use super::sql_text::{Summary, summarize};
use super::statements::Statements;
use super::stats::MysqlStats;
use super::wire::{Header, cap, com, marker};
use crate::protocol::{DbExchange, DbSystem, Incomplete, ParserLimits, Role};

/// Keep the whole packet (the framer bounds it by `max_header_bytes`).
const ALL: usize = usize::MAX;
/// Bytes of a statement command needed: command byte and statement id.
const STATEMENT_COMMAND_BYTES: usize = 5;

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The server's greeting comes next.
    Greeting,
    /// The greeting was read: the client's login (or SSLRequest) comes next.
    Login,
    /// Auth packets until the server's OK or ERR. The client's are never kept.
    Auth,
    /// Commands and their answers.
    Commands,
    /// Nothing more can be read here.
    Off(Off),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Off {
    /// The client asked for TLS (CLIENT_SSL): the rest is encrypted.
    Tls,
    /// The compressed protocol was negotiated: packets are wrapped and deflated.
    Compressed,
    /// A binlog dump: the server streams events, not answers.
    Replication,
    LoginFailed,
    /// The greeting or login could not be read.
    NotMysql,
    Closed,
}

/// Why answers are not being read until the next command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lost {
    /// Uncaptured bytes hid packet headers: the answer goes on, unread, and ends where the
    /// stream shows it (an end found in the captured tail, the next command, silence).
    Gap,
    /// An answer made no sense; its exchange ended as `Desync`.
    Desync,
}

pub(super) struct Session {
    limits: ParserLimits,
    pub role: Role,
    system: DbSystem,
    pub phase: Phase,
    server_capabilities: u32,
    /// The client's, once its login was read.
    capabilities: Option<u32>,
    compressed: bool,
    database: Option<String>,
    pub pending: PendingQueue,
    pub response: ResponseReader,
    pub statements: Statements,
    pub lost: Option<Lost>,
    /// Set while handling a packet: the answers' framer restarts at a packet boundary.
    pub resync_responses: bool,
    /// Set when every command was answered: the commands' framer may restart too.
    pub resync_commands: bool,
    pub out: Vec<DbExchange>,
    pub stats: MysqlStats,
}

impl Session {
    pub(super) fn new(limits: ParserLimits, role: Role, phase: Phase) -> Self {
        Self {
            limits,
            role,
            // Without the greeting the flavour is unknown: MySQL's protocol is the common one.
            system: DbSystem::Mysql,
            phase,
            server_capabilities: 0,
            capabilities: None,
            compressed: false,
            database: None,
            pending: PendingQueue::new(limits.max_pending),
            response: ResponseReader::default(),
            statements: Statements::default(),
            lost: None,
            resync_responses: false,
            resync_commands: false,
            out: Vec::new(),
            stats: MysqlStats::default(),
        }
    }

    pub(super) fn deprecate_eof(&self) -> Option<bool> {
        self.capabilities.map(|c| c & cap::DEPRECATE_EOF != 0)
    }

    fn note(&mut self, error: MysqlError) {
        self.stats.last_error = Some(error);
    }

    fn set_database(&mut self, name: &[u8]) {
        if let Some(name) = database_name(name) {
            self.database = Some(name);
        }
    }

    // ----- client to server -----

    fn command_keep(&self, header: Header, first: u8) -> usize {
        let command_phase = match self.phase {
            Phase::Login => return ALL,
            Phase::Auth | Phase::Commands => true,
            Phase::Greeting | Phase::Off(_) => false,
        };
        // Packets after the first of a command are LOCAL INFILE data or auth data: never kept.
        if !command_phase || header.seq != 0 {
            return 0;
        }
        match first {
            com::QUERY | com::STMT_PREPARE | com::INIT_DB | com::CHANGE_USER => ALL,
            com::STMT_EXECUTE | com::STMT_BULK_EXECUTE | com::STMT_CLOSE => STATEMENT_COMMAND_BYTES,
            _ => 1,
        }
    }

    fn on_command_packet(&mut self, p: &Packet<'_>) {
        match self.phase {
            Phase::Login => self.on_login(p),
            // A command while auth packets were expected: the server's OK went by unseen.
            Phase::Auth if p.header.seq == 0 => {
                self.phase = Phase::Commands;
                self.on_command(p);
            }
            Phase::Commands if p.header.seq == 0 => self.on_command(p),
            _ => {}
        }
    }

    fn on_login(&mut self, p: &Packet<'_>) {
        match parse_login(p.payload) {
            Some(Login::Tls) => self.phase = Phase::Off(Off::Tls),
            Some(Login::Response {
                capabilities,
                database,
            }) => {
                self.capabilities = Some(capabilities);
                if database.is_some() {
                    self.database = database;
                }
                let compression = cap::COMPRESS | cap::ZSTD_COMPRESSION;
                self.compressed = capabilities & self.server_capabilities & compression != 0;
                self.phase = Phase::Auth;
            }
            None => {
                self.note(MysqlError::BadHandshake);
                self.phase = Phase::Off(Off::NotMysql);
            }
        }
    }

    fn on_command(&mut self, p: &Packet<'_>) {
        let Some(command) = parse_command(p.payload, self.capabilities) else {
            self.stats.unknown_commands += 1;
            self.note(MysqlError::UnknownCommand);
            return;
        };
        if let Some(lost) = self.lost.take() {
            self.answers_ended_before_command(lost, p.start_ns);
        }
        match command {
            Command::Query { sql } => {
                let summary = sql.map(|s| summarize(&sql_str(s)));
                self.push(Kind::Query, Expect::Results, p, summary, None);
            }
            Command::Prepare { sql } => {
                let summary = Some(summarize(&sql_str(sql)));
                self.push(Kind::Prepare, Expect::Prepare, p, summary, None);
            }
            Command::Execute { statement } => {
                let summary = statement.and_then(|id| self.statements.get(id));
                let unresolved = if summary.is_none() { statement } else { None };
                self.push(Kind::Execute, Expect::Results, p, summary, unresolved);
            }
            Command::Close { statement } => {
                if let Some(id) = statement {
                    self.statements.remove(id);
                }
            }
            Command::InitDb { name } => {
                self.push(
                    Kind::InitDb(database_name(name)),
                    Expect::Single,
                    p,
                    None,
                    None,
                );
            }
            Command::ChangeUser { database } => {
                let db = database.and_then(database_name);
                self.push(Kind::ChangeUser(db), Expect::Auth, p, None, None);
            }
            Command::ResetConnection => {
                self.push(Kind::ResetConnection, Expect::Single, p, None, None);
            }
            Command::Replication => self.phase = Phase::Off(Off::Replication),
            Command::NoResponse => {}
            Command::Other { expect } => self.push(Kind::Other, expect, p, None, None),
        }
    }

    fn push(
        &mut self,
        kind: Kind,
        expect: Expect,
        p: &Packet<'_>,
        summary: Option<Arc<Summary>>,
        unresolved_statement: Option<u32>,
    ) {
        let reported = matches!(kind, Kind::Query | Kind::Prepare | Kind::Execute);
        let pending = Pending {
            kind,
            expect,
            start_ns: p.start_ns,
            tid: p.start_tid,
            last_activity_ns: p.end_ns,
            namespace: if reported {
                self.database.clone()
            } else {
                None
            },
            summary,
            unresolved_statement,
            rows: 0,
            rows_known: true,
            error: None,
        };
        let was_empty = self.pending.is_empty();
        if let Some(dropped) = self.pending.push(pending) {
            self.stats.pending_overflows += 1;
            self.finish(dropped, p.end_ns, Some(Incomplete::Desync));
            if let Some(front) = self.pending.front() {
                self.response.start(front.expect);
            }
        } else if was_empty {
            self.response.start(expect);
        }
    }

    // ----- server to client -----

    fn response_keep(&self, header: Header, first: u8) -> usize {
        match self.phase {
            Phase::Greeting => ALL,
            Phase::Auth if first == marker::OK || first == marker::ERR => ALL,
            Phase::Auth => 1,
            Phase::Commands if self.lost.is_none() => self.response.keep(header, first),
            _ => 0,
        }
    }

    fn on_response_packet(&mut self, p: &Packet<'_>) {
        match self.phase {
            Phase::Greeting => match parse_greeting(p.payload) {
                Some(greeting) => {
                    self.system = greeting.system;
                    self.server_capabilities = greeting.capabilities;
                    self.phase = Phase::Login;
                }
                None => {
                    self.note(MysqlError::BadHandshake);
                    self.phase = Phase::Off(Off::NotMysql);
                }
            },
            Phase::Auth => match p.payload.first() {
                Some(&marker::OK) => {
                    if let Some(schema) = parse_ok(p.payload).and_then(|ok| ok.schema) {
                        self.set_database(schema);
                    }
                    self.phase = if self.compressed {
                        Phase::Off(Off::Compressed)
                    } else {
                        Phase::Commands
                    };
                }
                Some(&marker::ERR) => self.phase = Phase::Off(Off::LoginFailed),
                // Auth switch or more auth data.
                _ => {}
            },
            Phase::Commands if self.lost.is_none() => self.on_response(p),
            _ => {}
        }
    }

    fn on_response(&mut self, p: &Packet<'_>) {
        if self.response.swallow(p) {
            return;
        }
        let deprecate_eof = self.deprecate_eof();
        if self.pending.is_empty() {
            // Its command was not seen (sent before a loss of sync): framed and skipped.
            self.stats.orphan_packets += 1;
            let outcome = self.response.step(p, deprecate_eof);
            if matches!(outcome.event, Event::Bad(_)) || outcome.done {
                self.response.reset();
            }
            return;
        }
        self.resolve_front_statement();
        let outcome = self.response.step(p, deprecate_eof);
        if let Event::Bad(error) = outcome.event {
            self.stats.desyncs += 1;
            self.note(error);
            self.lost = Some(Lost::Desync);
            if let Some(front) = self.pending.pop_front() {
                self.finish(front, p.end_ns, Some(Incomplete::Desync));
            }
            return;
        }
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        front.last_activity_ns = p.end_ns;
        match outcome.event {
            Event::Nothing | Event::Bad(_) => {}
            Event::Row => front.rows = front.rows.saturating_add(1),
            Event::RowUnread => front.rows_known = false,
            Event::Ok {
                affected_rows,
                schema,
            } => {
                front.rows = front.rows.saturating_add(affected_rows);
                if let Some(schema) = schema {
                    self.set_database(schema);
                }
                self.command_succeeded();
            }
            Event::Err(err) => front.error = Some(err.to_db_error()),
            Event::Prepared(ok) => {
                if let Some(summary) = &front.summary {
                    self.statements.insert(ok.statement, Arc::clone(summary));
                }
            }
        }
        if outcome.done {
            self.complete_front(p.end_ns);
        }
    }

    /// An execute sent with its prepare, before the prepare's answer gave the id: the
    /// statement is known once the execute's answer starts.
    fn resolve_front_statement(&mut self) {
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        if let Some(id) = front.unresolved_statement.take() {
            front.summary = self.statements.get(id);
            if front.summary.is_none() {
                self.stats.unknown_statements += 1;
            }
        }
    }

    /// An OK answered the front command: what it changes on the connection.
    fn command_succeeded(&mut self) {
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        match &mut front.kind {
            Kind::InitDb(name) => {
                if let Some(name) = name.take() {
                    self.database = Some(name);
                }
            }
            Kind::ChangeUser(db) => {
                self.database = db.take();
                self.statements.clear();
            }
            Kind::ResetConnection => self.statements.clear(),
            _ => {}
        }
    }

    /// The front command's answer ended at `end_ns`.
    fn complete_front(&mut self, end_ns: u64) {
        if let Some(p) = self.pending.pop_front() {
            self.finish(p, end_ns, None);
        }
        match self.pending.front() {
            Some(next) => self.response.start(next.expect),
            None => {
                self.response.start(Expect::Results);
                // Every command is answered: the client's next bytes start a command.
                self.resync_commands = true;
            }
        }
    }

    /// The answer ended in uncaptured bytes, at the last bytes seen of it: complete, with
    /// an unknown row count.
    fn complete_front_in_gap(&mut self) {
        if let Some(mut p) = self.pending.pop_front() {
            self.stats.ended_in_gap += 1;
            p.rows_known = false;
            let end_ns = p.last_activity_ns;
            self.finish(p, end_ns, None);
        }
        if let Some(next) = self.pending.front() {
            self.response.start(next.expect);
        }
    }

    /// A command came while answers were unread: clients send the next command once the
    /// answer is read, so the answer being read ended before it. Commands behind that one
    /// can no longer be paired with their answers.
    fn answers_ended_before_command(&mut self, lost: Lost, now_ns: u64) {
        if lost == Lost::Gap {
            self.complete_front_in_gap();
        }
        while let Some(p) = self.pending.pop_front() {
            self.finish(p, now_ns, Some(Incomplete::Desync));
        }
        self.response.reset();
        self.resync_responses = true;
    }

    /// The answers' framer lost a header in a gap.
    pub(super) fn framing_lost_in_responses(&mut self) {
        self.stats.framing_lost += 1;
        self.note(MysqlError::HeaderInGap);
        if self.lost.is_none() {
            self.lost = Some(Lost::Gap);
        }
        if let Some(front) = self.pending.front_mut() {
            front.rows_known = false;
        }
    }

    /// Answer bytes arrived (read or not): the front command is alive.
    pub(super) fn touch_front(&mut self, ts_ns: u64) {
        if let Some(front) = self.pending.front_mut() {
            front.last_activity_ns = front.last_activity_ns.max(ts_ns);
        }
    }

    /// Whether an end found in the lost bytes' tail may be taken for the end of the answer.
    pub(super) fn trusts_tail_ending(&self, ending: &Ending<'_>) -> bool {
        self.lost == Some(Lost::Gap)
            && self.phase == Phase::Commands
            && self
                .response
                .trusts_tail_ending(matches!(ending, Ending::Err(_)), self.deprecate_eof())
    }

    /// The captured tail ends with the end of a result: the framing is back.
    pub(super) fn ending_found_in_tail(&mut self, ending: Ending<'_>, ts_ns: u64) {
        self.lost = None;
        let Some(front) = self.pending.front_mut() else {
            self.response.reset();
            return;
        };
        front.last_activity_ns = ts_ns;
        front.rows_known = false;
        match ending {
            Ending::Err(err) => {
                front.error = Some(err.to_db_error());
                self.complete_front(ts_ns);
            }
            Ending::Done { schema, more, .. } => {
                if let Some(schema) = schema {
                    self.set_database(schema);
                }
                if more {
                    self.response.next_result();
                } else {
                    self.complete_front(ts_ns);
                }
            }
        }
    }

    // ----- time and end -----

    /// Ends commands that waited longer than the timeout. Returns whether the answers'
    /// framer must restart (an answer lost in a gap ended by silence).
    pub(super) fn expire(&mut self, now_ns: u64) -> bool {
        let timeout_ns = u64::try_from(self.limits.request_timeout.as_nanos()).unwrap_or(u64::MAX);
        let mut resync = false;
        while let Some(front) = self.pending.front() {
            if now_ns.saturating_sub(front.last_activity_ns) <= timeout_ns {
                break;
            }
            if self.lost == Some(Lost::Gap) {
                // The stream went quiet after uncaptured bytes: the answer ended in them.
                self.lost = None;
                self.response.reset();
                resync = true;
                self.complete_front_in_gap();
            } else if let Some(p) = self.pending.pop_front() {
                self.finish(p, now_ns, Some(Incomplete::Timeout));
                if let Some(next) = self.pending.front() {
                    self.response.start(next.expect);
                }
            }
        }
        resync
    }

    pub(super) fn close(&mut self, ts_ns: u64) {
        if self.lost == Some(Lost::Gap) {
            self.complete_front_in_gap();
        }
        while let Some(p) = self.pending.pop_front() {
            self.finish(p, ts_ns, Some(Incomplete::ConnectionClosed));
        }
        self.lost = None;
        self.response.reset();
        self.phase = Phase::Off(Off::Closed);
    }

    /// The exchange of a command that left the queue, if it is one that is reported.
    fn finish(&mut self, p: Pending, end_ns: u64, incomplete: Option<Incomplete>) {
        if let Some(x) = p.into_exchange(self.system, self.role, end_ns, incomplete) {
            self.out.push(x);
        }
    }
}

/// The statement text: UTF-8 in place, or with invalid bytes replaced (allocates only
/// then). A character cut by the end of the kept prefix is dropped.
fn sql_str(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Packets of the client's direction.
pub(super) struct CommandSink<'a>(pub &'a mut Session);

impl PacketSink for CommandSink<'_> {
    fn keep(&self, header: Header, first: u8) -> usize {
        self.0.command_keep(header, first)
    }
    fn packet(&mut self, packet: Packet<'_>) {
        self.0.on_command_packet(&packet);
    }
}

/// Packets of the server's direction.
pub(super) struct ResponseSink<'a>(pub &'a mut Session);

impl PacketSink for ResponseSink<'_> {
    fn keep(&self, header: Header, first: u8) -> usize {
        self.0.response_keep(header, first)
    }
    fn packet(&mut self, packet: Packet<'_>) {
        self.0.on_response_packet(&packet);
    }
}

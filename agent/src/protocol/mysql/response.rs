//! The shape of the server's answer to one command, packet by packet: OK, ERR, result sets
//! (several with SERVER_MORE_RESULTS_EXISTS), LOCAL INFILE, COM_STMT_PREPARE_OK with its
//! definitions.
//!
//! Whether the client has CLIENT_DEPRECATE_EOF is read from the packets where they say it:
//! an EOF is 5 bytes and an OK that replaces it at least 7, so after column definitions a
//! 5-byte 0xfe packet is the EOF before the rows, and a longer one ends an empty result.
//! Only the EOF that may end a COM_STMT_PREPARE answer needs the capability itself.

use super::error::MysqlError;
use super::framer::Packet;
use super::reply::{
    ErrPacket, PrepareOk, eof_status, is_eof, is_eof_or_ok_fe, is_progress_report,
    parse_column_count, parse_err, parse_ok, parse_prepare_ok,
};
use super::wire::{Header, marker, status};

/// Keep the whole packet (the framer bounds it by its own limit).
const ALL: usize = usize::MAX;
/// Column definitions always start with the catalog, a length-encoded "def".
const DEFINITION_START: u8 = 0x03;

/// What kind of answer a command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// OK, ERR, LOCAL INFILE, or result sets: COM_QUERY, COM_STMT_EXECUTE.
    Results,
    /// COM_STMT_PREPARE_OK and definitions, or ERR.
    Prepare,
    /// Rows then EOF: COM_STMT_FETCH.
    Rows,
    /// Column definitions then EOF: COM_FIELD_LIST.
    Definitions,
    /// Auth packets until OK or ERR: COM_CHANGE_USER.
    Auth,
    /// One packet: COM_PING, COM_INIT_DB, COM_STMT_RESET, COM_STATISTICS, ...
    Single,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    ResultStart,
    Columns {
        left: u64,
    },
    /// The definitions are over: an EOF (if the client lacks CLIENT_DEPRECATE_EOF), a row,
    /// or the end of an empty result.
    AfterColumns,
    Rows,
    /// The client sends a file; the server then answers OK or ERR.
    Infile,
    PrepareStart,
    /// Parameter or column definitions of a prepared statement; `then` column definitions
    /// follow this group.
    PrepareDefinitions {
        left: u32,
        then: u32,
    },
    /// The EOF after a group of definitions (or, when unknown whether there is one, the
    /// next group's first definition).
    PrepareEof {
        then: u32,
    },
    Definitions,
    Auth,
    Single,
}

/// What a packet told about the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event<'a> {
    Nothing,
    Row,
    /// A packet in the rows whose first byte was not captured: most likely a row.
    RowUnread,
    Ok {
        affected_rows: u64,
        schema: Option<&'a [u8]>,
    },
    Err(ErrPacket<'a>),
    Prepared(PrepareOk),
    /// The packet makes no sense here: the exchange ends as lost sync.
    Bad(MysqlError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outcome<'a> {
    pub event: Event<'a>,
    /// The response is over.
    pub done: bool,
}

impl<'a> Outcome<'a> {
    fn more(event: Event<'a>) -> Self {
        Self { event, done: false }
    }
    fn done(event: Event<'a>) -> Self {
        Self { event, done: true }
    }
    fn bad(error: MysqlError) -> Self {
        Self::done(Event::Bad(error))
    }
}

#[derive(Debug)]
pub(super) struct ResponseReader {
    stage: Stage,
    /// A prepare answer ended where an EOF may still come (the client's CLIENT_DEPRECATE_EOF
    /// is unknown): the next packet is skipped if it is an EOF.
    swallow_eof: bool,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            stage: Stage::ResultStart,
            swallow_eof: false,
        }
    }
}

impl ResponseReader {
    /// The answer to a new command starts.
    pub(super) fn start(&mut self, expect: Expect) {
        self.stage = match expect {
            Expect::Results => Stage::ResultStart,
            Expect::Prepare => Stage::PrepareStart,
            Expect::Rows => Stage::Rows,
            Expect::Definitions => Stage::Definitions,
            Expect::Auth => Stage::Auth,
            Expect::Single => Stage::Single,
        };
    }

    /// Forgets any expectation left from a stream that lost sync.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Payload bytes needed of a packet: the whole of small packets that end or describe
    /// something, only the first byte of rows and definitions.
    pub(super) fn keep(&self, header: Header, first: u8) -> usize {
        let ends = is_eof_or_ok_fe(header, Some(first)) || first == marker::ERR;
        if self.swallow_eof && ends {
            return ALL;
        }
        match self.stage {
            Stage::ResultStart | Stage::PrepareStart | Stage::Single => ALL,
            Stage::AfterColumns | Stage::Rows | Stage::Definitions | Stage::PrepareEof { .. } => {
                if ends {
                    ALL
                } else {
                    1
                }
            }
            Stage::Infile | Stage::Auth => {
                if first == marker::OK || first == marker::ERR {
                    ALL
                } else {
                    1
                }
            }
            Stage::Columns { .. } | Stage::PrepareDefinitions { .. } => 1,
        }
    }

    /// Whether the packet is the EOF left from a prepare answer; then it is consumed.
    pub(super) fn swallow(&mut self, packet: &Packet<'_>) -> bool {
        let swallow = std::mem::take(&mut self.swallow_eof);
        swallow && is_eof(packet.header, packet.payload.first().copied())
    }

    /// While the framing is lost: whether an end found in the captured tail can be taken
    /// for the end of this answer. An ERR always ends it. An EOF does only once the rows
    /// had started: before them, it may be the EOF that separates definitions and rows
    /// (unless the client has CLIENT_DEPRECATE_EOF, which drops that one).
    pub(super) fn trusts_tail_ending(&self, is_err: bool, deprecate_eof: Option<bool>) -> bool {
        match self.stage {
            Stage::Rows => true,
            Stage::ResultStart | Stage::Columns { .. } | Stage::AfterColumns => {
                is_err || deprecate_eof == Some(true)
            }
            _ => is_err,
        }
    }

    /// An end found in the tail said another result follows.
    pub(super) fn next_result(&mut self) {
        self.stage = Stage::ResultStart;
    }

    /// Moves the answer on by one packet. `deprecate_eof` is the client's capability when
    /// its login was seen.
    pub(super) fn step<'a>(
        &mut self,
        packet: &Packet<'a>,
        deprecate_eof: Option<bool>,
    ) -> Outcome<'a> {
        let p = packet.payload;
        let first = p.first().copied();
        let h = packet.header;
        if is_progress_report(p) {
            // MariaDB reports progress of long statements between the packets of an answer.
            return Outcome::more(Event::Nothing);
        }
        match self.stage {
            Stage::ResultStart => self.result_start(packet),
            Stage::Columns { left } => {
                if first.is_some_and(|b| b != DEFINITION_START) {
                    return Outcome::bad(MysqlError::UnexpectedPacket("column definition"));
                }
                self.stage = match left {
                    0 | 1 => Stage::AfterColumns,
                    n => Stage::Columns { left: n - 1 },
                };
                Outcome::more(Event::Nothing)
            }
            Stage::AfterColumns if is_eof(h, first) => {
                let status = eof_status(p).unwrap_or(0);
                if status & status::CURSOR_EXISTS != 0 {
                    // The rows wait for COM_STMT_FETCH.
                    return Outcome::done(Event::Nothing);
                }
                self.stage = Stage::Rows;
                Outcome::more(Event::Nothing)
            }
            Stage::AfterColumns | Stage::Rows => {
                self.stage = Stage::Rows;
                self.rows(packet)
            }
            Stage::Infile => match first {
                Some(marker::OK) | Some(marker::ERR) => self.result_start(packet),
                _ => Outcome::bad(MysqlError::UnexpectedPacket("LOCAL INFILE answer")),
            },
            Stage::PrepareStart => self.prepare_start(packet),
            Stage::PrepareDefinitions { left, then } => {
                if first.is_some_and(|b| b != DEFINITION_START) {
                    return Outcome::bad(MysqlError::UnexpectedPacket("statement definition"));
                }
                if left > 1 {
                    self.stage = Stage::PrepareDefinitions {
                        left: left - 1,
                        then,
                    };
                    Outcome::more(Event::Nothing)
                } else {
                    self.after_definitions(then, deprecate_eof, Event::Nothing)
                }
            }
            Stage::PrepareEof { then } => {
                if is_eof(h, first) {
                    return self.after_definitions(then, Some(true), Event::Nothing);
                }
                if deprecate_eof.is_none() && then > 0 && first == Some(DEFINITION_START) {
                    // No EOF after all: this is the next group's first definition.
                    self.stage = Stage::PrepareDefinitions {
                        left: then,
                        then: 0,
                    };
                    return self.step(packet, Some(true));
                }
                Outcome::bad(MysqlError::UnexpectedPacket("EOF after definitions"))
            }
            Stage::Definitions => match first {
                _ if is_eof_or_ok_fe(h, first) => Outcome::done(Event::Nothing),
                Some(marker::ERR) => Outcome::done(err_event(p)),
                _ => Outcome::more(Event::Nothing),
            },
            Stage::Auth => match first {
                Some(marker::OK) => Outcome::done(ok_event(p)),
                Some(marker::ERR) => Outcome::done(err_event(p)),
                // Auth switch, more auth data: the exchange goes on.
                _ => Outcome::more(Event::Nothing),
            },
            Stage::Single => match first {
                Some(marker::OK) => Outcome::done(ok_event(p)),
                Some(marker::ERR) => Outcome::done(err_event(p)),
                // EOF (COM_SET_OPTION, COM_DEBUG) or a string (COM_STATISTICS).
                _ => Outcome::done(Event::Nothing),
            },
        }
    }

    fn result_start<'a>(&mut self, packet: &Packet<'a>) -> Outcome<'a> {
        let p = packet.payload;
        match p.first().copied() {
            None => Outcome::bad(MysqlError::CutPacket),
            Some(marker::OK) => self.ok_ends_result(p),
            Some(marker::ERR) => Outcome::done(err_event(p)),
            Some(marker::LOCAL_INFILE) => {
                self.stage = Stage::Infile;
                Outcome::more(Event::Nothing)
            }
            Some(marker::EOF) if packet.header.len < 9 => self.ok_ends_result(p),
            Some(_) => match parse_column_count(p, packet.header.len) {
                Some(count) if count.definitions_follow => {
                    self.stage = Stage::Columns {
                        left: count.columns,
                    };
                    Outcome::more(Event::Nothing)
                }
                Some(_) => {
                    self.stage = Stage::AfterColumns;
                    Outcome::more(Event::Nothing)
                }
                None if packet.cut => Outcome::bad(MysqlError::CutPacket),
                None => Outcome::bad(MysqlError::UnexpectedPacket("result set start")),
            },
        }
    }

    /// An OK (or EOF) that ends one result: the next result starts if the server says so.
    fn ok_ends_result<'a>(&mut self, p: &'a [u8]) -> Outcome<'a> {
        let (event, status) = match (p.first(), parse_ok(p)) {
            (Some(&marker::EOF), _) if p.len() < 7 => (Event::Nothing, eof_status(p)),
            (_, Some(ok)) => (
                Event::Ok {
                    affected_rows: ok.affected_rows,
                    schema: ok.schema,
                },
                Some(ok.status),
            ),
            // Cut short: its flags are unknown, so take it as the last result.
            (_, None) => (Event::Nothing, None),
        };
        let more = status.is_some_and(|s| s & status::MORE_RESULTS_EXISTS != 0);
        if more {
            self.stage = Stage::ResultStart;
            Outcome::more(event)
        } else {
            Outcome::done(event)
        }
    }

    fn rows<'a>(&mut self, packet: &Packet<'a>) -> Outcome<'a> {
        let p = packet.payload;
        let first = p.first().copied();
        if is_eof_or_ok_fe(packet.header, first) {
            return self.ok_ends_result(p);
        }
        match first {
            Some(marker::ERR) => Outcome::done(err_event(p)),
            Some(_) => Outcome::more(Event::Row),
            None => Outcome::more(Event::RowUnread),
        }
    }

    fn prepare_start<'a>(&mut self, packet: &Packet<'a>) -> Outcome<'a> {
        let p = packet.payload;
        match p.first().copied() {
            Some(marker::ERR) => Outcome::done(err_event(p)),
            Some(marker::OK) => match parse_prepare_ok(p) {
                Some(ok) => {
                    let event = Event::Prepared(ok);
                    let (params, columns) = if ok.definitions_follow {
                        (u32::from(ok.params), u32::from(ok.columns))
                    } else {
                        (0, 0)
                    };
                    match (params, columns) {
                        (0, 0) => Outcome::done(event),
                        (0, c) => {
                            self.stage = Stage::PrepareDefinitions { left: c, then: 0 };
                            Outcome::more(event)
                        }
                        (n, c) => {
                            self.stage = Stage::PrepareDefinitions { left: n, then: c };
                            Outcome::more(event)
                        }
                    }
                }
                None => Outcome::bad(MysqlError::CutPacket),
            },
            _ => Outcome::bad(MysqlError::UnexpectedPacket("prepare answer")),
        }
    }

    /// A group of definitions ended: an EOF follows unless the client has
    /// CLIENT_DEPRECATE_EOF, then the column definitions if any.
    fn after_definitions<'a>(
        &mut self,
        then: u32,
        deprecate_eof: Option<bool>,
        event: Event<'a>,
    ) -> Outcome<'a> {
        match (deprecate_eof, then) {
            (Some(true), 0) => Outcome::done(event),
            (Some(true), n) => {
                self.stage = Stage::PrepareDefinitions { left: n, then: 0 };
                Outcome::more(event)
            }
            (Some(false), _) | (None, 1..) => {
                self.stage = Stage::PrepareEof { then };
                Outcome::more(event)
            }
            (None, 0) => {
                self.swallow_eof = true;
                Outcome::done(event)
            }
        }
    }
}

fn ok_event(p: &[u8]) -> Event<'_> {
    match parse_ok(p) {
        Some(ok) => Event::Ok {
            affected_rows: ok.affected_rows,
            schema: ok.schema,
        },
        None => Event::Nothing,
    }
}

fn err_event(p: &[u8]) -> Event<'_> {
    match parse_err(p) {
        Some(err) => Event::Err(err),
        // Cut after the marker: an error all the same, of unknown number.
        None => Event::Err(ErrPacket {
            code: 0,
            message: &[],
        }),
    }
}

//! The PostgreSQL parser of one connection: both byte streams in, exchanges out.

use super::PostgresStats;
use super::conversation::{Action, Conversation};
use super::framer::{Framer, Mode, Step};
use super::frontend;
use super::resync::ReadyScanner;
use super::wire::{Side, length_fits};
use crate::protocol::{Chunk, Direction, Exchange, ParserLimits, ProtocolParser, Role};

/// Where the connection stood when the parser first saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// At its start: the next frontend bytes are a start-up packet.
    Startup,
    /// Already open (sonde started later): typed messages both ways.
    MidStream,
}

pub struct PostgresParser {
    limits: ParserLimits,
    /// The direction the client's messages travel, seen from the watched process.
    frontend: Direction,
    /// Indexed by `Side::index`.
    framers: [Framer; 2],
    scanner: ReadyScanner,
    conv: Conversation,
}

impl PostgresParser {
    /// A parser for a connection whose client messages travel `frontend`: written by the
    /// watched process (Egress) when it is the client, read (Ingress) when it is the server.
    pub fn new(limits: ParserLimits, frontend: Direction, opening: Opening) -> Self {
        let role = match frontend {
            Direction::Egress => Role::Client,
            Direction::Ingress => Role::Server,
        };
        let frontend_mode = match opening {
            Opening::Startup => Mode::Startup,
            Opening::MidStream => Mode::Typed,
        };
        Self {
            limits,
            frontend,
            framers: [
                Framer::new(Side::Frontend, frontend_mode),
                Framer::new(Side::Backend, Mode::Typed),
            ],
            scanner: ReadyScanner::new(limits.max_header_bytes),
            conv: Conversation::new(role, limits),
        }
    }

    pub fn stats(&self) -> PostgresStats {
        self.conv.stats()
    }

    /// Operations waiting for answers (at most `max_pending`).
    pub fn pending_len(&self) -> usize {
        self.conv.pending_len()
    }

    /// Named prepared statements known on this connection.
    pub fn statements_len(&self) -> usize {
        self.conv.statements_len()
    }

    /// The database, once the start-up showed it.
    pub fn namespace(&self) -> Option<&str> {
        self.conv.namespace()
    }

    /// Bytes of message data held: kept message starts (each at most `max_header_bytes`)
    /// and the resynchronisation window.
    pub fn held_bytes(&self) -> usize {
        self.framers.iter().map(Framer::held_bytes).sum::<usize>() + self.scanner.held_bytes()
    }

    fn side_of(&self, direction: Direction) -> Side {
        if direction == self.frontend {
            Side::Frontend
        } else {
            Side::Backend
        }
    }

    fn apply(&mut self, action: Action) {
        let [front, back] = &mut self.framers;
        match action {
            Action::None => {}
            Action::AwaitEncryptionAnswer => back.mode = Mode::EncryptionAnswer,
            Action::StartupDone => front.mode = Mode::Typed,
            Action::EncryptionDeclined => back.mode = Mode::Typed,
            Action::Stop => {
                front.mode = Mode::Off;
                back.mode = Mode::Off;
                self.scanner.release();
            }
        }
    }

    fn feed_chunk(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        let side = self.side_of(chunk.direction);
        let s = side.index();
        if side == Side::Backend && chunk.len > 0 {
            self.conv.saw_backend(chunk.ts_ns);
        }
        if side == Side::Frontend && self.framers[s].mode == Mode::Lost {
            // A client starts its writes with a message: look again where a write starts.
            if !is_frontend_resync_point(chunk.data) {
                return;
            }
            self.framers[s].resync();
        }
        let mut rest = chunk.data;
        while !rest.is_empty() {
            match self.framers[s].mode {
                Mode::Off => return,
                Mode::Lost if side == Side::Frontend => break,
                Mode::Lost => match self.scanner.scan(rest) {
                    Some(hit) => {
                        rest = rest.get(hit.consumed..).unwrap_or_default();
                        self.framers[s].resync();
                        self.conv.backend_found(hit.before, chunk.ts_ns, out);
                    }
                    None => rest = &[],
                },
                _ => {
                    let limit = self.limits.max_header_bytes;
                    let (used, step) = self.framers[s].next(rest, chunk.ts_ns, chunk.tid, limit);
                    rest = rest.get(used..).unwrap_or_default();
                    let action = match step {
                        Step::Frame(f) => match side {
                            Side::Frontend => self.conv.on_frontend(&f, out),
                            Side::Backend => self.conv.on_backend(&f, out),
                        },
                        Step::Continue => Action::None,
                        Step::Lost { error, header } => {
                            match side {
                                Side::Frontend => self.conv.frontend_lost(error, chunk.ts_ns, out),
                                Side::Backend => {
                                    self.conv.backend_lost(error);
                                    self.scanner.reset();
                                    // Those bytes were no header; they may be the start of
                                    // what the scan looks for.
                                    if let Some(hit) = self.scanner.scan(header.as_slice()) {
                                        self.framers[s].resync();
                                        self.conv.backend_found(hit.before, chunk.ts_ns, out);
                                    }
                                }
                            }
                            Action::None
                        }
                    };
                    self.apply(action);
                }
            }
        }
        let gap = u64::from(chunk.len).saturating_sub(chunk.data.len() as u64);
        if gap > 0 {
            self.skip_gap(side, gap, chunk.ts_ns, out);
        }
    }

    fn skip_gap(&mut self, side: Side, gap: u64, ts_ns: u64, out: &mut Vec<Exchange>) {
        let s = side.index();
        if self.framers[s].mode == Mode::Lost {
            if side == Side::Backend {
                self.scanner.reset();
            }
            return;
        }
        let step = self.framers[s].skip_gap(gap);
        let action = match (&step.frame, side) {
            (Some(f), Side::Frontend) => self.conv.on_frontend(f, out),
            (Some(f), Side::Backend) => self.conv.on_backend(f, out),
            (None, _) => Action::None,
        };
        let lost = step.lost;
        self.apply(action);
        if let Some(error) = lost {
            match side {
                Side::Frontend => self.conv.frontend_lost(error, ts_ns, out),
                Side::Backend => {
                    self.conv.backend_lost(error);
                    self.scanner.reset();
                }
            }
        }
    }
}

/// Whether a chunk of a lost frontend stream starts with a message that starts an operation:
/// a known type, a length that fits it and, when the message is whole in the chunk, a body
/// that is exactly such a message.
pub(super) fn is_frontend_resync_point(data: &[u8]) -> bool {
    let Some((&tag, rest)) = data.split_first() else {
        return false;
    };
    let Some(len) = super::wire::be_u32(rest) else {
        return false;
    };
    if !frontend::starts_operation(tag) || !length_fits(Side::Frontend, tag, len) {
        return false;
    }
    match data.get(5..len as usize + 1) {
        Some(body) => frontend::body_is_valid(tag, body),
        None => true,
    }
}

impl ProtocolParser for PostgresParser {
    fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        self.feed_chunk(chunk, out);
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        self.conv.expire(now_ns, out);
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        self.conv.close(ts_ns, out);
    }

    fn makes_spans(&self) -> bool {
        self.conv.role() == Role::Client
    }
}

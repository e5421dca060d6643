//! PostgreSQL frontend/backend protocol 3: start-up, simple and extended queries, COPY,
//! errors, both directions of one connection paired into exchanges.
//!
//! Feed both directions in syscall order. The parser keeps only message starts it reads
//! (bounded by `max_header_bytes`); rows, copy data and every password, SASL or GSS message
//! are skipped by count and never copied.
//!
//! Decisions where the protocol or the capture leaves room:
//! - `db.namespace` is the StartupMessage's `database` (the user name when it has none). On a
//!   connection open before sonde it stays unknown (None).
//! - SSLRequest or GSSENCRequest answered `S`/`G`: the rest is encrypted and the connection
//!   is not read further. Answered `N`: the start-up follows in plaintext. A CancelRequest
//!   connection makes no exchange (the cancelled query ends on its own connection, usually
//!   with SQLSTATE 57014).
//! - A simple Query makes one exchange per statement (`a; b; c` gives three, split by the
//!   tokenizer), each with its own operation, table, rows and outcome. The first starts at
//!   the Query's chunk, each next one where the one before ended. After an error the server
//!   skips the rest; those statements make none.
//! - Extended protocol: each Execute is one exchange, with the text of the statement its
//!   portal was bound to, looked up by name (at most [`MAX_STATEMENTS`] named statements per
//!   connection, least recently used dropped first, counted). It starts at the Bind's chunk
//!   and ends at its CommandComplete, PortalSuspended or ErrorResponse. Parse, Bind,
//!   Describe and Sync alone make none, but an error answering a group that executes
//!   nothing (a statement that fails to prepare) makes one for that Parse's statement.
//!   An Execute of a statement prepared before sonde started has no operation, table or
//!   text (its span is named after the system), rather than a guess.
//! - `rows` comes from the CommandComplete tag (`SELECT 5`, `INSERT 0 1`, `COPY 3`), or the
//!   DataRows counted for a PortalSuspended.
//! - Lost boundaries. The capture keeps the first bytes of each syscall, so a large result
//!   read in big pieces loses message headers. The backend stream then searches the
//!   captured bytes for ReadyForQuery and resumes after it; the group it ends gets the
//!   outcome read just before it if it owed one span, else its spans end as `Desync`. When
//!   the client sends its next group, or Terminate, first, the groups before it end as
//!   `Desync` at the time of the last server bytes. A lost frontend stream picks up again at
//!   the next chunk that starts with a well-formed message; an Execute lost right after a
//!   Bind is inferred and reported if its answer comes.
//! - Bounds: at most `max_pending` ops wait per connection (Executes, Query statements'
//!   groups and Syncs); past that new ops are not recorded (counted) until the server has
//!   answered the refused ones, so that answers are never paired with the wrong op.

mod backend;
mod conversation;
mod detect;
mod error;
mod exchange;
mod framer;
mod frontend;
mod parser;
mod pending;
mod resync;
mod startup;
mod statements;
#[cfg(test)]
mod tests;
mod wire;

pub use detect::{classify, detect};
pub use error::PgError;
pub use parser::{Opening, PostgresParser};
pub use statements::{MAX_PORTALS, MAX_STATEMENTS};
pub use wire::Side;

/// Counters of what the parser dropped or could not make sense of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostgresStats {
    /// Times the frontend or backend stream lost its message boundaries.
    pub frontend_desyncs: u64,
    pub backend_desyncs: u64,
    /// Times a lost backend stream was found again at a ReadyForQuery.
    pub backend_resyncs: u64,
    /// Answers (CommandComplete, ErrorResponse, ...) no waiting op matched.
    pub unmatched_responses: u64,
    /// Ops (Executes, Queries, Syncs) not recorded because `max_pending` were waiting.
    pub pending_overflows: u64,
    /// Named statements dropped to stay within [`MAX_STATEMENTS`].
    pub statements_evicted: u64,
    /// Binds of statements this connection never showed being prepared.
    pub unknown_statements: u64,
    /// Statements or Executes the server skipped after an error in their group.
    pub skipped_after_error: u64,
    /// Ops that ended without any answer of their own.
    pub unanswered: u64,
    pub cancel_requests: u64,
    /// The connection switched to TLS or GSS encryption.
    pub encrypted: bool,
    pub last_error: Option<PgError>,
}

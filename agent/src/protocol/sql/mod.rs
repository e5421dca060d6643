//! SQL text for database spans: the statement with its literals replaced by `?`, its
//! operation (`SELECT`, `INSERT`, ...) and its main table, from the `sqlparser` crate's
//! tokenizer (dialect-aware, never its parser: statements sonde cannot parse still get a
//! summary).
//!
//! Decisions:
//! - Literals become `?`: numbers (with a unary minus), strings of every kind (`'..'`,
//!   `E'..'`, `$$..$$`, `X'..'`, `B'..'`, `N'..'`, MySQL `"..."`), hex and bit strings.
//!   `TRUE`, `FALSE` and `NULL` stay as written, and so do placeholders (`$1`, `?`).
//! - A parenthesised list of literals after `IN` becomes one `(?)`, so `IN (1, 2)` and
//!   `IN (1, 2, 3)` give the same text (one series in the metrics, not one per list length).
//! - Comments are dropped (they may carry data, and they would split one statement into
//!   several texts). Runs of whitespace become one space; a trailing `;` is dropped.
//! - The text is cut at [`MAX_TEXT_BYTES`], at a char boundary. A tail the tokenizer cannot
//!   read (an unterminated string, often a statement cut by the capture) becomes one `?`.
//! - `operation` is the statement's first keyword, upper case; after a `WITH` clause it is the
//!   main statement's keyword. A first word that is not an SQL keyword gives `None`.
//! - `collection` is the main table as written (schema prefix and quotes kept): `FROM` for
//!   SELECT and DELETE (the first table of the top-level FROM, or of the subquery it opens),
//!   `INTO` for INSERT, REPLACE and MERGE, the table for UPDATE, TRUNCATE and LOCK, the
//!   object for CREATE/ALTER/DROP TABLE, VIEW, SEQUENCE and the table of CREATE INDEX .. ON,
//!   the table (or the query's table) for COPY. None otherwise (`SELECT 1`).

mod analyze;
mod cache;
mod normalize;
mod split;
#[cfg(test)]
mod tests;
mod tokens;

pub use cache::{SummaryCache, summarize_shared};
pub use split::split_statements;

/// Which SQL dialect the tokenizer follows (quotes, comments, escapes differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlDialect {
    Postgres,
    MySql,
}

/// What a span reports about one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlSummary {
    /// `SELECT`, `INSERT`, `CREATE`, ... upper case.
    pub operation: Option<String>,
    /// The main table, as written (`public.items`, `"Items"`).
    pub collection: Option<String>,
    /// The statement with literals replaced by `?`, whitespace collapsed, comments dropped,
    /// at most [`MAX_TEXT_BYTES`] bytes.
    pub text: String,
}

/// Longest `SqlSummary::text`, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;

/// Summarises one statement (or the first of several). Never panics, whatever `sql` holds.
pub fn summarize(sql: &str, dialect: SqlDialect) -> SqlSummary {
    let toks = tokens::tokenize(sql, dialect);
    let significant: Vec<&tokens::Tok> = toks.iter().filter(|t| !t.is_whitespace()).collect();
    SqlSummary {
        operation: analyze::operation(&significant),
        collection: analyze::collection(&significant),
        text: normalize::render(&toks),
    }
}

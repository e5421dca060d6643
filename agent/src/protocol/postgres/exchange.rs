//! The exchanges the conversation reports, and the SQL summaries they carry.

use super::pending::QueryStatements;
use crate::protocol::sql::{SqlDialect, SqlSummary, split_statements, summarize_shared};
use crate::protocol::{DbExchange, DbSystem, Role};

/// The exchange of one statement run (its outcome fields still empty).
pub(super) fn new_exchange(
    role: Role,
    namespace: &Option<String>,
    statement: Option<&SqlSummary>,
    start_ns: u64,
    end_ns: u64,
    tid: u32,
) -> DbExchange {
    DbExchange {
        system: DbSystem::Postgresql,
        role,
        namespace: namespace.clone(),
        operation: statement.and_then(|s| s.operation.clone()),
        collection: statement.and_then(|s| s.collection.clone()),
        query_text: statement
            .filter(|s| !s.text.is_empty())
            .map(|s| s.text.clone()),
        error: None,
        start_ns,
        end_ns: end_ns.max(start_ns),
        tid,
        rows: None,
        incomplete: None,
    }
}

/// The statements of a simple Query's text, summarised (from the shared cache). Only a text
/// with a `;` is split, so the common one-statement query is not tokenized twice.
pub(super) fn query_statements(text: &str) -> QueryStatements {
    if !text.contains(';') {
        if text.trim().is_empty() {
            return QueryStatements::None;
        }
        return QueryStatements::One(summarize_shared(text, SqlDialect::Postgres));
    }
    let mut pieces = split_statements(text, SqlDialect::Postgres);
    match pieces.len() {
        0 => QueryStatements::None,
        1 => QueryStatements::One(summarize_shared(pieces.remove(0), SqlDialect::Postgres)),
        _ => QueryStatements::Many(
            pieces
                .into_iter()
                .map(|p| summarize_shared(p, SqlDialect::Postgres))
                .collect(),
        ),
    }
}

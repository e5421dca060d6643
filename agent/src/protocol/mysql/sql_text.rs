//! The one place that talks to the shared SQL summariser: statement text in, operation,
//! collection and text with literals replaced by `?` out.
//!
//! A COM_QUERY may hold several statements (CLIENT_MULTI_STATEMENTS). It is one operation
//! on the wire, so one exchange: as the semantic conventions name batches, its operation is
//! `BATCH {op}` when every statement has the same one (else `BATCH`), its collection the
//! common one if any, and its text the statements' texts joined by "; ".

use std::sync::Arc;

use crate::protocol::sql::{SqlDialect, SqlSummary, split_statements, summarize_shared};

/// What an exchange reports of a statement.
pub(super) type Summary = SqlSummary;

/// Summarises `sql` (a statement, or several), from the process-wide cache.
pub(super) fn summarize(sql: &str) -> Arc<Summary> {
    let summary = summarize_shared(sql, SqlDialect::MySql);
    // Literals are `?` and comments gone: a `;` left in the text separates statements.
    if !summary.text.contains(';') {
        return summary;
    }
    let statements = split_statements(sql, SqlDialect::MySql);
    if statements.len() <= 1 {
        return summary;
    }
    let parts: Vec<Arc<Summary>> = statements
        .iter()
        .map(|s| summarize_shared(s, SqlDialect::MySql))
        .collect();
    Arc::new(batch(&parts))
}

fn batch(parts: &[Arc<Summary>]) -> Summary {
    let common = |field: fn(&Summary) -> &Option<String>| {
        let first = field(parts.first()?);
        parts
            .iter()
            .all(|p| field(p) == first)
            .then(|| first.clone())
            .flatten()
    };
    let operation = match common(|p| &p.operation) {
        Some(op) => format!("BATCH {op}"),
        None => "BATCH".to_owned(),
    };
    let texts: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
    Summary {
        operation: Some(operation),
        collection: common(|p| &p.collection),
        text: texts.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement() {
        let s = summarize("SELECT * FROM items WHERE id = 7");
        assert_eq!(s.operation.as_deref(), Some("SELECT"));
        assert_eq!(s.collection.as_deref(), Some("items"));
        assert_eq!(s.text, "SELECT * FROM items WHERE id = ?");
    }

    #[test]
    fn several_statements_are_a_batch() {
        let s = summarize("SELECT id FROM items WHERE id = 7; UPDATE items SET name = 'x'");
        assert_eq!(s.operation.as_deref(), Some("BATCH"));
        assert_eq!(s.collection.as_deref(), Some("items"));
        assert_eq!(
            s.text,
            "SELECT id FROM items WHERE id = ?; UPDATE items SET name = ?"
        );
        let same = summarize("INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)");
        assert_eq!(same.operation.as_deref(), Some("BATCH INSERT"));
        assert_eq!(same.collection, None);
    }
}

//! Fuzzes the SQL summary: any text, in either dialect, gives a bounded summary without a
//! panic, and splitting gives pieces of the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde::protocol::sql::{MAX_TEXT_BYTES, SqlDialect, split_statements, summarize};

fuzz_target!(|input: &[u8]| {
    let Some((&which, text)) = input.split_first() else {
        return;
    };
    let Ok(sql) = std::str::from_utf8(text) else {
        return;
    };
    let dialect = if which & 1 == 0 {
        SqlDialect::Postgres
    } else {
        SqlDialect::MySql
    };
    let summary = summarize(sql, dialect);
    assert!(summary.text.len() <= MAX_TEXT_BYTES);
    if let Some(op) = &summary.operation {
        assert!(!op.is_empty() && op.chars().all(|c| !c.is_lowercase()));
    }
    for piece in split_statements(sql, dialect) {
        assert!(!piece.is_empty() && sql.contains(piece));
    }
});

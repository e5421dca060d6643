use super::*;

fn pg(sql: &str) -> SqlSummary {
    summarize(sql, SqlDialect::Postgres)
}

fn my(sql: &str) -> SqlSummary {
    summarize(sql, SqlDialect::MySql)
}

fn text(sql: &str) -> String {
    pg(sql).text
}

#[test]
fn numbers_and_strings_become_placeholders() {
    assert_eq!(
        text("SELECT * FROM items WHERE id = 42 AND name = 'bob'"),
        "SELECT * FROM items WHERE id = ? AND name = ?"
    );
    assert_eq!(text("SELECT 1.5e3, .5, 0.25"), "SELECT ?, ?, ?");
}

#[test]
fn postgres_string_forms() {
    assert_eq!(text("SELECT E'it\\'s', 'a''b'"), "SELECT ?, ?");
    assert_eq!(text("SELECT $$semi;colon$$, $tag$x$tag$"), "SELECT ?, ?");
    assert_eq!(
        text("SELECT X'1F', B'101', U&'d\\0061t', N'x'"),
        "SELECT ?, ?, ?, ?"
    );
}

#[test]
fn placeholders_stay() {
    assert_eq!(
        text("SELECT id, name FROM items WHERE id = $1 AND name = $2"),
        "SELECT id, name FROM items WHERE id = $1 AND name = $2"
    );
    assert_eq!(
        my("SELECT * FROM t WHERE a = ?").text,
        "SELECT * FROM t WHERE a = ?"
    );
}

#[test]
fn negative_numbers_and_subtraction() {
    assert_eq!(
        text("SELECT * FROM t WHERE x = -5"),
        "SELECT * FROM t WHERE x = ?"
    );
    assert_eq!(text("VALUES (-1, -2.5)"), "VALUES (?, ?)");
    assert_eq!(text("SELECT a - 5 FROM t"), "SELECT a - ? FROM t");
    assert_eq!(text("SELECT a-5 FROM t"), "SELECT a-? FROM t");
}

#[test]
fn in_lists_collapse() {
    assert_eq!(
        text("SELECT * FROM t WHERE id IN (1, 2, 3)"),
        "SELECT * FROM t WHERE id IN (?)"
    );
    assert_eq!(
        text("SELECT * FROM t WHERE id in ('a','b')"),
        "SELECT * FROM t WHERE id IN (?)"
    );
    assert_eq!(
        text("SELECT * FROM t WHERE id IN (-1)"),
        "SELECT * FROM t WHERE id IN (?)"
    );
    // Not only literals: kept token by token.
    assert_eq!(
        text("SELECT * FROM t WHERE id IN ($1, $2)"),
        "SELECT * FROM t WHERE id IN ($1, $2)"
    );
    assert_eq!(
        text("SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = 3)"),
        "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = ?)"
    );
}

#[test]
fn booleans_and_null_stay() {
    assert_eq!(
        text("UPDATE t SET a = TRUE, b = false, c = NULL WHERE d IS NOT NULL"),
        "UPDATE t SET a = TRUE, b = false, c = NULL WHERE d IS NOT NULL"
    );
}

#[test]
fn comments_dropped_and_whitespace_collapsed() {
    assert_eq!(
        text("  SELECT  *\n\t FROM items -- the items\n WHERE /* why */ id = 7 ;  "),
        "SELECT * FROM items WHERE id = ?"
    );
    assert_eq!(my("SELECT 1 # mysql comment\n").text, "SELECT ?");
}

#[test]
fn operation_and_collection() {
    let s = pg("SELECT id, name FROM items WHERE id = 42");
    assert_eq!(s.operation.as_deref(), Some("SELECT"));
    assert_eq!(s.collection.as_deref(), Some("items"));
    let cases = [
        (
            "insert into items (id, name) values (1, 'a')",
            "INSERT",
            Some("items"),
        ),
        (
            "UPDATE items SET name = 'x' WHERE id = 1",
            "UPDATE",
            Some("items"),
        ),
        ("UPDATE ONLY items SET name = 'x'", "UPDATE", Some("items")),
        ("DELETE FROM items WHERE id = 1", "DELETE", Some("items")),
        (
            "CREATE TABLE items (id int, name text)",
            "CREATE",
            Some("items"),
        ),
        (
            "CREATE TEMP TABLE IF NOT EXISTS t1 (a int)",
            "CREATE",
            Some("t1"),
        ),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY i ON items (id)",
            "CREATE",
            Some("items"),
        ),
        ("DROP TABLE IF EXISTS items", "DROP", Some("items")),
        (
            "ALTER TABLE public.items ADD COLUMN x int",
            "ALTER",
            Some("public.items"),
        ),
        ("TRUNCATE TABLE items", "TRUNCATE", Some("items")),
        ("COPY items TO STDOUT", "COPY", Some("items")),
        (
            "COPY (SELECT * FROM items) TO STDOUT",
            "COPY",
            Some("items"),
        ),
        ("SELECT 1", "SELECT", None),
        ("SELECT now()", "SELECT", None),
        ("SELECT * FROM generate_series(1, 3)", "SELECT", None),
        ("SELECT * FROM public.items", "SELECT", Some("public.items")),
        ("SELECT * FROM \"Items\"", "SELECT", Some("\"Items\"")),
        (
            "SELECT extract(year FROM ts) FROM events",
            "SELECT",
            Some("events"),
        ),
        (
            "SELECT * FROM (SELECT * FROM inner_t) x",
            "SELECT",
            Some("inner_t"),
        ),
        (
            "(SELECT a FROM t1) UNION (SELECT a FROM t2)",
            "SELECT",
            Some("t1"),
        ),
        ("begin", "BEGIN", None),
        ("COMMIT", "COMMIT", None),
        ("SET search_path TO public", "SET", None),
        (
            "MERGE INTO items USING src ON true WHEN MATCHED THEN DELETE",
            "MERGE",
            Some("items"),
        ),
    ];
    for (sql, op, coll) in cases {
        let s = pg(sql);
        assert_eq!(s.operation.as_deref(), Some(op), "{sql}");
        assert_eq!(s.collection.as_deref(), coll, "{sql}");
    }
}

#[test]
fn common_table_expressions_report_the_main_statement() {
    let s = pg(
        "WITH recent AS (SELECT * FROM orders WHERE ts > 5), x(a) AS MATERIALIZED \
                (SELECT 1) SELECT * FROM items JOIN recent USING (id)",
    );
    assert_eq!(s.operation.as_deref(), Some("SELECT"));
    assert_eq!(s.collection.as_deref(), Some("items"));
    let s = pg("WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved");
    assert_eq!(s.operation.as_deref(), Some("INSERT"));
    assert_eq!(s.collection.as_deref(), Some("b"));
    // Cut before the main statement: the WITH is all that is known.
    assert_eq!(pg("WITH x AS (SELECT").operation.as_deref(), Some("WITH"));
}

#[test]
fn mysql_forms() {
    let s = my("INSERT IGNORE INTO `shop`.`items` VALUES (1, \"a\", 0x1F)");
    assert_eq!(s.operation.as_deref(), Some("INSERT"));
    assert_eq!(s.collection.as_deref(), Some("`shop`.`items`"));
    assert_eq!(s.text, "INSERT IGNORE INTO `shop`.`items` VALUES (?, ?, ?)");
    let s = my("REPLACE items SET a = 'x'");
    assert_eq!(s.operation.as_deref(), Some("REPLACE"));
    assert_eq!(s.collection.as_deref(), Some("items"));
}

#[test]
fn not_sql_gives_no_operation() {
    assert_eq!(pg("hello world").operation, None);
    assert_eq!(pg("").operation, None);
    assert_eq!(pg("").text, "");
    assert_eq!(pg("   -- only a comment").text, "");
}

#[test]
fn cut_texts_hide_the_unterminated_literal() {
    let s = pg("SELECT * FROM items WHERE name = 'secret val");
    assert_eq!(s.text, "SELECT * FROM items WHERE name = ?");
    assert_eq!(s.collection.as_deref(), Some("items"));
    assert_eq!(text("SELECT 1 /* unterminated"), "SELECT ? ?");
}

#[test]
fn text_is_bounded_at_a_char_boundary() {
    let long = format!("SELECT {} FROM t", "é".repeat(5000));
    let s = pg(&long);
    assert!(s.text.len() <= MAX_TEXT_BYTES);
    assert!(s.text.starts_with("SELECT éé"));
}

#[test]
fn split_respects_tokens() {
    let sql = "SELECT 'a;b'; -- c;\n SELECT $$x;y$$ ;; /* ; */ INSERT INTO t VALUES (1);";
    assert_eq!(
        split_statements(sql, SqlDialect::Postgres),
        ["SELECT 'a;b'", "SELECT $$x;y$$", "INSERT INTO t VALUES (1)"]
    );
    assert_eq!(
        split_statements("SELECT 1", SqlDialect::Postgres),
        ["SELECT 1"]
    );
    assert!(split_statements("  ; -- x", SqlDialect::Postgres).is_empty());
    assert_eq!(
        split_statements("COPY t FROM STDIN; SELECT 2", SqlDialect::Postgres),
        ["COPY t FROM STDIN", "SELECT 2"]
    );
    assert_eq!(
        split_statements("COPY t FROM STDIN;\nSELECT 2;\n", SqlDialect::Postgres),
        ["COPY t FROM STDIN", "SELECT 2"]
    );
    assert_eq!(
        split_statements("SELECT 1; SELECT 'open", SqlDialect::Postgres),
        ["SELECT 1", "SELECT 'open"]
    );
}

#[test]
fn cache_returns_the_same_summary_and_stays_bounded() {
    let mut cache = SummaryCache::new(2);
    let a = cache.get_or_insert("SELECT 1", SqlDialect::Postgres);
    let b = cache.get_or_insert("SELECT 1", SqlDialect::Postgres);
    assert!(Arc::ptr_eq(&a, &b));
    cache.get_or_insert("SELECT 2", SqlDialect::Postgres);
    cache.get_or_insert("SELECT 3", SqlDialect::Postgres);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.counts(), (1, 3));
    // Same text, other dialect: summarised again.
    let m = cache.get_or_insert("SELECT 3", SqlDialect::MySql);
    assert_eq!(m.text, "SELECT ?");
    assert_eq!(cache.counts(), (1, 4));
    let shared = summarize_shared("SELECT 9", SqlDialect::Postgres);
    assert_eq!(shared.text, "SELECT ?");
}

#[test]
fn odd_input_never_panics() {
    for sql in [
        "\0\0\0",
        "'",
        "\"",
        "`",
        "$$",
        "$a$",
        "E'\\",
        "/*",
        "[",
        "(((((",
        ")))))",
        "WITH",
        "WITH a AS",
        "SELECT FROM",
        "INSERT INTO",
        "COPY (",
        "-",
        "- -1",
        "IN (",
        "x IN (1,",
        "é\u{feff}\u{10ffff}",
    ] {
        for dialect in [SqlDialect::Postgres, SqlDialect::MySql] {
            let _ = summarize(sql, dialect);
            let _ = split_statements(sql, dialect);
        }
    }
}

use std::sync::Arc;

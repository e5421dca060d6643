//! Golden fixtures: recorded byte streams of real PostgreSQL conversations (psql, pgbench, a
//! raw protocol client), replayed through detection and the parser, must give exactly the
//! exchanges in the matching `.expected` file.
//! `SONDE_BLESS=1 cargo test -p sonde --test postgres_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod fixture_stream;
mod pg_fixture;

use fixture_stream::{Step, check_golden, check_required, fixtures};
use pg_fixture::{Postgres, run_fixture};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    check_golden::<Postgres>();
}

#[test]
fn the_required_fixtures_exist() {
    check_required::<Postgres>(&[
        "psql_simple_query",
        "psql_multi_statement",
        "pgbench_prepared_named_statement",
        "pgbench_unnamed_statement",
        "pgbench_pipeline_one_sync",
        "psql_error_undefined_table",
        "extended_errors",
        "psql_copy_to_stdout",
        "psql_copy_from_stdin",
        "psql_large_result_with_gaps",
        "psql_large_result_tail_captured",
        "datarow_payload_in_gaps",
        "psql_sslrequest_declined",
        "psql_sslrequest_accepted_then_tls",
        "auth_cleartext_password",
        "auth_md5_password",
        "auth_scram_password",
        "psql_cancelled_query",
        "cancel_request_connection",
        "psql_killed_mid_query",
        "midstream_simple_query",
        "midstream_unknown_prepared_statement",
    ]);
}

/// The password (cleartext in `auth_cleartext_password`) is in the byte stream, and in no
/// field of any exchange.
#[test]
fn passwords_never_reach_an_exchange() {
    const SECRET: &str = "hunter2-secret";
    for fixture in fixtures::<Postgres>()
        .into_iter()
        .filter(|f| f.name.starts_with("auth_"))
    {
        let exchanges = run_fixture(&fixture);
        assert!(!exchanges.is_empty(), "{}: no exchange", fixture.name);
        let everything = format!("{exchanges:?}");
        assert!(
            !everything.contains(SECRET) && !everything.contains("hunter2"),
            "{}: {everything}",
            fixture.name
        );
    }
    let cleartext = fixtures::<Postgres>()
        .into_iter()
        .find(|f| f.name == "auth_cleartext_password")
        .expect("fixture");
    let on_the_wire = cleartext.steps.iter().any(|s| match s {
        Step::Chunk(c) => c.data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        _ => false,
    });
    assert!(on_the_wire, "the fixture should carry the password");
}

//! Golden fixtures: recorded byte streams of real Redis conversations (and a few made by
//! hand from real replies), replayed through detection and the parser, must give exactly the
//! exchanges in the matching `.expected` file. Format: tests/fixtures/redis/README.md.
//! `SONDE_BLESS=1 cargo test -p sonde --test redis_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod fixture_stream;
mod redis_replay;

use fixture_stream::{check_golden, check_required, fixtures};
use redis_replay::{Redis, rendered};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    check_golden::<Redis>();
}

#[test]
fn the_required_fixtures_exist() {
    check_required::<Redis>(&[
        "redis_cli_commands",
        "pipelined_batch",
        "multi_exec",
        "blpop_wait",
        "error_replies",
        "resp3_types",
        "auth",
        "subscribe_resp2",
        "subscribe_resp3",
        "large_bulk_with_gaps",
        "select_db",
        "inline_commands",
        "server_side_benchmark",
    ]);
}

/// Passwords in the fixtures never reach an exchange.
#[test]
fn no_password_in_any_exchange() {
    for fixture in fixtures::<Redis>() {
        for line in rendered(&fixture, &fixture.steps) {
            for secret in ["s3cr3t-pw", "hunter2", "wrong-pw"] {
                assert!(!line.contains(secret), "{}: {line}", fixture.name);
            }
        }
    }
}

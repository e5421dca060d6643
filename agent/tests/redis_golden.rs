//! Golden fixtures: recorded byte streams of real Redis conversations (and a few made by
//! hand from real replies), replayed through detection and the parser, must give exactly the
//! exchanges in the matching `.expected` file. Format: tests/fixtures/redis/README.md.
//! `SONDE_BLESS=1 cargo test -p sonde --test redis_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod fixture_stream;
mod redis_replay;

use fixture_stream::{bless, expected_lines};
use redis_replay::{load_all, rendered};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    let bless_mode = std::env::var_os("SONDE_BLESS").is_some();
    let mut failures = Vec::new();
    let fixtures = load_all();
    for fixture in &fixtures {
        let got = rendered(fixture, &fixture.steps);
        if bless_mode {
            bless(fixture, &got);
            continue;
        }
        let want = expected_lines(fixture);
        if got != want {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                fixture.name,
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_required_fixtures_exist() {
    let names: Vec<String> = load_all().into_iter().map(|f| f.name).collect();
    for required in [
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
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
}

/// Passwords in the fixtures never reach an exchange.
#[test]
fn no_password_in_any_exchange() {
    for fixture in load_all() {
        for line in rendered(&fixture, &fixture.steps) {
            for secret in ["s3cr3t-pw", "hunter2", "wrong-pw"] {
                assert!(!line.contains(secret), "{}: {line}", fixture.name);
            }
        }
    }
}

//! Golden fixtures: recorded byte streams of real HTTP/1.x conversations, replayed through the
//! parser, must give exactly the exchanges in the matching `.expected` file.
//! `SONDE_BLESS=1 cargo test -p sonde --test http_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod http_fixture;

use http_fixture::{expected_lines, load_all, render, run};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    let bless = std::env::var_os("SONDE_BLESS").is_some();
    let mut failures = Vec::new();
    let fixtures = load_all();
    for fixture in &fixtures {
        let got: Vec<String> = run(fixture.limits, &fixture.steps, fixture.close_ns)
            .iter()
            .map(render)
            .collect();
        if bless {
            let mut text = got.join("\n");
            text.push('\n');
            std::fs::write(&fixture.expected_path, text).expect("write expected");
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
        "curl_keepalive_client",
        "nginx_server_writev",
        "python_http_server_close_delimited",
        "chunked_response_many_reads",
        "sendfile_1mib_with_gaps",
        "pipelined_five_requests",
        "expect_100_continue",
        "head_204_304",
        "no_response_then_close",
        "garbage_bytes",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
}

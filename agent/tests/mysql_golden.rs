//! Golden fixtures: recorded byte streams of real MySQL/MariaDB conversations (and a few
//! made by hand), replayed through detection and the parser, must give exactly the
//! exchanges in the matching `.expected` file.
//! `SONDE_BLESS=1 cargo test -p sonde --test mysql_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod mysql_fixture;

use mysql_fixture::{expected_lines, load_all, render, run};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    let bless = std::env::var_os("SONDE_BLESS").is_some();
    let mut failures = Vec::new();
    let fixtures = load_all();
    for fixture in &fixtures {
        let got: Vec<String> = run(fixture, &fixture.steps).iter().map(render).collect();
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

/// Passwords of the recorded sessions (`@secret`) appear in no field of any exchange.
#[test]
fn no_secret_reaches_an_exchange() {
    let mut checked = 0;
    for fixture in load_all() {
        let exchanges = run(&fixture, &fixture.steps);
        for secret in &fixture.secrets {
            checked += 1;
            for x in &exchanges {
                let all = format!("{x:?}");
                assert!(
                    !all.contains(secret.as_str()),
                    "{}: {secret:?} in {all}",
                    fixture.name
                );
            }
        }
    }
    assert!(checked > 0, "no fixture declares a @secret");
}

#[test]
fn the_required_fixtures_exist() {
    let names: Vec<String> = load_all().into_iter().map(|f| f.name).collect();
    for required in [
        "cli_handshake_select",
        "cli_init_db",
        "python_prepared_execute_3x",
        "cli_multi_statement_and_call",
        "cli_error_1146",
        "cli_large_result_gaps",
        "ssl_request",
        "password_never_captured",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
}

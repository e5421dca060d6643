//! Golden fixtures: recorded byte streams of real MySQL/MariaDB conversations (and a few
//! made by hand), replayed through detection and the parser, must give exactly the
//! exchanges in the matching `.expected` file.
//! `SONDE_BLESS=1 cargo test -p sonde --test mysql_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod fixture_stream;
mod mysql_fixture;

use fixture_stream::{check_golden, check_required, fixtures};
use mysql_fixture::{Mysql, run};

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    check_golden::<Mysql>();
}

/// Passwords of the recorded sessions (`@secret`) appear in no field of any exchange.
#[test]
fn no_secret_reaches_an_exchange() {
    let mut checked = 0;
    for fixture in fixtures::<Mysql>() {
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
    check_required::<Mysql>(&[
        "cli_handshake_select",
        "cli_init_db",
        "python_prepared_execute_3x",
        "cli_multi_statement_and_call",
        "cli_error_1146",
        "cli_large_result_gaps",
        "ssl_request",
        "password_never_captured",
    ]);
}

//! Golden fixtures: recorded byte streams of real HTTP/1.x conversations, replayed through the
//! parser, must give exactly the exchanges in the matching `.expected` file.
//! `SONDE_BLESS=1 cargo test -p sonde --test http_golden` rewrites the `.expected` files;
//! review the diff before keeping it.

mod fixture_stream;
mod http_fixture;

use fixture_stream::{check_golden, check_required};
use http_fixture::Http;

#[test]
fn every_fixture_gives_its_expected_exchanges() {
    check_golden::<Http>();
}

#[test]
fn the_required_fixtures_exist() {
    check_required::<Http>(&[
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
    ]);
}

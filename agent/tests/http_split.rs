//! Where the syscalls cut the stream must not matter: for every golden fixture, splitting
//! each chunk into smaller reads (random cut points, same direction, time and thread, gaps
//! split too) gives exactly the same exchanges as the chunks as recorded.

mod fixture_stream;
mod http_fixture;

split_tests!(http_fixture::Http);

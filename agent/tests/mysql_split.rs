//! Where the syscalls cut the stream must not matter: for every golden fixture, splitting
//! each chunk into smaller reads (random cut points, same direction, time and thread, gaps
//! split too) gives exactly the same exchanges as the chunks as recorded. The chunks up to
//! the one detection accepts stay whole: detection looks at one chunk at a time, as the
//! connection table calls it.

mod fixture_stream;
mod mysql_fixture;

split_tests!(mysql_fixture::Mysql);

//! Where the syscalls cut the stream must not matter: for every PostgreSQL golden fixture,
//! splitting each chunk into smaller reads (random cut points, same direction, time and
//! thread, gaps split too) gives exactly the same exchanges as the chunks as recorded.
//! Detection runs on the chunks as recorded (it looks at whole syscalls); the parser then
//! gets the pieces.

mod fixture_stream;
mod pg_fixture;

split_tests!(pg_fixture::Postgres);

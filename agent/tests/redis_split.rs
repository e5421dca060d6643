//! Where the syscalls cut the stream must not matter: for every Redis golden fixture,
//! splitting each chunk into smaller reads (random cut points, same direction, time and
//! thread, gaps split too) gives exactly the same exchanges and counters as the chunks as
//! recorded.

mod fixture_stream;
mod redis_replay;

split_tests!(redis_replay::Redis);

//! Redis: RESP2 and RESP3 commands and replies, matched in order, one exchange per command.
//!
//! Feed both directions of one connection in syscall order. The parser copies no value:
//! bulk payloads are skipped by count (a gap of uncaptured bytes inside one costs nothing),
//! and of each argument only the first bytes needed for the command name and its keys are
//! kept (at most 256). Lines cut by a read are buffered up to `max_header_bytes`.
//!
//! Decisions where the wire leaves room:
//! - `db.operation.name` is the upper-case command. Container commands (CLIENT, CONFIG,
//!   OBJECT, XINFO, ...) add their subcommand: `CONFIG GET`, `CLIENT SETNAME`, since the
//!   first word alone says little. Unknown commands (modules) keep their own name.
//! - `db.query.text` is the operation followed by the arguments, each key as sent (cut at
//!   256 bytes) and every other argument as `?`: `SET user:1 ?`, `HSET h ? ?`, `MGET a b`,
//!   `AUTH ?`, `HELLO ? ? ? ?`. Key positions come from a table of Redis 7 commands; the
//!   arguments of unknown commands are all `?`. Passwords (AUTH, HELLO AUTH, MIGRATE AUTH,
//!   CONFIG SET requirepass) are never keys, so they never leave the parser. Texts are cut
//!   at 1 KiB with ` ...`.
//! - Errors (`-ERR ...`, `!` blob errors): the code is the first word (`WRONGTYPE`, `ERR`,
//!   `EXECABORT`); the message is cut before the arguments Redis echoes for unknown commands.
//! - MULTI/EXEC: every command is a span ending at its own reply, as on the wire: MULTI at
//!   `+OK`, each queued command at `+QUEUED` (or its queuing error), EXEC at the array of
//!   results, so the EXEC span covers the real execution. A command that fails inside EXEC
//!   marks the EXEC span as an error with that command's code; `-EXECABORT` is EXEC's own
//!   error; a null EXEC (a WATCHed key changed) is not an error.
//! - Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN/MAX, BZMPOP,
//!   XREAD/XREADGROUP with BLOCK): the span covers the real wait. One that times out with a
//!   null reply is not reported, only counted (`RedisStats::blocking_timeouts`): a worker
//!   polling an empty queue (Celery's BRPOP with a 1 s timeout) would otherwise send a span
//!   per second per queue forever, all saying "nothing happened". They are also exempt from
//!   the request timeout for as long as their own timeout (forever for timeout 0).
//! - Pub/sub: PUBLISH is a span. (Un)subscribe commands end at their last confirmation (one
//!   per channel; the first one for an UNSUBSCRIBE without channels). Pushes (`>` in RESP3)
//!   and RESP2 `message`/`pmessage`/`smessage` arrays on a subscribed connection answer no
//!   command: no span, counted in `RedisStats::pushes`.
//! - SELECT changes `db.namespace` (the index as a string; "0" until a SELECT) for the
//!   commands sent after it, pipelined ones included; a SELECT that fails is undone. The
//!   SELECT span itself carries the index it was sent from.
//! - CLIENT REPLY OFF/SKIP: commands the server will not answer end at once, with no
//!   duration, so the ones after them still meet their own replies.
//! - Lost sync (a gap where a type byte was expected, or bytes that are not RESP): on the
//!   reply side, the waiting commands end as `Desync` when the client writes its next
//!   command (a client reads a whole reply before it writes again), and replies are read
//!   from there. On the command side, a command whose name arrived still takes its turn
//!   (marked `Desync`); the commands after it are unknown, so replies that find the queue
//!   empty are dropped (counted as orphans) until a write starts with a command again;
//!   commands read while older ones still wait are marked `Desync`.
//! - More than `max_pending` commands waiting: the oldest ends as `Desync` (counted) and its
//!   reply, when it comes, is skipped; likewise for a command that timed out.

mod commands;
mod detect;
mod error;
mod inline;
mod parser;
mod pending;
mod query;
mod reply;
mod resp;
#[cfg(test)]
mod tests;

pub use detect::detect;
pub use error::RedisError;
pub use parser::{RedisParser, RedisStats};

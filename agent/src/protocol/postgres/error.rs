//! Why the parser lost the message boundaries of one direction. These never escape `feed`: the
//! parser resynchronises by itself, and keeps the last one for its counters.

use super::wire::Side;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PgError {
    #[error("byte {tag:#04x} with length {len} does not start a {} message", side.name())]
    BadHeader { side: Side, tag: u8, len: u32 },
    #[error("start-up packet with impossible length {len}")]
    BadStartupLength { len: u32 },
    #[error("bytes not captured where a {} message header was expected", side.name())]
    GapInHeader { side: Side },
    #[error("the answer to an encryption request was not captured")]
    GapInAnswer,
}

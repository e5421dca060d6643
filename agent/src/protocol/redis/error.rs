//! Why the parser lost sync with one direction of a connection. These never escape `feed`:
//! the parser recovers by itself, marks the commands concerned `Incomplete::Desync`, and keeps
//! the last reason in its counters. No variant carries wire bytes (they may hold secrets).

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    #[error("bytes not captured where a RESP type byte was expected")]
    GapAtTypeByte,
    #[error("bytes not captured inside a RESP line")]
    GapInLine,
    #[error("byte {0:#04x} cannot start a RESP value")]
    BadTypeByte(u8),
    #[error("invalid length or count in a RESP header")]
    BadLength,
    #[error("RESP header line longer than a number needs")]
    HeaderTooLong,
    #[error("bulk payload not followed by CRLF")]
    MissingCrlf,
    #[error("values nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("a command must be an array of bulk strings")]
    NotACommand,
    #[error("an inline command whose first word is not a Redis command")]
    UnknownInlineCommand,
}

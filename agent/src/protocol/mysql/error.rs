//! Why the parser lost track of a connection. These never escape `feed`: the parser recovers
//! by itself, ends the exchanges concerned as `Incomplete::Desync` (or, when only row bytes
//! were lost, as complete with an unknown row count), and keeps the last one for its counters.

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MysqlError {
    #[error("bytes not captured where a packet header was expected")]
    HeaderInGap,
    #[error("bytes needed to read a packet were not captured")]
    CutPacket,
    #[error("unexpected packet where a {0} was expected")]
    UnexpectedPacket(&'static str),
    #[error("the greeting or the client's login could not be read")]
    BadHandshake,
    #[error("a packet with sequence id 0 that is no known command")]
    UnknownCommand,
}

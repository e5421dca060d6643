//! What the MySQL parser dropped or could not make sense of, for sonde's own health metrics.

use super::error::MysqlError;

/// Counters of what the parser dropped or could not make sense of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MysqlStats {
    /// Answers that made no sense; their exchanges ended as `Desync`.
    pub desyncs: u64,
    /// Gaps that hid packet headers.
    pub framing_lost: u64,
    /// Answers whose end lay in uncaptured bytes, ended by the next command or silence.
    pub ended_in_gap: u64,
    /// Answer packets that no waiting command could own.
    pub orphan_packets: u64,
    /// Commands ended as `Desync` because `max_pending` others were waiting.
    pub pending_overflows: u64,
    /// Prepared statements dropped because the connection held too many.
    pub statements_evicted: u64,
    /// Executes of statements whose prepare was not seen.
    pub unknown_statements: u64,
    /// Packets with sequence id 0 from the client that are no known command.
    pub unknown_commands: u64,
    pub last_error: Option<MysqlError>,
}

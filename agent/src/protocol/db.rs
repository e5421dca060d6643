//! The exchange shape every database protocol (PostgreSQL, MySQL/MariaDB, Redis) produces, so
//! that spans and metrics treat them alike.

use super::{Incomplete, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DbSystem {
    Postgresql,
    Mysql,
    Mariadb,
    Redis,
}

impl DbSystem {
    /// The `db.system.name` value of the semantic conventions.
    pub fn as_str(self) -> &'static str {
        match self {
            DbSystem::Postgresql => "postgresql",
            DbSystem::Mysql => "mysql",
            DbSystem::Mariadb => "mariadb",
            DbSystem::Redis => "redis",
        }
    }
}

/// An error response from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError {
    /// SQLSTATE for PostgreSQL ("42P01"), the error number for MySQL ("1146"), the error
    /// prefix for Redis ("WRONGTYPE", "ERR").
    pub code: String,
    /// The server's message, cut to a bounded length.
    pub message: String,
}

/// One operation: a statement, an Execute of a prepared statement, or a Redis command.
#[derive(Clone, Debug, PartialEq)]
pub struct DbExchange {
    pub system: DbSystem,
    /// Client when the process sent the operation. Server-side exchanges are dropped before
    /// spans: a watched database server must not report each query a second time.
    pub role: Role,
    /// Database name (SQL) or database index (Redis), as known on this connection.
    pub namespace: Option<String>,
    /// SELECT, INSERT, ... or the Redis command (GET, SETEX, ...), upper case.
    pub operation: Option<String>,
    /// The main table (SQL); None for Redis.
    pub collection: Option<String>,
    /// Statement with literals replaced by `?`, or the Redis command with its key and values
    /// redacted. Never holds passwords.
    pub query_text: Option<String>,
    pub error: Option<DbError>,
    /// Time of the chunk carrying the first byte of the operation.
    pub start_ns: u64,
    /// Time of the chunk carrying the last byte of its response (or expire/close time).
    pub end_ns: u64,
    /// Thread that sent the operation.
    pub tid: u32,
    /// Rows returned or affected, when the protocol says.
    pub rows: Option<u64>,
    pub incomplete: Option<Incomplete>,
}

//! What sonde knows of each Redis command: where its keys are (the only arguments a query
//! text keeps), and what its reply means for the connection (blocking, pub/sub, SELECT, ...).
//! Key positions follow `COMMAND INFO` (first key, last key, step) of Redis 7.

/// Which arguments are keys (index 0 is the command name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keys {
    None,
    /// `first`, `first + step`, ... up to `last`; a negative `last` counts from the end
    /// (-1: the last argument).
    Range {
        first: u8,
        last: i8,
        step: u8,
    },
    /// A count of keys at `count_at`, the keys right after it; with `dest`, argument 1 is a
    /// key too (ZUNIONSTORE dest numkeys key ...).
    Counted {
        count_at: u8,
        dest: bool,
    },
    /// XREAD / XREADGROUP: after the `STREAMS` word, the first half are keys.
    Streams,
    /// A container whose subcommand takes a key at index 2 (OBJECT ENCODING key).
    AfterSubcommand,
}

/// Which of the three pub/sub families a (un)subscribe command belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Channel,
    Pattern,
    Shard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Plain,
    /// The second word names a subcommand (`CONFIG GET`).
    Container,
    /// Blocks until a timeout in seconds at argument `timeout_at` (negative: from the end).
    Blocking {
        timeout_at: i8,
    },
    /// XREAD / XREADGROUP: block only with a `BLOCK <ms>` option.
    StreamRead,
    Subscribe(Family),
    Unsubscribe(Family),
    Select,
    Exec,
    Reset,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct CommandSpec {
    pub name: &'static str,
    pub keys: Keys,
    pub kind: Kind,
}

const fn spec(name: &'static str, keys: Keys, kind: Kind) -> CommandSpec {
    CommandSpec { name, keys, kind }
}

const NONE: Keys = Keys::None;
/// One key, argument 1: most commands.
const K1: Keys = Keys::Range {
    first: 1,
    last: 1,
    step: 1,
};
/// Keys at arguments 1 and 2 (source and destination).
const K12: Keys = Keys::Range {
    first: 1,
    last: 2,
    step: 1,
};
/// Every argument is a key.
const ALL: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 1,
};
/// Every argument but the last (a timeout) is a key.
const ALL_BUT_LAST: Keys = Keys::Range {
    first: 1,
    last: -2,
    step: 1,
};
const fn counted(count_at: u8) -> Keys {
    Keys::Counted {
        count_at,
        dest: false,
    }
}
const STORE_COUNTED: Keys = Keys::Counted {
    count_at: 2,
    dest: true,
};
use Kind::{Container as C, Plain as P};
const LAST_TIMEOUT: Kind = Kind::Blocking { timeout_at: -1 };
const FIRST_TIMEOUT: Kind = Kind::Blocking { timeout_at: 1 };

/// Sorted by name (a unit test checks), for a binary search.
static COMMANDS: &[CommandSpec] = &[
    spec("ACL", NONE, C),
    spec("APPEND", K1, P),
    spec("ASKING", NONE, P),
    spec("AUTH", NONE, P),
    spec("BGREWRITEAOF", NONE, P),
    spec("BGSAVE", NONE, P),
    spec("BITCOUNT", K1, P),
    spec("BITFIELD", K1, P),
    spec("BITFIELD_RO", K1, P),
    spec(
        "BITOP",
        Keys::Range {
            first: 2,
            last: -1,
            step: 1,
        },
        P,
    ),
    spec("BITPOS", K1, P),
    spec("BLMOVE", K12, LAST_TIMEOUT),
    spec("BLMPOP", counted(2), FIRST_TIMEOUT),
    spec("BLPOP", ALL_BUT_LAST, LAST_TIMEOUT),
    spec("BRPOP", ALL_BUT_LAST, LAST_TIMEOUT),
    spec("BRPOPLPUSH", K12, LAST_TIMEOUT),
    spec("BZMPOP", counted(2), FIRST_TIMEOUT),
    spec("BZPOPMAX", ALL_BUT_LAST, LAST_TIMEOUT),
    spec("BZPOPMIN", ALL_BUT_LAST, LAST_TIMEOUT),
    spec("CLIENT", NONE, C),
    spec("CLUSTER", NONE, C),
    spec("COMMAND", NONE, C),
    spec("CONFIG", NONE, C),
    spec("COPY", K12, P),
    spec("DBSIZE", NONE, P),
    spec("DEBUG", NONE, C),
    spec("DECR", K1, P),
    spec("DECRBY", K1, P),
    spec("DEL", ALL, P),
    spec("DISCARD", NONE, P),
    spec("DUMP", K1, P),
    spec("ECHO", NONE, P),
    spec("EVAL", counted(2), P),
    spec("EVALSHA", counted(2), P),
    spec("EVALSHA_RO", counted(2), P),
    spec("EVAL_RO", counted(2), P),
    spec("EXEC", NONE, Kind::Exec),
    spec("EXISTS", ALL, P),
    spec("EXPIRE", K1, P),
    spec("EXPIREAT", K1, P),
    spec("EXPIRETIME", K1, P),
    spec("FAILOVER", NONE, P),
    spec("FCALL", counted(2), P),
    spec("FCALL_RO", counted(2), P),
    spec("FLUSHALL", NONE, P),
    spec("FLUSHDB", NONE, P),
    spec("FUNCTION", NONE, C),
    spec("GEOADD", K1, P),
    spec("GEODIST", K1, P),
    spec("GEOHASH", K1, P),
    spec("GEOPOS", K1, P),
    spec("GEORADIUS", K1, P),
    spec("GEORADIUSBYMEMBER", K1, P),
    spec("GEORADIUSBYMEMBER_RO", K1, P),
    spec("GEORADIUS_RO", K1, P),
    spec("GEOSEARCH", K1, P),
    spec("GEOSEARCHSTORE", K12, P),
    spec("GET", K1, P),
    spec("GETBIT", K1, P),
    spec("GETDEL", K1, P),
    spec("GETEX", K1, P),
    spec("GETRANGE", K1, P),
    spec("GETSET", K1, P),
    spec("HDEL", K1, P),
    spec("HELLO", NONE, P),
    spec("HEXISTS", K1, P),
    spec("HGET", K1, P),
    spec("HGETALL", K1, P),
    spec("HINCRBY", K1, P),
    spec("HINCRBYFLOAT", K1, P),
    spec("HKEYS", K1, P),
    spec("HLEN", K1, P),
    spec("HMGET", K1, P),
    spec("HMSET", K1, P),
    spec("HRANDFIELD", K1, P),
    spec("HSCAN", K1, P),
    spec("HSET", K1, P),
    spec("HSETNX", K1, P),
    spec("HSTRLEN", K1, P),
    spec("HVALS", K1, P),
    spec("INCR", K1, P),
    spec("INCRBY", K1, P),
    spec("INCRBYFLOAT", K1, P),
    spec("INFO", NONE, P),
    spec("KEYS", NONE, P),
    spec("LASTSAVE", NONE, P),
    spec("LATENCY", NONE, C),
    spec("LCS", K12, P),
    spec("LINDEX", K1, P),
    spec("LINSERT", K1, P),
    spec("LLEN", K1, P),
    spec("LMOVE", K12, P),
    spec("LMPOP", counted(1), P),
    spec("LOLWUT", NONE, P),
    spec("LPOP", K1, P),
    spec("LPOS", K1, P),
    spec("LPUSH", K1, P),
    spec("LPUSHX", K1, P),
    spec("LRANGE", K1, P),
    spec("LREM", K1, P),
    spec("LSET", K1, P),
    spec("LTRIM", K1, P),
    spec("MEMORY", Keys::AfterSubcommand, C),
    spec("MGET", ALL, P),
    spec(
        "MIGRATE",
        Keys::Range {
            first: 3,
            last: 3,
            step: 1,
        },
        P,
    ),
    spec("MODULE", NONE, C),
    spec("MONITOR", NONE, P),
    spec("MOVE", K1, P),
    spec(
        "MSET",
        Keys::Range {
            first: 1,
            last: -1,
            step: 2,
        },
        P,
    ),
    spec(
        "MSETNX",
        Keys::Range {
            first: 1,
            last: -1,
            step: 2,
        },
        P,
    ),
    spec("MULTI", NONE, P),
    spec("OBJECT", Keys::AfterSubcommand, C),
    spec("PERSIST", K1, P),
    spec("PEXPIRE", K1, P),
    spec("PEXPIREAT", K1, P),
    spec("PEXPIRETIME", K1, P),
    spec("PFADD", K1, P),
    spec("PFCOUNT", ALL, P),
    spec("PFMERGE", ALL, P),
    spec("PING", NONE, P),
    spec("PSETEX", K1, P),
    spec("PSUBSCRIBE", ALL, Kind::Subscribe(Family::Pattern)),
    spec("PSYNC", NONE, P),
    spec("PTTL", K1, P),
    // Channels are names, like keys; the message is a value.
    spec("PUBLISH", K1, P),
    spec("PUBSUB", NONE, C),
    spec("PUNSUBSCRIBE", ALL, Kind::Unsubscribe(Family::Pattern)),
    spec("QUIT", NONE, P),
    spec("RANDOMKEY", NONE, P),
    spec("READONLY", NONE, P),
    spec("READWRITE", NONE, P),
    spec("RENAME", K12, P),
    spec("RENAMENX", K12, P),
    spec("REPLCONF", NONE, P),
    spec("REPLICAOF", NONE, P),
    spec("RESET", NONE, Kind::Reset),
    spec("RESTORE", K1, P),
    spec("RESTORE-ASKING", K1, P),
    spec("ROLE", NONE, P),
    spec("RPOP", K1, P),
    spec("RPOPLPUSH", K12, P),
    spec("RPUSH", K1, P),
    spec("RPUSHX", K1, P),
    spec("SADD", K1, P),
    spec("SAVE", NONE, P),
    spec("SCAN", NONE, P),
    spec("SCARD", K1, P),
    spec("SCRIPT", NONE, C),
    spec("SDIFF", ALL, P),
    spec("SDIFFSTORE", ALL, P),
    spec("SELECT", NONE, Kind::Select),
    spec("SET", K1, P),
    spec("SETBIT", K1, P),
    spec("SETEX", K1, P),
    spec("SETNX", K1, P),
    spec("SETRANGE", K1, P),
    spec("SHUTDOWN", NONE, P),
    spec("SINTER", ALL, P),
    spec("SINTERCARD", counted(1), P),
    spec("SINTERSTORE", ALL, P),
    spec("SISMEMBER", K1, P),
    spec("SLAVEOF", NONE, P),
    spec("SLOWLOG", NONE, C),
    spec("SMEMBERS", K1, P),
    spec("SMISMEMBER", K1, P),
    spec("SMOVE", K12, P),
    spec("SORT", K1, P),
    spec("SORT_RO", K1, P),
    spec("SPOP", K1, P),
    spec("SPUBLISH", K1, P),
    spec("SRANDMEMBER", K1, P),
    spec("SREM", K1, P),
    spec("SSCAN", K1, P),
    spec("SSUBSCRIBE", ALL, Kind::Subscribe(Family::Shard)),
    spec("STRLEN", K1, P),
    spec("SUBSCRIBE", ALL, Kind::Subscribe(Family::Channel)),
    spec("SUBSTR", K1, P),
    spec("SUNION", ALL, P),
    spec("SUNIONSTORE", ALL, P),
    spec("SUNSUBSCRIBE", ALL, Kind::Unsubscribe(Family::Shard)),
    spec("SWAPDB", NONE, P),
    spec("SYNC", NONE, P),
    spec("TIME", NONE, P),
    spec("TOUCH", ALL, P),
    spec("TTL", K1, P),
    spec("TYPE", K1, P),
    spec("UNLINK", ALL, P),
    spec("UNSUBSCRIBE", ALL, Kind::Unsubscribe(Family::Channel)),
    spec("UNWATCH", NONE, P),
    spec("WAIT", NONE, P),
    spec("WAITAOF", NONE, P),
    spec("WATCH", ALL, P),
    spec("XACK", K1, P),
    spec("XADD", K1, P),
    spec("XAUTOCLAIM", K1, P),
    spec("XCLAIM", K1, P),
    spec("XDEL", K1, P),
    spec("XGROUP", Keys::AfterSubcommand, C),
    spec("XINFO", Keys::AfterSubcommand, C),
    spec("XLEN", K1, P),
    spec("XPENDING", K1, P),
    spec("XRANGE", K1, P),
    spec("XREAD", Keys::Streams, Kind::StreamRead),
    spec("XREADGROUP", Keys::Streams, Kind::StreamRead),
    spec("XREVRANGE", K1, P),
    spec("XSETID", K1, P),
    spec("XTRIM", K1, P),
    spec("ZADD", K1, P),
    spec("ZCARD", K1, P),
    spec("ZCOUNT", K1, P),
    spec("ZDIFF", counted(1), P),
    spec("ZDIFFSTORE", STORE_COUNTED, P),
    spec("ZINCRBY", K1, P),
    spec("ZINTER", counted(1), P),
    spec("ZINTERCARD", counted(1), P),
    spec("ZINTERSTORE", STORE_COUNTED, P),
    spec("ZLEXCOUNT", K1, P),
    spec("ZMPOP", counted(1), P),
    spec("ZMSCORE", K1, P),
    spec("ZPOPMAX", K1, P),
    spec("ZPOPMIN", K1, P),
    spec("ZRANDMEMBER", K1, P),
    spec("ZRANGE", K1, P),
    spec("ZRANGEBYLEX", K1, P),
    spec("ZRANGEBYSCORE", K1, P),
    spec("ZRANGESTORE", K12, P),
    spec("ZRANK", K1, P),
    spec("ZREM", K1, P),
    spec("ZREMRANGEBYLEX", K1, P),
    spec("ZREMRANGEBYRANK", K1, P),
    spec("ZREMRANGEBYSCORE", K1, P),
    spec("ZREVRANGE", K1, P),
    spec("ZREVRANGEBYLEX", K1, P),
    spec("ZREVRANGEBYSCORE", K1, P),
    spec("ZREVRANK", K1, P),
    spec("ZSCAN", K1, P),
    spec("ZSCORE", K1, P),
    spec("ZUNION", counted(1), P),
    spec("ZUNIONSTORE", STORE_COUNTED, P),
];

/// Longest command or subcommand name looked up; longer words are no Redis command.
pub(super) const MAX_NAME: usize = 32;

/// The spec of an already upper-cased command name.
pub(super) fn lookup(upper: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .binary_search_by(|c| c.name.as_bytes().cmp(upper))
        .ok()
        .map(|i| &COMMANDS[i])
}

/// Upper-cases `word` into `buf`; None when it is empty, too long, or has bytes no command
/// or subcommand name has (module commands use `.`, e.g. `JSON.GET`).
pub(super) fn upper_name<'b>(word: &[u8], buf: &'b mut [u8; MAX_NAME]) -> Option<&'b [u8]> {
    if word.is_empty() || word.len() > MAX_NAME {
        return None;
    }
    for (out, &b) in buf.iter_mut().zip(word) {
        if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'|')) {
            return None;
        }
        *out = b.to_ascii_uppercase();
    }
    Some(&buf[..word.len()])
}

/// The spec of a command word as sent (any case).
pub(super) fn find(word: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0; MAX_NAME];
    lookup(upper_name(word, &mut buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn lookup_ignores_case_and_rejects_odd_words() {
        assert_eq!(find(b"get").map(|c| c.name), Some("GET"));
        assert_eq!(find(b"BzPopMin").map(|c| c.name), Some("BZPOPMIN"));
        assert!(find(b"NOSUCH").is_none());
        assert!(find(b"").is_none());
        assert!(find(b"GET GET").is_none());
        assert!(find(&[b'A'; 40]).is_none());
    }
}

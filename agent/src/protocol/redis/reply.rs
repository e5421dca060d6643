//! What one reply said, as far as spans and the connection's state care: its shape, an
//! error, a status word (OK, QUEUED, RESET), and the first words of an array that may be a
//! pub/sub message or confirmation. Nothing else of a reply is kept (values never are).

use super::commands::Family;
use super::resp::{Position, Value};
use crate::protocol::DbError;

/// Bytes of an error reply kept for the span's status message.
const MAX_ERROR: usize = 256;
/// Longest pub/sub kind word (`punsubscribe`).
const MAX_PUBSUB_WORD: usize = 12;
/// Longest error code kept as error.type; longer first words become `ERR`.
const MAX_CODE: usize = 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Shape {
    #[default]
    Scalar,
    /// `_`, `$-1`, `*-1`: what a blocking command answers when it times out.
    Null,
    Aggregate {
        kind: u8,
        count: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Status {
    #[default]
    Other,
    Reset,
}

/// The first element of an array, when it names a pub/sub event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum PubSubWord {
    #[default]
    None,
    /// `message` or `smessage` (3 elements), `pmessage` (4).
    Message { elements: u64 },
    /// `subscribe`, `punsubscribe`, ...: the answer to a (un)subscribe command.
    Confirmation { family: Family, unsubscribe: bool },
}

#[derive(Debug, Default)]
pub(super) struct ReplySummary {
    pub shape: Shape,
    pub status: Status,
    /// A top-level error (`-` or `!`).
    pub error: Option<DbError>,
    /// The first error among the elements (a command that failed inside EXEC).
    pub nested_error: Option<DbError>,
    pub first_word: PubSubWord,
    /// The third element when an integer (the subscription count of a confirmation).
    pub third_int: Option<i64>,
}

/// How a reply relates to the commands waiting for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplyClass {
    /// The reply of the oldest waiting command.
    Reply,
    /// One of the confirmations a (un)subscribe command waits for.
    Confirmation,
    /// A push or a pub/sub message: no command's reply.
    OutOfBand,
}

impl ReplySummary {
    pub(super) fn keep(at: Position, kind: u8) -> usize {
        match (at.depth, at.index, kind) {
            (0 | 1, _, b'!') => MAX_ERROR,
            (1, 0, b'$') => MAX_PUBSUB_WORD,
            _ => 0,
        }
    }

    pub(super) fn value(&mut self, at: Position, value: Value<'_>) {
        match (at.depth, value) {
            (0, Value::Aggregate { kind, count }) => self.shape = Shape::Aggregate { kind, count },
            (0, Value::Null) => self.shape = Shape::Null,
            (
                0,
                Value::Text {
                    kind: b'-' | b'!',
                    bytes,
                    ..
                },
            ) => self.error = Some(db_error(bytes)),
            (
                0,
                Value::Text {
                    kind: b'+', bytes, ..
                },
            ) if bytes == b"RESET" => self.status = Status::Reset,
            (
                1,
                Value::Text {
                    kind: b'-' | b'!',
                    bytes,
                    ..
                },
            ) if self.nested_error.is_none() => {
                self.nested_error = Some(db_error(bytes));
            }
            (
                1,
                Value::Text {
                    kind: b'$' | b'+',
                    bytes,
                    ..
                },
            ) if at.index == 0 => {
                self.first_word = pubsub_word(bytes);
            }
            (
                1,
                Value::Text {
                    kind: b':', bytes, ..
                },
            ) if at.index == 2 => {
                self.third_int = super::resp::parse_i64(bytes).ok();
            }
            _ => {}
        }
    }

    fn count(&self) -> Option<(u8, u64)> {
        match self.shape {
            Shape::Aggregate {
                kind: kind @ (b'*' | b'>'),
                count: Some(n),
            } => Some((kind, n)),
            _ => None,
        }
    }

    pub(super) fn is_push(&self) -> bool {
        matches!(self.shape, Shape::Aggregate { kind: b'>', .. })
    }

    /// The (family, unsubscribe) of a confirmation-shaped array.
    pub(super) fn confirmation(&self) -> Option<(Family, bool)> {
        match (self.count()?, self.first_word) {
            (
                (_, 3),
                PubSubWord::Confirmation {
                    family,
                    unsubscribe,
                },
            ) => Some((family, unsubscribe)),
            _ => None,
        }
    }

    pub(super) fn is_message(&self) -> bool {
        matches!(
            (self.count(), self.first_word),
            (Some((_, n)), PubSubWord::Message { elements }) if n == elements
        )
    }

    /// RESP3 marks pushes (`>`); RESP2 sends pub/sub events as plain arrays, told apart by
    /// their first word while the connection is subscribed, or while the oldest command
    /// can only be answered by a confirmation.
    pub(super) fn classify(
        &self,
        waiting_for: Option<(Family, bool)>,
        front: bool,
        subscribed: bool,
    ) -> ReplyClass {
        if let Some(conf) = self.confirmation() {
            if waiting_for == Some(conf) {
                return ReplyClass::Confirmation;
            }
            if self.is_push() || subscribed || waiting_for.is_some() {
                return ReplyClass::OutOfBand;
            }
        }
        if self.is_message() && (self.is_push() || subscribed || waiting_for.is_some() || !front) {
            return ReplyClass::OutOfBand;
        }
        if self.is_push() {
            return ReplyClass::OutOfBand;
        }
        ReplyClass::Reply
    }
}

fn pubsub_word(bytes: &[u8]) -> PubSubWord {
    let confirmation = |family, unsubscribe| PubSubWord::Confirmation {
        family,
        unsubscribe,
    };
    match bytes {
        b"message" | b"smessage" => PubSubWord::Message { elements: 3 },
        b"pmessage" => PubSubWord::Message { elements: 4 },
        b"subscribe" => confirmation(Family::Channel, false),
        b"psubscribe" => confirmation(Family::Pattern, false),
        b"ssubscribe" => confirmation(Family::Shard, false),
        b"unsubscribe" => confirmation(Family::Channel, true),
        b"punsubscribe" => confirmation(Family::Pattern, true),
        b"sunsubscribe" => confirmation(Family::Shard, true),
        _ => PubSubWord::None,
    }
}

/// An error reply: the code is its first word (`WRONGTYPE`, `ERR`, `NOAUTH`); the message is
/// cut before the arguments Redis echoes for unknown commands (they may be values).
pub(super) fn db_error(text: &[u8]) -> DbError {
    let first = text.split(|&b| b == b' ').next().unwrap_or_default();
    let is_code = !first.is_empty()
        && first.len() <= MAX_CODE
        && first
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_');
    let code = if is_code {
        String::from_utf8_lossy(first).into_owned()
    } else {
        "ERR".to_owned()
    };
    let mut message = &text[..text.len().min(MAX_ERROR)];
    if let Some(at) = find(message, b", with args beginning with") {
        message = &message[..at];
    }
    DbError {
        code,
        message: String::from_utf8_lossy(message).into_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_messages() {
        let e = db_error(b"WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(e.code, "WRONGTYPE");
        assert!(e.message.starts_with("WRONGTYPE Operation"));
        let e = db_error(b"ERR unknown command 'FOO', with args beginning with: 'hunter2' ");
        assert_eq!(e.code, "ERR");
        assert_eq!(e.message, "ERR unknown command 'FOO'");
        assert_eq!(db_error(b"oops lowercase").code, "ERR");
        assert_eq!(db_error(&[b'x'; 1000]).message.len(), MAX_ERROR);
    }
}

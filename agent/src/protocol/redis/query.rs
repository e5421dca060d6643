//! One command as its arguments arrive: the operation name, the query text (every argument
//! that is not a key replaced by `?`, so values, passwords and scripts never appear), and
//! what its reply will mean for the connection.

use super::commands::{self, CommandSpec, Family, Keys, Kind, MAX_NAME};
use super::resp::MAX_KEEP;

/// Longest query text; longer ones end with ` ...`.
pub(super) const MAX_QUERY_TEXT: usize = 1024;
/// Bytes of an option or a number read to understand a command (timeouts, numkeys, BLOCK).
const WORD: usize = 32;
const ELLIPSIS: &str = "...";

/// What the reply of a command means beyond success or error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    None,
    /// Waits up to `timeout_ns` (None: forever or unknown) for data; a null reply means it
    /// timed out.
    Blocking {
        timeout_ns: Option<u64>,
    },
    /// Answered by one confirmation per channel (at least one).
    Subscribe {
        family: Family,
        unsubscribe: bool,
        expected: u64,
    },
    Select {
        db: u32,
    },
    Exec,
    Reset,
    /// CLIENT REPLY ON / OFF / SKIP.
    ClientReply(ReplyMode),
}

/// Whether the server answers commands (CLIENT REPLY).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum ReplyMode {
    #[default]
    On,
    Off,
    /// No reply to the next command.
    Skip,
}

/// A command whose last argument arrived.
#[derive(Debug)]
pub(super) struct Command {
    pub operation: Option<String>,
    pub query_text: Option<String>,
    pub effect: Effect,
    pub start_ns: u64,
    pub tid: u32,
}

#[derive(Debug, Default)]
pub(super) struct CommandBuilder {
    active: bool,
    start_ns: u64,
    tid: u32,
    argc: u64,
    spec: Option<&'static CommandSpec>,
    named: bool,
    operation: Option<String>,
    text: String,
    text_full: bool,
    /// Index of the first argument after the operation's words (2 after a subcommand).
    first_arg: u64,
    /// Keys given by a count (EVAL script numkeys key ...): first and last index.
    counted_keys: Option<(u64, u64)>,
    /// Index of the STREAMS word (XREAD).
    streams_at: Option<u64>,
    /// The previous argument was BLOCK (XREAD).
    block_next: bool,
    /// The wait of a blocking command: Some(None) forever.
    timeout: Option<Option<u64>>,
    select_db: Option<u32>,
    client_reply_subcommand: bool,
    client_reply: Option<ReplyMode>,
}

impl CommandBuilder {
    /// The first byte of a message arrived at `start_ns` on thread `tid`.
    pub(super) fn start(&mut self, start_ns: u64, tid: u32) {
        *self = Self {
            active: true,
            start_ns,
            tid,
            first_arg: 1,
            ..Self::default()
        };
    }

    /// The number of words, once the array header (or the inline line) says it.
    pub(super) fn set_argc(&mut self, argc: u64) {
        self.argc = argc;
    }

    pub(super) fn is_named(&self) -> bool {
        self.active && self.named
    }

    /// How many first bytes of argument `index` are worth keeping.
    pub(super) fn keep(&self, index: u64) -> usize {
        if index == 0 {
            return MAX_NAME;
        }
        let Some(spec) = self.spec else {
            return 0;
        };
        if index == 1 && spec.kind == Kind::Container {
            return MAX_NAME;
        }
        if self.is_key(index) {
            return MAX_KEEP;
        }
        if self.needs_value(spec, index) {
            return WORD;
        }
        0
    }

    fn needs_value(&self, spec: &CommandSpec, index: u64) -> bool {
        if let Keys::Counted { count_at, .. } = spec.keys
            && index == u64::from(count_at)
        {
            return true;
        }
        match spec.kind {
            Kind::Blocking { timeout_at } => self.resolve(timeout_at) == Some(index),
            Kind::StreamRead => self.streams_at.is_none(),
            Kind::Select => index == 1,
            Kind::Container => self.client_reply_subcommand && index == 2,
            _ => false,
        }
    }

    /// An argument index from a position that may count from the end (-1: the last).
    fn resolve(&self, at: i8) -> Option<u64> {
        if at >= 0 {
            Some(u64::from(at.unsigned_abs()))
        } else {
            self.argc.checked_sub(u64::from(at.unsigned_abs()))
        }
    }

    fn is_key(&self, index: u64) -> bool {
        let Some(spec) = self.spec else {
            return false;
        };
        match spec.keys {
            Keys::None => false,
            Keys::Range { first, last, step } => {
                let first = u64::from(first);
                let Some(last) = self.resolve(last) else {
                    return false;
                };
                index >= first
                    && index <= last
                    && (index - first).is_multiple_of(u64::from(step.max(1)))
            }
            Keys::Counted { dest, .. } => {
                (dest && index == 1)
                    || self
                        .counted_keys
                        .is_some_and(|(a, b)| (a..=b).contains(&index))
            }
            Keys::Streams => self.streams_at.is_some_and(|s| {
                let after = self.argc.saturating_sub(s + 1);
                index > s && index <= s + after / 2
            }),
            Keys::AfterSubcommand => index == 2 && self.first_arg == 2,
        }
    }

    /// Argument `index`: its kept first `bytes` (all of it if short) and full length.
    pub(super) fn arg(&mut self, index: u64, bytes: &[u8], len: u64) {
        if !self.active {
            return;
        }
        if index == 0 {
            self.name(bytes, len);
            return;
        }
        if !self.named {
            return;
        }
        let Some(spec) = self.spec else {
            self.push_redacted();
            return;
        };
        if index == 1 && spec.kind == Kind::Container {
            self.subcommand(spec, bytes, len);
            return;
        }
        self.learn(spec, index, bytes);
        if self.is_key(index) {
            self.push_key(bytes, len);
        } else {
            self.push_redacted();
        }
    }

    fn name(&mut self, bytes: &[u8], len: u64) {
        let mut buf = [0; MAX_NAME];
        let whole = len == bytes.len() as u64;
        let Some(upper) = whole
            .then(|| commands::upper_name(bytes, &mut buf))
            .flatten()
        else {
            // Not a name (binary, or too long): the command still takes its turn.
            self.named = true;
            return;
        };
        self.spec = commands::lookup(upper);
        let name = match self.spec {
            Some(spec) => spec.name.to_owned(),
            // Checked ASCII by upper_name.
            None => String::from_utf8_lossy(upper).into_owned(),
        };
        self.text = String::with_capacity(name.len() + 24);
        self.text.push_str(&name);
        self.operation = Some(name);
        self.named = true;
    }

    /// `CONFIG GET`: both words name the operation (a known, bounded set of words).
    fn subcommand(&mut self, spec: &CommandSpec, bytes: &[u8], len: u64) {
        let mut buf = [0; MAX_NAME];
        let whole = len == bytes.len() as u64;
        let Some(sub) = whole
            .then(|| commands::upper_name(bytes, &mut buf))
            .flatten()
        else {
            self.push_redacted();
            return;
        };
        self.first_arg = 2;
        self.client_reply_subcommand = spec.name == "CLIENT" && sub == b"REPLY";
        let sub = String::from_utf8_lossy(sub);
        if let Some(op) = &mut self.operation {
            op.push(' ');
            op.push_str(&sub);
        }
        self.text.push(' ');
        self.text.push_str(&sub);
    }

    /// Reads the arguments that change how the reply is read.
    fn learn(&mut self, spec: &CommandSpec, index: u64, bytes: &[u8]) {
        if let Keys::Counted { count_at, .. } = spec.keys
            && index == u64::from(count_at)
        {
            self.counted_keys = parse_u64(bytes)
                .filter(|&n| n > 0)
                .map(|n| (index + 1, index.saturating_add(n)));
        }
        match spec.kind {
            Kind::Blocking { timeout_at } if self.resolve(timeout_at) == Some(index) => {
                self.timeout = Some(parse_seconds(bytes));
            }
            Kind::StreamRead if self.streams_at.is_none() => {
                if self.block_next {
                    self.block_next = false;
                    self.timeout = Some(
                        parse_u64(bytes)
                            .and_then(|ms| (ms > 0).then(|| ms.saturating_mul(1_000_000))),
                    );
                } else if bytes.eq_ignore_ascii_case(b"BLOCK") {
                    self.block_next = true;
                } else if bytes.eq_ignore_ascii_case(b"STREAMS") {
                    self.streams_at = Some(index);
                }
            }
            Kind::Select if index == 1 => {
                self.select_db = parse_u64(bytes).and_then(|n| u32::try_from(n).ok());
            }
            Kind::Container if self.client_reply_subcommand && index == 2 => {
                self.client_reply = if bytes.eq_ignore_ascii_case(b"ON") {
                    Some(ReplyMode::On)
                } else if bytes.eq_ignore_ascii_case(b"OFF") {
                    Some(ReplyMode::Off)
                } else if bytes.eq_ignore_ascii_case(b"SKIP") {
                    Some(ReplyMode::Skip)
                } else {
                    None
                };
            }
            _ => {}
        }
    }

    /// Appends ` piece`, or ` ...` once when the text would grow past its bound.
    fn fits(&mut self, piece_len: usize) -> bool {
        if self.text_full {
            return false;
        }
        if self.text.len() + 1 + piece_len + 1 + ELLIPSIS.len() > MAX_QUERY_TEXT {
            self.text.push(' ');
            self.text.push_str(ELLIPSIS);
            self.text_full = true;
            return false;
        }
        true
    }

    fn push_redacted(&mut self) {
        if self.operation.is_some() && self.fits(1) {
            self.text.push_str(" ?");
        }
    }

    fn push_key(&mut self, bytes: &[u8], len: u64) {
        let kept = &bytes[..bytes.len().min(MAX_KEEP)];
        let cut = len > kept.len() as u64;
        if !self.fits(kept.len() + if cut { ELLIPSIS.len() } else { 0 }) {
            return;
        }
        self.text.push(' ');
        for chunk in kept.utf8_chunks() {
            self.text.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                self.text.push(char::REPLACEMENT_CHARACTER);
            }
        }
        if cut {
            self.text.push_str(ELLIPSIS);
        }
    }

    /// The command is complete; None when it had no words (an empty array or line).
    pub(super) fn finish(&mut self) -> Option<Command> {
        if !self.active || !self.named {
            self.active = false;
            return None;
        }
        self.active = false;
        let effect = match self.spec.map(|s| s.kind) {
            Some(Kind::Blocking { .. }) => Effect::Blocking {
                timeout_ns: self.timeout.flatten(),
            },
            Some(Kind::StreamRead) => match self.timeout {
                Some(timeout_ns) => Effect::Blocking { timeout_ns },
                None => Effect::None,
            },
            Some(Kind::Subscribe(family)) => Effect::Subscribe {
                family,
                unsubscribe: false,
                expected: self.argc.saturating_sub(1).max(1),
            },
            // Without channels: one confirmation per subscription, or one if none; the
            // first ends the span, the others are read as pushes.
            Some(Kind::Unsubscribe(family)) => Effect::Subscribe {
                family,
                unsubscribe: true,
                expected: self.argc.saturating_sub(1).max(1),
            },
            Some(Kind::Select) => self
                .select_db
                .map_or(Effect::None, |db| Effect::Select { db }),
            Some(Kind::Exec) => Effect::Exec,
            Some(Kind::Reset) => Effect::Reset,
            Some(Kind::Container) => self.client_reply.map_or(Effect::None, Effect::ClientReply),
            _ => Effect::None,
        };
        let has_text = self.operation.is_some();
        Some(Command {
            operation: self.operation.take(),
            query_text: has_text.then(|| std::mem::take(&mut self.text)),
            effect,
            start_ns: self.start_ns,
            tid: self.tid,
        })
    }

    /// Drops a command cut by lost sync; returns it if its name arrived, since the server
    /// did get all of it and will answer it.
    pub(super) fn abandon(&mut self) -> Option<Command> {
        if !self.is_named() {
            self.active = false;
            return None;
        }
        let mut command = self.finish()?;
        command.effect = Effect::None;
        Some(command)
    }
}

pub(super) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A timeout in seconds as Redis reads it (`0.5`, `1`); 0 or unreadable: forever.
fn parse_seconds(bytes: &[u8]) -> Option<u64> {
    let seconds: f64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (seconds.is_finite() && seconds > 0.0).then(|| (seconds * 1e9).min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operation, text and effect of a command given as words.
    fn build(words: &[&str]) -> (Option<String>, Option<String>, Effect) {
        let mut b = CommandBuilder::default();
        b.start(1, 1);
        b.set_argc(words.len() as u64);
        for (i, w) in words.iter().enumerate() {
            let keep = b.keep(i as u64);
            let bytes = &w.as_bytes()[..w.len().min(keep)];
            b.arg(i as u64, bytes, w.len() as u64);
        }
        let c = b.finish().expect("a command");
        (c.operation, c.query_text, c.effect)
    }

    fn text(words: &[&str]) -> String {
        build(words).1.expect("a query text")
    }

    #[test]
    fn keys_stay_and_values_become_question_marks() {
        assert_eq!(text(&["set", "user:1", "secret"]), "SET user:1 ?");
        assert_eq!(text(&["GET", "user:1"]), "GET user:1");
        assert_eq!(text(&["HSET", "h", "f", "v"]), "HSET h ? ?");
        assert_eq!(text(&["MGET", "a", "b", "c"]), "MGET a b c");
        assert_eq!(text(&["MSET", "a", "1", "b", "2"]), "MSET a ? b ?");
        assert_eq!(text(&["BLPOP", "q1", "q2", "0"]), "BLPOP q1 q2 ?");
        assert_eq!(
            text(&["EVAL", "return 1", "2", "k1", "k2", "arg"]),
            "EVAL ? ? k1 k2 ?"
        );
        assert_eq!(
            text(&["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"]),
            "ZUNIONSTORE dst ? a b ? ? ?"
        );
        assert_eq!(
            text(&["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"]),
            "XREAD ? ? ? s1 s2 ? ?"
        );
        assert_eq!(text(&["OBJECT", "encoding", "k"]), "OBJECT ENCODING k");
        assert_eq!(text(&["JSON.SET", "k", "$", "{}"]), "JSON.SET ? ? ?");
    }

    #[test]
    fn secrets_never_reach_the_text() {
        assert_eq!(text(&["AUTH", "hunter2"]), "AUTH ?");
        assert_eq!(text(&["AUTH", "user", "hunter2"]), "AUTH ? ?");
        assert_eq!(
            text(&["HELLO", "3", "AUTH", "default", "hunter2"]),
            "HELLO ? ? ? ?"
        );
        assert_eq!(
            text(&["CONFIG", "SET", "requirepass", "hunter2"]),
            "CONFIG SET ? ?"
        );
        assert_eq!(
            text(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH", "hunter2"]),
            "MIGRATE ? ? k ? ? ? ?"
        );
    }

    #[test]
    fn containers_name_both_words() {
        let (op, text, _) = build(&["client", "setname", "worker-1"]);
        assert_eq!(op.as_deref(), Some("CLIENT SETNAME"));
        assert_eq!(text.as_deref(), Some("CLIENT SETNAME ?"));
        let (op, _, _) = build(&["CONFIG", "get", "maxmemory"]);
        assert_eq!(op.as_deref(), Some("CONFIG GET"));
        let (op, text, _) = build(&["CONFIG", "no such thing"]);
        assert_eq!(op.as_deref(), Some("CONFIG"));
        assert_eq!(text.as_deref(), Some("CONFIG ?"));
    }

    #[test]
    fn effects() {
        assert_eq!(
            build(&["BRPOP", "celery", "1"]).2,
            Effect::Blocking {
                timeout_ns: Some(1_000_000_000)
            }
        );
        assert_eq!(
            build(&["BLPOP", "q", "0"]).2,
            Effect::Blocking { timeout_ns: None }
        );
        assert_eq!(
            build(&["BLMPOP", "0.5", "1", "q", "LEFT"]).2,
            Effect::Blocking {
                timeout_ns: Some(500_000_000)
            }
        );
        assert_eq!(
            build(&["XREAD", "BLOCK", "100", "STREAMS", "s", "$"]).2,
            Effect::Blocking {
                timeout_ns: Some(100_000_000)
            }
        );
        assert_eq!(build(&["XREAD", "STREAMS", "s", "0"]).2, Effect::None);
        assert_eq!(build(&["SELECT", "2"]).2, Effect::Select { db: 2 });
        assert_eq!(
            build(&["SUBSCRIBE", "a", "b"]).2,
            Effect::Subscribe {
                family: Family::Channel,
                unsubscribe: false,
                expected: 2
            }
        );
        assert_eq!(
            build(&["UNSUBSCRIBE"]).2,
            Effect::Subscribe {
                family: Family::Channel,
                unsubscribe: true,
                expected: 1
            }
        );
        assert_eq!(
            build(&["CLIENT", "REPLY", "off"]).2,
            Effect::ClientReply(ReplyMode::Off)
        );
    }

    #[test]
    fn long_texts_and_keys_are_cut() {
        let long_key = "k".repeat(300);
        let t = text(&["GET", &long_key]);
        assert_eq!(t.len(), 4 + MAX_KEEP + ELLIPSIS.len());
        assert!(t.ends_with("k..."));
        let mut words = vec!["HSET", "h"];
        words.extend(std::iter::repeat_n("v", 2000));
        let t = text(&words);
        assert!(t.len() <= MAX_QUERY_TEXT, "{}", t.len());
        assert!(t.ends_with(" ..."));
    }
}

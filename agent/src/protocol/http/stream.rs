//! Where one direction of the connection stands between messages.

use super::body::Body;
use super::detect::{HeadKind, plausible_start};
use super::head_buffer::HeadBuffer;

#[derive(Debug, Default)]
pub(super) enum State {
    /// A head is expected next (its start may be kept in the head buffer).
    #[default]
    Head,
    /// Inside a body. `owner` is the seq of the pending exchange it counts for; `None` for a
    /// response no request was waiting for.
    Body {
        body: Body,
        kind: HeadKind,
        owner: Option<u64>,
    },
    /// Sync lost: bytes are dropped until a chunk starts with something like a head.
    Lost,
}

#[derive(Debug, Default)]
pub(super) struct Stream {
    pub state: State,
    pub head: HeadBuffer,
    /// The head in progress started at a resync point, not where the previous message ended:
    /// if it turns out not to be HTTP, it was more of the same garbage, not a new loss.
    pub tentative: bool,
}

impl Stream {
    /// Back to the start of a stream, holding no memory.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Whether a chunk that starts with `data` can end a loss of sync: after a gap or garbage the
/// parser only looks again where a syscall started, since a head usually starts a write.
pub(super) fn is_resync_point(data: &[u8], kind: Option<HeadKind>) -> bool {
    !data.is_empty() && plausible_start(data, kind)
}

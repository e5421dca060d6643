//! Cuts one direction of a connection into packets, across any split into reads and around
//! bytes that were not captured.
//!
//! A packet that lies whole in one chunk is handed over in place and never copied. Of a
//! packet split across chunks only the payload prefix that the sink asks for is kept (at
//! most `max_keep` bytes): enough to tell the packet's kind and read its small fields, never
//! a row. Uncaptured bytes (gaps) are skipped by count: a gap inside a payload costs nothing
//! but its bytes; a gap that hides a header loses the framing until the parser finds it
//! again (see [`Framer::resync`]).

use super::wire::{HEADER_LEN, Header, MAX_PAYLOAD};

/// Bytes kept at the end of the captured stream while the framing is lost (and at most
/// `max_keep`): enough for the packets that end a response (EOF, OK, ERR with a short
/// message).
pub(super) const TAIL_BYTES: usize = 256;
/// Capacity kept between packets; a buffer grown beyond this by a rare large one is freed.
const RETAINED_CAPACITY: usize = 4096;

/// One packet, as much of it as was asked for and captured.
#[derive(Debug)]
pub(super) struct Packet<'a> {
    pub header: Header,
    /// The payload prefix kept: at most what the sink asked for.
    pub payload: &'a [u8],
    /// Some of the bytes asked for were not captured (the payload is shorter than asked).
    pub cut: bool,
    /// Time and thread of the chunk that carried the first header byte.
    pub start_ns: u64,
    pub start_tid: u32,
    /// Time of the chunk that carried the last payload byte.
    pub end_ns: u64,
}

/// Where packets go.
pub(super) trait PacketSink {
    /// Payload bytes to keep of the packet with `header`, whose first payload byte is `first`.
    fn keep(&self, header: Header, first: u8) -> usize;
    fn packet(&mut self, packet: Packet<'_>);
}

#[derive(Debug, Default)]
enum State {
    /// The next byte starts a header.
    #[default]
    Boundary,
    /// `have` bytes of a header so far.
    Header {
        bytes: [u8; HEADER_LEN],
        have: usize,
        start_ns: u64,
        start_tid: u32,
    },
    Payload(Payload),
    /// A gap hid a header: bytes are not framed. `kept` holds the last captured bytes (at
    /// most `TAIL_BYTES`, contiguous since the last gap).
    Lost,
}

#[derive(Debug)]
struct Payload {
    header: Header,
    start_ns: u64,
    start_tid: u32,
    /// Payload bytes gone by, captured or not.
    seen: u32,
    /// How many bytes to keep; None until the first byte is seen.
    keep: Option<usize>,
    /// A gap passed: later bytes are no longer contiguous with the kept ones.
    cut: bool,
    /// Continues a packet of `MAX_PAYLOAD` bytes: framed, not reported.
    continuation: bool,
}

#[derive(Debug)]
pub(super) struct Framer {
    state: State,
    /// The kept payload prefix of a packet split across chunks, or the tail while lost.
    kept: Vec<u8>,
    /// The packet after this one continues it (this one has `MAX_PAYLOAD` bytes).
    next_is_continuation: bool,
    max_keep: usize,
}

impl Framer {
    pub(super) fn new(max_keep: usize) -> Self {
        Self {
            state: State::Boundary,
            kept: Vec::new(),
            next_is_continuation: false,
            max_keep,
        }
    }

    /// Starts in the middle of a packet: its header came in a chunk that was not fed here
    /// (detection saw a payload read on its own), and `len` payload bytes follow.
    pub(super) fn inside_payload(max_keep: usize, header: Header, ts_ns: u64, tid: u32) -> Self {
        let mut framer = Self::new(max_keep);
        framer.state = State::Payload(Payload {
            header,
            start_ns: ts_ns,
            start_tid: tid,
            seen: 0,
            keep: None,
            cut: false,
            continuation: false,
        });
        framer
    }

    pub(super) fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost)
    }

    /// Between packets (no header or payload byte pending).
    #[cfg(test)]
    pub(super) fn at_boundary(&self) -> bool {
        matches!(self.state, State::Boundary)
    }

    /// While lost: the last captured bytes, contiguous up to the current position.
    pub(super) fn lost_tail(&self) -> Option<&[u8]> {
        self.is_lost().then_some(self.kept.as_slice())
    }

    /// The parser knows a packet starts at the current position (after the end of a
    /// response found in the tail, or when the other side's next message proves it).
    pub(super) fn resync(&mut self) {
        self.state = State::Boundary;
        self.next_is_continuation = false;
        self.clear_kept();
    }

    /// Bytes held: at most `max_keep`.
    pub(super) fn held_bytes(&self) -> usize {
        self.kept.capacity()
    }

    fn lose(&mut self) {
        self.state = State::Lost;
        self.next_is_continuation = false;
        self.clear_kept();
    }

    fn clear_kept(&mut self) {
        // Kept bytes may be login data: leave nothing of them in memory.
        self.kept.fill(0);
        self.kept.clear();
        if self.kept.capacity() > RETAINED_CAPACITY {
            self.kept = Vec::new();
        }
    }

    /// Frames `data`, captured bytes of one chunk, and hands each finished packet to `sink`.
    pub(super) fn feed(&mut self, data: &[u8], ts_ns: u64, tid: u32, sink: &mut impl PacketSink) {
        let mut rest = data;
        while !rest.is_empty() {
            rest = match std::mem::take(&mut self.state) {
                State::Lost => {
                    self.state = State::Lost;
                    self.push_tail(rest);
                    return;
                }
                State::Boundary => match Header::peek(rest) {
                    Some(header) => {
                        self.start_payload(header, ts_ns, tid, ts_ns, sink);
                        &rest[HEADER_LEN..]
                    }
                    None => {
                        let mut bytes = [0u8; HEADER_LEN];
                        bytes[..rest.len()].copy_from_slice(rest);
                        self.state = State::Header {
                            bytes,
                            have: rest.len(),
                            start_ns: ts_ns,
                            start_tid: tid,
                        };
                        return;
                    }
                },
                State::Header {
                    mut bytes,
                    have,
                    start_ns,
                    start_tid,
                } => {
                    let n = (HEADER_LEN - have).min(rest.len());
                    bytes[have..have + n].copy_from_slice(&rest[..n]);
                    if have + n < HEADER_LEN {
                        self.state = State::Header {
                            bytes,
                            have: have + n,
                            start_ns,
                            start_tid,
                        };
                    } else {
                        self.start_payload(Header::parse(bytes), start_ns, start_tid, ts_ns, sink);
                    }
                    &rest[n..]
                }
                State::Payload(p) => self.feed_payload(p, rest, ts_ns, sink),
            };
        }
    }

    /// `n` bytes moved past without being captured.
    pub(super) fn skip(&mut self, n: u64, ts_ns: u64, sink: &mut impl PacketSink) {
        if n == 0 {
            return;
        }
        match std::mem::take(&mut self.state) {
            State::Lost => {
                // The tail must be contiguous with the current position.
                self.state = State::Lost;
                self.kept.clear();
            }
            State::Boundary | State::Header { .. } => self.lose(),
            State::Payload(mut p) => {
                let remaining = u64::from(p.header.len - p.seen);
                if n < remaining {
                    p.seen += n as u32;
                    p.cut = true;
                    self.state = State::Payload(p);
                } else {
                    p.cut = true;
                    p.seen = p.header.len;
                    self.finish(p, None, ts_ns, sink);
                    if n > remaining {
                        self.lose();
                    }
                }
            }
        }
    }

    fn start_payload(
        &mut self,
        header: Header,
        start_ns: u64,
        start_tid: u32,
        ts_ns: u64,
        sink: &mut impl PacketSink,
    ) {
        let p = Payload {
            header,
            start_ns,
            start_tid,
            seen: 0,
            keep: None,
            cut: false,
            continuation: std::mem::take(&mut self.next_is_continuation),
        };
        if header.len == 0 {
            self.finish(p, Some(&[]), ts_ns, sink);
        } else {
            self.state = State::Payload(p);
        }
    }

    /// Payload bytes: keep what the sink wants, skip the rest, finish the packet at its end.
    fn feed_payload<'a>(
        &mut self,
        mut p: Payload,
        rest: &'a [u8],
        ts_ns: u64,
        sink: &mut impl PacketSink,
    ) -> &'a [u8] {
        let remaining = (p.header.len - p.seen) as usize;
        let (piece, after) = rest.split_at(remaining.min(rest.len()));
        let keep = match p.keep {
            Some(k) => k,
            None => {
                let k = match (p.continuation, piece.first()) {
                    (false, Some(&first)) if p.seen == 0 => {
                        sink.keep(p.header, first).min(self.max_keep)
                    }
                    _ => 0,
                };
                p.keep = Some(k);
                k
            }
        };
        let whole_here = p.seen == 0 && piece.len() == remaining;
        if whole_here {
            // The common case: the packet lies in this chunk; hand it over in place.
            p.seen = p.header.len;
            let payload = &piece[..keep.min(piece.len())];
            self.finish(p, Some(payload), ts_ns, sink);
            return after;
        }
        if !p.cut && self.kept.len() == p.seen as usize && self.kept.len() < keep {
            let n = (keep - self.kept.len()).min(piece.len());
            append_bounded(&mut self.kept, &piece[..n], keep);
        }
        p.seen += piece.len() as u32;
        if p.seen == p.header.len {
            self.finish(p, None, ts_ns, sink);
        } else {
            self.state = State::Payload(p);
        }
        after
    }

    /// The packet's last byte went by: report it (from `payload`, or the kept bytes).
    fn finish(
        &mut self,
        p: Payload,
        payload: Option<&[u8]>,
        ts_ns: u64,
        sink: &mut impl PacketSink,
    ) {
        self.state = State::Boundary;
        self.next_is_continuation = p.header.len == MAX_PAYLOAD;
        if !p.continuation {
            let kept = std::mem::take(&mut self.kept);
            let payload = payload.unwrap_or(&kept);
            let wanted = p.keep.unwrap_or(0).min(p.header.len as usize);
            let cut = payload.len() < wanted || (p.keep.is_none() && p.header.len > 0);
            sink.packet(Packet {
                header: p.header,
                payload,
                cut,
                start_ns: p.start_ns,
                start_tid: p.start_tid,
                end_ns: ts_ns,
            });
            self.kept = kept;
        }
        self.clear_kept();
    }

    fn push_tail(&mut self, bytes: &[u8]) {
        let bound = TAIL_BYTES.min(self.max_keep);
        let bytes = &bytes[bytes.len().saturating_sub(bound)..];
        let overflow = (self.kept.len() + bytes.len()).saturating_sub(bound);
        self.kept.drain(..overflow);
        append_bounded(&mut self.kept, bytes, bound);
    }
}

/// Appends, growing the allocation geometrically but never past `bound` (which the caller
/// keeps `kept.len() + bytes.len()` within).
fn append_bounded(kept: &mut Vec<u8>, bytes: &[u8], bound: usize) {
    let needed = kept.len() + bytes.len();
    if needed > kept.capacity() {
        let target = needed.max(kept.capacity() * 2).min(bound.max(needed));
        kept.reserve_exact(target - kept.len());
    }
    kept.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps everything (up to the framer's limit) and records what arrives.
    #[derive(Default)]
    struct Recorder {
        keep: usize,
        got: Vec<(Header, Vec<u8>, bool, u64, u64)>,
    }

    impl PacketSink for Recorder {
        fn keep(&self, _: Header, _: u8) -> usize {
            self.keep
        }
        fn packet(&mut self, p: Packet<'_>) {
            self.got
                .push((p.header, p.payload.to_vec(), p.cut, p.start_ns, p.end_ns));
        }
    }

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn packets_whole_in_one_chunk() {
        let mut f = Framer::new(64);
        let mut r = Recorder {
            keep: 64,
            ..Default::default()
        };
        let mut data = packet(0, b"\x03SELECT 1");
        data.extend(packet(1, b""));
        f.feed(&data, 5, 1, &mut r);
        assert_eq!(r.got.len(), 2);
        assert_eq!(r.got[0].1, b"\x03SELECT 1");
        assert_eq!(r.got[1].0, Header { len: 0, seq: 1 });
        assert!(f.at_boundary());
    }

    #[test]
    fn byte_by_byte_gives_the_same_packets_with_start_and_end_times() {
        let data = packet(3, b"hello world");
        let mut f = Framer::new(64);
        let mut r = Recorder {
            keep: 5,
            ..Default::default()
        };
        for (i, b) in data.iter().enumerate() {
            f.feed(std::slice::from_ref(b), i as u64, 1, &mut r);
        }
        assert_eq!(r.got.len(), 1);
        let (h, payload, cut, start, end) = &r.got[0];
        assert_eq!(h.seq, 3);
        assert_eq!(payload, b"hello");
        assert!(!cut);
        assert_eq!((*start, *end), (0, data.len() as u64 - 1));
    }

    #[test]
    fn a_gap_inside_a_payload_keeps_the_framing() {
        let mut f = Framer::new(64);
        let mut r = Recorder {
            keep: 64,
            ..Default::default()
        };
        let data = packet(1, &[b'a'; 100]);
        f.feed(&data[..10], 1, 1, &mut r);
        f.skip(94, 2, &mut r);
        assert!(f.at_boundary());
        assert_eq!(r.got.len(), 1);
        assert!(r.got[0].2, "payload cut");
        assert_eq!(r.got[0].1.len(), 6);
        f.feed(&packet(2, b"x"), 3, 1, &mut r);
        assert_eq!(r.got.len(), 2);
    }

    #[test]
    fn a_gap_over_a_header_loses_the_framing_and_keeps_a_tail() {
        let mut f = Framer::new(1024);
        let mut r = Recorder::default();
        f.feed(&packet(1, b"abc"), 1, 1, &mut r);
        f.skip(10, 2, &mut r);
        assert!(f.is_lost());
        f.feed(&[7u8; 300], 3, 1, &mut r);
        assert_eq!(f.lost_tail().map(<[u8]>::len), Some(TAIL_BYTES));
        f.skip(1, 4, &mut r);
        assert_eq!(f.lost_tail().map(<[u8]>::len), Some(0));
        f.resync();
        f.feed(&packet(0, b"q"), 5, 1, &mut r);
        assert_eq!(r.got.len(), 2);
    }

    #[test]
    fn continuation_packets_are_framed_but_not_reported() {
        let mut f = Framer::new(8);
        let mut r = Recorder {
            keep: 8,
            ..Default::default()
        };
        let big = MAX_PAYLOAD;
        let mut head = big.to_le_bytes()[..3].to_vec();
        head.push(0);
        f.feed(&head, 1, 1, &mut r);
        f.feed(b"\x03SELECT", 1, 1, &mut r);
        f.skip(u64::from(big) - 7, 2, &mut r);
        f.feed(&packet(1, b"\xfe tail"), 3, 1, &mut r);
        f.feed(&packet(0, b"\x0e"), 4, 1, &mut r);
        let seqs: Vec<u8> = r.got.iter().map(|g| g.0.seq).collect();
        assert_eq!(seqs, [0, 0]);
        assert_eq!(r.got[0].1, b"\x03SELECT");
    }

    #[test]
    fn inside_payload_starts_mid_packet() {
        let mut f = Framer::inside_payload(64, Header { len: 3, seq: 0 }, 9, 2);
        let mut r = Recorder {
            keep: 64,
            ..Default::default()
        };
        f.feed(b"\x0aab", 9, 2, &mut r);
        assert_eq!(r.got[0].1, b"\x0aab");
        assert!(f.at_boundary());
    }
}

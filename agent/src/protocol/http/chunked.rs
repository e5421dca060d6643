//! Decoder for the chunked transfer coding (RFC 9112 section 7.1), fed any slicing of the body.
//!
//! It only frames: chunk data is skipped by count and never copied, so a gap (bytes not
//! captured) inside chunk data costs nothing. Size lines, extensions and trailers are skipped
//! byte by byte without buffering; their length is bounded so that garbage is detected rather
//! than skipped forever.

use super::error::HttpError;

/// Longest chunk-size line (size plus extensions) or trailer line accepted.
const MAX_LINE_BYTES: usize = 4096;
/// Longest trailer section accepted.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// A u64 holds 16 hex digits.
const MAX_SIZE_DIGITS: u8 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size: extensions or whitespace, up to the LF.
    SizeLineRest {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    /// The CRLF that ends chunk data (a bare LF is accepted).
    DataCr,
    DataLf,
    /// At the start of a trailer line; an empty line ends the body.
    TrailerStart,
    TrailerCr,
    TrailerLine,
    Done,
}

/// How far one call moved through the body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Bytes of the input used (framing included).
    pub consumed: u64,
    /// Decoded payload bytes among them.
    pub payload: u64,
    /// The body ended (the final empty line of the trailer section was consumed).
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChunkedDecoder {
    state: State,
    line_bytes: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub(super) fn new() -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Consumes captured bytes, stopping right after the end of the body.
    pub(super) fn advance(&mut self, data: &[u8]) -> Result<Progress, HttpError> {
        let mut progress = Progress::default();
        let mut rest = data;
        while !rest.is_empty() {
            match self.state {
                State::Done => break,
                State::Data { remaining } => {
                    let n = remaining.min(rest.len() as u64);
                    // n <= rest.len(), so the cut is in bounds.
                    rest = rest.get(n as usize..).unwrap_or_default();
                    progress.payload += n;
                    self.after_data(remaining - n);
                }
                _ => {
                    let [byte, tail @ ..] = rest else { break };
                    rest = tail;
                    self.step(*byte)?;
                }
            }
        }
        progress.consumed = (data.len() - rest.len()) as u64;
        progress.done = self.state == State::Done;
        Ok(progress)
    }

    /// Skips `gap` bytes that were not captured. Only chunk data can be skipped blind: a gap
    /// that reaches into framing loses the body.
    pub(super) fn skip(&mut self, gap: u64) -> Result<Progress, HttpError> {
        let State::Data { remaining } = self.state else {
            return Err(HttpError::GapInChunkedFraming);
        };
        if gap > remaining {
            return Err(HttpError::GapInChunkedFraming);
        }
        self.after_data(remaining - gap);
        Ok(Progress {
            consumed: gap,
            payload: gap,
            done: false,
        })
    }

    fn after_data(&mut self, remaining: u64) {
        self.state = if remaining == 0 {
            State::DataCr
        } else {
            State::Data { remaining }
        };
    }

    fn step(&mut self, byte: u8) -> Result<(), HttpError> {
        self.state = match self.state {
            State::Size { value, digits } => match hex_value(byte) {
                Some(d) if digits < MAX_SIZE_DIGITS => State::Size {
                    value: (value << 4) | u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return Err(HttpError::BadChunkedFraming),
                None if digits == 0 => return Err(HttpError::BadChunkedFraming),
                None if byte == b'\n' => Self::size_line_end(value),
                None if matches!(byte, b'\r' | b';' | b' ' | b'\t') => {
                    self.line_bytes = 1;
                    State::SizeLineRest { value }
                }
                None => return Err(HttpError::BadChunkedFraming),
            },
            State::SizeLineRest { value } => {
                if byte == b'\n' {
                    Self::size_line_end(value)
                } else {
                    self.count_line_byte()?;
                    State::SizeLineRest { value }
                }
            }
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                b'\n' => Self::next_size(),
                _ => return Err(HttpError::BadChunkedFraming),
            },
            State::DataLf => match byte {
                b'\n' => Self::next_size(),
                _ => return Err(HttpError::BadChunkedFraming),
            },
            State::TrailerStart => match byte {
                b'\r' => State::TrailerCr,
                b'\n' => State::Done,
                _ => {
                    self.line_bytes = 0;
                    self.count_trailer_byte()?;
                    State::TrailerLine
                }
            },
            State::TrailerCr => match byte {
                b'\n' => State::Done,
                _ => return Err(HttpError::BadChunkedFraming),
            },
            State::TrailerLine => {
                if byte == b'\n' {
                    State::TrailerStart
                } else {
                    self.count_trailer_byte()?;
                    State::TrailerLine
                }
            }
            // `advance` handles these without stepping.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(())
    }

    fn size_line_end(value: u64) -> State {
        if value == 0 {
            State::TrailerStart
        } else {
            State::Data { remaining: value }
        }
    }

    fn next_size() -> State {
        State::Size {
            value: 0,
            digits: 0,
        }
    }

    fn count_line_byte(&mut self) -> Result<(), HttpError> {
        self.line_bytes += 1;
        if self.line_bytes > MAX_LINE_BYTES {
            return Err(HttpError::BadChunkedFraming);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), HttpError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(HttpError::BadChunkedFraming);
        }
        self.count_line_byte()
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(pieces: &[&[u8]]) -> Result<(u64, bool, u64), HttpError> {
        let mut d = ChunkedDecoder::new();
        let (mut payload, mut consumed) = (0, 0);
        for p in pieces {
            let pr = d.advance(p)?;
            payload += pr.payload;
            consumed += pr.consumed;
            if pr.done {
                return Ok((payload, true, consumed));
            }
        }
        Ok((payload, false, consumed))
    }

    #[test]
    fn decodes_sizes_extensions_and_trailers() {
        let body = b"4;name=\"v\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (payload, done, consumed) = decode_all(&[body]).unwrap();
        assert!(done);
        assert_eq!(payload, 4 + 5 + 14);
        assert_eq!(
            consumed as usize,
            body.len() - 4,
            "stops before the next message"
        );
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let body: &[u8] = b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(decode_all(&[a, b]).unwrap(), (26, true, body.len() as u64));
        }
    }

    #[test]
    fn gap_inside_data_is_skipped_but_not_inside_framing() {
        let mut d = ChunkedDecoder::new();
        d.advance(b"10\r\nab").unwrap();
        assert_eq!(d.skip(14).unwrap().payload, 14);
        assert!(d.advance(b"\r\n0\r\n\r\n").unwrap().done);

        let mut d = ChunkedDecoder::new();
        d.advance(b"10\r\nab").unwrap();
        assert_eq!(d.skip(15), Err(HttpError::GapInChunkedFraming));
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.skip(1), Err(HttpError::GapInChunkedFraming));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert!(decode_all(&[b"zz\r\n"]).is_err());
        assert!(decode_all(&[b"\r\n"]).is_err());
        assert!(decode_all(&[b"11111111111111111\r\n"]).is_err());
        assert!(decode_all(&[b"1\r\naXY"]).is_err());
        let long_ext = [b'a'; MAX_LINE_BYTES + 2];
        assert!(decode_all(&[b"1;", &long_ext]).is_err());
    }
}

//! Decoding of ring-buffer records into typed events, without copying payloads.

use crate::{ConnEvent, DataEvent, EventHeader, SmallEvent, kind};
use core::mem::size_of;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    #[error("data event claims {captured} captured bytes but carries {available}")]
    BadCapture { captured: u32, available: usize },
}

/// One decoded event; `Data` borrows its payload from the ring buffer record.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Data {
        header: EventHeader,
        len: u32,
        direction: u32,
        syscall: u32,
        data: &'a [u8],
    },
    ConnOpen(ConnEvent),
    ConnClose(EventHeader),
    ProcExec(EventHeader),
    ProcExit(EventHeader),
}

impl Event<'_> {
    pub fn header(&self) -> &EventHeader {
        match self {
            Event::Data { header, .. } => header,
            Event::ConnOpen(c) => &c.header,
            Event::ConnClose(h) | Event::ProcExec(h) | Event::ProcExit(h) => h,
        }
    }
}

/// Reads a plain-old-data value from the front of `bytes`.
fn read_pod<T: Copy>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError::Short(bytes.len()));
    }
    // SAFETY: the length is checked above, T is one of this crate's repr(C) integer-only types
    // (any bit pattern is valid), and read_unaligned makes no alignment assumption.
    Ok(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

const DATA_PREFIX: usize = size_of::<DataEvent>() - crate::CAPTURE_BYTES;

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event<'_>, DecodeError> {
    let header: EventHeader = read_pod(bytes)?;
    match header.kind {
        kind::DATA => {
            if bytes.len() < DATA_PREFIX {
                return Err(DecodeError::Short(bytes.len()));
            }
            let word = |i: usize| {
                let at = size_of::<EventHeader>() + 4 * i;
                u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
            };
            let (len, captured, direction, syscall) = (word(0), word(1), word(2), word(3));
            let available = bytes.len() - DATA_PREFIX;
            let data = bytes
                .get(DATA_PREFIX..DATA_PREFIX + captured as usize)
                .ok_or(DecodeError::BadCapture {
                    captured,
                    available,
                })?;
            Ok(Event::Data {
                header,
                len,
                direction,
                syscall,
                data,
            })
        }
        kind::CONN_OPEN => Ok(Event::ConnOpen(read_pod::<ConnEvent>(bytes)?)),
        kind::CONN_CLOSE => Ok(Event::ConnClose(read_pod::<SmallEvent>(bytes)?.header)),
        kind::PROC_EXEC => Ok(Event::ProcExec(header)),
        kind::PROC_EXIT => Ok(Event::ProcExit(header)),
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// Encodes events the way the kernel lays them out; used by tests and benchmarks to make
/// recorded streams without a kernel.
pub mod encode {
    extern crate alloc;
    use super::*;
    use alloc::vec::Vec;

    fn bytes_of<T: Copy>(value: &T) -> &[u8] {
        // SAFETY: T is a repr(C) integer-only type without padding (size-asserted in lib.rs).
        unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
    }

    pub fn data(
        header: EventHeader,
        len: u32,
        direction: u32,
        syscall: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let captured = payload.len().min(crate::CAPTURE_BYTES);
        let mut out = Vec::with_capacity(DATA_PREFIX + crate::CAPTURE_BYTES);
        out.extend_from_slice(bytes_of(&EventHeader {
            kind: kind::DATA,
            ..header
        }));
        for word in [len, captured as u32, direction, syscall] {
            out.extend_from_slice(&word.to_ne_bytes());
        }
        out.extend_from_slice(&payload[..captured]);
        out.resize(DATA_PREFIX + crate::CAPTURE_BYTES, 0);
        out
    }

    pub fn conn(event: &ConnEvent) -> Vec<u8> {
        bytes_of(&ConnEvent {
            header: EventHeader {
                kind: kind::CONN_OPEN,
                ..event.header
            },
            ..*event
        })
        .to_vec()
    }

    pub fn small(kind: u32, header: EventHeader) -> Vec<u8> {
        bytes_of(&SmallEvent {
            header: EventHeader { kind, ..header },
        })
        .to_vec()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{direction, role};

    fn header() -> EventHeader {
        EventHeader {
            kind: 0,
            pid: 42,
            tid: 43,
            fd: 7,
            ts_ns: 123_456,
            conn_id: 99,
        }
    }

    #[test]
    fn data_round_trip() {
        let bytes = encode::data(header(), 10, direction::EGRESS, 1, b"GET / HTTP");
        let Event::Data {
            header: h,
            len,
            direction: d,
            syscall,
            data,
        } = decode(&bytes).unwrap()
        else {
            panic!("not data")
        };
        assert_eq!(
            (h.pid, h.tid, h.fd, h.ts_ns, h.conn_id),
            (42, 43, 7, 123_456, 99)
        );
        assert_eq!(
            (len, d, syscall, data),
            (10, direction::EGRESS, 1, &b"GET / HTTP"[..])
        );
    }

    #[test]
    fn truncated_data_keeps_original_length() {
        let big = std::vec![b'x'; crate::CAPTURE_BYTES + 100];
        let bytes = encode::data(header(), big.len() as u32, direction::INGRESS, 0, &big);
        let Event::Data { len, data, .. } = decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(len as usize, crate::CAPTURE_BYTES + 100);
        assert_eq!(data.len(), crate::CAPTURE_BYTES);
    }

    #[test]
    fn conn_round_trip() {
        let ev = ConnEvent {
            header: header(),
            family: 2,
            role: role::ACCEPTED,
            local_port: 8080,
            peer_port: 40000,
            local_addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            peer_addr: [127, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        let bytes = encode::conn(&ev);
        let decoded = decode(&bytes).unwrap();
        let Event::ConnOpen(c) = decoded else {
            panic!()
        };
        assert_eq!(c.local_port, 8080);
        assert_eq!(c.header.kind, kind::CONN_OPEN);
        assert_eq!(c.peer_addr[3], 2);
    }

    #[test]
    fn small_events_round_trip() {
        for k in [kind::CONN_CLOSE, kind::PROC_EXEC, kind::PROC_EXIT] {
            let bytes = encode::small(k, header());
            let ev = decode(&bytes).unwrap();
            assert_eq!(ev.header().kind, k);
            assert_eq!(ev.header().pid, 42);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode(&[1, 2, 3]), Err(DecodeError::Short(3)));
        let mut bytes = encode::small(77, header());
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind(77)));
        bytes = encode::data(header(), 5, 0, 0, b"hello");
        bytes.truncate(50);
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::BadCapture { .. })
        ));
    }
}

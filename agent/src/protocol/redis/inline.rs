//! Words of an inline command (`SET k v\r\n`, as typed into telnet), split the way the
//! server splits them: on spaces and tabs, with `"..."` and `'...'` quoting a word. Escapes
//! inside quotes are skipped over, not decoded: the words only name a command and its keys.

pub(super) struct InlineWords<'a> {
    rest: &'a [u8],
}

impl<'a> InlineWords<'a> {
    pub(super) fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for InlineWords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
        let rest = &self.rest[start..];
        let quote = match rest.first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                let end = rest
                    .iter()
                    .position(|b| matches!(b, b' ' | b'\t'))
                    .unwrap_or(rest.len());
                self.rest = &rest[end..];
                return Some(&rest[..end]);
            }
        };
        let inner = &rest[1..];
        let mut i = 0;
        while i < inner.len() && inner[i] != quote {
            // A backslash escapes the next byte inside double quotes.
            i += if quote == b'"' && inner[i] == b'\\' {
                2
            } else {
                1
            };
        }
        let end = i.min(inner.len());
        self.rest = inner.get(end + 1..).unwrap_or(&[]);
        Some(&inner[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&[u8]> {
        InlineWords::new(line.as_bytes()).collect()
    }

    #[test]
    fn splits_on_blanks_and_quotes() {
        assert_eq!(words("SET k v"), [&b"SET"[..], b"k", b"v"]);
        assert_eq!(words("  PING\t "), [&b"PING"[..]]);
        assert_eq!(
            words(r#"SET "a key" 'x y' "q\"z""#),
            [&b"SET"[..], b"a key", b"x y", br#"q\"z"#]
        );
        assert_eq!(words(r#"SET "open"#), [&b"SET"[..], b"open"]);
        assert!(words("").is_empty());
    }
}

//! The tokens of an SQL text, with their byte ranges, from sqlparser's tokenizer.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Word};

use super::SqlDialect;

/// One token and where it lies in the text.
#[derive(Debug)]
pub(super) struct Tok {
    /// None for a tail the tokenizer could not read (an unterminated string or comment,
    /// usually a statement cut short): it is treated as one literal.
    pub token: Option<Token>,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn is_whitespace(&self) -> bool {
        matches!(self.token, Some(Token::Whitespace(_)))
    }

    /// Values a statement carries: they become `?`.
    pub fn is_literal(&self) -> bool {
        match &self.token {
            None => true,
            Some(t) => matches!(
                t,
                Token::Number(..)
                    | Token::SingleQuotedString(_)
                    | Token::DoubleQuotedString(_)
                    | Token::TripleSingleQuotedString(_)
                    | Token::TripleDoubleQuotedString(_)
                    | Token::DollarQuotedString(_)
                    | Token::SingleQuotedByteStringLiteral(_)
                    | Token::DoubleQuotedByteStringLiteral(_)
                    | Token::TripleSingleQuotedByteStringLiteral(_)
                    | Token::TripleDoubleQuotedByteStringLiteral(_)
                    | Token::SingleQuotedRawStringLiteral(_)
                    | Token::DoubleQuotedRawStringLiteral(_)
                    | Token::TripleSingleQuotedRawStringLiteral(_)
                    | Token::TripleDoubleQuotedRawStringLiteral(_)
                    | Token::NationalStringLiteral(_)
                    | Token::QuoteDelimitedStringLiteral(_)
                    | Token::NationalQuoteDelimitedStringLiteral(_)
                    | Token::EscapedStringLiteral(_)
                    | Token::UnicodeStringLiteral(_)
                    | Token::HexStringLiteral(_)
                    | Token::CopyData { .. }
            ),
        }
    }

    pub fn word(&self) -> Option<&Word> {
        match &self.token {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    /// The keyword of an unquoted word.
    pub fn keyword(&self) -> Option<Keyword> {
        self.word()
            .filter(|w| w.quote_style.is_none() && w.keyword != Keyword::NoKeyword)
            .map(|w| w.keyword)
    }

    pub fn is_keyword(&self, keyword: Keyword) -> bool {
        self.keyword() == Some(keyword)
    }

    pub fn is(&self, token: &Token) -> bool {
        self.token.as_ref() == Some(token)
    }
}

/// Every token of `sql`, in order, covering the whole text. Never panics.
pub(super) fn tokenize(sql: &str, dialect: SqlDialect) -> Vec<Tok> {
    let pg = PostgreSqlDialect {};
    let my = MySqlDialect {};
    let dialect: &dyn Dialect = match dialect {
        SqlDialect::Postgres => &pg,
        SqlDialect::MySql => &my,
    };
    let mut out = Vec::new();
    let mut offset = 0;
    let mut buf = Vec::new();
    while offset < sql.len() {
        let Some(rest) = sql.get(offset..) else {
            break;
        };
        buf.clear();
        // The tokenizer is third-party code fed with wire bytes: a panic in it must not take
        // the agent down, so it ends the readable part of the text instead.
        let ok = catch_unwind(AssertUnwindSafe(|| {
            Tokenizer::new(dialect, rest)
                .tokenize_with_location_into_buf(&mut buf)
                .is_ok()
        }))
        .unwrap_or(false);
        let mut cursor = Cursor::new(rest);
        // PostgreSqlDialect reads the lines after `COPY .. FROM STDIN;` as psql's inline data
        // (a CopyData token, placed before the `;` and the rest of its line). On the wire
        // that data travels in CopyData messages, so those lines are more statements: keep
        // the `;` line and tokenize the text from the data's start afresh.
        let mut copy_data_at: Option<Location> = None;
        for TokenWithSpan { token, span } in buf.drain(..) {
            if copy_data_at.is_some_and(|at| span.start >= at) {
                break;
            }
            if matches!(token, Token::CopyData { .. }) {
                copy_data_at = Some(span.start);
                continue;
            }
            let start = offset + cursor.advance_to(span.start);
            let end = offset + cursor.advance_to(span.end);
            out.push(Tok {
                token: Some(token),
                start,
                end,
            });
        }
        let restart = copy_data_at.map(|at| offset + cursor.advance_to(at));
        let read_to = out.last().map_or(offset, |t| t.end);
        match restart {
            Some(at) if at > offset => offset = at,
            _ => {
                if !ok && read_to < sql.len() {
                    out.push(Tok {
                        token: None,
                        start: read_to,
                        end: sql.len(),
                    });
                }
                break;
            }
        }
    }
    out
}

/// Turns the tokenizer's (line, column) locations into byte offsets, walking the text once.
/// Columns count chars, as the tokenizer does. It never moves back, so odd locations (MySQL
/// comment hints re-tokenized on their own) cannot make ranges run backwards.
struct Cursor<'a> {
    text: &'a str,
    line: u64,
    column: u64,
    byte: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            line: 1,
            column: 1,
            byte: 0,
        }
    }

    fn advance_to(&mut self, to: Location) -> usize {
        while (self.line, self.column) < (to.line, to.column) {
            let Some(ch) = self.text.get(self.byte..).and_then(|s| s.chars().next()) else {
                break;
            };
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.byte += ch.len_utf8();
        }
        self.byte
    }
}

//! The text a span shows: literals replaced by `?`, comments dropped, whitespace collapsed.

use std::fmt::Write as _;

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use super::MAX_TEXT_BYTES;
use super::tokens::Tok;

pub(super) fn render(toks: &[Tok]) -> String {
    let mut out = String::new();
    let mut space = false;
    let mut i = 0;
    while i < toks.len() && out.len() <= MAX_TEXT_BYTES {
        let tok = &toks[i];
        i += 1;
        if tok.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if tok.is_keyword(Keyword::IN)
            && let Some(after) = literal_list_end(toks, i)
        {
            out.push_str("IN (?)");
            i = after;
        } else if is_unary_minus(toks, i - 1) {
            // `-5` is one value; the literal that follows prints the `?`.
        } else if tok.is_literal() {
            out.push('?');
        } else if let Some(token) = &tok.token {
            let _ = write!(out, "{token}");
        }
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
    cut_at_char_boundary(&mut out, MAX_TEXT_BYTES);
    out
}

fn cut_at_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

fn next_significant(toks: &[Tok], mut i: usize) -> Option<usize> {
    while i < toks.len() {
        if !toks[i].is_whitespace() {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn prev_significant(toks: &[Tok], i: usize) -> Option<&Tok> {
    toks[..i].iter().rev().find(|t| !t.is_whitespace())
}

/// A `-` directly before a number, where no operand comes before it (`= -5`, `(-1`,
/// `, -2`): part of the literal, not a subtraction.
fn is_unary_minus(toks: &[Tok], i: usize) -> bool {
    if !toks[i].is(&Token::Minus) {
        return false;
    }
    let next_is_number = toks
        .get(i + 1)
        .is_some_and(|t| matches!(t.token, Some(Token::Number(..))));
    next_is_number && !prev_significant(toks, i).is_some_and(ends_operand)
}

/// Whether a token can end an operand, so that a `-` after it subtracts.
fn ends_operand(tok: &Tok) -> bool {
    if tok.is_literal() {
        return true;
    }
    match &tok.token {
        Some(Token::Word(w)) => {
            w.quote_style.is_some()
                || !matches!(
                    w.keyword,
                    Keyword::SELECT
                        | Keyword::WHERE
                        | Keyword::AND
                        | Keyword::OR
                        | Keyword::NOT
                        | Keyword::ON
                        | Keyword::WHEN
                        | Keyword::THEN
                        | Keyword::ELSE
                        | Keyword::LIMIT
                        | Keyword::OFFSET
                        | Keyword::VALUES
                        | Keyword::SET
                        | Keyword::BETWEEN
                        | Keyword::IS
                        | Keyword::LIKE
                        | Keyword::ILIKE
                        | Keyword::RETURN
                        | Keyword::BY
                        | Keyword::HAVING
                        | Keyword::CASE
                        | Keyword::IN
                        | Keyword::INTERVAL
                        | Keyword::DEFAULT
                )
        }
        Some(Token::RParen | Token::RBracket | Token::Placeholder(_)) => true,
        _ => false,
    }
}

/// After `IN` at `i`: if a parenthesised list of literals follows, the index past its `)`.
fn literal_list_end(toks: &[Tok], i: usize) -> Option<usize> {
    let mut i = next_significant(toks, i)?;
    if !toks[i].is(&Token::LParen) {
        return None;
    }
    loop {
        i = next_significant(toks, i + 1)?;
        if toks[i].is(&Token::Minus) {
            i = next_significant(toks, i + 1)?;
        }
        if !toks[i].is_literal() {
            return None;
        }
        i = next_significant(toks, i + 1)?;
        if toks[i].is(&Token::RParen) {
            return Some(i + 1);
        }
        if !toks[i].is(&Token::Comma) {
            return None;
        }
    }
}

//! One text holding several statements (a simple query `a; b; c`) cut into statements.

use sqlparser::tokenizer::Token;

use super::SqlDialect;
use super::tokens::{Tok, tokenize};

/// The statements of `sql`, in order, each from its first to its last token (comments and
/// whitespace around them left out). Cuts at `;` tokens outside parentheses: a `;` inside a
/// string, a quoted name, a comment or a dollar-quoted body does not cut. Pieces without any
/// token (`;;`, a lone comment) are dropped, as the server drops them.
///
/// Known limit: a SQL-standard function body (`BEGIN ATOMIC ...; ...; END`) is cut at its
/// inner `;`s (the server's grammar, not its tokens, knows they belong together).
pub fn split_statements(sql: &str, dialect: SqlDialect) -> Vec<&str> {
    let toks = tokenize(sql, dialect);
    let mut out = Vec::new();
    let mut piece: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    let mut push = |piece: &mut Option<(usize, usize)>| {
        if let Some((start, end)) = piece.take()
            && let Some(text) = sql.get(start..end)
        {
            out.push(text);
        }
    };
    for Tok { token, start, end } in &toks {
        match token {
            Some(Token::Whitespace(_)) => continue,
            Some(Token::SemiColon) if depth == 0 => {
                push(&mut piece);
                continue;
            }
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            _ => {}
        }
        piece = Some(match piece {
            Some((s, _)) => (s, *end),
            None => (*start, *end),
        });
    }
    push(&mut piece);
    out
}

//! The operation and the main table of a statement, from its significant tokens (whitespace
//! and comments left out). A few rules per statement kind, no full parse: statements that
//! sonde's parser would reject (dialect extensions, cut texts) still get what can be read.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use super::tokens::Tok;

/// The main statement's first keyword, upper case.
pub(super) fn operation(sig: &[&Tok]) -> Option<String> {
    let word = sig.get(main_statement(sig))?;
    word.keyword()?;
    word.word().map(|w| w.value.to_ascii_uppercase())
}

/// The main table, as written.
pub(super) fn collection(sig: &[&Tok]) -> Option<String> {
    let main = main_statement(sig);
    let end = statement_end(sig, main);
    let sig = sig.get(..end)?;
    let next = main + 1;
    match sig.get(main)?.keyword()? {
        Keyword::SELECT | Keyword::DELETE => table_after_from(sig, next),
        Keyword::INSERT | Keyword::REPLACE => table_after_into(sig, next),
        Keyword::MERGE => table_after_into(sig, next),
        Keyword::UPDATE => qualified_name(
            sig,
            skip_keywords(
                sig,
                next,
                &[Keyword::ONLY, Keyword::LOW_PRIORITY, Keyword::IGNORE],
            ),
        ),
        Keyword::TRUNCATE | Keyword::LOCK => qualified_name(
            sig,
            skip_keywords(sig, next, &[Keyword::TABLE, Keyword::TABLES, Keyword::ONLY]),
        ),
        Keyword::CREATE | Keyword::ALTER | Keyword::DROP => ddl_object(sig, next),
        Keyword::COPY => match sig.get(next) {
            Some(t) if t.is(&Token::LParen) => {
                let close = group_end(sig, next)?;
                table_after_from(sig.get(..close)?, next + 1)
            }
            _ => qualified_name(sig, next),
        },
        _ => None,
    }
}

/// Index of the main statement's keyword: past opening parentheses and a `WITH` clause. When
/// the `WITH` clause cannot be read to its end (a cut text), the `WITH` itself.
fn main_statement(sig: &[&Tok]) -> usize {
    let mut i = 0;
    while sig.get(i).is_some_and(|t| t.is(&Token::LParen)) {
        i += 1;
    }
    if sig.get(i).is_some_and(|t| t.is_keyword(Keyword::WITH)) {
        return skip_with_clause(sig, i + 1).unwrap_or(i);
    }
    i
}

/// `[RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (query) [, ...]`: the index after it.
fn skip_with_clause(sig: &[&Tok], mut i: usize) -> Option<usize> {
    if sig.get(i)?.is_keyword(Keyword::RECURSIVE) {
        i += 1;
    }
    loop {
        sig.get(i)?.word()?;
        i += 1;
        if sig.get(i)?.is(&Token::LParen) {
            i = group_end(sig, i)? + 1;
        }
        if !sig.get(i)?.is_keyword(Keyword::AS) {
            return None;
        }
        i = skip_keywords(sig, i + 1, &[Keyword::NOT, Keyword::MATERIALIZED]);
        if !sig.get(i)?.is(&Token::LParen) {
            return None;
        }
        i = group_end(sig, i)? + 1;
        if !sig.get(i)?.is(&Token::Comma) {
            return Some(i);
        }
        i += 1;
    }
}

/// The index of the `;` that ends the statement starting at `from`, or the end.
fn statement_end(sig: &[&Tok], from: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in sig.iter().enumerate().skip(from) {
        match &t.token {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::SemiColon) if depth == 0 => return i,
            _ => {}
        }
    }
    sig.len()
}

/// The index of the `)` closing the `(` at `open`.
fn group_end(sig: &[&Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in sig.iter().enumerate().skip(open) {
        match &t.token {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn skip_keywords(sig: &[&Tok], mut i: usize, skip: &[Keyword]) -> usize {
    while sig
        .get(i)
        .and_then(|t| t.keyword())
        .is_some_and(|k| skip.contains(&k))
    {
        i += 1;
    }
    i
}

/// `name` or `schema.name` (any number of parts) at `i`, as written.
fn qualified_name(sig: &[&Tok], i: usize) -> Option<String> {
    name_and_end(sig, i).map(|(name, _)| name)
}

/// The name at `i` and the index after it.
fn name_and_end(sig: &[&Tok], mut i: usize) -> Option<(String, usize)> {
    let mut name = sig.get(i)?.word()?.to_string();
    while sig.get(i + 1).is_some_and(|t| t.is(&Token::Period))
        && let Some(part) = sig.get(i + 2).and_then(|t| t.word())
    {
        name.push('.');
        name.push_str(&part.to_string());
        i += 2;
    }
    Some((name, i + 1))
}

/// The first table of the first `FROM` at the top level of `sig[from..]` (a `FROM` inside
/// parentheses belongs to a subquery or a function such as `EXTRACT(.. FROM ..)`). A FROM
/// that opens a subquery gives that subquery's table.
fn table_after_from(sig: &[&Tok], from: usize) -> Option<String> {
    let mut depth = 0usize;
    for i in from..sig.len() {
        let t = sig[i];
        match &t.token {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            _ if depth == 0 && t.is_keyword(Keyword::FROM) => {
                let at = skip_keywords(sig, i + 1, &[Keyword::ONLY, Keyword::LATERAL]);
                if sig.get(at)?.is(&Token::LParen) {
                    let close = group_end(sig, at).unwrap_or(sig.len());
                    return table_after_from(sig.get(..close)?, at + 1);
                }
                let (name, after) = name_and_end(sig, at)?;
                // `FROM generate_series(1, 3)` reads a function, not a table.
                let is_call = sig.get(after).is_some_and(|t| t.is(&Token::LParen));
                return (!is_call).then_some(name);
            }
            _ => {}
        }
    }
    None
}

/// `INSERT [modifiers] [INTO] name`: the table after the first top-level `INTO`, or (MySQL
/// allows INTO to be left out) the first name after the modifiers.
fn table_after_into(sig: &[&Tok], from: usize) -> Option<String> {
    let start = skip_keywords(
        sig,
        from,
        &[
            Keyword::LOW_PRIORITY,
            Keyword::DELAYED,
            Keyword::HIGH_PRIORITY,
            Keyword::IGNORE,
        ],
    );
    if sig.get(start)?.is_keyword(Keyword::INTO) {
        return qualified_name(sig, start + 1);
    }
    qualified_name(sig, start)
}

/// `CREATE [OR REPLACE] [TEMP ..] TABLE [IF NOT EXISTS] name`, the same for VIEW and SEQUENCE,
/// and the table of `CREATE [UNIQUE] INDEX .. ON [ONLY] table`.
fn ddl_object(sig: &[&Tok], from: usize) -> Option<String> {
    let i = skip_keywords(
        sig,
        from,
        &[
            Keyword::OR,
            Keyword::REPLACE,
            Keyword::TEMP,
            Keyword::TEMPORARY,
            Keyword::UNLOGGED,
            Keyword::GLOBAL,
            Keyword::LOCAL,
            Keyword::UNIQUE,
            Keyword::MATERIALIZED,
            Keyword::FOREIGN,
            Keyword::EXTERNAL,
            Keyword::RECURSIVE,
        ],
    );
    match sig.get(i)?.keyword()? {
        Keyword::TABLE | Keyword::VIEW | Keyword::SEQUENCE => {
            let at = skip_keywords(
                sig,
                i + 1,
                &[Keyword::IF, Keyword::NOT, Keyword::EXISTS, Keyword::ONLY],
            );
            qualified_name(sig, at)
        }
        Keyword::INDEX => {
            let on = (i + 1..sig.len()).find(|&j| sig[j].is_keyword(Keyword::ON))?;
            qualified_name(sig, skip_keywords(sig, on + 1, &[Keyword::ONLY]))
        }
        _ => None,
    }
}

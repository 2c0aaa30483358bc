//! Splits a filter into tokens. Words are not classified here: whether `eq` is an operator or an
//! attribute name depends on where it stands, which only the parser knows.

use serde_json::Number;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// Only after `]`, as in `emails[type eq "work"].value`; elsewhere dots are part of a word.
    Dot,
    /// An attribute path, operator or keyword.
    Word(&'a str),
    Str(String),
    Num(Number),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offset in the input.
    pub pos: usize,
}

/// Characters an attribute path may contain. `:` and `.` are in because a URN prefix contains
/// both (`urn:…:enterprise:2.0:User:manager.value`); `$` because of `$ref`.
pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '$')
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$'
}

fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')
}

/// A 1-based character position for error messages (offsets are always on char boundaries).
pub(super) fn position(input: &str, byte: usize) -> usize {
    input.get(..byte).map_or(byte, |s| s.chars().count()) + 1
}

/// Shortens client text echoed in an error message.
pub(super) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

pub(super) fn lex(input: &str) -> Result<Vec<Token<'_>>, String> {
    // About one token per four bytes in real filters: reserving saves the vector's regrowths.
    let mut tokens = Vec::with_capacity(input.len() / 4 + 1);
    let mut chars = input.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        let tok = match c {
            c if c.is_ascii_whitespace() => {
                chars.next();
                continue;
            }
            '(' | ')' | '[' | ']' | '.' => {
                chars.next();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    _ => Tok::Dot,
                }
            }
            '"' => {
                let end = string_end(input, pos).ok_or_else(|| {
                    format!(
                        "unterminated string starting at position {}",
                        position(input, pos)
                    )
                })?;
                while chars.next_if(|&(i, _)| i <= end).is_some() {}
                Tok::Str(string_literal(input, pos, end)?)
            }
            c if c == '-' || c.is_ascii_digit() => {
                let text = take_while(input, &mut chars, is_number_char);
                let n = serde_json::from_str::<Number>(text).map_err(|_| {
                    format!(
                        "invalid number '{}' at position {}",
                        excerpt(text),
                        position(input, pos)
                    )
                })?;
                Tok::Num(n)
            }
            c if is_word_start(c) => Tok::Word(take_while(input, &mut chars, is_word_char)),
            other => {
                return Err(format!(
                    "unexpected character '{other}' at position {}",
                    position(input, pos)
                ))
            }
        };
        tokens.push(Token { tok, pos });
    }
    Ok(tokens)
}

/// The text of the string literal between the quotes at `start` and `end`. The literal is a
/// JSON string, so serde_json does the unescaping (\uXXXX, surrogate pairs) and rejects what
/// JSON rejects (raw control characters); one with neither escapes nor control characters,
/// the usual kind, is its own text and is copied as it is.
fn string_literal(input: &str, start: usize, end: usize) -> Result<String, String> {
    let inner = &input[start + 1..end];
    if !inner.bytes().any(|b| b == b'\\' || b < 0x20) {
        return Ok(inner.to_owned());
    }
    serde_json::from_str::<String>(&input[start..=end])
        .map_err(|e| format!("invalid string at position {}: {e}", position(input, start)))
}

/// The byte offset of the quote closing the string that opens at `start`.
fn string_end(input: &str, start: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn take_while<'a>(
    input: &'a str,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'a>>,
    accept: fn(char) -> bool,
) -> &'a str {
    let start = chars.peek().map_or(input.len(), |&(i, _)| i);
    let mut end = start;
    while let Some((i, c)) = chars.next_if(|&(_, c)| accept(c)) {
        end = i + c.len_utf8();
    }
    &input[start..end]
}

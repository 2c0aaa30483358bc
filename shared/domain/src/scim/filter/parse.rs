//! Recursive descent over the token list, following RFC 7644 Figure 1:
//!
//! ```text
//! filter  = or
//! or      = and *("or" and)                  ; chains are folded left-associatively
//! and     = unary *("and" unary)
//! unary   = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath
//! ```
//!
//! Only parentheses, `not` and value paths recurse, and each of them counts against
//! [`MAX_FILTER_DEPTH`]; `and`/`or` chains are built in a loop. So the stack stays shallow
//! whatever the input.

use super::lex::{excerpt, is_word_char, lex, position, Tok, Token};
use super::{AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::scim::ScimError;

pub(super) fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let tokens = lex(input).map_err(ScimError::invalid_filter)?;
    if tokens.is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let mut parser = Parser {
        input,
        tokens,
        next: 0,
    };
    let filter = parser.or_expr(0, false)?;
    if let Some(t) = parser.peek() {
        return Err(ScimError::invalid_filter(format!(
            "unexpected {} at position {} (expected 'and', 'or' or the end of the filter)",
            describe(&t.tok),
            position(input, t.pos)
        )));
    }
    Ok(filter)
}

/// Parses `[uri ":"] attrName ["." subAttr]`. The URI is everything up to the last `:`, so
/// URNs with dots (`…:enterprise:2.0:User:manager.value`) split correctly.
pub(crate) fn parse_attr_path(text: &str) -> Result<AttrPath, String> {
    if let Some(bad) = text.chars().find(|&c| !is_word_char(c)) {
        return Err(format!(
            "invalid character '{bad}' in attribute path '{}'",
            excerpt(text)
        ));
    }
    let (uri, rest) = match text.rfind(':') {
        Some(colon) => {
            let uri = &text[..colon];
            if !uri.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!("invalid schema URI in '{}'", excerpt(text)));
            }
            (Some(uri.to_string()), &text[colon + 1..])
        }
        None => (None, text),
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub_attr = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "attribute path '{}' has more than one sub-attribute",
            excerpt(text)
        ));
    }
    check_name(name, text)?;
    if let Some(sub) = sub_attr {
        check_name(sub, text)?;
    }
    Ok(AttrPath {
        uri,
        name: name.to_string(),
        sub_attr: sub_attr.map(str::to_string),
    })
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus a leading `$` for `$ref` (RFC 7643 §2.1).
fn check_name(name: &str, path: &str) -> Result<(), String> {
    let body = name.strip_prefix('$').unwrap_or(name);
    let valid = body.starts_with(|c: char| c.is_ascii_alphabetic())
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid attribute name '{}' in '{}'",
            excerpt(name),
            excerpt(path)
        ))
    }
}

impl AttrPath {
    /// Parses a bare attribute path such as `name.givenName` or
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`; failures are
    /// `invalidPath`.
    pub fn parse(text: &str) -> Result<AttrPath, ScimError> {
        parse_attr_path(text).map_err(ScimError::invalid_path)
    }
}

fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Dot => "'.'".into(),
        Tok::Word(w) => format!("'{}'", excerpt(w)),
        Tok::Str(_) => "a string".into(),
        Tok::Num(_) => "a number".into(),
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next)
    }

    fn peek_tok(&self, ahead: usize) -> Option<&Tok<'a>> {
        self.tokens.get(self.next + ahead).map(|t| &t.tok)
    }

    /// Error for a missing token: names what was found, or the end of the filter.
    fn expected(&self, what: &str) -> ScimError {
        match self.peek() {
            Some(t) => ScimError::invalid_filter(format!(
                "expected {what} at position {}, found {}",
                position(self.input, t.pos),
                describe(&t.tok)
            )),
            None => ScimError::invalid_filter(format!(
                "expected {what} at position {}, found the end of the filter",
                position(self.input, self.input.len())
            )),
        }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek_tok(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, tok: Tok<'static>, what: &str) -> Result<(), ScimError> {
        if self.peek_tok(0) == Some(&tok) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// One level deeper, or an error if that is too deep.
    fn deeper(&self, depth: usize, byte: usize) -> Result<usize, ScimError> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "filter nests deeper than {MAX_FILTER_DEPTH} levels at position {}",
                position(self.input, byte)
            )));
        }
        Ok(depth + 1)
    }

    fn or_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut left = self.and_expr(depth, in_value_path)?;
        while self.eat_keyword("or") {
            let right = self.and_expr(depth, in_value_path)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth, in_value_path)?;
        while self.eat_keyword("and") {
            let right = self.unary(depth, in_value_path)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.expected("an attribute path, '(' or 'not ('"));
        };
        match token.tok {
            Tok::LParen => {
                let depth = self.deeper(depth, token.pos)?;
                self.next += 1;
                let inner = self.or_expr(depth, in_value_path)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(inner)
            }
            // `not` is a keyword only before `(`, so an attribute called `not` still works.
            Tok::Word(w) if w.eq_ignore_ascii_case("not") && self.peek_tok(1) == Some(&Tok::LParen) => {
                let depth = self.deeper(depth, token.pos)?;
                self.next += 2;
                let inner = self.or_expr(depth, in_value_path)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) => {
                self.next += 1;
                self.attr_expr(w, token.pos, depth, in_value_path)
            }
            _ => Err(self.expected("an attribute path, '(' or 'not ('")),
        }
    }

    /// After an attribute path: `pr`, `op value`, or a value path `[…]` (optionally followed by
    /// `.subAttr op value`).
    fn attr_expr(
        &mut self,
        word: &'a str,
        pos: usize,
        depth: usize,
        in_value_path: bool,
    ) -> Result<Filter, ScimError> {
        let path = parse_attr_path(word).map_err(|e| {
            ScimError::invalid_filter(format!("{e} at position {}", position(self.input, pos)))
        })?;
        if self.peek_tok(0) != Some(&Tok::LBracket) {
            return self.condition(path, word);
        }
        let bracket = self.peek().map_or(pos, |t| t.pos);
        if in_value_path {
            return Err(ScimError::invalid_filter(format!(
                "value paths cannot be nested (position {})",
                position(self.input, bracket)
            )));
        }
        if path.sub_attr.is_some() {
            return Err(ScimError::invalid_filter(format!(
                "a value path's attribute cannot have a sub-attribute ('{}[' at position {})",
                excerpt(word),
                position(self.input, pos)
            )));
        }
        let depth = self.deeper(depth, bracket)?;
        self.next += 1;
        let mut inner = self.or_expr(depth, true)?;
        self.expect(Tok::RBracket, "']'")?;
        if self.peek_tok(0) == Some(&Tok::Dot) {
            // `emails[type eq "work"].value eq "x"`: some element has type work and value x,
            // which is exactly `emails[type eq "work" and value eq "x"]`.
            self.next += 1;
            let Some(Token {
                tok: Tok::Word(sub),
                pos: sub_pos,
            }) = self.peek().cloned()
            else {
                return Err(self.expected("a sub-attribute name after '].'"));
            };
            self.next += 1;
            let sub_path = parse_attr_path(sub)
                .and_then(|p| match p.uri.is_none() && p.sub_attr.is_none() {
                    true => Ok(p),
                    false => Err(format!("'{}' is not a sub-attribute name", excerpt(sub))),
                })
                .map_err(|e| {
                    ScimError::invalid_filter(format!(
                        "{e} at position {}",
                        position(self.input, sub_pos)
                    ))
                })?;
            let condition = self.condition(sub_path, sub)?;
            inner = Filter::And(Box::new(inner), Box::new(condition));
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    /// `pr` or `compareOp compValue` after `path`.
    fn condition(&mut self, path: AttrPath, word: &str) -> Result<Filter, ScimError> {
        let op = match self.peek_tok(0) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.next += 1;
                return Ok(Filter::Present(path));
            }
            Some(Tok::Word(w)) => CompareOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            let hint = if word.eq_ignore_ascii_case("not") {
                " ('not' must be followed by '(')"
            } else {
                ""
            };
            let what = format!(
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after '{}'{hint}",
                excerpt(word)
            );
            return Err(self.expected(&what));
        };
        self.next += 1;
        let value = match self.peek_tok(0) {
            Some(Tok::Str(s)) => CompValue::String(s.clone()),
            Some(Tok::Num(n)) => CompValue::Number(n.clone()),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => {
                return Err(self.expected(&format!(
                    "a value (string, number, true, false or null) after '{}'",
                    op.as_str()
                )))
            }
        };
        // RFC 7644 §3.4.2.2: ordering and substring operators on booleans are an
        // invalidFilter; on null they have no meaning either.
        let orderable = matches!(value, CompValue::String(_) | CompValue::Number(_));
        if !orderable && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(self.expected(&format!(
                "a string or number after '{}' (only eq and ne compare with true, false or null)",
                op.as_str()
            )));
        }
        self.next += 1;
        Ok(Filter::Compare(path, op, value))
    }
}

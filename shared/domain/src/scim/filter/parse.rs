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
fn parse_attr_path(text: &str) -> Result<AttrPath, String> {
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
        let found =
            matches!(self.peek_tok(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword));
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
            Tok::Word(w)
                if w.eq_ignore_ascii_case("not") && self.peek_tok(1) == Some(&Tok::LParen) =>
            {
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
                .and_then(|p| {
                    if p.uri.is_none() && p.sub_attr.is_none() {
                        Ok(p)
                    } else {
                        Err(format!("'{}' is not a sub-attribute name", excerpt(sub)))
                    }
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
        // The literal is taken, not copied: each token is read once.
        let value = match self.tokens.get_mut(self.next).map(|t| &mut t.tok) {
            Some(Tok::Str(s)) => CompValue::String(std::mem::take(s)),
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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::scim::ScimErrorType;
    use CompareOp::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn parse(input: &str) -> Filter {
        match Filter::parse(input) {
            Ok(f) => f,
            Err(e) => panic!("{input:?} should parse: {}", e.detail),
        }
    }

    fn parse_err(input: &str) -> String {
        match Filter::parse(input) {
            Ok(f) => panic!("{input:?} should fail, parsed as {f:?}"),
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.scim_type, Some(ScimErrorType::InvalidFilter));
                e.detail
            }
        }
    }

    /// Every example of RFC 7644 §3.4.2.2.
    #[test]
    fn rfc_7644_examples() {
        let cases = [
            (r#"userName eq "bjensen""#, eq("userName", "bjensen")),
            (
                r#"name.familyName co "O'Malley""#,
                cmp("name.familyName", Co, s("O'Malley")),
            ),
            (r#"userName sw "J""#, cmp("userName", Sw, s("J"))),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                cmp(
                    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                    Sw,
                    s("J"),
                ),
            ),
            ("title pr", pr("title")),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Gt, s("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Ge, s("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Lt, s("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Le, s("2011-05-13T04:42:34Z")),
            ),
            (
                r#"title pr and userType eq "Employee""#,
                and(pr("title"), eq("userType", "Employee")),
            ),
            (
                r#"title pr or userType eq "Intern""#,
                or(pr("title"), eq("userType", "Intern")),
            ),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                eq("schemas", ENTERPRISE),
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    eq("userType", "Employee"),
                    or(
                        cmp("emails", Co, s("example.com")),
                        cmp("emails.value", Co, s("example.org")),
                    ),
                ),
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    cmp("userType", Ne, s("Employee")),
                    not(or(
                        cmp("emails", Co, s("example.com")),
                        cmp("emails.value", Co, s("example.org")),
                    )),
                ),
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                and(eq("userType", "Employee"), eq("emails.type", "work")),
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                and(
                    eq("userType", "Employee"),
                    vp(
                        "emails",
                        and(eq("type", "work"), cmp("value", Co, s("@example.com"))),
                    ),
                ),
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                or(
                    vp(
                        "emails",
                        and(eq("type", "work"), cmp("value", Co, s("@example.com"))),
                    ),
                    vp(
                        "ims",
                        and(eq("type", "xmpp"), cmp("value", Co, s("@foo.com"))),
                    ),
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), expected, "{input}");
        }
    }

    /// Filters real identity providers send.
    #[test]
    fn identity_provider_filters() {
        let cases = [
            // Okta user and group lookups.
            (
                r#"userName eq "john@example.com""#,
                eq("userName", "john@example.com"),
            ),
            (r#"displayName eq "Group""#, eq("displayName", "Group")),
            // Entra ID (Azure AD) provisioning.
            (
                r#"externalId eq "0a3b7c9e-5d2f-4e1a-9b8c-7d6e5f4a3b2c""#,
                eq("externalId", "0a3b7c9e-5d2f-4e1a-9b8c-7d6e5f4a3b2c"),
            ),
            (
                r#"userName eq "AdeleV@contoso.onmicrosoft.com""#,
                eq("userName", "AdeleV@contoso.onmicrosoft.com"),
            ),
            (
                r#"displayName eq "Sales Team" and members[value eq "2819c223"]"#,
                and(
                    eq("displayName", "Sales Team"),
                    vp("members", eq("value", "2819c223")),
                ),
            ),
            // OneLogin / JumpCloud style with extension attributes.
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
                Filter::Compare(
                    AttrPath::new("employeeNumber").with_uri(ENTERPRISE),
                    Eq,
                    s("701984"),
                ),
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
                Filter::Compare(
                    AttrPath::new("manager")
                        .with_uri(ENTERPRISE)
                        .with_sub_attr("value"),
                    Eq,
                    s("26118915"),
                ),
            ),
            // Google Workspace checks for recently modified users.
            (
                r#"meta.lastModified gt "2024-01-01T00:00:00Z" and active eq true"#,
                and(
                    cmp("meta.lastModified", Gt, s("2024-01-01T00:00:00Z")),
                    cmp("active", Eq, CompValue::Bool(true)),
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), expected, "{input}");
        }
    }

    #[test]
    fn keywords_are_case_insensitive_and_spacing_is_tolerated() {
        let canonical = parse(r#"userName eq "a" and not (title pr) or active eq true"#);
        for input in [
            r#"userName EQ "a" AND NOT (title PR) OR active eq TRUE"#,
            r#"userName Eq "a" And Not(title Pr) Or active eq True"#,
            "  userName   eq \"a\"\tand  not (  title pr )  or active eq true  ",
        ] {
            assert_eq!(parse(input), canonical, "{input}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_chains_fold_left() {
        assert_eq!(
            parse("a pr or b pr and c pr or d pr"),
            or(or(pr("a"), and(pr("b"), pr("c"))), pr("d"))
        );
        assert_eq!(
            parse("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            parse("a pr and (b pr or c pr)"),
            and(pr("a"), or(pr("b"), pr("c")))
        );
        assert_eq!(parse("((a pr))"), pr("a"));
    }

    #[test]
    fn values() {
        let cases = [
            ("a eq null", CompValue::Null),
            ("a eq false", CompValue::Bool(false)),
            ("a eq 42", n(42)),
            ("a eq -7", n(-7)),
            (
                "a eq 1.5e3",
                CompValue::Number(serde_json::from_str("1.5e3").unwrap()),
            ),
            (r#"a eq "say \"hi\"""#, s(r#"say "hi""#)),
            (r#"a eq "back\\slash""#, s(r"back\slash")),
            (r#"a eq "\u00e9t\u00E9 \ud83d\ude00""#, s("été 😀")),
            (r#"a eq "tab\there""#, s("tab\there")),
            (r#"a eq """#, s("")),
            (r#"a eq "naïve ünïcode""#, s("naïve ünïcode")),
        ];
        for (input, value) in cases {
            assert_eq!(parse(input), cmp("a", Eq, value), "{input}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr"),
            Filter::Present(AttrPath::new("employeeNumber").with_uri(ENTERPRISE))
        );
        assert_eq!(
            parse("members.$ref pr"),
            Filter::Present(AttrPath::new("members").with_sub_attr("$ref"))
        );
        assert_eq!(parse("x-custom_1 pr"), pr("x-custom_1"));
        // Keywords are positional, so attributes may be called `not`, `and`, `pr` or `eq`.
        assert_eq!(parse("not pr"), pr("not"));
        assert_eq!(
            parse("and eq 1 and pr pr"),
            and(cmp("and", Eq, n(1)), pr("pr"))
        );
        assert_eq!(parse(r#"not[eq eq "x"]"#), vp("not", eq("eq", "x")));
    }

    #[test]
    fn value_path_followed_by_sub_attribute() {
        assert_eq!(
            parse(r#"emails[type eq "work"].value eq "x@example.com""#),
            vp(
                "emails",
                and(eq("type", "work"), eq("value", "x@example.com"))
            )
        );
        assert_eq!(
            parse(r#"addresses[type eq "work" or primary eq true].postalCode pr"#),
            vp(
                "addresses",
                and(
                    or(
                        eq("type", "work"),
                        cmp("primary", Eq, CompValue::Bool(true))
                    ),
                    pr("postalCode")
                )
            )
        );
        assert_eq!(
            parse(r#"emails[type eq "work"] and userName eq "a""#),
            and(vp("emails", eq("type", "work")), eq("userName", "a"))
        );
        assert_eq!(
            parse(&format!(r#"{ENTERPRISE}:manager[value eq "x"]"#)),
            Filter::ValuePath(
                AttrPath::new("manager").with_uri(ENTERPRISE),
                Box::new(eq("value", "x"))
            )
        );
    }

    #[test]
    fn errors() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            (r#"userName eq "john"#, "unterminated string"),
            (r#"userName eq "john\""#, "unterminated string"),
            (r#"userName xx "a""#, "expected an operator"),
            (r#"userName "a""#, "expected an operator"),
            ("userName eq", "expected a value"),
            ("userName eq bob", "expected a value"),
            ("userName", "expected an operator"),
            (r#"userName eq "a" foo"#, "unexpected 'foo'"),
            (r#"userName eq "a" and"#, "found the end of the filter"),
            (r#"userName eq "a" or or b pr"#, "expected an operator"),
            (r#"userName eq "a")"#, "unexpected ')'"),
            (r#"(userName eq "a""#, "expected ')'"),
            ("()", "expected an attribute path"),
            (r#"not userName eq "a""#, "'not' must be followed by '('"),
            ("a[b[c eq 1]]", "cannot be nested"),
            (r#"emails[type eq "work""#, "expected ']'"),
            (r#"emails[type eq "work"].value"#, "expected an operator"),
            (
                r#"emails[type eq "work"]."value" eq "a""#,
                "sub-attribute name",
            ),
            (
                r#"emails[type eq "work"].a.b eq "a""#,
                "not a sub-attribute name",
            ),
            (
                r#"name.givenName[value eq "a"]"#,
                "cannot have a sub-attribute",
            ),
            (r#"name.givenName.x eq "a""#, "more than one sub-attribute"),
            (r#"urn:x: eq "a""#, "invalid attribute name"),
            (r#"1abc eq "a""#, "expected an attribute path"),
            (r#":name eq "a""#, "unexpected character ':'"),
            ("userName eq 'a'", "unexpected character '''"),
            (r#"userName eq "\x""#, "invalid string"),
            ("userName eq \"raw\nnewline\"", "invalid string"),
            ("a eq 01", "invalid number"),
            ("a eq 1.", "invalid number"),
            ("a eq -", "invalid number"),
            ("active gt true", "only eq and ne"),
            ("a co null", "only eq and ne"),
            ("a b$c pr", "expected an operator"),
            ("a$b pr", "invalid attribute name"),
        ];
        for (input, expected) in cases {
            let detail = parse_err(input);
            assert!(
                detail.contains(expected),
                "{input:?}: {detail:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn error_reports_position() {
        assert_eq!(
            parse_err(r#"userName eq "a" and title zz "b""#),
            "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after 'title' at \
             position 27, found 'zz'"
        );
    }

    #[test]
    fn too_long() {
        let padding = " ".repeat(MAX_FILTER_LEN);
        assert!(parse_err(&format!("a pr{padding}")).contains("longer than"));
        // Exactly at the limit is fine.
        let at_limit = format!("a pr{}", &padding[4..]);
        assert_eq!(at_limit.len(), MAX_FILTER_LEN);
        assert_eq!(parse(&at_limit), pr("a"));
    }

    fn nested(open: &str, depth: usize) -> String {
        format!("{}a pr{}", open.repeat(depth), ")".repeat(depth))
    }

    #[test]
    fn nesting_limit() {
        assert_eq!(parse(&nested("(", MAX_FILTER_DEPTH)), pr("a"));
        assert!(parse_err(&nested("(", MAX_FILTER_DEPTH + 1)).contains("deeper than 64"));
        assert!(parse_err(&nested("not (", MAX_FILTER_DEPTH + 1)).contains("deeper than 64"));
        let mut f = pr("a");
        for _ in 0..MAX_FILTER_DEPTH {
            f = not(f);
        }
        assert_eq!(parse(&nested("not(", MAX_FILTER_DEPTH)), f);
        // A value path counts as one level.
        let deep_vp = format!(
            "{}x[a pr]{}",
            "(".repeat(MAX_FILTER_DEPTH),
            ")".repeat(MAX_FILTER_DEPTH)
        );
        assert!(parse_err(&deep_vp).contains("deeper than 64"));
    }

    /// Deep input must be rejected, not overflow the stack: run on a small stack to prove it
    /// (64 levels take about 300 KiB in an unoptimised build, far less in release).
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let worker = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(|| {
                for input in [
                    nested("(", 2_000),
                    nested("not (", 2_000),
                    nested("not(", 1_500),
                    format!("{}a pr{}", "x[".repeat(1_000), "]".repeat(1_000)),
                    "(".repeat(MAX_FILTER_LEN),
                ] {
                    assert!(Filter::parse(&input).is_err());
                }
                assert!(parse_err(&nested("not(", 1_500)).contains("deeper than"));
            })
            .expect("spawn");
        assert!(worker.join().is_ok());
    }

    /// Long flat chains are fine: they do not nest.
    #[test]
    fn long_chains() {
        let input = vec!["a pr"; 1_000].join(" or ");
        let f = parse(&input);
        assert!(matches!(f.chain(), Some((false, ops)) if ops.len() == 1_000));
        assert_eq!(parse(&f.to_string()), f);
    }

    #[test]
    fn attr_path_parse_is_invalid_path() {
        assert_eq!(
            AttrPath::parse("name.givenName"),
            Ok(AttrPath::new("name").with_sub_attr("givenName"))
        );
        for bad in ["", "a b", "a.b.c", "a[b]", "1a", "urn:x:", "a.", ".a"] {
            let err = AttrPath::parse(bad).expect_err(bad);
            assert_eq!(err.scim_type, Some(ScimErrorType::InvalidPath), "{bad}");
        }
    }
}

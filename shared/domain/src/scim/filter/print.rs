//! Canonical text for filters: lowercase keywords, JSON strings, and only the parentheses the
//! grammar needs, so that `Filter::parse(&f.to_string()) == Ok(f)`.

use std::fmt::{self, Display, Formatter, Write};

use super::{AttrPath, CompValue, CompareOp, Filter};

impl Display for AttrPath {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(out, "{uri}:")?;
        }
        out.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(out, ".{sub}")?;
        }
        Ok(())
    }
}

impl Display for CompareOp {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        out.write_str(self.as_str())
    }
}

impl Display for CompValue {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => out.write_str("null"),
            CompValue::Bool(b) => write!(out, "{b}"),
            CompValue::Number(n) => write!(out, "{n}"),
            CompValue::String(s) => write_json_string(s, out),
        }
    }
}

fn write_json_string(s: &str, out: &mut Formatter<'_>) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c < ' ' => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

impl Display for Filter {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present(path) => write!(out, "{path} pr"),
            Filter::Compare(path, op, value) => write!(out, "{path} {op} {value}"),
            Filter::ValuePath(path, inner) => write!(out, "{path}[{inner}]"),
            Filter::Not(inner) => write!(out, "not ({inner})"),
            Filter::And(..) | Filter::Or(..) => write_chain(self, out),
        }
    }
}

/// Writes `a and b and c` flat (the parser folds chains to the left, so a left operand of the
/// same kind needs no parentheses).
fn write_chain(filter: &Filter, out: &mut Formatter<'_>) -> fmt::Result {
    let Some((is_and, operands)) = filter.chain() else {
        return write!(out, "{filter}");
    };
    let keyword = if is_and { " and " } else { " or " };
    for (i, operand) in operands.into_iter().enumerate() {
        let is_right = i > 0;
        if is_right {
            out.write_str(keyword)?;
        }
        // `and` binds tighter than `or`, so an `or` inside an `and` needs parentheses; and a
        // right operand of the same kind needs them to stop it joining the left fold.
        let parens = match operand {
            Filter::Or(..) => is_and || is_right,
            Filter::And(..) => is_and && is_right,
            _ => false,
        };
        if parens {
            write!(out, "({operand})")?;
        } else {
            write!(out, "{operand}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    #[test]
    fn canonical_text() {
        let cases = [
            (
                r#"userName EQ "a" AND (b PR OR c pr)"#,
                r#"userName eq "a" and (b pr or c pr)"#,
            ),
            (
                "a pr and b pr or c pr and d pr",
                "a pr and b pr or c pr and d pr",
            ),
            ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
            ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("((a pr and b pr)) and c pr", "a pr and b pr and c pr"),
            ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
            ("NOT(a pr)", "not (a pr)"),
            ("not (a pr or b pr)", "not (a pr or b pr)"),
            (
                r#"emails[type eq "work"].value eq "x""#,
                r#"emails[type eq "work" and value eq "x"]"#,
            ),
            (
                r#"emails[type eq "work" or type eq "home"].value pr"#,
                r#"emails[(type eq "work" or type eq "home") and value pr]"#,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"",
            ),
            ("a eq 1.5E3", "a eq 1500.0"),
            ("a ge -7", "a ge -7"),
            ("a eq TRUE or b ne NULL", "a eq true or b ne null"),
            (
                r#"a eq "q\"b\\s\/\u0001\n\u00e9""#,
                r#"a eq "q\"b\\s/\u0001\né""#,
            ),
        ];
        for (input, canonical) in cases {
            let filter = Filter::parse(input).expect(input);
            assert_eq!(filter.to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn right_nested_trees_keep_their_shape() {
        for f in [
            and(pr("a"), and(pr("b"), pr("c"))),
            or(pr("a"), or(pr("b"), pr("c"))),
            and(or(pr("a"), pr("b")), or(pr("c"), pr("d"))),
            or(and(pr("a"), pr("b")), and(pr("c"), pr("d"))),
            not(not(and(pr("a"), or(pr("b"), pr("c"))))),
        ] {
            assert_eq!(Filter::parse(&f.to_string()), Ok(f.clone()), "{f}");
        }
    }

    const URIS: [&str; 3] = [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:example:custom-schema:1.0",
    ];
    // Includes names that are also keywords, which the parser must treat positionally.
    const NAMES: [&str; 11] = [
        "userName", "name", "emails", "value", "type", "$ref", "x-y_1", "not", "and", "pr", "Eq",
    ];

    fn arb_uri() -> impl Strategy<Value = Option<String>> {
        prop::option::weighted(0.3, select(&URIS[..]).prop_map(String::from))
    }

    fn arb_name() -> impl Strategy<Value = String> {
        select(&NAMES[..]).prop_map(String::from)
    }

    fn arb_path() -> impl Strategy<Value = AttrPath> {
        (arb_uri(), arb_name(), prop::option::of(arb_name())).prop_map(|(uri, name, sub_attr)| {
            AttrPath {
                uri,
                name,
                sub_attr,
            }
        })
    }

    /// Numbers as the parser would produce them: serde_json's default float parsing is only
    /// exact for short decimals, so floats are drawn from those.
    fn arb_number() -> impl Strategy<Value = serde_json::Number> {
        prop_oneof![
            any::<i64>().prop_map(serde_json::Number::from),
            any::<u64>().prop_map(serde_json::Number::from),
            (any::<i32>(), 0..8i32).prop_filter_map("finite", |(m, e)| {
                serde_json::Number::from_f64(f64::from(m) / 10f64.powi(e))
            }),
        ]
    }

    fn arb_value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            Just(CompValue::Null),
            any::<bool>().prop_map(CompValue::Bool),
            arb_number().prop_map(CompValue::Number),
            any::<String>().prop_map(CompValue::String),
            r#"[a-zA-Z"\\ é😀\u{0}-\u{1f}]*"#.prop_map(CompValue::String),
        ]
    }

    fn arb_leaf() -> impl Strategy<Value = Filter> {
        prop_oneof![
            arb_path().prop_map(Filter::Present),
            (arb_path(), select(&CompareOp::ALL[..]), arb_value()).prop_map(|(p, op, v)| {
                // Only eq/ne may compare with true/false/null; the parser rejects the rest.
                let op = match v {
                    CompValue::String(_) | CompValue::Number(_) => op,
                    _ if op == CompareOp::Ne => op,
                    _ => CompareOp::Eq,
                };
                Filter::Compare(p, op, v)
            }),
        ]
    }

    fn logical(leaf: impl Strategy<Value = Filter> + 'static) -> impl Strategy<Value = Filter> {
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
                inner.prop_map(not),
            ]
        })
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        // Value paths do not nest and their attribute has no sub-attribute.
        let value_path = (arb_uri(), arb_name(), logical(arb_leaf())).prop_map(|(uri, name, f)| {
            let path = AttrPath {
                uri,
                name,
                sub_attr: None,
            };
            Filter::ValuePath(path, Box::new(f))
        });
        logical(prop_oneof![3 => arb_leaf(), 1 => value_path])
    }

    proptest! {
        #[test]
        fn printed_filters_parse_back(f in arb_filter()) {
            let text = f.to_string();
            prop_assert_eq!(Filter::parse(&text), Ok(f), "{}", text);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in r#"[a-z \[\]().:"\\0-9-]{0,40}"#) {
            if let Ok(f) = Filter::parse(&text) {
                prop_assert_eq!(Filter::parse(&f.to_string()), Ok(f));
            }
        }
    }
}

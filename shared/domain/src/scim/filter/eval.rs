//! Evaluates a filter against a SCIM resource given as JSON (RFC 7644 §3.4.2.2 semantics).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ast::is_core_schema_uri;
use super::{AttrPath, CompValue, CompareOp, Filter};

impl Filter {
    /// Whether `resource` (a SCIM resource as JSON) matches. Never panics; values of the wrong
    /// type simply do not match.
    pub fn matches(&self, resource: &Value) -> bool {
        eval(self, resource, None)
    }
}

/// `parent` is the value path whose element `ctx` is, for the case-exactness of inner paths.
fn eval(filter: &Filter, ctx: &Value, parent: Option<&AttrPath>) -> bool {
    match filter {
        Filter::Present(path) => is_present(path, ctx),
        Filter::Compare(path, op, value) => compare(path, *op, value, ctx, parent),
        Filter::ValuePath(path, inner) => {
            let elements: &[Value] = match attribute(path, ctx) {
                Some(Value::Array(items)) => items,
                Some(single @ Value::Object(_)) => std::slice::from_ref(single),
                _ => &[],
            };
            elements
                .iter()
                .any(|element| element.is_object() && eval(inner, element, Some(path)))
        }
        Filter::Not(inner) => !eval(inner, ctx, parent),
        Filter::And(..) | Filter::Or(..) => match filter.chain() {
            Some((true, operands)) => operands.iter().all(|f| eval(f, ctx, parent)),
            Some((false, operands)) => operands.iter().any(|f| eval(f, ctx, parent)),
            None => false,
        },
    }
}

/// RFC 7643 declares these string attributes caseExact; every other string attribute is
/// compared case-insensitively (userName, emails, displayName, …).
fn is_case_exact(path: &AttrPath, parent: Option<&AttrPath>) -> bool {
    let (root, name, sub) = match parent {
        None => (path, path.name.as_str(), path.sub_attr.as_deref()),
        Some(parent) => (parent, parent.name.as_str(), Some(path.name.as_str())),
    };
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    root.is_core()
        && match sub {
            None => is(name, "id") || is(name, "externalId"),
            Some(sub) => is(name, "meta") && is(sub, "version"),
        }
}

/// `obj[key]` with the key matched case-insensitively (RFC 7643 §2.1).
fn get_ci<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The attribute `path` names (ignoring its sub-attribute): a URN prefix selects the extension
/// object, a core schema URN the top level.
fn attribute<'v>(path: &AttrPath, ctx: &'v Value) -> Option<&'v Value> {
    let scope = match path.uri.as_deref() {
        Some(uri) if !is_core_schema_uri(uri) => get_ci(ctx, uri)?,
        _ => ctx,
    };
    get_ci(scope, &path.name)
}

/// Every value `path` names, arrays flattened and nulls dropped: `emails.value` yields each
/// email's value.
fn values<'v>(path: &AttrPath, ctx: &'v Value) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Some(attr) = attribute(path, ctx) else {
        return out;
    };
    match &path.sub_attr {
        None => push_flat(attr, &mut out),
        Some(sub) => {
            let mut parents = Vec::new();
            push_flat(attr, &mut parents);
            for parent in parents {
                if let Some(v) = get_ci(parent, sub) {
                    push_flat(v, &mut out);
                }
            }
        }
    }
    out
}

fn push_flat<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|v| !v.is_null())),
        other => out.push(other),
    }
}

/// RFC 7643 §2.5: unassigned, null, empty string and empty array are all "not present".
fn is_present(path: &AttrPath, ctx: &Value) -> bool {
    values(path, ctx).into_iter().any(|v| match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    })
}

fn compare(
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    ctx: &Value,
    parent: Option<&AttrPath>,
) -> bool {
    if let CompValue::Null = value {
        // `eq null` asks "unassigned", `ne null` "assigned" (RFC 7643 §2.5).
        return match op {
            CompareOp::Eq => !is_present(path, ctx),
            CompareOp::Ne => is_present(path, ctx),
            _ => false,
        };
    }
    // A complex value compared as a whole (`emails co "@x.com"`) stands for its `value`.
    let leaves: Vec<&Value> = values(path, ctx)
        .into_iter()
        .filter_map(|v| match v {
            Value::Object(_) => get_ci(v, "value").filter(|v| !v.is_null()),
            other => Some(other),
        })
        .collect();
    let case_exact = is_case_exact(path, parent);
    match op {
        // An attribute with no value is "not equal" to anything.
        CompareOp::Ne => {
            leaves.is_empty()
                || leaves
                    .iter()
                    .any(|leaf| !compare_leaf(leaf, CompareOp::Eq, value, case_exact))
        }
        _ => leaves
            .iter()
            .any(|leaf| compare_leaf(leaf, op, value, case_exact)),
    }
}

fn compare_leaf(leaf: &Value, op: CompareOp, value: &CompValue, case_exact: bool) -> bool {
    match (leaf, value) {
        (Value::String(have), CompValue::String(want)) => {
            compare_strings(have, op, want, case_exact)
        }
        (Value::Number(have), CompValue::Number(want)) => {
            compare_numbers(have, want).is_some_and(|ord| ordering_satisfies(ord, op))
        }
        (Value::Bool(have), CompValue::Bool(want)) => match op {
            CompareOp::Eq => have == want,
            CompareOp::Ne => have != want,
            _ => false,
        },
        _ => false,
    }
}

fn compare_strings(have: &str, op: CompareOp, want: &str, case_exact: bool) -> bool {
    if !case_exact && have.is_ascii() && want.is_ascii() {
        return compare_ascii_ignoring_case(have.as_bytes(), op, want.as_bytes());
    }
    let (have, want): (Cow<str>, Cow<str>) = if case_exact {
        (have.into(), want.into())
    } else {
        (have.to_lowercase().into(), want.to_lowercase().into())
    };
    match op {
        CompareOp::Co => have.contains(&*want),
        CompareOp::Sw => have.starts_with(&*want),
        CompareOp::Ew => have.ends_with(&*want),
        // Lexicographic order, which is also chronological order for RFC 3339 timestamps in
        // the same format (meta.lastModified gt "2024-01-01T00:00:00Z").
        _ => ordering_satisfies(have.cmp(&want), op),
    }
}

/// [`compare_strings`] ignoring case for ASCII text, where lowercasing is per byte: the same
/// answers without lowercased copies (most attribute values are ASCII).
fn compare_ascii_ignoring_case(have: &[u8], op: CompareOp, want: &[u8]) -> bool {
    let tail = have.len().checked_sub(want.len());
    match op {
        CompareOp::Co => {
            want.is_empty()
                || have
                    .windows(want.len())
                    .any(|w| w.eq_ignore_ascii_case(want))
        }
        CompareOp::Sw => tail.is_some_and(|_| have[..want.len()].eq_ignore_ascii_case(want)),
        CompareOp::Ew => tail.is_some_and(|start| have[start..].eq_ignore_ascii_case(want)),
        _ => {
            let ord = have
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(want.iter().map(u8::to_ascii_lowercase));
            ordering_satisfies(ord, op)
        }
    }
}

/// Integers compare exactly (beyond f64 precision); anything else as f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (exact(a), exact(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn ordering_satisfies(ord: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ascii_text_compares_ignoring_case_as_lowercased_copies_do() {
        let texts = [
            "",
            "a",
            "A",
            "ab",
            "Ab",
            "abc",
            "ABD",
            "b",
            "work",
            "WORK",
            "Jen@Ex.com",
        ];
        let ops = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        for have in texts {
            for want in texts {
                for op in ops {
                    let (h, w) = (have.to_lowercase(), want.to_lowercase());
                    let expected = match op {
                        CompareOp::Co => h.contains(&w),
                        CompareOp::Sw => h.starts_with(&w),
                        CompareOp::Ew => h.ends_with(&w),
                        _ => ordering_satisfies(h.cmp(&w), op),
                    };
                    assert_eq!(
                        compare_strings(have, op, want, false),
                        expected,
                        "{have:?} {op:?} {want:?}"
                    );
                }
            }
        }
    }

    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "0a3b7C9e-AbCd",
            "userName": "Bjensen@Example.com",
            "name": {
                "formatted": "Ms. Barbara J Jensen, III",
                "familyName": "Jensen",
                "givenName": "Barbara"
            },
            "displayName": "Babs Jensen",
            "nickName": "",
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "loginCount": 42,
            "score": 2.5,
            "ims": null,
            "phoneNumbers": [],
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
            ],
            "groups": [
                { "value": "e9e30dba", "display": "Tour Guides" }
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "costCenter": "4130",
                "manager": {
                    "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    "displayName": "John Smith"
                }
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff591\""
            }
        })
    }

    #[test]
    fn evaluates_against_a_user() {
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let cases: &[(&str, bool)] = &[
            // Simple attributes; names and string values are case-insensitive.
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"USERNAME eq "BJENSEN@EXAMPLE.COM""#, true),
            (r#"userName eq "bjensen""#, false),
            (r#"userName ne "bjensen""#, true),
            (r#"userName ne "bjensen@example.com""#, false),
            (r#"userName sw "bjen""#, true),
            (r#"userName ew "@EXAMPLE.com""#, true),
            (r#"userName co "sen@ex""#, true),
            (r#"userName co "nobody""#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
                true,
            ),
            (r#"displayName eq "Babs Jensen""#, true),
            // caseExact attributes.
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            (r#"externalId eq "0a3b7C9e-AbCd""#, true),
            (r#"externalId eq "0a3b7c9e-abcd""#, false),
            (r#"meta.version eq "W/\"3694e05e9dff591\"""#, true),
            (r#"meta.version eq "w/\"3694E05E9DFF591\"""#, false),
            (r#"meta[version eq "w/\"3694E05E9DFF591\""]"#, false),
            (r#"meta.resourceType eq "user""#, true),
            // Complex and multi-valued attributes.
            (r#"name.familyName eq "jensen""#, true),
            (r#"name.givenName co "arb""#, true),
            (r#"name.middleName pr"#, false),
            (r#"emails co "example.com""#, true),
            (r#"emails eq "babs@jensen.org""#, true),
            (r#"emails.value co "example.org""#, false),
            (r#"emails.type eq "work""#, true),
            (r#"emails.type eq "other""#, false),
            (r#"emails.type ne "work""#, true),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (
                r#"emails[type eq "work"].value eq "bjensen@example.com""#,
                true,
            ),
            (
                r#"emails[type eq "home"].value eq "bjensen@example.com""#,
                false,
            ),
            (r#"emails[primary eq true]"#, true),
            (r#"emails[not (primary pr)]"#, true),
            (r#"groups[value eq "E9E30DBA"]"#, true),
            // Extension attributes, with the URN matched case-insensitively.
            (&format!(r#"{enterprise}:employeeNumber eq "701984""#), true),
            (
                &format!(r#"{enterprise}:manager.value sw "26118915""#),
                true,
            ),
            (
                &format!(r#"{enterprise}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
                true,
            ),
            (
                &format!(r#"{enterprise}:manager[displayName eq "john smith"]"#),
                true,
            ),
            (
                "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:costCenter eq \"4130\"",
                true,
            ),
            (r#"employeeNumber eq "701984""#, false),
            (r#"urn:example:other:1.0:employeeNumber eq "701984""#, false),
            // Booleans only compare with eq/ne.
            ("active eq true", true),
            ("active eq false", false),
            ("active ne false", true),
            (r#"active eq "true""#, false),
            // Numbers compare numerically.
            ("loginCount eq 42", true),
            ("loginCount eq 42.0", true),
            ("loginCount gt 9", true),
            ("loginCount lt 100", true),
            ("loginCount ge 42", true),
            ("loginCount le 41", false),
            ("score gt 2", true),
            ("score lt 2.5", false),
            (r#"loginCount eq "42""#, false),
            ("loginCount co 4", false),
            // Strings order lexicographically, which orders RFC 3339 timestamps.
            (r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, true),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified lt "2024-01-01T00:00:00Z""#, true),
            (r#"meta.lastModified le "2010-01-01T00:00:00Z""#, false),
            // Presence and null (RFC 7643 §2.5).
            ("title pr", true),
            ("nickName pr", false),
            ("phoneNumbers pr", false),
            ("ims pr", false),
            ("missing pr", false),
            ("emails pr", true),
            ("emails.display pr", false),
            ("nickName eq null", true),
            ("missing eq null", true),
            ("title eq null", false),
            ("title ne null", true),
            // `ne` on a missing attribute is true.
            (r#"missing ne "x""#, true),
            (r#"missing eq "x""#, false),
            // Logic.
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (r#"title pr and userType eq "Intern""#, false),
            (r#"title pr or userType eq "Intern""#, true),
            (r#"not (userName eq "x")"#, true),
        ];
        let resource = user();
        for (input, expected) in cases {
            let filter = Filter::parse(input).expect(input);
            assert_eq!(filter.matches(&resource), *expected, "{input}");
        }
    }

    #[test]
    fn group_members() {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                { "value": "2819c223", "$ref": "https://example.com/Users/2819c223", "display": "Babs" },
                { "value": "902c246b", "display": "Mandy" }
            ]
        });
        for (input, expected) in [
            (r#"displayName eq "tour guides""#, true),
            (r#"members[value eq "902c246b"]"#, true),
            (r#"members.value eq "2819c223""#, true),
            (r#"members eq "2819c223""#, true),
            ("members.$ref pr", true),
            (r#"members[value eq "902c246b" and $ref pr]"#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "tour""#,
                true,
            ),
        ] {
            let filter = Filter::parse(input).expect(input);
            assert_eq!(filter.matches(&group), expected, "{input}");
        }
    }

    #[test]
    fn odd_shapes_do_not_panic_or_match() {
        let filter = Filter::parse(r#"emails[type eq "work"] or a.b eq 1 or c gt "x""#).unwrap();
        for resource in [
            json!(null),
            json!("text"),
            json!([1, 2]),
            json!({ "emails": "not-an-array", "a": [1, null, { "b": null }], "c": 3 }),
            json!({ "emails": [1, "x", null, [{ "type": "work" }]], "a": { "b": "1" } }),
        ] {
            assert!(!filter.matches(&resource), "{resource}");
        }
        let big = Filter::parse("n gt 18446744073709551615 or n lt -9223372036854775808").unwrap();
        assert!(!big.matches(&json!({ "n": u64::MAX })));
        assert!(big.matches(&json!({ "n": 1e30 })));
    }

    /// Chains are as long as the length limit allows; evaluating (and printing) them walks the
    /// chain in a loop, so a small stack suffices.
    #[test]
    fn long_chains_evaluate_without_deep_recursion() {
        let worker = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let input = vec!["x pr"; 1_000].join(" or ") + " or title pr";
                let filter = Filter::parse(&input).expect("chain parses");
                assert!(filter.matches(&user()));
                assert_eq!(filter.to_string(), input);
            })
            .expect("spawn");
        assert!(worker.join().is_ok());
    }
}

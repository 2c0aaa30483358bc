//! The SCIM filter syntax tree (RFC 7644 §3.4.2.2).

use serde_json::Number;

/// The core schemas: a path qualified with one of these means the same as the bare path.
const CORE_SCHEMAS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
];

/// Whether `uri` names a core schema (whose attributes live at the top level of a resource).
/// Schema URIs are compared case-insensitively, like attribute names.
pub fn is_core_schema_uri(uri: &str) -> bool {
    CORE_SCHEMAS
        .iter()
        .any(|core| core.eq_ignore_ascii_case(uri))
}

/// `[uri ":"] attrName ["." subAttr]`. Names keep the case the client sent; every comparison of
/// names is case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// A schema URN such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    pub uri: Option<String>,
    pub name: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A bare attribute name, e.g. `userName`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            uri: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    pub fn with_sub_attr(mut self, sub_attr: impl Into<String>) -> Self {
        self.sub_attr = Some(sub_attr.into());
        self
    }

    /// True when the path has no URI or a core schema URI, i.e. it addresses the top level.
    pub fn is_core(&self) -> bool {
        self.uri.as_deref().is_none_or(is_core_schema_uri)
    }

    /// True when this is the top-level attribute `name` (case-insensitive) with no sub-attribute.
    pub fn is(&self, name: &str) -> bool {
        self.sub_attr.is_none() && self.is_core() && self.name.eq_ignore_ascii_case(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    /// The canonical (lowercase) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// Operators are case-insensitive (`EQ`, `Eq`, `eq`).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

/// `compValue = false / null / true / number / string`
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath compareOp compValue`
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath "[" valFilter "]"`, e.g. `emails[type eq "work"]`. The path has no sub-attribute;
    /// the inner filter's paths are relative to each element of the multi-valued attribute.
    ValuePath(AttrPath, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// For an `And`/`Or`, whether it is an `And` and its operands left to right, flattening the
    /// left-nested chain the parser builds. Walking chains with this instead of recursing keeps
    /// the stack flat for long `a or b or c …` filters.
    pub(super) fn chain(&self) -> Option<(bool, Vec<&Filter>)> {
        let is_and = match self {
            Filter::And(..) => true,
            Filter::Or(..) => false,
            _ => return None,
        };
        let mut rights = Vec::new();
        let mut current = self;
        while let (Filter::And(l, r), true) | (Filter::Or(l, r), false) = (current, is_and) {
            rights.push(&**r);
            current = l;
        }
        rights.push(current);
        rights.reverse();
        Some((is_and, rights))
    }

    /// The `attr eq "string"` comparisons on top-level attributes (no sub-attribute, no URI or a
    /// core schema URI) that every match must satisfy, i.e. reachable from the root through
    /// `And` only. A store can answer them by key lookup, then evaluate the whole filter on the
    /// candidates. Values are as the client wrote them: [`Filter::matches`] compares most
    /// strings case-insensitively (all but `id`, `externalId`, `meta.version`), so a lookup
    /// key for e.g. `userName` must be normalised the same way.
    pub fn key_conjuncts(&self) -> Vec<(&AttrPath, &str)> {
        let mut found = Vec::new();
        let mut pending = vec![self];
        while let Some(f) = pending.pop() {
            match f {
                Filter::And(l, r) => {
                    pending.push(r);
                    pending.push(l);
                }
                Filter::Compare(path, CompareOp::Eq, CompValue::String(s))
                    if path.sub_attr.is_none() && path.is_core() =>
                {
                    found.push((path, s.as_str()));
                }
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn keys(input: &str) -> Vec<(String, String)> {
        let filter = Filter::parse(input).expect(input);
        filter
            .key_conjuncts()
            .into_iter()
            .map(|(path, value)| (path.to_string(), value.to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn key_conjuncts() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                r#"userName eq "john@example.com""#,
                &[("userName", "john@example.com")],
            ),
            (r#"externalId EQ "0a3b""#, &[("externalId", "0a3b")]),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Group""#,
                &[(
                    "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
                    "Group",
                )],
            ),
            (
                r#"userName eq "a" and active eq true and (externalId eq "b" and title pr)"#,
                &[("userName", "a"), ("externalId", "b")],
            ),
            (r#"userName eq "a" or externalId eq "b""#, &[]),
            (r#"not (userName eq "a")"#, &[]),
            (
                r#"userName ne "a" and userName co "a" and loginCount eq 1"#,
                &[],
            ),
            (r#"name.givenName eq "a" and emails[value eq "a"]"#, &[]),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
                &[],
            ),
            (
                r#"(userName eq "a" or title pr) and displayName eq "b""#,
                &[("displayName", "b")],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(keys(input), pairs(expected), "{input}");
        }
    }

    #[test]
    fn attr_path_is() {
        assert!(path("userName").is("USERNAME"));
        assert!(path("urn:ietf:params:scim:schemas:core:2.0:User:userName").is("userName"));
        assert!(path("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName").is("userName"));
        assert!(!path("name.givenName").is("name"));
        assert!(!path("urn:example:ext:1.0:userName").is("userName"));
        assert!(!path("userNames").is("userName"));
    }

    #[test]
    fn operator_keywords() {
        for op in CompareOp::ALL {
            assert_eq!(
                CompareOp::from_keyword(&op.as_str().to_uppercase()),
                Some(op)
            );
        }
        assert_eq!(CompareOp::from_keyword("pr"), None);
        assert_eq!(eq("a", "b"), cmp("a", CompareOp::Eq, s("b")));
    }
}

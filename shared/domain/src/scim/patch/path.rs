//! The PATCH `path` grammar (RFC 7644 §3.5.2):
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! attrPath = [URI ":"] ATTRNAME ["." subAttr]
//! valuePath = attrPath "[" valFilter "]"
//! ```
//!
//! e.g. `name.givenName`, `emails[type eq "work"].value`, `members[value eq "abc"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.

use crate::scim::filter::{Filter, MAX_FILTER_LEN};
use crate::scim::resource::starts_with_ci;
use crate::scim::schema;
use crate::scim::ScimError;

/// Longest path accepted, in bytes: a value filter and some room for the attribute path.
pub const MAX_PATH_LEN: usize = MAX_FILTER_LEN + 512;

/// A parsed PATCH path. Names keep the client's case; every use compares them
/// case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The schema URN prefix, e.g. `urn:…:enterprise:2.0:User` of `urn:…:enterprise:2.0:User:manager`.
    pub uri: Option<String>,
    /// The attribute name. A path that is exactly a known schema URN names the whole extension
    /// object, which a resource holds as a top-level attribute named by the URN.
    pub attribute: String,
    /// The `[…]` filter of a value path, relative to each element.
    pub value_filter: Option<Filter>,
    pub sub_attribute: Option<String>,
}

impl PatchPath {
    /// The plain top-level attribute `name`.
    pub fn attribute(name: impl Into<String>) -> Self {
        Self {
            uri: None,
            attribute: name.into(),
            value_filter: None,
            sub_attribute: None,
        }
    }

    /// Parses a path; every failure is a 400 `invalidPath`.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(ScimError::invalid_path("the path is empty"));
        }
        if text.len() > MAX_PATH_LEN {
            return Err(ScimError::invalid_path(format!(
                "the path is longer than {MAX_PATH_LEN} bytes"
            )));
        }
        if let Some(schema) = schema::schema_by_urn(text) {
            return Ok(Self::attribute(schema.id));
        }
        let bad = || ScimError::invalid_path(format!("'{text}' is not a valid path"));
        let (head, value_filter, trailing_sub) = match text.find('[') {
            None => (text, None, None),
            Some(open) => {
                let close = closing_bracket(text, open).ok_or_else(bad)?;
                let filter = Filter::parse(&text[open + 1..close]).map_err(|e| {
                    ScimError::invalid_path(format!(
                        "bad value filter in path '{text}': {}",
                        e.detail
                    ))
                })?;
                let sub = match &text[close + 1..] {
                    "" => None,
                    rest => Some(rest.strip_prefix('.').ok_or_else(bad)?),
                };
                (&text[..open], Some(filter), sub)
            }
        };
        let (uri, attr_path) = split_uri(head).ok_or_else(bad)?;
        let (attribute, inner_sub) = match attr_path.split_once('.') {
            Some((attribute, sub)) => (attribute, Some(sub)),
            None => (attr_path, None),
        };
        // `emails.value[…]` puts the sub-attribute before the filter: not in the grammar.
        if inner_sub.is_some() && value_filter.is_some() {
            return Err(bad());
        }
        let sub_attribute = inner_sub.or(trailing_sub);
        let names_valid = is_attr_name(attribute) && sub_attribute.is_none_or(is_attr_name);
        if !names_valid {
            return Err(bad());
        }
        Ok(Self {
            uri: uri.map(str::to_owned),
            attribute: attribute.to_owned(),
            value_filter,
            sub_attribute: sub_attribute.map(str::to_owned),
        })
    }
}

/// Splits `urn:…:name.sub` at its last colon: attribute names hold no colon, URNs hold dots
/// (`2.0`), so the last colon is the only safe separator.
fn split_uri(head: &str) -> Option<(Option<&str>, &str)> {
    if !starts_with_ci(head, "urn:") {
        return Some((None, head));
    }
    let (uri, attr_path) = head.rsplit_once(':')?;
    Some((Some(uri), attr_path))
}

/// The `]` closing the `[` at `open`, skipping brackets inside quoted strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, c) in text.get(open..)?.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref`.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let name_chars = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (starts_with_letter && name_chars) || name.eq_ignore_ascii_case("$ref")
}

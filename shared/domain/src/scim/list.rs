//! List requests (RFC 7644 §3.4.2): query parameters in, `ListResponse` out.

use serde_json::{json, Value};

use super::ScimError;

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Largest page served; `/ServiceProviderConfig` advertises it as `filter.maxResults`.
pub const MAX_PAGE_SIZE: usize = 100;

/// The query parameters of a list request. `filter`, `attributes` and `excludedAttributes`
/// are kept raw for the modules that parse them; `sortBy`/`sortOrder` are ignored (sorting is
/// not supported, the order is stable anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Option<String>,
    /// 1-based; values below 1 are taken as 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    /// At most [`MAX_PAGE_SIZE`]; 0 asks for totals only.
    pub count: usize,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filter: None,
            start_index: 1,
            count: MAX_PAGE_SIZE,
            attributes: None,
            excluded_attributes: None,
        }
    }
}

impl ListQuery {
    /// Reads decoded query parameters; names are matched case-insensitively and empty values
    /// count as absent. A non-integer `startIndex` or `count` is a 400 `invalidValue`.
    pub fn from_params<I, K, V>(params: I) -> Result<Self, ScimError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut query = Self::default();
        for (name, value) in params {
            let (name, value) = (name.as_ref(), value.as_ref().trim());
            if value.is_empty() {
                continue;
            }
            let text = || Some(value.to_owned());
            match name.to_ascii_lowercase().as_str() {
                "filter" => query.filter = text(),
                "attributes" => query.attributes = text(),
                "excludedattributes" => query.excluded_attributes = text(),
                "startindex" => query.start_index = parse_integer("startIndex", value)?.max(1),
                "count" => query.count = parse_integer("count", value)?.min(MAX_PAGE_SIZE),
                _ => {}
            }
        }
        Ok(query)
    }

    /// How many matching resources to skip.
    pub fn offset(&self) -> usize {
        self.start_index - 1
    }
}

/// A signed integer, saturated into `usize` (negative → 0): callers clamp it anyway, and a
/// huge `startIndex` just means an empty page.
fn parse_integer(name: &str, value: &str) -> Result<usize, ScimError> {
    let invalid = || ScimError::invalid_value(format!("'{name}' must be an integer"));
    let (negative, digits) = match value.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if negative {
        return Ok(0);
    }
    Ok(digits.parse::<usize>().unwrap_or(usize::MAX))
}

/// A `ListResponse` for one page; `startIndex` is echoed as given after clamping.
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimErrorType;

    fn query(params: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
        ListQuery::from_params(params.iter().copied())
    }

    #[test]
    fn defaults_when_absent() {
        assert_eq!(query(&[]), Ok(ListQuery::default()));
        let q = query(&[]).unwrap_or_default();
        assert_eq!((q.start_index, q.count, q.offset()), (1, 100, 0));
    }

    /// Query parameters, then the expected `startIndex` and `count`.
    type PagingCase = (&'static [(&'static str, &'static str)], usize, usize);

    #[test]
    fn paging_parameters_are_clamped() {
        let cases: &[PagingCase] = &[
            (&[("startIndex", "1"), ("count", "100")], 1, 100),
            (&[("startIndex", "0"), ("count", "0")], 1, 0),
            (&[("startIndex", "-5"), ("count", "-1")], 1, 0),
            (&[("startindex", "21"), ("COUNT", "500")], 21, 100),
            (
                &[("startIndex", "99999999999999999999999"), ("count", "+7")],
                usize::MAX,
                7,
            ),
            (&[("startIndex", ""), ("count", " ")], 1, 100),
        ];
        for (params, start_index, count) in cases {
            let q = query(params);
            let got = q.as_ref().map(|q| (q.start_index, q.count));
            assert_eq!(got, Ok((*start_index, *count)), "{params:?}");
        }
    }

    #[test]
    fn okta_existence_check_keeps_the_filter_raw() {
        let q = query(&[
            ("filter", "userName eq \"alice@example.com\""),
            ("startIndex", "1"),
            ("count", "100"),
            ("sortBy", "userName"),
            ("excludedAttributes", "groups"),
        ]);
        let q = q.unwrap_or_default();
        assert_eq!(
            q.filter.as_deref(),
            Some("userName eq \"alice@example.com\"")
        );
        assert_eq!(q.excluded_attributes.as_deref(), Some("groups"));
        assert_eq!(q.attributes, None);
    }

    #[test]
    fn non_integers_are_invalid_values() {
        for (name, value) in [
            ("count", "ten"),
            ("startIndex", "1.5"),
            ("count", "1e3"),
            ("count", "-"),
        ] {
            let error = query(&[(name, value)]).err().and_then(|e| e.scim_type);
            assert_eq!(error, Some(ScimErrorType::InvalidValue), "{name}={value}");
        }
    }

    #[test]
    fn list_response_uses_numbers() {
        let body = list_response(3, 2, vec![json!({"id": "b"})]);
        let expected = json!({
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": 3,
            "startIndex": 2,
            "itemsPerPage": 1,
            "Resources": [{"id": "b"}],
        });
        assert_eq!(body, expected);
        assert_eq!(list_response(7, 1, vec![])["itemsPerPage"], 0);
    }
}

//! Custom attribute mapping: which provider attribute (any SCIM path, extension URNs and value
//! paths included) fills which `custom_attributes` name of a directory user.
//!
//! A directory without its own mapping uses [`default_mappings`]. Paths are parsed with the
//! SCIM PATCH path grammar when a mapping is saved; resolving one against a record never fails:
//! a path the record does not hold, or that leads to something that is not a single value,
//! simply gives no attribute.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::scim::filter::is_core_schema_uri;
use crate::scim::patch::PatchPath;
use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

/// Most custom attributes one directory maps, and the longest text value a mapping copies:
/// together they keep a user's payload within the event sizes of `limits` (50 × 256 bytes).
pub const MAX_ATTRIBUTE_MAPPINGS: usize = 50;
pub const MAX_MAPPED_VALUE_BYTES: usize = 256;

/// One `custom_attributes` name and the provider attribute path it is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMapping {
    pub name: String,
    pub path: String,
}

/// The mapping a directory uses until it saves its own: the enterprise extension's attributes
/// and the user's title, under the names WorkOS gives them.
pub fn default_mappings() -> Vec<AttributeMapping> {
    let enterprise = |attribute: &str| format!("{ENTERPRISE_USER_SCHEMA}:{attribute}");
    [
        ("department", enterprise("department")),
        ("employee_number", enterprise("employeeNumber")),
        ("cost_center", enterprise("costCenter")),
        ("division", enterprise("division")),
        ("organization", enterprise("organization")),
        // A complex attribute: its `value` (the manager's id) is what a path to it gives.
        ("manager_id", enterprise("manager")),
    ]
    .into_iter()
    .map(|(name, path)| AttributeMapping {
        name: name.to_owned(),
        path,
    })
    .collect()
}

/// Checks a mapping before it is saved: names are 1 to 64 letters, digits or `_` and unique,
/// paths parse. The message names the entry.
pub fn validate(mappings: &[AttributeMapping]) -> Result<(), String> {
    if mappings.len() > MAX_ATTRIBUTE_MAPPINGS {
        return Err(format!(
            "at most {MAX_ATTRIBUTE_MAPPINGS} attribute mappings"
        ));
    }
    for (index, mapping) in mappings.iter().enumerate() {
        let name_ok = (1..=64).contains(&mapping.name.len())
            && mapping
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(format!(
                "custom_attributes[{index}].name must be 1 to 64 letters, digits or '_'"
            ));
        }
        if mappings[..index].iter().any(|m| m.name == mapping.name) {
            return Err(format!("\"{}\" is mapped twice", mapping.name));
        }
        PatchPath::parse(&mapping.path)
            .map_err(|error| format!("custom_attributes[{index}].path: {}", error.detail))?;
    }
    Ok(())
}

/// The `custom_attributes` of a provider resource under `mappings` (the defaults when `None`).
/// Names whose path gives no value are left out.
pub fn map_custom_attributes(
    resource: &Value,
    mappings: Option<&[AttributeMapping]>,
) -> Map<String, Value> {
    match mappings {
        Some(mappings) => mappings
            .iter()
            .filter_map(|mapping| {
                let path = PatchPath::parse(&mapping.path).ok()?;
                Some((mapping.name.clone(), resolve(&path, resource)?))
            })
            .collect(),
        None => DEFAULT_PATHS
            .iter()
            .filter_map(|(name, path)| Some((name.clone(), resolve(path, resource)?)))
            .collect(),
    }
}

/// [`default_mappings`] with their paths parsed once per process: parsing six schema-URN
/// paths was most of a projection's CPU time.
static DEFAULT_PATHS: std::sync::LazyLock<Vec<(String, PatchPath)>> =
    std::sync::LazyLock::new(|| {
        default_mappings()
            .into_iter()
            .filter_map(|mapping| Some((mapping.name, PatchPath::parse(&mapping.path).ok()?)))
            .collect()
    });

/// The single value `path` names in `resource`: for a multi-valued attribute the element its
/// filter selects (the primary one, else the first, when several match or there is no
/// filter); a complex value stands for its `value` sub-attribute, as SCIM's references do.
fn resolve(path: &PatchPath, resource: &Value) -> Option<Value> {
    let top = resource.as_object()?;
    let container = match path.uri.as_deref() {
        None => top,
        Some(uri) if is_core_schema_uri(uri) => top,
        Some(uri) => field(top, uri)?.as_object()?,
    };
    let mut value = field(container, &path.attribute)?;
    if let Value::Array(elements) = value {
        let selected: Vec<&Value> = elements
            .iter()
            .filter(|element| {
                path.value_filter
                    .as_ref()
                    .is_none_or(|filter| element.is_object() && filter.matches(element))
            })
            .collect();
        value = selected
            .iter()
            .find(|element| element.get("primary").is_some_and(is_true))
            .or(selected.first())?;
    } else if let Some(filter) = &path.value_filter {
        if !(value.is_object() && filter.matches(value)) {
            return None;
        }
    }
    if let Some(sub) = &path.sub_attribute {
        value = field(value.as_object()?, sub)?;
    }
    single(value)
}

fn single(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) if text.len() > MAX_MAPPED_VALUE_BYTES => None,
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        Value::Object(map) => field(map, "value")
            .filter(|v| !v.is_object())
            .and_then(single),
        _ => None,
    }
}

fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Entra sends booleans as the strings `"True"` and `"False"`.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping(name: &str, path: &str) -> AttributeMapping {
        AttributeMapping {
            name: name.into(),
            path: path.into(),
        }
    }

    fn user() -> Value {
        json!({
            "userName": "jane@acme.test",
            "title": "Engineer",
            "userType": "Employee",
            "addresses": [
                {"type": "home", "country": "FR", "locality": "Lyon"},
                {"type": "work", "country": "DE", "locality": "Berlin", "primary": true}
            ],
            "emails": [{"value": "j@home.test"}, {"value": "j@acme.test", "primary": "True"}],
            ENTERPRISE_USER_SCHEMA: {
                "department": "R&D",
                "manager": {"value": "00u9boss", "displayName": "Boss"},
                "employeeNumber": 42
            },
            "urn:acme:scim:1.0:User": {"shoeSize": 44, "teams": ["a", "b"]}
        })
    }

    #[test]
    fn the_defaults_map_as_the_same_mappings_given_explicitly() {
        // Every default path parses, so the cached ones drop none of them.
        assert_eq!(DEFAULT_PATHS.len(), default_mappings().len());
        let record = user();
        assert_eq!(
            map_custom_attributes(&record, None),
            map_custom_attributes(&record, Some(&default_mappings()))
        );
        assert_eq!(
            map_custom_attributes(&record, None)["manager_id"],
            "00u9boss"
        );
    }

    #[test]
    fn extension_urns_value_paths_and_sub_attributes_resolve() {
        let mappings = [
            mapping(
                "department",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            mapping("work_country", "addresses[type eq \"work\"].country"),
            mapping("home_city", "addresses[type eq \"home\"].locality"),
            mapping(
                "manager_name",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            ),
            mapping("shoe_size", "urn:acme:scim:1.0:User:shoeSize"),
            mapping(
                "job_title",
                "urn:ietf:params:scim:schemas:core:2.0:User:title",
            ),
            mapping("kind", "USERTYPE"),
            mapping("email", "emails.value"),
            mapping("country", "addresses.country"),
            mapping("missing", "addresses[type eq \"other\"].country"),
            mapping("teams", "urn:acme:scim:1.0:User:teams"),
            mapping("nothing", "nickName"),
        ];
        let custom = map_custom_attributes(&user(), Some(&mappings));
        assert_eq!(
            Value::Object(custom),
            json!({
                "department": "R&D",
                "work_country": "DE",
                "home_city": "Lyon",
                "manager_name": "Boss",
                "shoe_size": 44,
                "job_title": "Engineer",
                "kind": "Employee",
                "email": "j@acme.test",
                "country": "DE",
                "teams": "a"
            })
        );
    }

    #[test]
    fn the_defaults_map_the_enterprise_extension() {
        let custom = map_custom_attributes(&user(), None);
        assert_eq!(
            Value::Object(custom),
            json!({"department": "R&D", "manager_id": "00u9boss", "employee_number": 42})
        );
        let bare_manager = json!({ENTERPRISE_USER_SCHEMA: {"manager": "mgr-7"}});
        assert_eq!(
            map_custom_attributes(&bare_manager, None).get("manager_id"),
            Some(&json!("mgr-7"))
        );
        assert!(map_custom_attributes(&json!("junk"), None).is_empty());
        assert_eq!(validate(&default_mappings()), Ok(()));
    }

    #[test]
    fn bad_mappings_are_refused_with_the_entry_named() {
        let bad_path = [mapping("a", "addresses[type eq ].country")];
        assert!(validate(&bad_path)
            .unwrap_err()
            .contains("custom_attributes[0].path"));
        let bad_name = [mapping("has space", "title")];
        assert!(validate(&bad_name).unwrap_err().contains("name"));
        let twice = [mapping("a", "title"), mapping("a", "userType")];
        assert!(validate(&twice).unwrap_err().contains("twice"));
    }
}

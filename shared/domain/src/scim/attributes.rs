//! The `attributes` and `excludedAttributes` query parameters (RFC 7644 §3.4.2.5, §3.9).

use serde_json::{Map, Value};

use super::filter::{is_core_schema_uri, AttrPath};
use super::ScimError;

/// Attributes with `returned: always`: never removed, whatever the client asks.
const ALWAYS_RETURNED: [&str; 3] = ["id", "schemas", "meta"];

/// Which attributes a response carries. With `attributes`, only those (plus the always-returned
/// ones); then everything in `excluded` is removed. When a client sends both, exclusion wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeSelection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl AttributeSelection {
    /// Parses the two optional comma-separated lists; an invalid entry is a 400 `invalidPath`.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        Ok(Self {
            attributes: parse_list("attributes", attributes)?,
            excluded: parse_list("excludedAttributes", excluded)?,
        })
    }

    /// True when the selection changes nothing.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Removes from `resource` what the selection leaves out. Names and schema URNs match
    /// case-insensitively; a URN-prefixed path addresses the extension object
    /// `resource[urn]`, and a bare extension URN the whole extension.
    pub fn apply(&self, resource: &mut Value) {
        let Value::Object(obj) = resource else {
            return;
        };
        if !self.attributes.is_empty() {
            keep_only(obj, &self.attributes);
        }
        for path in &self.excluded {
            exclude(obj, path);
        }
    }
}

fn parse_list(param: &str, list: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            AttrPath::parse(entry)
                .map_err(|e| ScimError::invalid_path(format!("{param}: {}", e.detail)))
        })
        .collect()
}

fn is_always_returned(key: &str) -> bool {
    ALWAYS_RETURNED.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// Top-level keys that are schema URNs hold extension attributes (RFC 7643 §3.3).
fn is_extension_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Whether `path` is a schema URN on its own, e.g. `urn:…:enterprise:2.0:User` (which parses
/// as uri `urn:…:enterprise:2.0`, name `User`).
fn names_schema(path: &AttrPath, urn: &str) -> bool {
    match (&path.uri, &path.sub_attr) {
        (Some(uri), None) => format!("{uri}:{}", path.name).eq_ignore_ascii_case(urn),
        _ => false,
    }
}

fn names_core_schema(path: &AttrPath) -> bool {
    match (&path.uri, &path.sub_attr) {
        (Some(uri), None) => is_core_schema_uri(&format!("{uri}:{}", path.name)),
        _ => false,
    }
}

fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// `(name, sub-attribute)` pairs of the paths whose scope is `scope` (core when `None`).
fn selectors<'p>(paths: &'p [AttrPath], scope: Option<&str>) -> Vec<(&'p str, Option<&'p str>)> {
    paths
        .iter()
        .filter(|p| match scope {
            None => p.is_core() && !names_core_schema(p),
            Some(urn) => p
                .uri
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(urn)),
        })
        .map(|p| (p.name.as_str(), p.sub_attr.as_deref()))
        .collect()
}

fn keep_only(obj: &mut Map<String, Value>, wanted: &[AttrPath]) {
    let whole_core = wanted.iter().any(names_core_schema);
    let core = selectors(wanted, None);
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        if is_always_returned(&key) {
            continue;
        }
        let keep = match obj.get_mut(&key) {
            Some(value) if is_extension_key(&key) => keep_extension(&key, value, wanted),
            Some(_) if whole_core => true,
            Some(value) => keep_attribute(&key, value, &core),
            None => false,
        };
        if !keep {
            obj.remove(&key);
        }
    }
}

/// Prunes the extension object under `urn`; false when nothing of it is wanted.
fn keep_extension(urn: &str, value: &mut Value, wanted: &[AttrPath]) -> bool {
    if wanted.iter().any(|p| names_schema(p, urn)) {
        return true;
    }
    let inside = selectors(wanted, Some(urn));
    let Value::Object(ext) = value else {
        return false;
    };
    if inside.is_empty() {
        return false;
    }
    let keys: Vec<String> = ext.keys().cloned().collect();
    for key in keys {
        let keep = ext
            .get_mut(&key)
            .is_some_and(|v| keep_attribute(&key, v, &inside));
        if !keep {
            ext.remove(&key);
        }
    }
    !ext.is_empty()
}

/// Prunes attribute `key` to the wanted sub-attributes; false when none of it is wanted.
fn keep_attribute(key: &str, value: &mut Value, wanted: &[(&str, Option<&str>)]) -> bool {
    let mut subs = Vec::new();
    for (name, sub) in wanted {
        if name.eq_ignore_ascii_case(key) {
            match sub {
                None => return true,
                Some(sub) => subs.push(*sub),
            }
        }
    }
    !subs.is_empty() && retain_subs(value, &subs)
}

/// Keeps only the `subs` of a complex value (or of each element of a multi-valued one),
/// dropping elements left empty; false when nothing remains.
fn retain_subs(value: &mut Value, subs: &[&str]) -> bool {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
            !map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|item| retain_subs(item, subs));
            !items.is_empty()
        }
        _ => false,
    }
}

fn exclude(obj: &mut Map<String, Value>, path: &AttrPath) {
    let whole_extension = obj
        .keys()
        .find(|k| is_extension_key(k) && names_schema(path, k))
        .cloned();
    if let Some(key) = whole_extension {
        obj.remove(&key);
        return;
    }
    if names_core_schema(path) {
        // Excluding the whole core schema would leave a meaningless resource; ignore it.
        return;
    }
    let scope = match path.uri.as_deref() {
        Some(uri) if !path.is_core() => match find_key(obj, uri) {
            Some(key) => match obj.get_mut(&key) {
                Some(Value::Object(ext)) => ext,
                _ => return,
            },
            None => return,
        },
        _ if is_always_returned(&path.name) => return,
        _ => obj,
    };
    let Some(key) = find_key(scope, &path.name) else {
        return;
    };
    let Some(sub) = &path.sub_attr else {
        scope.remove(&key);
        return;
    };
    let emptied = scope
        .get_mut(&key)
        .is_some_and(|value| !remove_sub(value, sub));
    if emptied {
        scope.remove(&key);
    }
}

/// Removes `sub` from a complex value (or each element of a multi-valued one); false when
/// nothing remains.
fn remove_sub(value: &mut Value, sub: &str) -> bool {
    match value {
        Value::Object(map) => {
            if let Some(key) = find_key(map, sub) {
                map.remove(&key);
            }
            !map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|item| remove_sub(item, sub));
            !items.is_empty()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimErrorType;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                ENTERPRISE
            ],
            "id": "2819c223",
            "externalId": "bjensen",
            "userName": "bjensen@example.com",
            "name": { "familyName": "Jensen", "givenName": "Barbara" },
            "active": true,
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
            ],
            ENTERPRISE: {
                "employeeNumber": "701984",
                "manager": { "value": "26118915", "displayName": "John Smith" }
            },
            "meta": { "resourceType": "User", "version": "W/\"1\"" }
        })
    }

    fn select(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let selection = AttributeSelection::parse(attributes, excluded).expect("valid selection");
        let mut resource = user();
        selection.apply(&mut resource);
        resource
    }

    fn keys(resource: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = resource
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn no_selection_changes_nothing() {
        assert!(AttributeSelection::parse(None, Some(" , "))
            .unwrap()
            .is_empty());
        assert_eq!(select(None, None), user());
        assert_eq!(select(Some(""), Some("")), user());
    }

    #[test]
    fn attributes_keep_only_those_plus_always_returned() {
        let r = select(Some("userName"), None);
        assert_eq!(keys(&r), ["id", "meta", "schemas", "userName"]);
        let r = select(Some(" USERNAME , Active"), None);
        assert_eq!(keys(&r), ["active", "id", "meta", "schemas", "userName"]);
        // Asking for the always-returned ones, or for missing ones, is harmless.
        let r = select(Some("id,meta,nickName"), None);
        assert_eq!(keys(&r), ["id", "meta", "schemas"]);
    }

    #[test]
    fn sub_attribute_selection() {
        let r = select(Some("name.givenName,emails.value"), None);
        assert_eq!(r["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(
            r["emails"],
            json!([{ "value": "bjensen@example.com" }, { "value": "babs@jensen.org" }])
        );
        // A sub-attribute nobody has leaves nothing to return.
        let r = select(Some("emails.display,userName"), None);
        assert!(r.get("emails").is_none());
        // The whole attribute wins over one of its sub-attributes.
        let r = select(Some("name.givenName,name"), None);
        assert_eq!(r["name"], user()["name"]);
    }

    #[test]
    fn extension_selection() {
        let r = select(Some(ENTERPRISE), None);
        assert_eq!(r[ENTERPRISE], user()[ENTERPRISE]);
        assert_eq!(keys(&r), ["id", "meta", "schemas", ENTERPRISE]);

        let r = select(Some(&format!("userName,{ENTERPRISE}:employeeNumber")), None);
        assert_eq!(r[ENTERPRISE], json!({ "employeeNumber": "701984" }));
        assert_eq!(keys(&r), ["id", "meta", "schemas", ENTERPRISE, "userName"]);

        let r = select(
            Some(&format!(
                "{}:manager.displayName",
                ENTERPRISE.to_uppercase()
            )),
            None,
        );
        assert_eq!(
            r[ENTERPRISE],
            json!({ "manager": { "displayName": "John Smith" } })
        );

        // A bare name addresses the core schema, not the extension.
        let r = select(Some("employeeNumber"), None);
        assert_eq!(keys(&r), ["id", "meta", "schemas"]);

        // The core schema URN on its own selects every core attribute.
        let r = select(Some("urn:ietf:params:scim:schemas:core:2.0:User"), None);
        let mut expected = user();
        expected.as_object_mut().unwrap().remove(ENTERPRISE);
        assert_eq!(r, expected);

        let r = select(
            Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            None,
        );
        assert_eq!(keys(&r), ["id", "meta", "schemas", "userName"]);
    }

    #[test]
    fn excluded_attributes() {
        let r = select(None, Some("emails,NAME"));
        assert_eq!(
            keys(&r),
            [
                "active",
                "externalId",
                "id",
                "meta",
                "schemas",
                ENTERPRISE,
                "userName"
            ]
        );
        let r = select(None, Some("emails.type,name.familyName"));
        assert_eq!(r["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(
            r["emails"],
            json!([
                { "value": "bjensen@example.com", "primary": true },
                { "value": "babs@jensen.org" }
            ])
        );
        let r = select(None, Some(ENTERPRISE));
        assert!(r.get(ENTERPRISE).is_none());
        let r = select(None, Some(&format!("{ENTERPRISE}:manager.value")));
        assert_eq!(
            r[ENTERPRISE],
            json!({ "employeeNumber": "701984", "manager": { "displayName": "John Smith" } })
        );
        // Removing the last sub-attribute removes the attribute.
        let r = select(None, Some("name.givenName,name.familyName"));
        assert!(r.get("name").is_none());
    }

    #[test]
    fn always_returned_cannot_be_excluded() {
        let r = select(None, Some("id,schemas,meta,meta.version,Meta.resourceType"));
        assert_eq!(r, user());
        let r = select(None, Some("urn:ietf:params:scim:schemas:core:2.0:User"));
        assert_eq!(r, user());
    }

    #[test]
    fn both_parameters_exclusion_wins() {
        let r = select(Some("userName,emails"), Some("emails"));
        assert_eq!(keys(&r), ["id", "meta", "schemas", "userName"]);
    }

    #[test]
    fn groups_members_excluded() {
        let mut group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [{ "value": "2819c223" }]
        });
        AttributeSelection::parse(None, Some("members"))
            .unwrap()
            .apply(&mut group);
        assert_eq!(
            group,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": "e9e30dba",
                "displayName": "Tour Guides"
            })
        );
    }

    #[test]
    fn invalid_entries_are_invalid_path() {
        for (attributes, excluded) in [
            (Some("userName eq"), None),
            (Some("emails[type eq \"work\"]"), None),
            (None, Some("name.givenName.x")),
            (None, Some("1abc")),
            (Some("urn:x:"), None),
        ] {
            let err = AttributeSelection::parse(attributes, excluded).expect_err("invalid");
            assert_eq!(err.status, 400);
            assert_eq!(err.scim_type, Some(ScimErrorType::InvalidPath));
        }
        let err = AttributeSelection::parse(Some("userName"), Some("a,b c")).expect_err("invalid");
        assert_eq!(
            err.detail,
            "excludedAttributes: invalid character ' ' in attribute path 'b c'"
        );
    }

    #[test]
    fn non_objects_are_left_alone() {
        let selection = AttributeSelection::parse(Some("userName"), Some("id")).unwrap();
        let mut value = json!(["userName"]);
        selection.apply(&mut value);
        assert_eq!(value, json!(["userName"]));
    }
}

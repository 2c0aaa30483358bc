//! Validating and normalizing User and Group bodies: POST and PUT bodies, and the result of a
//! PATCH, go through the same rules, so every stored resource has one shape.
//!
//! - Attribute names take the schema's case (`USERNAME` → `userName`); unknown attributes and
//!   unknown extension objects are kept as given, because real IdPs send custom schemas.
//! - Values are checked against the schema type; boolean strings (`"True"`, Entra) become
//!   booleans; a bare string for a complex attribute with a `value` (Entra's
//!   `"manager": "id"`) becomes `{"value": …}`.
//! - `null`, `[]` and `{}` mean unassigned (RFC 7643 §2.5) and are dropped, as are repeated
//!   values of multi-valued attributes and the write-only `password`, which is never stored.
//! - `schemas` is recomputed from what the resource holds.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::{self, AttributeDef, AttributeType, Mutability, ResourceKind};
use super::ScimError;

/// Deepest nesting of JSON arrays and objects accepted in a request body.
pub const MAX_DEPTH: usize = 32;
/// Most array entries, counted over the whole document, accepted in a request body.
pub const MAX_MULTI_VALUED_ENTRIES: usize = 10_000;

/// A normalized body. A Group's `members` are taken out, because memberships are stored one
/// item each; `members` is `None` when the body did not mention them.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedResource {
    pub resource: Value,
    pub members: Option<Vec<MemberRef>>,
}

/// One group member as a client names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Validates and normalizes a POST or PUT body. Client-supplied read-only attributes (`id`,
/// `meta`, `groups`) are dropped rather than refused: clients echo them back in PUTs.
pub fn normalize(kind: ResourceKind, body: Value) -> Result<NormalizedResource, ScimError> {
    check_limits(&body)?;
    let Value::Object(mut map) = body else {
        return Err(ScimError::invalid_syntax(
            "the resource must be a JSON object",
        ));
    };
    check_declared_kind(kind, &map)?;
    let members = match kind {
        ResourceKind::Group => take_ci(&mut map, "members")
            .map(|members| member_refs(&members))
            .transpose()?,
        ResourceKind::User => None,
    };
    map.retain(|key, _| {
        schema::attribute(kind, None, key).is_none_or(|def| def.mutability != Mutability::ReadOnly)
    });
    let resource = canonicalize_map(kind, map)?;
    Ok(NormalizedResource { resource, members })
}

/// Normalizes a resource already held by the service (the result of a PATCH): the same rules as
/// [`normalize`], except that read-only attributes present are kept.
pub(crate) fn canonicalize(kind: ResourceKind, resource: Value) -> Result<Value, ScimError> {
    match resource {
        Value::Object(map) => canonicalize_map(kind, map),
        _ => Err(ScimError::invalid_value(
            "the resource must be a JSON object",
        )),
    }
}

/// Rejects documents nested deeper than [`MAX_DEPTH`] (`invalidValue`) or holding more than
/// [`MAX_MULTI_VALUED_ENTRIES`] array entries (`tooMany`). The walk stops at the first
/// violation, so it is cheap on hostile input too.
pub fn check_limits(value: &Value) -> Result<(), ScimError> {
    let mut entries = 0;
    walk_limits(value, 0, &mut entries)
}

fn walk_limits(value: &Value, depth: usize, entries: &mut usize) -> Result<(), ScimError> {
    let too_deep = || {
        ScimError::invalid_value(format!(
            "the document is nested deeper than {MAX_DEPTH} levels"
        ))
    };
    match value {
        Value::Array(items) => {
            *entries += items.len();
            if *entries > MAX_MULTI_VALUED_ENTRIES {
                return Err(ScimError::too_many(format!(
                    "the document holds more than {MAX_MULTI_VALUED_ENTRIES} multi-valued entries"
                )));
            }
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            items
                .iter()
                .try_for_each(|item| walk_limits(item, depth + 1, entries))
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            map.values()
                .try_for_each(|item| walk_limits(item, depth + 1, entries))
        }
        _ => Ok(()),
    }
}

/// A body whose `schemas` names the other resource type only (a Group posted to `/Users`) is
/// refused; otherwise `schemas` is advisory and recomputed.
fn check_declared_kind(kind: ResourceKind, map: &Map<String, Value>) -> Result<(), ScimError> {
    let Some(Value::Array(declared)) = get_ci(map, "schemas") else {
        return Ok(());
    };
    let names = |urn: &str| {
        declared
            .iter()
            .filter_map(Value::as_str)
            .any(|s| s.trim().eq_ignore_ascii_case(urn))
    };
    let other = match kind {
        ResourceKind::User => ResourceKind::Group,
        ResourceKind::Group => ResourceKind::User,
    };
    if names(other.core_schema().id) && !names(kind.core_schema().id) {
        return Err(ScimError::invalid_value(format!(
            "the body describes a {}, not a {}",
            other.name(),
            kind.name()
        )));
    }
    Ok(())
}

fn canonicalize_map(kind: ResourceKind, map: Map<String, Value>) -> Result<Value, ScimError> {
    let known = |key: &str| schema::attribute(kind, None, key);
    let mut out = if map
        .keys()
        .all(|key| key.eq_ignore_ascii_case("schemas") || is_canonical_name(key, known(key)))
    {
        // `schemas` is recomputed below and `password` never stored: both are dropped.
        canonical_in_place(map, |key| {
            known(key).filter(|def| def.mutability != Mutability::WriteOnly)
        })?
    } else {
        canonical_copy(kind, map)?
    };
    check_required(kind, &out)?;
    let schemas = schemas_of(kind, &out);
    out.insert("schemas".to_owned(), schemas);
    Ok(Value::Object(out))
}

/// Whether `key` is the schema's own name of a known attribute: the attributes a stored
/// resource holds (they were canonicalized when written), which canonicalizing again cannot
/// rename or find repeated.
fn is_canonical_name(key: &str, def: Option<&AttributeDef>) -> bool {
    def.is_some_and(|def| def.name == key)
}

/// What [`canonical_copy`] or the complex-value loop gives for an object whose keys are all
/// canonical names (`def_of` gives each its definition, `None` for a key to drop): values are
/// normalized where they are instead of moved into a new object, the usual case for a PATCH
/// applied to a stored resource. The first error in key order is returned, as there.
fn canonical_in_place(
    mut map: Map<String, Value>,
    def_of: impl Fn(&str) -> Option<&'static AttributeDef>,
) -> Result<Map<String, Value>, ScimError> {
    let mut failure = None;
    map.retain(|key, value| {
        if failure.is_some() {
            return true;
        }
        let Some(def) = def_of(key) else {
            return false;
        };
        match normalize_value(def, std::mem::take(value)) {
            Ok(Some(normalized)) => {
                *value = normalized;
                true
            }
            Ok(None) => false,
            Err(error) => {
                failure = Some(error);
                true
            }
        }
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(map),
    }
}

/// Canonicalizes an object key by key into a new one: names take the schema's case, and a
/// name given twice (in any case) is refused.
fn canonical_copy(
    kind: ResourceKind,
    map: Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    let mut unknown = HashSet::new();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let (name, value, known) = match schema::attribute(kind, None, &key) {
            Some(def) if def.mutability == Mutability::WriteOnly => continue,
            Some(def) => match normalize_value(def, value)? {
                Some(value) => (def.name.to_owned(), value, true),
                None => continue,
            },
            None if value.is_null() => continue,
            None => (key, value, false),
        };
        insert_once(&mut out, &mut unknown, name, known, value)?;
    }
    Ok(out)
}

/// Inserts `name` unless it is already there in any case. A `known` name (the schema's) is
/// always written in the schema's case, and a name the schema does not know never equals a
/// known one ignoring case (the schema lookup ignores case), so a known name is a repeat
/// exactly when the map holds it; only unknown names, rare in practice, are remembered in
/// `unknown` (lowercased) to compare them ignoring case.
fn insert_once(
    out: &mut Map<String, Value>,
    unknown: &mut HashSet<String>,
    name: String,
    known: bool,
    value: Value,
) -> Result<(), ScimError> {
    let repeated = if known {
        out.contains_key(&name)
    } else {
        !unknown.insert(name.to_ascii_lowercase())
    };
    if repeated {
        return Err(ScimError::invalid_value(format!(
            "attribute '{name}' is given more than once"
        )));
    }
    out.insert(name, value);
    Ok(())
}

fn check_required(kind: ResourceKind, resource: &Map<String, Value>) -> Result<(), ScimError> {
    for def in kind
        .core_schema()
        .attributes
        .iter()
        .filter(|def| def.required)
    {
        let present = match resource.get(def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required and must not be empty",
                def.name
            )));
        }
    }
    Ok(())
}

/// The core schema, then every extension object the resource holds: known extensions first,
/// in a fixed order that does not depend on the map's key order.
fn schemas_of(kind: ResourceKind, resource: &Map<String, Value>) -> Value {
    let core = kind.core_schema().id;
    let mut extensions: Vec<(bool, &str)> = resource
        .iter()
        .filter(|(key, value)| {
            value.is_object() && starts_with_ci(key, "urn:") && !key.eq_ignore_ascii_case(core)
        })
        .map(|(key, _)| (kind.extension(key).is_none(), key.as_str()))
        .collect();
    extensions.sort_unstable();
    let mut schemas = vec![Value::from(core)];
    schemas.extend(extensions.into_iter().map(|(_, key)| Value::from(key)));
    Value::Array(schemas)
}

/// Normalizes the value of one attribute; `None` means unassigned. A multi-valued attribute
/// given one value becomes a one-element array, and a single-valued one given a one-element
/// array takes the element: both are common client slips with one obvious meaning.
pub(crate) fn normalize_value(
    def: &AttributeDef,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) if def.multi_valued => normalize_items(def, items),
        single if def.multi_valued => normalize_items(def, vec![single]),
        Value::Array(items) => match <[Value; 1]>::try_from(items) {
            Ok([single]) => normalize_element(def, single),
            Err(items) if items.is_empty() => Ok(None),
            Err(_) => Err(ScimError::invalid_value(format!(
                "'{}' is single-valued",
                def.name
            ))),
        },
        single => normalize_element(def, single),
    }
}

/// Drops repeated elements. Elements differing only in `primary` are one element, primary if
/// either says so: re-sending an add with another `primary` must not make a second element.
fn normalize_items(def: &AttributeDef, items: Vec<Value>) -> Result<Option<Value>, ScimError> {
    let mut positions = HashMap::new();
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if item.is_array() {
            return Err(ScimError::invalid_value(format!(
                "'{}' holds a nested array",
                def.name
            )));
        }
        let Some(item) = normalize_element(def, item)? else {
            continue;
        };
        let identity = element_identity(&item);
        match positions.get(&identity) {
            Some(&index) => {
                if is_primary(&item) {
                    if let Some(Value::Object(kept)) = out.get_mut(index) {
                        kept.insert("primary".to_owned(), Value::Bool(true));
                    }
                }
            }
            None => {
                positions.insert(identity, out.len());
                out.push(item);
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// What makes two elements of a multi-valued attribute the same element: the serialized value
/// without `primary`. Hashable, so de-duplication stays linear.
pub(crate) fn element_identity(item: &Value) -> String {
    match item {
        Value::Object(map) => serde_json::to_string(&WithoutPrimary(map)).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// An object serialized as if every `primary` key (in any case) were removed from it, without
/// copying it to remove them.
struct WithoutPrimary<'a>(&'a Map<String, Value>);

impl Serialize for WithoutPrimary<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .filter(|(key, _)| !key.eq_ignore_ascii_case("primary")),
        )
    }
}

pub(crate) fn is_primary(item: &Value) -> bool {
    item.as_object()
        .and_then(|map| get_ci(map, "primary"))
        .is_some_and(|primary| primary == &Value::Bool(true))
}

/// Normalizes one value of the attribute's type: an element, for a multi-valued attribute.
pub(crate) fn normalize_element(
    def: &AttributeDef,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    let wrong_type =
        |expected: &str| ScimError::invalid_value(format!("'{}' must be {expected}", def.name));
    match (def.attr_type, value) {
        (_, Value::Null) => Ok(None),
        (AttributeType::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(b))),
        (AttributeType::Boolean, Value::String(s)) => parse_bool(&s)
            .map(|b| Some(Value::Bool(b)))
            .ok_or_else(|| wrong_type("a boolean")),
        (AttributeType::Boolean, _) => Err(wrong_type("a boolean")),
        (AttributeType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(Some(Value::Number(n)))
        }
        (AttributeType::Integer, _) => Err(wrong_type("an integer")),
        (AttributeType::Decimal, Value::Number(n)) => Ok(Some(Value::Number(n))),
        (AttributeType::Decimal, _) => Err(wrong_type("a number")),
        (AttributeType::Complex, Value::Object(map)) => {
            let map = canonicalize_complex(def, map)?;
            Ok((!map.is_empty()).then_some(Value::Object(map)))
        }
        (AttributeType::Complex, Value::String(s)) if def.sub_attribute("value").is_some() => {
            let mut map = Map::new();
            map.insert("value".to_owned(), Value::String(s));
            Ok(Some(Value::Object(map)))
        }
        (AttributeType::Complex, _) => Err(wrong_type("an object")),
        (_, Value::String(s)) => Ok(Some(Value::String(s))),
        (_, _) => Err(wrong_type("a string")),
    }
}

fn canonicalize_complex(
    def: &AttributeDef,
    map: Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let sub = |key: &str| def.sub_attribute(key);
    if map.keys().all(|key| is_canonical_name(key, sub(key))) {
        return canonical_in_place(map, sub);
    }
    let mut out = Map::new();
    let mut unknown = HashSet::new();
    for (key, value) in map {
        let (name, value, known) = match def.sub_attribute(&key) {
            Some(sub) => match normalize_value(sub, value)? {
                Some(value) => (sub.name.to_owned(), value, true),
                None => continue,
            },
            None if value.is_null() => continue,
            None => (key, value, false),
        };
        insert_once(&mut out, &mut unknown, name, known, value)?;
    }
    Ok(out)
}

/// `true`/`false` in any case: Entra sends `"True"` and `"False"`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Members as a client lists them: an array (or one) of `{"value": id, "display": …}` or bare
/// id strings. Repeated ids are kept once.
pub(crate) fn member_refs(value: &Value) -> Result<Vec<MemberRef>, ScimError> {
    let items = match value {
        Value::Null => &[][..],
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let mut seen = HashSet::new();
    let mut members = Vec::new();
    for item in items {
        if let Some(member) = member_ref(item)? {
            if seen.insert(member.value.clone()) {
                members.push(member);
            }
        }
    }
    Ok(members)
}

fn member_ref(item: &Value) -> Result<Option<MemberRef>, ScimError> {
    let (value, display) = match item {
        Value::Null => return Ok(None),
        Value::String(value) => (Some(value.as_str()), None),
        Value::Object(map) => (
            get_ci(map, "value").and_then(Value::as_str),
            get_ci(map, "display").and_then(Value::as_str),
        ),
        _ => (None, None),
    };
    match value {
        Some(value) if !value.trim().is_empty() => Ok(Some(MemberRef {
            value: value.to_owned(),
            display: display.map(str::to_owned),
        })),
        _ => Err(ScimError::invalid_value(
            "each member must have a non-empty string 'value'",
        )),
    }
}

/// The parts of a User that storage keys and projections need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSummary {
    pub user_name: String,
    pub external_id: Option<String>,
    /// Absent means active.
    pub active: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The primary email, else the first.
    pub email: Option<String>,
}

/// Summarizes a normalized User; tolerant of any JSON, so it never fails.
pub fn user_summary(resource: &Value) -> UserSummary {
    let Some(map) = resource.as_object() else {
        return UserSummary {
            active: true,
            ..UserSummary::default()
        };
    };
    let string = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let name = get_ci(map, "name").and_then(Value::as_object);
    let active = match get_ci(map, "active") {
        Some(Value::Bool(active)) => *active,
        Some(Value::String(s)) => parse_bool(s).unwrap_or(true),
        _ => true,
    };
    UserSummary {
        user_name: string(get_ci(map, "userName")).unwrap_or_default(),
        external_id: string(get_ci(map, "externalId")),
        active,
        display_name: string(get_ci(map, "displayName")),
        given_name: string(name.and_then(|name| get_ci(name, "givenName"))),
        family_name: string(name.and_then(|name| get_ci(name, "familyName"))),
        email: primary_email(map),
    }
}

fn primary_email(map: &Map<String, Value>) -> Option<String> {
    let emails = get_ci(map, "emails")?.as_array()?;
    let email = emails
        .iter()
        .find(|email| is_primary(email))
        .or_else(|| emails.first())?;
    let value = email.as_object().and_then(|email| get_ci(email, "value"))?;
    value.as_str().map(str::to_owned)
}

/// The parts of a Group that storage keys need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSummary {
    pub display_name: String,
    pub external_id: Option<String>,
}

/// Summarizes a normalized Group; tolerant of any JSON, so it never fails.
pub fn group_summary(resource: &Value) -> GroupSummary {
    let Some(map) = resource.as_object() else {
        return GroupSummary::default();
    };
    let string = |name: &str| get_ci(map, name).and_then(Value::as_str).map(str::to_owned);
    GroupSummary {
        display_name: string("displayName").unwrap_or_default(),
        external_id: string("externalId"),
    }
}

/// The key in `map` equal to `name` ignoring ASCII case, preferring an exact match.
pub(crate) fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

/// `map[name]`, ignoring ASCII case.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Removes every key equal to `name` ignoring ASCII case; returns the value of one (the exact
/// match if there is one).
pub(crate) fn take_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let mut taken = map.remove(name);
    while let Some(key) = find_key(map, name) {
        let value = map.remove(&key);
        taken = taken.or(value);
    }
    taken
}

pub(crate) fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
    use crate::scim::ScimErrorType;

    fn user(body: Value) -> Value {
        match normalize(ResourceKind::User, body) {
            Ok(normalized) => normalized.resource,
            Err(e) => panic!("normalize failed: {e}"),
        }
    }

    fn user_error(body: Value) -> Option<ScimErrorType> {
        normalize(ResourceKind::User, body)
            .err()
            .and_then(|e| e.scim_type)
    }

    #[test]
    fn okta_full_put_body_is_kept_with_canonical_schemas() {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "id": "00u1",
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"primary": true, "value": "alice@example.com", "type": "work"}],
            "displayName": "Alice Smith",
            "locale": "en-US",
            "externalId": "00u1abc",
            "groups": [],
            "password": "hunter2",
            "active": true
        });
        let expected = json!({
            "schemas": [USER_SCHEMA],
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"primary": true, "value": "alice@example.com", "type": "work"}],
            "displayName": "Alice Smith",
            "locale": "en-US",
            "externalId": "00u1abc",
            "active": true
        });
        assert_eq!(user(body), expected);
    }

    #[test]
    fn entra_body_is_coerced_and_canonicalized() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "USERNAME": "bob@contoso.com",
            "Active": "False",
            "emails": [{"Primary": "True", "type": "work", "value": "bob@contoso.com"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {
                "EmployeeNumber": "42",
                "department": "Sales",
                "manager": "mgr-1"
            },
            "urn:ietf:params:scim:schemas:extension:contoso:2.0:User": {"Badge": "7"}
        });
        let expected = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:contoso:2.0:User"],
            "userName": "bob@contoso.com",
            "active": false,
            "emails": [{"primary": true, "type": "work", "value": "bob@contoso.com"}],
            ENTERPRISE_USER_SCHEMA: {
                "employeeNumber": "42",
                "department": "Sales",
                "manager": {"value": "mgr-1"}
            },
            "urn:ietf:params:scim:schemas:extension:contoso:2.0:User": {"Badge": "7"}
        });
        assert_eq!(user(body), expected);
    }

    #[test]
    fn unknown_attributes_are_kept_and_unassigned_ones_dropped() {
        let body = json!({
            "userName": "u",
            "customThing": {"Nested": 1},
            "nickName": null,
            "emails": [],
            "name": {"givenName": null},
            "phoneNumbers": [{"value": "1"}, {"value": "1"}]
        });
        let expected = json!({
            "schemas": [USER_SCHEMA],
            "userName": "u",
            "customThing": {"Nested": 1},
            "phoneNumbers": [{"value": "1"}]
        });
        assert_eq!(user(body), expected);
    }

    /// A body whose names are all canonical is normalized in place; one name in another case
    /// sends it through the copying path. Both must give the same resource.
    #[test]
    fn canonical_names_are_normalized_like_any_others() {
        let body = |display_name_key: &str| {
            json!({
                "schemas": ["whatever"],
                "userName": "u",
                display_name_key: "U",
                "active": "True",
                "password": "hunter2",
                "emails": {"value": "a@b.c", "primary": "true", "type": null},
                "name": {"givenName": null, "familyName": "D"},
                "x509Certificates": [],
                ENTERPRISE_USER_SCHEMA: {"manager": "m-1", "department": null}
            })
        };
        let in_place = user(body("displayName"));
        assert_eq!(in_place, user(body("DISPLAYNAME")));
        assert_eq!(
            in_place,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "u",
                "displayName": "U",
                "active": true,
                "emails": [{"value": "a@b.c", "primary": true}],
                "name": {"familyName": "D"},
                ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-1"}}
            })
        );
    }

    #[test]
    fn an_element_is_identified_without_its_primary_flags() {
        let flagged = json!({"value": "a@b.c", "type": "work", "primary": true, "PRIMARY": false});
        let plain = json!({"type": "work", "value": "a@b.c"});
        assert_eq!(element_identity(&flagged), plain.to_string());
        assert_eq!(element_identity(&json!({"primary": true})), "{}");
        assert_eq!(element_identity(&json!("x")), "\"x\"");
    }

    #[test]
    fn invalid_bodies_are_refused_with_the_right_scim_type() {
        let deep = (0..40).fold(json!("x"), |inner, _| json!({ "a": inner }));
        let wide = json!({"userName": "u", "emails": vec![json!("a@b.c"); 10_001]});
        let cases: Vec<(&str, Value, ScimErrorType)> = vec![
            (
                "not an object",
                json!(["userName"]),
                ScimErrorType::InvalidSyntax,
            ),
            (
                "userName not a string",
                json!({"userName": 7}),
                ScimErrorType::InvalidValue,
            ),
            (
                "userName missing",
                json!({"displayName": "x"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "userName empty",
                json!({"userName": "  "}),
                ScimErrorType::InvalidValue,
            ),
            (
                "active maybe",
                json!({"userName": "u", "active": "maybe"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "name a string",
                json!({"userName": "u", "name": "Al"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "primary a number",
                json!({"userName": "u", "emails": [{"value": "a", "primary": 1}]}),
                ScimErrorType::InvalidValue,
            ),
            (
                "enterprise not an object",
                json!({"userName": "u", ENTERPRISE_USER_SCHEMA: "x"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "name twice",
                json!({"userName": "u", "USERNAME": "v"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "an unknown name twice",
                json!({"userName": "u", "shoeSize": 1, "SHOESIZE": 2}),
                ScimErrorType::InvalidValue,
            ),
            (
                "a sub-attribute twice",
                json!({"userName": "u", "name": {"givenName": "A", "GIVENNAME": "B"}}),
                ScimErrorType::InvalidValue,
            ),
            (
                "an unknown sub-attribute twice",
                json!({"userName": "u", "name": {"nickName": "A", "NICKNAME": "B"}}),
                ScimErrorType::InvalidValue,
            ),
            (
                "a group body",
                json!({"schemas": [GROUP_SCHEMA], "userName": "u"}),
                ScimErrorType::InvalidValue,
            ),
            (
                "too deep",
                json!({"userName": "u", "x": deep}),
                ScimErrorType::InvalidValue,
            ),
            ("too many entries", wide, ScimErrorType::TooMany),
        ];
        for (label, body, expected) in cases {
            assert_eq!(user_error(body), Some(expected), "{label}");
        }
    }

    #[test]
    fn group_members_are_taken_out_of_the_body() {
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": "Engineering",
            "Members": [{"value": "u1", "display": "Alice"}, {"value": "u2"}, "u3", {"value": "u1"}],
            "meta": {"resourceType": "Group"}
        });
        let normalized = normalize(ResourceKind::Group, body);
        let expected = NormalizedResource {
            resource: json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}),
            members: Some(vec![
                MemberRef {
                    value: "u1".into(),
                    display: Some("Alice".into()),
                },
                MemberRef {
                    value: "u2".into(),
                    display: None,
                },
                MemberRef {
                    value: "u3".into(),
                    display: None,
                },
            ]),
        };
        assert_eq!(normalized, Ok(expected));
    }

    #[test]
    fn group_members_absent_null_or_invalid() {
        let absent = normalize(ResourceKind::Group, json!({"displayName": "G"}));
        assert_eq!(absent.map(|n| n.members), Ok(None));
        let null = normalize(
            ResourceKind::Group,
            json!({"displayName": "G", "members": null}),
        );
        assert_eq!(null.map(|n| n.members), Ok(Some(vec![])));
        let invalid = normalize(
            ResourceKind::Group,
            json!({"displayName": "G", "members": [{"display": "x"}]}),
        );
        assert_eq!(
            invalid.err().and_then(|e| e.scim_type),
            Some(ScimErrorType::InvalidValue)
        );
        let unnamed = normalize(
            ResourceKind::Group,
            json!({"displayName": "", "members": []}),
        );
        assert_eq!(
            unnamed.err().and_then(|e| e.scim_type),
            Some(ScimErrorType::InvalidValue)
        );
    }

    #[test]
    fn summaries_read_normalized_resources() {
        let resource = user(json!({
            "userName": "alice",
            "externalId": "ext-1",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "a@home"}, {"value": "a@work", "primary": "true"}]
        }));
        let summary = user_summary(&resource);
        assert_eq!(summary.user_name, "alice");
        assert_eq!(summary.external_id.as_deref(), Some("ext-1"));
        assert!(summary.active, "absent active means active");
        assert_eq!(summary.given_name.as_deref(), Some("Alice"));
        assert_eq!(summary.email.as_deref(), Some("a@work"));
        assert!(!user_summary(&json!({"userName": "x", "active": "False"})).active);
        let group = group_summary(&json!({"displayName": "G", "externalId": "e"}));
        assert_eq!(
            group,
            GroupSummary {
                display_name: "G".into(),
                external_id: Some("e".into())
            }
        );
    }

    /// JSON built from names the schemas know (in odd cases) and values of every type.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "userName",
            "USERNAME",
            "active",
            "emails",
            "value",
            "Primary",
            "type",
            "name",
            "givenName",
            "manager",
            "members",
            "display",
            "id",
            "meta",
            "schemas",
            "password",
            ENTERPRISE_USER_SCHEMA,
            "urn:example:ext:User",
            "custom",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            prop::sample::select(vec!["", "True", "false", "x", "maybe"]).prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(
                    |map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                ),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn normalizing_never_panics_and_is_idempotent(body in json_value(), group in any::<bool>()) {
            let kind = if group { ResourceKind::Group } else { ResourceKind::User };
            if let Ok(once) = normalize(kind, body) {
                let twice = normalize(kind, once.resource.clone()).map(|n| n.resource);
                prop_assert_eq!(twice, Ok(once.resource));
            }
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        let once = user(json!({"userName": "u", "ACTIVE": "true", "emails": "a@b.c"}));
        assert_eq!(user(once.clone()), once);
        assert_eq!(once["emails"], json!([{"value": "a@b.c"}]));
    }
}

//! Applying one operation to a resource held as a JSON object (RFC 7644 §3.5.2.1–3).
//!
//! Every target is handled as "current value → new value" of one top-level attribute (of the
//! resource, or of an extension object), so names are matched case-insensitively and written
//! back once, in the schema's case. Values are normalized by the schema before they are
//! compared or written, so `"True"` and `true` are the same value.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{PatchOp, PatchOperation, PatchPath};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::resource::{
    element_identity, find_key, get_ci, is_primary, normalize_element, normalize_value,
    starts_with_ci, take_ci,
};
use crate::scim::schema::{self, AttributeDef, Mutability, ResourceKind};
use crate::scim::ScimError;

/// Whether a target was named by `path` or by a key of a path-less value: path-less values
/// are often whole resources echoed back, so read-only attributes in them are tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Path,
    PathLess,
}

pub(super) fn apply_operation(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    match &operation.path {
        Some(path) => apply_at(
            kind,
            resource,
            operation.op,
            path,
            operation.value.as_ref(),
            Origin::Path,
        ),
        None => apply_path_less(kind, resource, operation.op, operation.value.as_ref()),
    }
}

/// A path-less add or replace: each key of the value is a target, and may itself be a path
/// (`{"name.givenName": "X"}`, `{"urn:…:enterprise:2.0:User:department": "X"}`).
pub(super) fn apply_path_less(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    op: PatchOp,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(());
    };
    let Some(entries) = value.as_object() else {
        return Err(ScimError::invalid_value(
            "without a path, the value must be an object of attributes",
        ));
    };
    for (key, value) in entries {
        // Clients echo `schemas`; the service computes it.
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = path_less_target(resource, key, value)?;
        apply_at(kind, resource, op, &path, Some(value), Origin::PathLess)?;
    }
    Ok(())
}

/// An unknown extension given whole (`{"urn:example:2.0:User": {…}}`, the shape it has in a
/// resource body) is one attribute named by its URN; `urn:…:User:attr` is an attribute path.
/// Told apart by the prefix: a known schema or an extension the resource already holds means
/// a path; otherwise a last segment like `User` (resource type names are capitalized,
/// attribute names are not) means a whole extension.
fn path_less_target(
    resource: &Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<PatchPath, ScimError> {
    if value.is_object() && starts_with_ci(key, "urn:") && schema::schema_by_urn(key).is_none() {
        if let Some((prefix, last)) = key.rsplit_once(':') {
            let prefix_known = schema::schema_by_urn(prefix).is_some()
                || get_ci(resource, prefix).is_some_and(Value::is_object);
            let whole = get_ci(resource, key).is_some_and(Value::is_object)
                || last.starts_with(|c: char| c.is_ascii_uppercase());
            if !prefix_known && whole {
                return Ok(PatchPath::attribute(key));
            }
        }
    }
    PatchPath::parse(key)
}

fn apply_at(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    op: PatchOp,
    path: &PatchPath,
    value: Option<&Value>,
    origin: Origin,
) -> Result<(), ScimError> {
    let value = value.filter(|value| !value.is_null());
    let def = schema::attribute(kind, path.uri.as_deref(), &path.attribute);
    check_shape(path, def)?;
    let extension = extension_key(kind, resource, path.uri.as_deref())?;
    if extension.is_none() && !is_mutable(resource, path, def, op, value, origin)? {
        return Ok(());
    }
    let container = match &extension {
        None => &mut *resource,
        Some(key) => {
            if !resource.contains_key(key) {
                if op == PatchOp::Remove {
                    return Ok(());
                }
                resource.insert(key.clone(), Value::Object(Map::new()));
            }
            match resource.get_mut(key) {
                Some(Value::Object(container)) => container,
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "'{key}' is not an extension object"
                    )))
                }
            }
        }
    };
    let current = take_ci(container, &path.attribute);
    let name = def.map_or(path.attribute.as_str(), |def| def.name);
    let target = Target { name, def };
    if let Some(updated) = target.update(current, op, path, value)? {
        container.insert(name.to_owned(), updated);
    }
    // An extension emptied by a remove is unassigned, not `{}`.
    if let Some(key) = extension {
        if resource
            .get(&key)
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
        {
            resource.remove(&key);
        }
    }
    Ok(())
}

/// Paths the schema rules out: a filter on a single-valued attribute, a sub-attribute of a
/// simple one.
fn check_shape(path: &PatchPath, def: Option<&AttributeDef>) -> Result<(), ScimError> {
    let Some(def) = def else { return Ok(()) };
    if path.value_filter.is_some() && !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "'{}' is single-valued: a value filter cannot select in it",
            def.name
        )));
    }
    if path.sub_attribute.is_some() && !def.is_complex() {
        return Err(ScimError::invalid_path(format!(
            "'{}' has no sub-attributes",
            def.name
        )));
    }
    Ok(())
}

/// The top-level key of the extension object `uri` names, `None` for the core schema.
fn extension_key(
    kind: ResourceKind,
    resource: &Map<String, Value>,
    uri: Option<&str>,
) -> Result<Option<String>, ScimError> {
    let Some(uri) = uri else { return Ok(None) };
    if uri.eq_ignore_ascii_case(kind.core_schema().id) {
        return Ok(None);
    }
    if let Some(extension) = kind.extension(uri) {
        return Ok(Some(extension.id.to_owned()));
    }
    if schema::schema_by_urn(uri).is_some() {
        return Err(ScimError::invalid_path(format!(
            "{uri} is not a schema of {} resources",
            kind.name()
        )));
    }
    Ok(Some(
        find_key(resource, uri).unwrap_or_else(|| uri.to_owned()),
    ))
}

/// Whether the operation may go ahead: `Ok(false)` skips it. Writing a read-only attribute's
/// current value again is allowed (JumpCloud sends the group's `id` along with a rename); so is
/// a path-less value naming one the stored copy lacks, since `id`, `meta` and `groups` are
/// computed on the way out and never stored.
fn is_mutable(
    resource: &Map<String, Value>,
    path: &PatchPath,
    def: Option<&AttributeDef>,
    op: PatchOp,
    value: Option<&Value>,
    origin: Origin,
) -> Result<bool, ScimError> {
    if path.attribute.eq_ignore_ascii_case("schemas") {
        return match origin {
            Origin::PathLess => Ok(false),
            Origin::Path => Err(ScimError::mutability("'schemas' is set by the service")),
        };
    }
    let Some(def) = def else { return Ok(true) };
    let current = get_ci(resource, def.name);
    let refused =
        || ScimError::mutability(format!("'{}' is {}", def.name, def.mutability.as_str()));
    match def.mutability {
        Mutability::ReadOnly => {
            let whole_value = path.value_filter.is_none() && path.sub_attribute.is_none();
            if op == PatchOp::Remove || !whole_value {
                return Err(refused());
            }
            let new = normalized(Some(def), value)?;
            match current {
                Some(current) if Some(current) == new.as_ref() => Ok(false),
                None if origin == Origin::PathLess => Ok(false),
                _ => Err(refused()),
            }
        }
        Mutability::Immutable => match current {
            None => Ok(true),
            Some(current)
                if op != PatchOp::Remove
                    && Some(current) == normalized(Some(def), value)?.as_ref() =>
            {
                Ok(false)
            }
            Some(_) => Err(refused()),
        },
        Mutability::ReadWrite | Mutability::WriteOnly => Ok(true),
    }
}

/// The value normalized by the attribute's definition; as given for unknown attributes.
fn normalized(
    def: Option<&AttributeDef>,
    value: Option<&Value>,
) -> Result<Option<Value>, ScimError> {
    match (def, value) {
        (_, None) => Ok(None),
        (Some(def), Some(value)) => normalize_value(def, value.clone()),
        (None, Some(value)) => Ok(Some(value.clone())),
    }
}

/// One element of a multi-valued attribute, normalized; a one-element array is unwrapped.
fn normalized_element(
    def: Option<&AttributeDef>,
    value: Option<&Value>,
) -> Result<Option<Value>, ScimError> {
    let value = match value {
        Some(Value::Array(items)) if items.len() == 1 => items.first(),
        other => other,
    };
    match (def, value) {
        (_, None) => Ok(None),
        (_, Some(Value::Array(_))) => Err(ScimError::invalid_value(
            "a value filter selects elements: the value must be one element",
        )),
        (Some(def), Some(value)) => normalize_element(def, value.clone()),
        (None, Some(value)) => Ok(Some(value.clone())),
    }
}

/// One top-level attribute (of the resource or of an extension object) being changed.
struct Target<'a> {
    name: &'a str,
    def: Option<&'static AttributeDef>,
}

impl Target<'_> {
    /// The attribute's new value from its current one; `None` means unassigned.
    fn update(
        &self,
        current: Option<Value>,
        op: PatchOp,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<Option<Value>, ScimError> {
        match (&path.value_filter, &path.sub_attribute) {
            (None, None) => self.whole(current, op, value),
            (None, Some(sub)) => self.sub_attribute(current, op, sub, value),
            (Some(filter), sub) => self.filtered(current, op, filter, sub.as_deref(), value),
        }
    }

    fn is_multi_valued(&self, current: Option<&Value>, value: Option<&Value>) -> bool {
        match self.def {
            Some(def) => def.multi_valued,
            None => current.or(value).is_some_and(Value::is_array),
        }
    }

    fn sub_def(&self, sub: &str) -> Option<&'static AttributeDef> {
        self.def.and_then(|def| def.sub_attribute(sub))
    }

    /// No filter, no sub-attribute: add appends to a multi-valued attribute (skipping values
    /// already there) and merges into a complex one; replace swaps a multi-valued attribute
    /// and merges into a complex one (unmentioned sub-attributes stay, RFC 7644 §3.5.2.3);
    /// remove with a value removes just those elements (Entra), else the whole attribute.
    fn whole(
        &self,
        current: Option<Value>,
        op: PatchOp,
        value: Option<&Value>,
    ) -> Result<Option<Value>, ScimError> {
        let multi_valued = self.is_multi_valued(current.as_ref(), value);
        if op == PatchOp::Remove {
            return match (current, value) {
                (Some(Value::Array(items)), Some(value)) if multi_valued => {
                    let doomed = items_of(normalized(self.def, Some(value))?);
                    let kept = items
                        .into_iter()
                        .filter(|item| !doomed.iter().any(|d| contains(item, d)))
                        .collect();
                    Ok(non_empty(kept))
                }
                _ => Ok(None),
            };
        }
        let Some(new) = normalized(self.def, value)? else {
            // `null` unassigns on replace, and adds nothing.
            return Ok(if op == PatchOp::Replace {
                None
            } else {
                current
            });
        };
        if !multi_valued {
            return Ok(Some(merge(current, new)));
        }
        let existing = match (op, current) {
            (PatchOp::Add, Some(Value::Array(items))) => items,
            (PatchOp::Add, Some(single)) => vec![single],
            _ => Vec::new(),
        };
        Ok(non_empty(append_unique(existing, items_of(Some(new)))))
    }

    /// `name.givenName`, `manager.value`; on a multi-valued attribute without a filter, every
    /// element (and a first one is made for add and replace when there is none).
    fn sub_attribute(
        &self,
        current: Option<Value>,
        op: PatchOp,
        sub: &str,
        value: Option<&Value>,
    ) -> Result<Option<Value>, ScimError> {
        let sub_def = self.sub_def(sub);
        let sub_name = sub_def.map_or(sub, |def| def.name);
        let new = match op {
            PatchOp::Remove => None,
            PatchOp::Add | PatchOp::Replace => normalized(sub_def, value)?,
        };
        if op == PatchOp::Add && new.is_none() {
            return Ok(current);
        }
        if self.is_multi_valued(current.as_ref(), None) {
            let mut items = items_of(current);
            match new {
                Some(new) if items.is_empty() => items.push(object_with(sub_name, new)),
                new => items
                    .iter_mut()
                    .for_each(|item| set_sub(item, sub_name, new.clone())),
            }
            items.retain(|item| item.as_object().is_none_or(|map| !map.is_empty()));
            return Ok(non_empty(items));
        }
        let mut object = match current {
            None => Map::new(),
            Some(Value::Object(object)) => object,
            Some(_) => {
                return Err(ScimError::invalid_path(format!(
                    "'{}' has no sub-attributes",
                    self.name
                )))
            }
        };
        take_ci(&mut object, sub);
        if let Some(new) = new {
            object.insert(sub_name.to_owned(), new);
        }
        Ok((!object.is_empty()).then_some(Value::Object(object)))
    }

    /// `emails[type eq "work"]`, `emails[type eq "work"].value`. When add or replace selects
    /// nothing, an element is made from the filter if it is plain equalities (Entra sends
    /// `addresses[type eq "work"].streetAddress` for a user with no work address); otherwise
    /// that is `noTarget`. Remove selecting nothing is a no-op, so retries are harmless.
    fn filtered(
        &self,
        current: Option<Value>,
        op: PatchOp,
        filter: &Filter,
        sub: Option<&str>,
        value: Option<&Value>,
    ) -> Result<Option<Value>, ScimError> {
        let mut items = items_of(current);
        let selected: Vec<bool> = items.iter().map(|item| filter.matches(item)).collect();
        let sub_def = sub.and_then(|sub| self.sub_def(sub));
        let sub_name = sub.map(|sub| sub_def.map_or(sub, |def| def.name));
        let new = match (op, sub) {
            (PatchOp::Remove, _) => None,
            (_, Some(_)) => normalized(sub_def, value)?,
            (_, None) => normalized_element(self.def, value)?,
        };
        let Some(new) = new else {
            if op == PatchOp::Add {
                return Ok(non_empty(items));
            }
            // Remove, or replace with null: unassign what the path selects.
            let mut selection = selected.iter();
            match sub_name {
                None => items.retain(|_| !selection.next().is_some_and(|s| *s)),
                Some(sub) => items
                    .iter_mut()
                    .zip(&selected)
                    .filter(|(_, selected)| **selected)
                    .for_each(|(item, _)| set_sub(item, sub, None)),
            }
            return Ok(non_empty(items));
        };
        let sets_primary = match sub_name {
            Some(sub) => sub.eq_ignore_ascii_case("primary") && new == Value::Bool(true),
            None => is_primary(&new),
        };
        let primary_before: Vec<Option<Value>> = items.iter().map(primary_field).collect();
        let mut selected = selected;
        if selected.iter().any(|s| *s) {
            for (item, _) in items.iter_mut().zip(&selected).filter(|(_, s)| **s) {
                match sub_name {
                    Some(sub) => set_sub(item, sub, Some(new.clone())),
                    None => *item = merge(Some(item.take()), new.clone()),
                }
            }
        } else {
            let Some(mut element) = element_from_filter(filter, self.def) else {
                return Err(ScimError::no_target(format!(
                    "no value of '{}' matches the filter",
                    self.name
                )));
            };
            match (sub_name, new) {
                (Some(sub), new) => {
                    take_ci(&mut element, sub);
                    element.insert(sub.to_owned(), new);
                }
                (None, Value::Object(fields)) => {
                    for (key, field) in fields {
                        take_ci(&mut element, &key);
                        element.insert(key, field);
                    }
                }
                (None, _) => {
                    return Err(ScimError::invalid_value(format!(
                        "a value of '{}' must be an object",
                        self.name
                    )))
                }
            }
            items.push(Value::Object(element));
            selected.push(true);
        }
        if sets_primary {
            keep_one_primary(&mut items, &selected, &primary_before);
        }
        Ok(non_empty(items))
    }
}

/// Appends values not already present. A value equal to an element but for `primary` is that
/// element (so re-sending an add changes nothing); the last value marked primary takes primary
/// from every other element (RFC 7644 §3.5.2).
fn append_unique(mut items: Vec<Value>, additions: Vec<Value>) -> Vec<Value> {
    let mut positions: HashMap<String, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        positions.entry(element_identity(item)).or_insert(index);
    }
    let mut primary = None;
    for addition in additions {
        let is_primary = is_primary(&addition);
        let index = *positions
            .entry(element_identity(&addition))
            .or_insert_with(|| {
                items.push(addition);
                items.len() - 1
            });
        if is_primary {
            primary = Some(index);
        }
    }
    if let Some(primary) = primary {
        for (index, item) in items.iter_mut().enumerate() {
            if index == primary {
                set_sub(item, "primary", Some(Value::Bool(true)));
            } else {
                clear_primary(item);
            }
        }
    }
    items
}

/// At most one value is primary (RFC 7643 §2.4): the first selected one keeps it. Any other
/// value made primary by the write gets its `primary` from before back, or `false` if it was
/// the primary one; so a write that selects more values the second time changes nothing more.
fn keep_one_primary(items: &mut [Value], selected: &[bool], before: &[Option<Value>]) {
    let first = selected.iter().position(|s| *s);
    for (index, item) in items.iter_mut().enumerate() {
        if Some(index) == first || !is_primary(item) {
            continue;
        }
        match before.get(index).cloned().flatten() {
            Some(Value::Bool(true)) => set_sub(item, "primary", Some(Value::Bool(false))),
            original => set_sub(item, "primary", original),
        }
    }
}

fn primary_field(item: &Value) -> Option<Value> {
    item.as_object()
        .and_then(|map| get_ci(map, "primary"))
        .cloned()
}

fn clear_primary(item: &mut Value) {
    if is_primary(item) {
        set_sub(item, "primary", Some(Value::Bool(false)));
    }
}

/// Sets (or with `None` removes) a sub-attribute of an element; non-objects are left alone.
fn set_sub(item: &mut Value, sub: &str, value: Option<Value>) {
    if let Value::Object(map) = item {
        take_ci(map, sub);
        if let Some(value) = value {
            map.insert(sub.to_owned(), value);
        }
    }
}

/// Merges an object's sub-attributes into a complex value; anything else replaces it.
fn merge(current: Option<Value>, new: Value) -> Value {
    match (current, new) {
        (Some(Value::Object(mut current)), Value::Object(new)) => {
            for (key, value) in new {
                take_ci(&mut current, &key);
                if !value.is_null() {
                    current.insert(key, value);
                }
            }
            Value::Object(current)
        }
        (_, new) => new,
    }
}

/// Whether `item` holds every sub-attribute of `wanted` with the same value (a remove value
/// `{"value": "x"}` selects the element `{"value": "x", "type": "work"}`).
fn contains(item: &Value, wanted: &Value) -> bool {
    match (item, wanted) {
        (Value::Object(item), Value::Object(wanted)) => wanted
            .iter()
            .all(|(key, value)| get_ci(item, key) == Some(value)),
        (item, wanted) => item == wanted,
    }
}

/// `type eq "work"`, `type eq "work" and primary eq true`: the element those equalities
/// describe; `None` for any other filter.
fn element_from_filter(filter: &Filter, def: Option<&AttributeDef>) -> Option<Map<String, Value>> {
    let mut element = Map::new();
    collect_equalities(filter, def, &mut element).then_some(element)
}

fn collect_equalities(
    filter: &Filter,
    def: Option<&AttributeDef>,
    element: &mut Map<String, Value>,
) -> bool {
    match filter {
        Filter::And(left, right) => {
            collect_equalities(left, def, element) && collect_equalities(right, def, element)
        }
        Filter::Compare(
            AttrPath {
                uri: None,
                name,
                sub_attr: None,
            },
            CompareOp::Eq,
            value,
        ) => {
            let value = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return false,
            };
            let name = def
                .and_then(|def| def.sub_attribute(name))
                .map_or(name.as_str(), |sub| sub.name);
            element.insert(name.to_owned(), value);
            true
        }
        _ => false,
    }
}

fn object_with(name: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(name.to_owned(), value);
    Value::Object(map)
}

fn items_of(value: Option<Value>) -> Vec<Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(single) => vec![single],
    }
}

fn non_empty(items: Vec<Value>) -> Option<Value> {
    (!items.is_empty()).then_some(Value::Array(items))
}

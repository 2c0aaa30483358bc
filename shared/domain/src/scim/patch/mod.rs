//! SCIM PATCH (RFC 7644 §3.5.2): parsing a `PatchOp` document, then applying it to a stored
//! resource, all operations or none.
//!
//! Group members are not part of the stored group (a group may have 50,000 of them, one
//! storage item each), so [`apply_group_patch`] turns member operations into [`MemberChange`]s
//! for the storage layer instead of applying them.

mod apply;
mod members;
mod path;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use path::{PatchPath, MAX_PATH_LEN};

use super::filter::Filter;
use super::resource::{self, check_limits, get_ci, MemberRef};
use super::schema::ResourceKind;
use super::ScimError;

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: Option<PatchPath>,
    /// `None` when absent; a JSON `null` is kept and means "unassigned".
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// A change to a group's members, for the storage layer to apply in order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// Add these members; ones already present stay as they are.
    Add(Vec<MemberRef>),
    /// Remove the members with these ids; absent ones are ignored.
    Remove(Vec<String>),
    /// Remove every member matching the filter, evaluated against `{value, display, type}`.
    RemoveWhere(Filter),
    RemoveAll,
    ReplaceAll(Vec<MemberRef>),
}

/// Parses a PATCH body. Lenient where IdPs differ harmlessly (a missing `schemas`, `op` in any
/// case), strict where a guess could corrupt data (unknown `op`, a bad `path`).
pub fn parse_patch(body: &Value) -> Result<PatchRequest, ScimError> {
    check_limits(body)?;
    let Some(body) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object",
        ));
    };
    let Some(operations) = get_ci(body, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body needs an 'Operations' array",
        ));
    };
    if operations.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' is empty"));
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::too_many(format!(
            "at most {MAX_OPERATIONS} operations are accepted in one request"
        )));
    }
    let operations = operations
        .iter()
        .enumerate()
        .map(|(index, operation)| parse_operation(operation).map_err(|e| in_operation(index, e)))
        .collect::<Result<_, _>>()?;
    Ok(PatchRequest { operations })
}

fn parse_operation(operation: &Value) -> Result<PatchOperation, ScimError> {
    let Some(operation) = operation.as_object() else {
        return Err(ScimError::invalid_syntax(
            "an operation must be a JSON object",
        ));
    };
    let op = match get_ci(operation, "op").and_then(Value::as_str) {
        Some(op) if op.trim().eq_ignore_ascii_case("add") => PatchOp::Add,
        Some(op) if op.trim().eq_ignore_ascii_case("replace") => PatchOp::Replace,
        Some(op) if op.trim().eq_ignore_ascii_case("remove") => PatchOp::Remove,
        Some(op) => {
            return Err(ScimError::invalid_syntax(format!(
                "unknown op '{op}': expected add, replace or remove"
            )))
        }
        None => return Err(ScimError::invalid_syntax("an operation needs an 'op'")),
    };
    let path = match get_ci(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) if path.trim().is_empty() => None,
        Some(Value::String(path)) => Some(PatchPath::parse(path)?),
        Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
    };
    let value = get_ci(operation, "value").cloned();
    match (op, &path, &value) {
        (PatchOp::Remove, None, _) => {
            Err(ScimError::no_target("a remove operation needs a 'path'"))
        }
        (PatchOp::Add | PatchOp::Replace, _, None) => Err(ScimError::invalid_syntax(
            "an add or replace operation needs a 'value'",
        )),
        _ => Ok(PatchOperation { op, path, value }),
    }
}

/// Applies a PATCH to a stored User. On error the resource is left unchanged.
pub fn apply_user_patch(resource: &mut Value, request: &PatchRequest) -> Result<(), ScimError> {
    *resource = patched_user(resource.clone(), request)?;
    Ok(())
}

/// The stored User `resource` with a PATCH applied. It takes the resource rather than working
/// on a copy, for a caller that drops it on error anyway: copying (and then dropping) a whole
/// resource was a fifth of a PATCH's CPU time.
pub fn patched_user(resource: Value, request: &PatchRequest) -> Result<Value, ScimError> {
    let kind = ResourceKind::User;
    let mut working = into_object(resource)?;
    for (index, operation) in request.operations.iter().enumerate() {
        apply::apply_operation(kind, &mut working, operation)
            .map_err(|e| in_operation(index, e))?;
    }
    finish(kind, working)
}

/// Applies a PATCH to a stored Group (held without members) and returns the member changes,
/// in operation order. On error the resource is left unchanged and nothing is returned.
pub fn apply_group_patch(
    resource: &mut Value,
    request: &PatchRequest,
) -> Result<Vec<MemberChange>, ScimError> {
    let (patched, changes) = patched_group(resource.clone(), request)?;
    *resource = patched;
    Ok(changes)
}

/// The stored Group `resource` with a PATCH applied, and the member changes in operation
/// order; taking the resource as [`patched_user`] does.
pub fn patched_group(
    resource: Value,
    request: &PatchRequest,
) -> Result<(Value, Vec<MemberChange>), ScimError> {
    let kind = ResourceKind::Group;
    let mut working = into_object(resource)?;
    let mut changes = Vec::new();
    for (index, operation) in request.operations.iter().enumerate() {
        apply_group_operation(&mut working, operation, &mut changes)
            .map_err(|e| in_operation(index, e))?;
    }
    // Members are never stored inline, whatever the stored copy held.
    resource::take_ci(&mut working, "members");
    Ok((finish(kind, working)?, changes))
}

fn apply_group_operation(
    group: &mut Map<String, Value>,
    operation: &PatchOperation,
    changes: &mut Vec<MemberChange>,
) -> Result<(), ScimError> {
    let kind = ResourceKind::Group;
    match &operation.path {
        Some(path) if members::is_members_path(path) => {
            changes.extend(members::changes(
                operation.op,
                path,
                operation.value.as_ref(),
            )?);
            Ok(())
        }
        Some(_) => apply::apply_operation(kind, group, operation),
        None => {
            let (members, rest) = members::split_path_less(operation.value.as_ref());
            if let Some(members) = members {
                let path = PatchPath::attribute("members");
                changes.extend(members::changes(operation.op, &path, Some(&members))?);
            }
            apply::apply_path_less(kind, group, operation.op, rest.as_ref())
        }
    }
}

fn into_object(resource: Value) -> Result<Map<String, Value>, ScimError> {
    match resource {
        Value::Object(map) => Ok(map),
        // The stored copy is ours; anything else is a server fault, not the client's.
        _ => Err(ScimError::new(
            500,
            None,
            "the stored resource is not a JSON object",
        )),
    }
}

fn finish(kind: ResourceKind, working: Map<String, Value>) -> Result<Value, ScimError> {
    let resource = resource::canonicalize(kind, Value::Object(working))?;
    // Each request is bounded, but many could grow a resource without bound.
    check_limits(&resource)?;
    Ok(resource)
}

fn in_operation(index: usize, error: ScimError) -> ScimError {
    ScimError {
        detail: format!("Operations[{index}]: {}", error.detail),
        ..error
    }
}

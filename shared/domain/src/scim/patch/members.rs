//! Group member operations, turned into [`MemberChange`]s instead of being applied: members
//! are stored one item each, not inside the group.

use serde_json::Value;

use super::{MemberChange, PatchOp, PatchPath};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::resource::{member_refs, take_ci};
use crate::scim::schema::GROUP_SCHEMA;
use crate::scim::ScimError;

/// `members`, `members[…]`, `members.display`, with or without the Group schema URN.
pub(super) fn is_members_path(path: &PatchPath) -> bool {
    let core = path
        .uri
        .as_deref()
        .is_none_or(|uri| uri.eq_ignore_ascii_case(GROUP_SCHEMA));
    core && path.attribute.eq_ignore_ascii_case("members")
}

/// Splits a path-less value into its `members` and the rest.
pub(super) fn split_path_less(value: Option<&Value>) -> (Option<Value>, Option<Value>) {
    match value {
        Some(Value::Object(map)) => {
            let mut rest = map.clone();
            let members = take_ci(&mut rest, "members");
            (members, Some(Value::Object(rest)))
        }
        other => (None, other.cloned()),
    }
}

/// What one operation on `members` asks of storage, per RFC 7644 §3.5.2 plus Entra's `remove`
/// with a value list, which removes just the listed members.
pub(super) fn changes(
    op: PatchOp,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<Vec<MemberChange>, ScimError> {
    let value = value.filter(|value| !value.is_null());
    if let Some(sub) = &path.sub_attribute {
        // `display` is only a hint, taken from the member itself; the rest names the member.
        return if sub.eq_ignore_ascii_case("display") {
            Ok(Vec::new())
        } else {
            Err(ScimError::mutability(format!(
                "members.{sub} is immutable: remove the member and add another"
            )))
        };
    }
    let change = match (op, &path.value_filter, value) {
        (PatchOp::Add, _, None) => None,
        // An added member matches no filter yet: the value is what counts.
        (PatchOp::Add, _, Some(value)) => {
            let members = member_refs(value)?;
            (!members.is_empty()).then_some(MemberChange::Add(members))
        }
        (PatchOp::Replace, None, None) => Some(MemberChange::RemoveAll),
        (PatchOp::Replace, None, Some(value)) => {
            Some(MemberChange::ReplaceAll(member_refs(value)?))
        }
        (PatchOp::Replace, Some(filter), value) => {
            let mut changes = vec![removal(filter)];
            if let Some(value) = value {
                changes.push(MemberChange::Add(member_refs(value)?));
            }
            return Ok(changes);
        }
        (PatchOp::Remove, None, None) => Some(MemberChange::RemoveAll),
        (PatchOp::Remove, None, Some(value)) => {
            let ids: Vec<String> = member_refs(value)?.into_iter().map(|m| m.value).collect();
            (!ids.is_empty()).then_some(MemberChange::Remove(ids))
        }
        (PatchOp::Remove, Some(filter), _) => Some(removal(filter)),
    };
    Ok(change.into_iter().collect())
}

/// `value eq "id"` (or several joined by `or`) becomes a removal by id, which storage does by
/// key; any other filter is left for storage to evaluate.
fn removal(filter: &Filter) -> MemberChange {
    let mut ids = Vec::new();
    if member_ids(filter, &mut ids) {
        MemberChange::Remove(ids)
    } else {
        MemberChange::RemoveWhere(filter.clone())
    }
}

fn member_ids(filter: &Filter, ids: &mut Vec<String>) -> bool {
    match filter {
        Filter::Or(left, right) => member_ids(left, ids) && member_ids(right, ids),
        Filter::Compare(
            AttrPath {
                uri: None,
                name,
                sub_attr: None,
            },
            CompareOp::Eq,
            CompValue::String(id),
        ) if name.eq_ignore_ascii_case("value") => {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
            true
        }
        _ => false,
    }
}

//! Rendering stored provider records as SCIM resources: the server-computed `id`, `meta` and
//! `groups` are added on the way out, never stored in the resource.

use serde_json::{json, Value};

use crate::ids::{ProviderGroupId, ProviderUserId};
use crate::model::{etag, ProviderGroup, ProviderUser};
use crate::time::format_millis;

/// `base_url` is the directory's SCIM base, e.g. `https://host/scim/v2/directory_01…`.
pub fn render_user(
    user: &ProviderUser,
    base_url: &str,
    groups: Option<&[ProviderGroupId]>,
) -> Value {
    let mut resource = user.resource.clone();
    let location = format!("{base_url}/Users/{}", user.id);
    set_server_attributes(
        &mut resource,
        &user.id.to_string(),
        "User",
        &location,
        user.version,
        user.created_at,
        user.updated_at,
    );
    if let Some(groups) = groups {
        let rendered: Vec<Value> = groups
            .iter()
            .map(|id| json!({ "value": id.to_string(), "$ref": format!("{base_url}/Groups/{id}") }))
            .collect();
        resource["groups"] = Value::Array(rendered);
    }
    resource
}

/// `members` are rendered only when given (they are stored apart from the group).
pub fn render_group(
    group: &ProviderGroup,
    base_url: &str,
    members: Option<&[(ProviderUserId, Option<String>)]>,
) -> Value {
    let mut resource = group.resource.clone();
    let location = format!("{base_url}/Groups/{}", group.id);
    set_server_attributes(
        &mut resource,
        &group.id.to_string(),
        "Group",
        &location,
        group.version,
        group.created_at,
        group.updated_at,
    );
    if let Some(members) = members {
        let rendered: Vec<Value> = members
            .iter()
            .map(|(id, display)| {
                let mut member = json!({
                    "value": id.to_string(),
                    "$ref": format!("{base_url}/Users/{id}"),
                    "type": "User",
                });
                if let Some(display) = display {
                    member["display"] = json!(display);
                }
                member
            })
            .collect();
        resource["members"] = Value::Array(rendered);
    }
    resource
}

fn set_server_attributes(
    resource: &mut Value,
    id: &str,
    resource_type: &str,
    location: &str,
    version: u64,
    created_at: i64,
    updated_at: i64,
) {
    if !resource.is_object() {
        *resource = json!({});
    }
    resource["id"] = json!(id);
    resource["meta"] = json!({
        "resourceType": resource_type,
        "created": format_millis(created_at),
        "lastModified": format_millis(updated_at),
        "location": location,
        "version": etag(version),
    });
}

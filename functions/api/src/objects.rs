//! The JSON objects the API returns and the directory events carry, in WorkOS shapes.

use dsync_domain::model::{Directory, EnvironmentSettings, ProviderKind};
use dsync_domain::time::format_millis;
use dsync_dynamo::{Reconciliation, StoredDirectory};
use serde_json::{json, Value};

/// WorkOS's name for a directory type (what its SDKs' `DirectoryType` literals accept).
pub fn workos_type(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OktaScimV2 => "okta scim v2.0",
        ProviderKind::EntraScimV2 => "azure scim v2.0",
        ProviderKind::OneloginScimV2 => "onelogin scim v2.0",
        ProviderKind::JumpcloudScimV2 => "jump cloud scim v2.0",
        ProviderKind::GenericScimV2 => "generic scim v2.0",
    }
}

/// A directory type as a client names it: ours (`okta-scim-v2`) or WorkOS's (`okta scim v2.0`).
pub fn parse_kind(text: &str) -> Option<ProviderKind> {
    ProviderKind::parse(text).or_else(|| {
        ProviderKind::ALL
            .into_iter()
            .find(|k| workos_type(*k) == text)
    })
}

/// The Directory object. `external_key` is the directory id, the key its SCIM URL carries.
pub fn directory(stored: &StoredDirectory) -> Value {
    directory_with_state(&stored.directory, "active", stored.updated_at)
}

fn directory_with_state(directory: &Directory, state: &str, updated_at: i64) -> Value {
    json!({
        "object": "directory",
        "id": directory.id.to_string(),
        "name": directory.name,
        "type": workos_type(directory.kind),
        "state": state,
        "organization_id": directory.organization_id,
        "domain": null,
        "external_key": directory.id.to_string(),
        "created_at": format_millis(directory.created_at),
        "updated_at": format_millis(updated_at),
    })
}

/// The data of `dsync.activated`: the directory with WorkOS's legacy `domains` too.
pub fn activated_payload(directory: &Directory) -> Value {
    let mut payload = directory_with_state(directory, "active", directory.created_at);
    if let Value::Object(map) = &mut payload {
        map.insert("domains".into(), json!([]));
        map.remove("domain");
    }
    payload
}

/// The data of `dsync.deleted`: the directory as it was, in state `deleting`.
pub fn deleted_payload(stored: &StoredDirectory) -> Value {
    let mut payload = directory_with_state(&stored.directory, "deleting", stored.updated_at);
    if let Value::Object(map) = &mut payload {
        map.remove("domain");
        map.remove("external_key");
    }
    payload
}

pub fn settings(environment_id: &str, settings: &EnvironmentSettings) -> Value {
    json!({
        "object": "environment_settings",
        "environment_id": environment_id,
        "inactive_user_policy": settings.inactive_user_policy.as_str(),
        "inactive_user_retention_days": settings.inactive_user_retention_days,
    })
}

pub fn reconciliation(run: &Reconciliation) -> Value {
    json!({
        "object": "reconciliation",
        "id": run.id.to_string(),
        "state": run.state.as_str(),
        "directory_id": run.directory_id.map(|d| d.to_string()),
        "counts": {
            "directories": run.counts.directories,
            "users": run.counts.users,
            "groups": run.counts.groups,
            "events": run.counts.events,
        },
        "error": run.error,
        "created_at": format_millis(run.created_at),
        "updated_at": format_millis(run.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_either_name() {
        for kind in ProviderKind::ALL {
            assert_eq!(parse_kind(kind.as_str()), Some(kind));
            assert_eq!(parse_kind(workos_type(kind)), Some(kind));
        }
        assert_eq!(parse_kind("okta"), None);
    }
}

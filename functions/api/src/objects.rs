//! The JSON objects the API returns and the directory events carry, in WorkOS shapes.

use dsync_domain::model::{Directory, EnvironmentSettings, ProviderKind};
use dsync_domain::time::format_millis;
use dsync_domain::webhooks::{Delivery, WebhookEndpoint};
use dsync_dynamo::{ApiKey, DirectoryMetadata, Reconciliation, StoredDirectory};
use serde_json::{json, Value};

/// WorkOS's name for a directory type (what its SDKs' `DirectoryType` literals accept).
pub fn workos_type(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OktaScimV2 => "okta scim v2.0",
        ProviderKind::EntraScimV2 => "azure scim v2.0",
        ProviderKind::OneloginScimV2 => "onelogin scim v2.0",
        ProviderKind::JumpcloudScimV2 => "jump cloud scim v2.0",
        ProviderKind::GenericScimV2 => "generic scim v2.0",
        ProviderKind::GoogleWorkspace => "gsuite directory",
        ProviderKind::Bamboohr => "bamboohr",
        ProviderKind::HrWebhooks => "hr webhooks",
    }
}

/// A directory type as a client names it: ours (`okta-scim-v2`) or WorkOS's (`okta scim v2.0`).
pub fn parse_kind(text: &str) -> Option<ProviderKind> {
    if text == "google workspace" {
        return Some(ProviderKind::GoogleWorkspace);
    }
    ProviderKind::parse(text).or_else(|| {
        ProviderKind::ALL
            .into_iter()
            .find(|k| workos_type(*k) == text)
    })
}

/// The Directory object. `external_key` is the directory id, the key its SCIM URL carries.
/// The REST API says `linked` where events say `active` (WorkOS's SDKs map one to the other):
/// a directory here is linked from creation, its SCIM token being issued with it.
pub fn directory(stored: &StoredDirectory) -> Value {
    directory_with_state(&stored.directory, "linked", stored.updated_at)
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

/// The directory object with WorkOS's `metadata`: `{"users": {"active", "inactive"},
/// "groups"}`, from the directory's counters.
pub fn directory_with_metadata(stored: &StoredDirectory, metadata: &DirectoryMetadata) -> Value {
    let mut object = directory(stored);
    object["metadata"] = json!({
        "users": {"active": metadata.active_users, "inactive": metadata.inactive_users},
        "groups": metadata.groups,
    });
    object
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
            "failed": run.counts.failed,
        },
        "error": run.error,
        "created_at": format_millis(run.created_at),
        "updated_at": format_millis(run.updated_at),
    })
}

/// An API key as listed: never the key itself, only its readable prefix and last characters.
pub fn api_key(key: &ApiKey) -> Value {
    json!({
        "object": "api_key",
        "id": key.id.to_string(),
        "name": key.name,
        "obfuscated_value": key.obfuscated_value,
        "created_at": format_millis(key.created_at),
    })
}

/// The answer to creating a key: the only time `value` (the key) is shown.
pub fn api_key_with_value(key: &ApiKey, value: &str) -> Value {
    let mut object = api_key(key);
    object["value"] = Value::String(value.to_owned());
    object
}

/// The Webhook Endpoint object, under WorkOS's names (`endpoint_url`, `status`, which its
/// SDKs' model requires) and ours (`url`, `state`). The secret is `null`: it is shown only by
/// [`webhook_endpoint_with_secret`], in the answers to creation and rotation.
pub fn webhook_endpoint(endpoint: &WebhookEndpoint) -> Value {
    json!({
        "object": "webhook_endpoint",
        "id": endpoint.id.to_string(),
        "url": endpoint.url,
        "endpoint_url": endpoint.url,
        "events": endpoint.events,
        "state": endpoint.status.as_str(),
        "status": endpoint.status.as_str(),
        "disabled_reason": endpoint.disabled_reason,
        "secret": null,
        "previous_secret_expires_at": endpoint
            .previous_secret
            .as_ref()
            .map(|p| format_millis(p.expires_at)),
        "created_at": format_millis(endpoint.created_at),
        "updated_at": format_millis(endpoint.updated_at),
    })
}

pub fn webhook_endpoint_with_secret(endpoint: &WebhookEndpoint) -> Value {
    let mut object = webhook_endpoint(endpoint);
    object["secret"] = Value::String(endpoint.secret.clone());
    object
}

pub fn delivery(delivery: &Delivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "id": delivery.id.to_string(),
        "endpoint_id": delivery.endpoint_id.to_string(),
        "event_id": delivery.event_id.to_string(),
        "event": delivery.event,
        "state": delivery.state.as_str(),
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.map(format_millis),
        "last_attempt_at": delivery.last_attempt_at.map(format_millis),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": format_millis(delivery.created_at),
        "updated_at": format_millis(delivery.updated_at),
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

    #[test]
    fn a_webhook_endpoint_shows_its_secret_only_when_asked() {
        let mut endpoint = WebhookEndpoint::new(
            dsync_domain::ids::EnvironmentId::generate(),
            "https://example.com/hook".into(),
            vec!["dsync.user.created".into()],
            0,
        );
        let hidden = webhook_endpoint(&endpoint);
        assert_eq!(hidden["secret"], Value::Null);
        assert_eq!(hidden["endpoint_url"], hidden["url"]);
        assert_eq!(hidden["status"], "enabled");
        assert_eq!(hidden["previous_secret_expires_at"], Value::Null);
        endpoint.rotate_secret(1_000, 60);
        let shown = webhook_endpoint_with_secret(&endpoint);
        assert_eq!(shown["secret"], endpoint.secret.as_str());
        assert_eq!(
            shown["previous_secret_expires_at"],
            format_millis(61_000).as_str()
        );
    }
}

//! Environments, directories and provider records: what the service stores, in domain terms.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::attribute_mapping::AttributeMapping;
use crate::directory::roles::{RoleCatalog, RoleMappings};
use crate::ids::{DirectoryId, EnvironmentId, ProviderGroupId, ProviderUserId};
use crate::secrets::SecretHash;

/// How an environment treats users its provider marks inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InactiveUserPolicy {
    /// The secure flow: an inactive user is deleted from the directory.
    #[default]
    Delete,
    /// The custom management flow: an inactive user stays, with `state: inactive`.
    Retain,
}

impl InactiveUserPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Retain => "retain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delete" => Some(Self::Delete),
            "retain" => Some(Self::Retain),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EnvironmentSettings {
    pub inactive_user_policy: InactiveUserPolicy,
    /// With `retain`: inactive users older than this many days are deleted by reconciliation.
    pub inactive_user_retention_days: Option<u32>,
    /// The roles directory users can hold, highest priority first, and the default one.
    #[serde(default)]
    pub roles: RoleCatalog,
}

/// What a directory maps from its provider's records: groups (and provider role values) to
/// roles, provider attribute paths to `custom_attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectoryMappings {
    #[serde(default)]
    pub roles: RoleMappings,
    /// `None`: the defaults ([`crate::directory::attribute_mapping::default_mappings`]).
    #[serde(default)]
    pub custom_attributes: Option<Vec<AttributeMapping>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: EnvironmentId,
    pub name: String,
    pub settings: EnvironmentSettings,
    pub created_at: i64,
}

/// Which provider a directory connects to; decides nothing about storage, only labels and
/// provider-specific quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "okta-scim-v2")]
    OktaScimV2,
    #[serde(rename = "entra-scim-v2")]
    EntraScimV2,
    #[serde(rename = "onelogin-scim-v2")]
    OneloginScimV2,
    #[serde(rename = "jumpcloud-scim-v2")]
    JumpcloudScimV2,
    #[serde(rename = "generic-scim-v2")]
    GenericScimV2,
    /// BambooHR's signed webhooks (`crate::providers::bamboohr`).
    #[serde(rename = "bamboohr")]
    Bamboohr,
    /// The generic HR format, signed with Standard Webhooks (`crate::providers::hr_webhooks`).
    #[serde(rename = "hr-webhooks")]
    HrWebhooks,
    /// Pulled through Google's Admin SDK Directory API (see `providers::google`), no SCIM.
    #[serde(rename = "google-workspace")]
    GoogleWorkspace,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 8] = [
        Self::OktaScimV2,
        Self::EntraScimV2,
        Self::OneloginScimV2,
        Self::JumpcloudScimV2,
        Self::GenericScimV2,
        Self::Bamboohr,
        Self::HrWebhooks,
        Self::GoogleWorkspace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OktaScimV2 => "okta-scim-v2",
            Self::EntraScimV2 => "entra-scim-v2",
            Self::OneloginScimV2 => "onelogin-scim-v2",
            Self::JumpcloudScimV2 => "jumpcloud-scim-v2",
            Self::GenericScimV2 => "generic-scim-v2",
            Self::Bamboohr => "bamboohr",
            Self::HrWebhooks => "hr-webhooks",
            Self::GoogleWorkspace => "google-workspace",
        }
    }

    /// Whether the directory is fed by signed HR webhooks rather than SCIM (it then has a
    /// webhook URL and signing secret, and no SCIM endpoint).
    pub fn is_hr(self) -> bool {
        matches!(self, Self::Bamboohr | Self::HrWebhooks)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the provider pushes SCIM requests (else the service pulls or receives
    /// provider-specific webhooks, and the directory has no usable SCIM token).
    pub fn speaks_scim(self) -> bool {
        !matches!(
            self,
            Self::GoogleWorkspace | Self::Bamboohr | Self::HrWebhooks
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub id: DirectoryId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub kind: ProviderKind,
    /// The developer's own organization id, echoed on events.
    pub organization_id: Option<String>,
    /// SHA-256 of the SCIM bearer token; the token itself is shown once and never stored.
    pub token_hash: SecretHash,
    pub created_at: i64,
    /// Read with the directory, so projecting a batch costs no extra read for them.
    pub mappings: DirectoryMappings,
}

/// A user as the provider last described it. `resource` is the SCIM resource without the
/// server-computed parts (`id`, `meta`, `groups`), which are rendered on the way out.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUser {
    pub id: ProviderUserId,
    pub directory_id: DirectoryId,
    /// Bumped on every write; the ETag and the condition that keeps concurrent writes whole.
    pub version: u64,
    pub user_name: String,
    pub external_id: Option<String>,
    /// The provider's normalized active flag (absent means active).
    pub active: bool,
    /// Milliseconds; when the service first saw this user inactive (see
    /// [`inactive_since_after_write`]). `None` while active, and on records written before
    /// the service kept it.
    pub inactive_since: Option<i64>,
    pub resource: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The `inactive_since` a provider user carries after a write at `now` that leaves it
/// `active`: kept from the record before while it stays inactive, so attribute changes never
/// restart the retention clock; `now` when this write makes it inactive (or creates it
/// inactive); cleared on reactivation. A record from before the service kept the instant
/// counts from its last write, the latest moment it can have become inactive.
pub fn inactive_since_after_write(
    previous: Option<&ProviderUser>,
    active: bool,
    now: i64,
) -> Option<i64> {
    if active {
        return None;
    }
    match previous {
        Some(before) if !before.active => before.inactive_since.or(Some(before.updated_at)),
        _ => Some(now),
    }
}

/// A group as the provider last described it, without its members (stored one item each).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderGroup {
    pub id: ProviderGroupId,
    pub directory_id: DirectoryId,
    pub version: u64,
    pub display_name: String,
    pub external_id: Option<String>,
    pub resource: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One member of one provider group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMembership {
    pub directory_id: DirectoryId,
    pub group_id: ProviderGroupId,
    pub user_id: ProviderUserId,
}

/// `W/"<version>"`, the weak ETag SCIM clients echo in `If-Match`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value admits the current version (`*` admits any).
pub fn if_match_admits(header: &str, version: u64) -> bool {
    let current = version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_weak_strong_and_star() {
        assert!(if_match_admits("W/\"3\"", 3));
        assert!(if_match_admits("\"3\"", 3));
        assert!(if_match_admits("*", 9));
        assert!(if_match_admits("W/\"1\", W/\"3\"", 3));
        assert!(!if_match_admits("W/\"2\"", 3));
    }

    #[test]
    fn inactive_since_is_set_once_kept_while_inactive_and_cleared_on_reactivation() {
        let directory_id = crate::ids::DirectoryId::generate();
        let user = |active: bool, inactive_since: Option<i64>, updated_at: i64| ProviderUser {
            id: ProviderUserId::generate(),
            directory_id,
            version: 1,
            user_name: "jane@acme.test".into(),
            external_id: None,
            active,
            inactive_since,
            resource: serde_json::json!({}),
            created_at: 0,
            updated_at,
        };
        assert_eq!(inactive_since_after_write(None, false, 5), Some(5));
        assert_eq!(inactive_since_after_write(None, true, 5), None);
        let active = user(true, None, 3);
        assert_eq!(inactive_since_after_write(Some(&active), false, 9), Some(9));
        let inactive = user(false, Some(4), 7);
        assert_eq!(
            inactive_since_after_write(Some(&inactive), false, 9),
            Some(4)
        );
        assert_eq!(inactive_since_after_write(Some(&inactive), true, 9), None);
        let legacy = user(false, None, 7);
        assert_eq!(inactive_since_after_write(Some(&legacy), false, 9), Some(7));
    }

    #[test]
    fn provider_kind_round_trips() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProviderKind::parse("okta"), None);
    }
}

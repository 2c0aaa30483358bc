//! Fixtures shared by the projection tests: provider records and a small in-memory directory
//! that applies each outcome the way storage would.

use serde_json::{json, Value};

use crate::ids::{DirectoryGroupId, DirectoryId, ProviderGroupId, ProviderUserId};
use crate::model::{DirectoryMappings, EnvironmentSettings, InactiveUserPolicy, ProviderUser};
use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

use super::model::{DirectoryGroup, DirectoryUser};
use super::projection::{project_user, UserInput, UserOutcome};

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
pub const T0: i64 = 1_700_000_000_000;
pub const ORG: &str = "org_acme";

pub fn settings(policy: InactiveUserPolicy, retention_days: Option<u32>) -> EnvironmentSettings {
    EnvironmentSettings {
        inactive_user_policy: policy,
        inactive_user_retention_days: retention_days,
        ..EnvironmentSettings::default()
    }
}

/// What a provider can say about a user, reduced to what the tests vary.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub active: bool,
    pub title: String,
    pub department: Option<String>,
}

impl Described {
    pub fn active(title: &str) -> Self {
        Self {
            active: true,
            title: title.to_owned(),
            department: None,
        }
    }

    pub fn inactive(title: &str) -> Self {
        Self {
            active: false,
            ..Self::active(title)
        }
    }
}

pub fn provider_user(
    directory_id: DirectoryId,
    id: ProviderUserId,
    described: &Described,
    updated_at: i64,
) -> ProviderUser {
    let mut resource = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane@acme.test",
        "externalId": "00u-jane",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": "jane@acme.test", "type": "work", "primary": true}],
        "title": described.title,
        "active": described.active,
    });
    if let Some(department) = &described.department {
        resource[ENTERPRISE_USER_SCHEMA] = json!({ "department": department });
    }
    ProviderUser {
        id,
        directory_id,
        version: 1,
        user_name: "jane@acme.test".into(),
        external_id: Some("00u-jane".into()),
        active: described.active,
        // As the SCIM endpoint keeps it for a record that has been inactive since this write.
        inactive_since: (!described.active).then_some(updated_at),
        resource,
        created_at: T0,
        updated_at,
    }
}

pub fn directory_group(directory_id: DirectoryId, name: &str) -> DirectoryGroup {
    let provider_group_id = ProviderGroupId::generate();
    DirectoryGroup {
        id: DirectoryGroupId::generate(),
        directory_id,
        provider_group_id,
        name: name.to_owned(),
        idp_id: provider_group_id.to_string(),
        raw_attributes: json!({ "displayName": name }),
        created_at: T0,
        updated_at: T0,
    }
}

/// The directory state of one provider user, kept the way storage keeps it.
#[derive(Debug, Clone)]
pub struct Sim {
    pub settings: EnvironmentSettings,
    pub mappings: DirectoryMappings,
    pub user: Option<DirectoryUser>,
    pub groups: Vec<DirectoryGroup>,
}

impl Sim {
    pub fn new(settings: EnvironmentSettings) -> Self {
        Self {
            settings,
            mappings: DirectoryMappings::default(),
            user: None,
            groups: Vec::new(),
        }
    }

    /// Projects and applies the outcome.
    pub fn step(
        &mut self,
        provider: Option<&ProviderUser>,
        provider_groups: &[DirectoryGroup],
        now: i64,
    ) -> UserOutcome {
        let outcome = self.project(provider, provider_groups, now);
        self.user = outcome.user.apply(self.user.as_ref());
        let leaving = outcome.remove_from();
        self.groups.retain(|g| !leaving.contains(&g.id));
        for id in &outcome.add_to() {
            if let Some(group) = provider_groups.iter().find(|g| g.id == *id) {
                self.groups.push(group.clone());
            }
        }
        outcome
    }

    /// Projects without applying.
    pub fn project(
        &self,
        provider: Option<&ProviderUser>,
        provider_groups: &[DirectoryGroup],
        now: i64,
    ) -> UserOutcome {
        project_user(&UserInput {
            provider,
            settings: &self.settings,
            mappings: &self.mappings,
            current: self.user.as_ref(),
            provider_groups,
            current_groups: &self.groups,
            organization_id: Some(ORG),
            now,
        })
    }

    pub fn group_ids(&self) -> Vec<DirectoryGroupId> {
        let mut ids: Vec<_> = self.groups.iter().map(|g| g.id).collect();
        ids.sort();
        ids
    }
}

pub fn names(outcome: &UserOutcome) -> Vec<&'static str> {
    outcome.events().iter().map(|e| e.name).collect()
}

/// `data.previous_attributes`, or `Value::Null` when there is none.
pub fn previous(outcome: &UserOutcome, name: &str) -> Value {
    outcome
        .events()
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.data.to_value().get("previous_attributes").cloned())
        .unwrap_or(Value::Null)
}

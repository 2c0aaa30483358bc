//! Directory users and groups: the projection the developer reads and events describe.
//!
//! Everything derives `Serialize`/`Deserialize` so storage can keep a record as one JSON
//! document; the public API shapes are built separately in [`super::events`], so the storage
//! form can change without changing what developers see.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{DirectoryGroupId, DirectoryId, DirectoryUserId, ProviderGroupId, ProviderUserId};

/// Whether the provider says the user may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Inactive,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    /// From the provider's normalized active flag.
    pub fn from_active(active: bool) -> Self {
        if active {
            Self::Active
        } else {
            Self::Inactive
        }
    }
}

/// One user as the developer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: DirectoryUserId,
    pub directory_id: DirectoryId,
    pub provider_user_id: ProviderUserId,
    pub state: UserState,
    pub attributes: UserAttributes,
    /// Milliseconds; when the user became inactive. Retention counts from here, so it survives
    /// attribute changes while inactive and is cleared on reactivation.
    pub inactive_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The attributes a directory user takes from its provider record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAttributes {
    /// The provider's own identifier: the SCIM `externalId`, else the provider user id.
    pub idp_id: String,
    pub username: String,
    /// The primary email, else the first.
    pub email: Option<String>,
    pub emails: Vec<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    /// Snake-case keys from the enterprise extension; absent ones are omitted.
    pub custom_attributes: Map<String, Value>,
    /// The SCIM resource as the provider sent it.
    pub raw_attributes: Value,
    /// The primary role, `{"slug": …}`: the highest-priority role of `roles`, else the
    /// environment's default role (roles come from the directory's mappings).
    pub role: Option<Value>,
    /// Every role the user holds, `[{"slug": …}]`, highest priority first.
    #[serde(default)]
    pub roles: Vec<Value>,
    /// The full name: SCIM `name.formatted`, else the given and family names joined.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub primary: bool,
    pub r#type: Option<String>,
    pub value: String,
}

/// One group as the developer sees it. Members are stored apart, one item each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryGroup {
    pub id: DirectoryGroupId,
    pub directory_id: DirectoryId,
    pub provider_group_id: ProviderGroupId,
    /// The provider's `displayName`.
    pub name: String,
    /// The SCIM `externalId`, else the provider group id.
    pub idp_id: String,
    pub raw_attributes: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

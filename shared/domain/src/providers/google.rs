//! Google Workspace: the Admin SDK Directory API's users, groups and members, mapped to the
//! provider records the SCIM endpoint writes.
//!
//! Everything here is pure. The pull (HTTP, storage) lives in the `dsync-google` crate; it
//! asks this module two questions per record: which provider id a Google id has, and whether
//! the record Google lists differs from the one stored (an unchanged record writes nothing).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use crate::model::{inactive_since_after_write, ProviderGroup, ProviderUser};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

/// The scopes the service account is granted by domain-wide delegation: read-only users,
/// groups and members.
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];

/// A user as `users.list` returns it (`projection=basic`); only the fields the mapping reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GoogleUser {
    pub id: String,
    pub primary_email: String,
    pub name: GoogleName,
    pub suspended: bool,
    pub archived: bool,
    pub org_unit_path: Option<String>,
    pub emails: Option<Value>,
    pub organizations: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GoogleName {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub full_name: Option<String>,
}

/// A group as `groups.list` returns it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GoogleGroup {
    pub id: String,
    pub email: String,
    pub name: String,
    pub description: Option<String>,
}

/// A member as `members.list` returns it. `type` is `USER`, `GROUP` or `CUSTOMER`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GoogleMember {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Option<String>,
}

impl GoogleMember {
    /// Only users become members: nested groups are flattened by asking Google for derived
    /// membership, and `CUSTOMER` (everyone in the domain) is not a member list.
    pub fn is_user(&self) -> bool {
        self.kind.eq_ignore_ascii_case("USER") && !self.id.is_empty()
    }
}

impl GoogleUser {
    /// Google's `suspended` or `archived` is the directory's inactive.
    pub fn is_active(&self) -> bool {
        !self.suspended && !self.archived
    }
}

/// A 128-bit id derived from the directory and Google's id, so the same Google record always
/// lands on the same provider record (a pull needs no lookup table), and two directories
/// connected to one Google domain never share ids (directory users are keyed by it alone).
fn derived(kind: &str, directory: &DirectoryId, google_id: &str) -> Ulid {
    let digest = Sha256::new()
        .chain_update(kind.as_bytes())
        .chain_update([0])
        .chain_update(directory.to_string().as_bytes())
        .chain_update([0])
        .chain_update(google_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ulid::from_bytes(bytes)
}

pub fn provider_user_id(directory: &DirectoryId, google_id: &str) -> ProviderUserId {
    let text = format!(
        "{}_{}",
        ProviderUserId::PREFIX,
        derived("user", directory, google_id)
    );
    // A ULID's text always parses back; the fallback is unreachable but keeps this total.
    ProviderUserId::parse(&text).unwrap_or_else(|_| ProviderUserId::generate())
}

pub fn provider_group_id(directory: &DirectoryId, google_id: &str) -> ProviderGroupId {
    let text = format!(
        "{}_{}",
        ProviderGroupId::PREFIX,
        derived("group", directory, google_id)
    );
    ProviderGroupId::parse(&text).unwrap_or_else(|_| ProviderGroupId::generate())
}

/// The SCIM-shaped resource a Google user is stored as. Only stable fields: anything that
/// changes without an admin changing the user (`lastLoginTime`, `etag`) would make every
/// pull write every user.
pub fn user_resource(user: &GoogleUser) -> Value {
    let mut emails = vec![json!({"value": user.primary_email, "primary": true, "type": "work"})];
    for other in user
        .emails
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(address) = other.get("address").and_then(Value::as_str) else {
            continue;
        };
        if !address.eq_ignore_ascii_case(&user.primary_email) {
            let kind = other.get("type").and_then(Value::as_str).unwrap_or("other");
            emails.push(json!({"value": address, "primary": false, "type": kind}));
        }
    }
    let mut name = Map::new();
    for (key, value) in [
        ("givenName", &user.name.given_name),
        ("familyName", &user.name.family_name),
        ("formatted", &user.name.full_name),
    ] {
        if let Some(value) = value {
            name.insert(key.into(), Value::String(value.clone()));
        }
    }
    let mut resource = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "userName": user.primary_email,
        "externalId": user.id,
        "name": name,
        "emails": emails,
        "active": user.is_active(),
        "googleWorkspace": {
            "suspended": user.suspended,
            "archived": user.archived,
            "orgUnitPath": user.org_unit_path,
        },
    });
    let organization = primary_organization(user);
    if let (Some(organization), Value::Object(map)) = (organization, &mut resource) {
        if let Some(title) = organization.get("title").and_then(Value::as_str) {
            map.insert("title".into(), Value::String(title.into()));
        }
        let mut enterprise = Map::new();
        for (google, scim) in [("department", "department"), ("costCenter", "costCenter")] {
            if let Some(value) = organization.get(google).and_then(Value::as_str) {
                enterprise.insert(scim.into(), Value::String(value.into()));
            }
        }
        if !enterprise.is_empty() {
            map.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(enterprise));
        }
    }
    resource
}

fn primary_organization(user: &GoogleUser) -> Option<&Value> {
    let organizations = user.organizations.as_ref()?.as_array()?;
    organizations
        .iter()
        .find(|o| o.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| organizations.first())
}

/// The provider record to write for `user`, or `None` when the stored one already says the
/// same (the pull then writes nothing).
pub fn user_record(
    directory: &DirectoryId,
    previous: Option<&ProviderUser>,
    user: &GoogleUser,
    now: i64,
) -> Option<ProviderUser> {
    let resource = user_resource(user);
    let active = user.is_active();
    if let Some(before) = previous {
        let same = before.resource == resource
            && before.active == active
            && before.user_name == user.primary_email
            && before.external_id.as_deref() == Some(user.id.as_str());
        if same {
            return None;
        }
    }
    Some(ProviderUser {
        id: provider_user_id(directory, &user.id),
        directory_id: *directory,
        version: previous.map_or(1, |p| p.version + 1),
        user_name: user.primary_email.clone(),
        external_id: Some(user.id.clone()),
        active,
        inactive_since: inactive_since_after_write(previous, active, now),
        resource,
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at: now,
    })
}

pub fn group_resource(group: &GoogleGroup) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": display_name(group),
        "externalId": group.id,
        "googleWorkspace": {"email": group.email, "description": group.description},
    })
}

/// A group's name, else its address (Google requires neither to be unique, only the address).
fn display_name(group: &GoogleGroup) -> String {
    if group.name.trim().is_empty() {
        group.email.clone()
    } else {
        group.name.clone()
    }
}

/// The group record to write, or `None` when the stored one already says the same (its
/// members may still differ; they are compared on their own).
pub fn group_record(
    directory: &DirectoryId,
    previous: Option<&ProviderGroup>,
    group: &GoogleGroup,
    now: i64,
) -> Option<ProviderGroup> {
    let resource = group_resource(group);
    if previous.is_some_and(|before| before.resource == resource) {
        return None;
    }
    Some(ProviderGroup {
        id: provider_group_id(directory, &group.id),
        directory_id: *directory,
        version: previous.map_or(1, |p| p.version + 1),
        display_name: display_name(group),
        external_id: Some(group.id.clone()),
        resource,
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at: now,
    })
}

/// Where a pull stands, saved between invocations so the next one resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCheckpoint {
    /// Names this pull's lists of seen ids.
    pub pull_id: String,
    pub started_at: i64,
    pub phase: PullPhase,
    /// Google's token for the next page of the current listing (`None`: its first page).
    pub page_token: Option<String>,
    /// Pages of the current listing done so far (numbers the seen-id lists).
    pub pages: u32,
    /// Within `GoneUsers` / `GoneGroups`: the last stored id examined.
    pub after: Option<String>,
    pub counts: PullCounts,
    /// Times a listing restarted because Google refused its page token this pull.
    pub restarts: u32,
}

/// The phases of a pull, in order: groups' members refer to users, so users come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPhase {
    Users,
    GoneUsers,
    Groups,
    GoneGroups,
}

impl PullPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::GoneUsers => "gone_users",
            Self::Groups => "groups",
            Self::GoneGroups => "gone_groups",
        }
    }
}

/// What a pull did: records Google listed, and the writes it made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCounts {
    pub users_listed: u64,
    pub groups_listed: u64,
    pub users_written: u64,
    pub users_removed: u64,
    pub groups_written: u64,
    pub groups_removed: u64,
    /// Records that could not be written (e.g. a userName another user still holds).
    pub failed: u64,
}

impl PullCheckpoint {
    pub fn start(pull_id: String, now: i64) -> Self {
        Self {
            pull_id,
            started_at: now,
            phase: PullPhase::Users,
            page_token: None,
            pages: 0,
            after: None,
            counts: PullCounts::default(),
            restarts: 0,
        }
    }

    /// Moves to the next phase's beginning.
    pub fn advance(&mut self, phase: PullPhase) {
        self.phase = phase;
        self.page_token = None;
        self.pages = 0;
        self.after = None;
    }
}

/// The last pull as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncStatus {
    /// `never`, `running`, `completed` or `failed`.
    pub state: String,
    pub last_started_at: Option<i64>,
    pub last_completed_at: Option<i64>,
    pub counts: PullCounts,
    /// Why the last attempt failed, in words safe to show (never a credential).
    pub error: Option<String>,
    /// The push channels as the last completed pull left them.
    #[serde(default)]
    pub push: Option<PushStatus>,
}

/// The directory's `users.watch` channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PushStatus {
    /// `active` or `failed` (no status at all: push is off, no public URL is configured).
    pub state: String,
    /// When the first of the channels expires unless renewed (milliseconds).
    pub expires_at: Option<i64>,
    /// Why a channel could not be opened, in words safe to show.
    pub error: Option<String>,
}

/// Renewal ahead of expiry: a channel is replaced once it is within a day of expiring, or
/// past half its life when Google granted less than two days, so a schedule running every
/// few minutes always renews in time and a short-lived channel is not renewed at every run.
pub fn channel_due(now: i64, created_at: i64, expiration: i64) -> bool {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    if expiration <= created_at {
        return true;
    }
    let margin = DAY_MS.min((expiration - created_at) / 2);
    now >= expiration - margin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_renewed_a_day_ahead_or_at_half_life() {
        const HOUR: i64 = 3600 * 1000;
        // Two days granted: renewed in its last day.
        assert!(!channel_due(0, 0, 48 * HOUR));
        assert!(!channel_due(24 * HOUR - 1, 0, 48 * HOUR));
        assert!(channel_due(24 * HOUR, 0, 48 * HOUR));
        // Six hours granted: renewed after three.
        assert!(!channel_due(3 * HOUR - 1, 0, 6 * HOUR));
        assert!(channel_due(3 * HOUR, 0, 6 * HOUR));
        // Expired, or an expiry before its creation: due.
        assert!(channel_due(7 * HOUR, 0, 6 * HOUR));
        assert!(channel_due(0, 10, 5));
    }

    fn user(id: &str, email: &str) -> GoogleUser {
        GoogleUser {
            id: id.into(),
            primary_email: email.into(),
            name: GoogleName {
                given_name: Some("Jane".into()),
                family_name: Some("Doe".into()),
                full_name: Some("Jane Doe".into()),
            },
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_stable_per_directory_and_differ_across_directories() {
        let one = DirectoryId::generate();
        let two = DirectoryId::generate();
        assert_eq!(provider_user_id(&one, "1"), provider_user_id(&one, "1"));
        assert_ne!(provider_user_id(&one, "1"), provider_user_id(&one, "2"));
        assert_ne!(provider_user_id(&one, "1"), provider_user_id(&two, "1"));
        let text = provider_group_id(&one, "g").to_string();
        assert_eq!(
            ProviderGroupId::parse(&text),
            Ok(provider_group_id(&one, "g"))
        );
    }

    #[test]
    fn suspended_or_archived_is_inactive() {
        let mut jane = user("1", "jane@acme.test");
        assert!(jane.is_active());
        jane.suspended = true;
        assert!(!jane.is_active());
        jane.suspended = false;
        jane.archived = true;
        assert!(!jane.is_active());
        assert_eq!(user_resource(&jane)["active"], false);
    }

    #[test]
    fn an_unchanged_user_writes_nothing_and_a_change_bumps_the_version() {
        let directory = DirectoryId::generate();
        let jane = user("1", "jane@acme.test");
        let first = user_record(&directory, None, &jane, 10).expect("new user");
        assert_eq!(first.version, 1);
        assert_eq!(first.external_id.as_deref(), Some("1"));
        assert_eq!(user_record(&directory, Some(&first), &jane, 20), None);
        let mut suspended = jane.clone();
        suspended.suspended = true;
        let second = user_record(&directory, Some(&first), &suspended, 30).expect("changed");
        assert_eq!(second.version, 2);
        assert!(!second.active);
        assert_eq!(second.inactive_since, Some(30));
        assert_eq!(second.created_at, 10);
    }

    #[test]
    fn the_resource_maps_names_emails_and_the_primary_organization() {
        let mut jane = user("1", "jane@acme.test");
        jane.emails = Some(json!([
            {"address": "jane@acme.test", "primary": true},
            {"address": "j@alias.test", "type": "home"}
        ]));
        jane.organizations = Some(json!([
            {"title": "Old", "department": "X"},
            {"title": "Engineer", "department": "R&D", "costCenter": "42", "primary": true}
        ]));
        let resource = user_resource(&jane);
        let attributes = crate::directory::attributes::user_attributes(
            &resource,
            &provider_user_id(&DirectoryId::generate(), "1"),
            None,
        );
        assert_eq!(attributes.email.as_deref(), Some("jane@acme.test"));
        assert_eq!(attributes.emails.len(), 2);
        assert_eq!(attributes.first_name.as_deref(), Some("Jane"));
        assert_eq!(attributes.job_title.as_deref(), Some("Engineer"));
        assert_eq!(attributes.idp_id, "1");
        assert_eq!(attributes.custom_attributes["department"], "R&D");
    }

    #[test]
    fn only_user_members_count() {
        let member = |kind: &str| GoogleMember {
            id: "1".into(),
            kind: kind.into(),
            status: None,
        };
        assert!(member("USER").is_user());
        assert!(!member("GROUP").is_user());
        assert!(!member("CUSTOMER").is_user());
    }

    #[test]
    fn a_group_without_a_name_is_named_by_its_address() {
        let directory = DirectoryId::generate();
        let group = GoogleGroup {
            id: "g1".into(),
            email: "eng@acme.test".into(),
            name: String::new(),
            description: None,
        };
        let record = group_record(&directory, None, &group, 5).expect("new group");
        assert_eq!(record.display_name, "eng@acme.test");
        assert_eq!(group_record(&directory, Some(&record), &group, 6), None);
    }
}

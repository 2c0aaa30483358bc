//! The model test's checks, on state read with a client that injects no faults:
//!
//! 1. the directory equals the pure projection of the provider state;
//! 2. replaying the event log onto an empty model gives that directory;
//! 3. no change is reported twice;
//! 4. sequences are gap-free and `created_at` never decreases in log order.
//!
//! Each check returns the violations it found (empty: it holds), so a failing seed reports
//! all of them at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dsync_domain::directory::{
    self, events as names, DirectoryGroup, DirectoryUser, GroupInput, GroupWrite, UserInput,
    UserWrite,
};
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::{EnvironmentSettings, ProviderUser};
use dsync_dynamo::{Store, StoredEvent};
use serde_json::Value;

/// Payload attributes a replay cannot be held to: a change only in `raw_attributes` is stored
/// but not announced (and so neither is the `updated_at` it moves).
const NOT_ANNOUNCED: [&str; 2] = ["raw_attributes", "updated_at"];

/// The directory as stored: users and groups by provider id, memberships by provider ids.
#[derive(Debug, Default)]
pub struct Directory {
    pub users: BTreeMap<ProviderUserId, DirectoryUser>,
    pub groups: BTreeMap<ProviderGroupId, DirectoryGroup>,
    pub memberships: BTreeSet<(ProviderUserId, ProviderGroupId)>,
}

pub async fn read_directory(store: &Store, directory: &DirectoryId) -> Directory {
    let mut state = Directory::default();
    let mut after = None;
    loop {
        let (ids, next) = store
            .projected_groups_page(directory, after, 100)
            .await
            .expect("groups page");
        for id in ids {
            let projected = store.load_projected_group(&id).await.expect("group");
            if let Some(group) = projected.group {
                state.groups.insert(id, group);
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut after = None;
    loop {
        let (ids, next) = store
            .projected_users_page(directory, after, 100)
            .await
            .expect("users page");
        for id in ids {
            let projected = store.load_projected_user(&id).await.expect("user");
            let Some(user) = projected.user else { continue };
            for group in projected.groups {
                state.memberships.insert((id, group.provider_group_id));
            }
            state.users.insert(id, user);
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    state
}

/// What the identity provider holds: users, groups and who is in which group.
#[derive(Debug, Default)]
pub struct Provider {
    pub users: Vec<ProviderUser>,
    pub groups: Vec<dsync_domain::model::ProviderGroup>,
    pub members: BTreeMap<ProviderUserId, Vec<ProviderGroupId>>,
}

pub async fn read_provider(store: &Store, directory: &DirectoryId) -> Provider {
    let mut provider = Provider::default();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_users(directory, after.as_deref(), 100)
            .await
            .expect("users");
        provider.users.extend(page.users);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut after: Option<String> = None;
    loop {
        let (groups, next) = store
            .list_groups(directory, after.as_deref(), 100)
            .await
            .expect("groups");
        provider.groups.extend(groups);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for group in &provider.groups {
        for (user, _) in store
            .all_members(directory, &group.id)
            .await
            .expect("members")
        {
            provider.members.entry(user).or_default().push(group.id);
        }
    }
    provider
}

/// Check 1: every provider record projected from scratch under `settings` (the pure rule, no
/// storage) matches the stored directory, ids and timestamps aside.
pub fn directory_is_the_projection(
    provider: &Provider,
    settings: &EnvironmentSettings,
    stored: &Directory,
    now: i64,
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut expected_groups: HashMap<ProviderGroupId, DirectoryGroup> = HashMap::new();
    for group in &provider.groups {
        let outcome = directory::project_group(&GroupInput {
            provider: Some(group),
            current: None,
            organization_id: None,
            now,
        });
        if let GroupWrite::Put(projected) = outcome.group {
            expected_groups.insert(group.id, projected);
        }
    }
    for (id, expected) in &expected_groups {
        match stored.groups.get(id) {
            None => violations.push(format!("group {id}: missing from the directory")),
            Some(actual) => {
                let same = actual.name == expected.name
                    && actual.idp_id == expected.idp_id
                    && actual.raw_attributes == expected.raw_attributes;
                if !same {
                    violations.push(format!(
                        "group {id}: stored {actual:?}, projection {expected:?}"
                    ));
                }
            }
        }
    }
    for id in stored.groups.keys() {
        if !expected_groups.contains_key(id) {
            violations.push(format!("group {id}: in the directory, not at the provider"));
        }
    }

    let mut expected_memberships = BTreeSet::new();
    let mut expected_users = BTreeSet::new();
    for user in &provider.users {
        let joined: Vec<DirectoryGroup> = provider
            .members
            .get(&user.id)
            .into_iter()
            .flatten()
            .filter_map(|g| expected_groups.get(g).cloned())
            .collect();
        let outcome = directory::project_user(&UserInput {
            provider: Some(user),
            settings,
            // The fault model never maps roles or attributes: the defaults.
            mappings: &dsync_domain::model::DirectoryMappings::default(),
            current: None,
            provider_groups: &joined,
            current_groups: &[],
            organization_id: None,
            now,
        });
        let added = outcome.add_to();
        let UserWrite::Put(expected) = outcome.user else {
            if stored.users.contains_key(&user.id) {
                violations.push(format!(
                    "user {}: in the directory, the projection has none",
                    user.id
                ));
            }
            continue;
        };
        expected_users.insert(user.id);
        for group in &joined {
            if added.contains(&group.id) {
                expected_memberships.insert((user.id, group.provider_group_id));
            }
        }
        match stored.users.get(&user.id) {
            None => violations.push(format!("user {}: missing from the directory", user.id)),
            Some(actual) => {
                let same = actual.state == expected.state
                    && actual.attributes == expected.attributes
                    && actual.inactive_since == expected.inactive_since;
                if !same {
                    violations.push(format!(
                        "user {}: stored {actual:?}, projection {expected:?}",
                        user.id
                    ));
                }
            }
        }
    }
    for id in stored.users.keys() {
        if !expected_users.contains(id) && provider.users.iter().all(|u| u.id != *id) {
            violations.push(format!("user {id}: in the directory, not at the provider"));
        }
    }
    for missing in expected_memberships.difference(&stored.memberships) {
        violations.push(format!(
            "membership {missing:?}: missing from the directory"
        ));
    }
    for extra in stored.memberships.difference(&expected_memberships) {
        violations.push(format!(
            "membership {extra:?}: in the directory, not projected"
        ));
    }
    violations
}

/// The directory a reader of the log builds: objects by id as their last event showed them.
#[derive(Debug, Default)]
pub struct Replayed {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    pub memberships: BTreeSet<(String, String)>,
}

fn id_of(data: &Value) -> String {
    data["id"].as_str().unwrap_or_default().to_owned()
}

/// The payload a replay is compared on: what events announce.
fn announced(data: &Value) -> Value {
    let mut data = data.clone();
    if let Value::Object(fields) = &mut data {
        for name in NOT_ANNOUNCED.iter().chain(["previous_attributes"].iter()) {
            fields.remove(*name);
        }
    }
    data
}

/// Checks 2 (in part) and 3: replays the log, reporting every event that repeats a change
/// already made (a second `created` for one id, an update that changes nothing visible, an
/// addition of a member already in the group, a removal or deletion of something absent).
pub fn replay(events: &[StoredEvent]) -> (Replayed, Vec<String>) {
    let mut model = Replayed::default();
    let mut violations = Vec::new();
    let mut ever_created: BTreeSet<String> = BTreeSet::new();
    for event in events {
        let at = format!("event {} ({})", event.sequence, event.name);
        let data = &event.data;
        match event.name.as_str() {
            names::USER_CREATED | names::GROUP_CREATED => {
                let id = id_of(data);
                if !ever_created.insert(id.clone()) {
                    violations.push(format!("{at}: {id} created twice"));
                }
                let objects = objects(&mut model, &event.name);
                objects.insert(id, announced(data));
            }
            names::USER_UPDATED | names::GROUP_UPDATED => {
                let id = id_of(data);
                let objects = objects(&mut model, &event.name);
                match objects.get(&id) {
                    None => violations.push(format!("{at}: {id} updated but never created")),
                    Some(old) if *old == announced(data) => {
                        violations.push(format!("{at}: {id} updated with nothing changed"))
                    }
                    Some(_) => {}
                }
                objects.insert(id, announced(data));
            }
            names::USER_DELETED => {
                let id = id_of(data);
                if model.users.remove(&id).is_none() {
                    violations.push(format!("{at}: {id} deleted but not present"));
                }
                let before = model.memberships.len();
                model.memberships.retain(|(user, _)| *user != id);
                if model.memberships.len() != before {
                    violations.push(format!("{at}: {id} deleted while still in groups"));
                }
            }
            names::GROUP_DELETED => {
                let id = id_of(data);
                if model.groups.remove(&id).is_none() {
                    violations.push(format!("{at}: {id} deleted but not present"));
                }
                // `dsync.group.deleted` stands for its memberships.
                model.memberships.retain(|(_, group)| *group != id);
            }
            names::GROUP_USER_ADDED | names::GROUP_USER_REMOVED => {
                let pair = (id_of(&data["user"]), id_of(&data["group"]));
                let added = event.name == names::GROUP_USER_ADDED;
                if added {
                    if !model.users.contains_key(&pair.0) || !model.groups.contains_key(&pair.1) {
                        violations.push(format!("{at}: {pair:?} joins an absent user or group"));
                    }
                    if !model.memberships.insert(pair.clone()) {
                        violations.push(format!("{at}: {pair:?} added twice"));
                    }
                } else if !model.memberships.remove(&pair) {
                    violations.push(format!("{at}: {pair:?} removed but not present"));
                }
            }
            _ => {}
        }
    }
    (model, violations)
}

fn objects<'a>(model: &'a mut Replayed, event: &str) -> &'a mut BTreeMap<String, Value> {
    if event.starts_with("dsync.user.") {
        &mut model.users
    } else {
        &mut model.groups
    }
}

/// Check 2: the replayed model is the stored directory.
pub fn replay_is_the_directory(replayed: &Replayed, stored: &Directory) -> Vec<String> {
    let mut violations = Vec::new();
    let users: BTreeMap<String, Value> = stored
        .users
        .values()
        .map(|u| {
            let payload = names::user_payload(u, None);
            (id_of(&payload), announced(&payload))
        })
        .collect();
    let groups: BTreeMap<String, Value> = stored
        .groups
        .values()
        .map(|g| {
            let payload = names::group_payload(g, None);
            (id_of(&payload), announced(&payload))
        })
        .collect();
    compare("user", &replayed.users, &users, &mut violations);
    compare("group", &replayed.groups, &groups, &mut violations);
    let memberships: BTreeSet<(String, String)> = stored
        .memberships
        .iter()
        .filter_map(|(user, group)| {
            let user = stored.users.get(user)?.id.to_string();
            let group = stored.groups.get(group)?.id.to_string();
            Some((user, group))
        })
        .collect();
    for pair in replayed.memberships.symmetric_difference(&memberships) {
        let side = if memberships.contains(pair) {
            "stored, never announced"
        } else {
            "announced, not stored"
        };
        violations.push(format!("membership {pair:?}: {side}"));
    }
    violations
}

fn compare(
    kind: &str,
    replayed: &BTreeMap<String, Value>,
    stored: &BTreeMap<String, Value>,
    violations: &mut Vec<String>,
) {
    for (id, payload) in stored {
        match replayed.get(id) {
            None => violations.push(format!("{kind} {id}: stored, never announced")),
            Some(seen) if seen != payload => violations.push(format!(
                "{kind} {id}: the log says {seen}, the directory holds {payload}"
            )),
            Some(_) => {}
        }
    }
    for id in replayed.keys() {
        if !stored.contains_key(id) {
            violations.push(format!("{kind} {id}: announced, not stored"));
        }
    }
}

/// Check 4: sequence numbers 1, 2, 3, … with no gap, and `created_at` (and the time in the
/// event id) never decreasing in log order.
pub fn log_is_ordered(events: &[StoredEvent]) -> Vec<String> {
    let mut violations = Vec::new();
    for (index, pair) in events.windows(2).enumerate() {
        let (before, after) = (&pair[0], &pair[1]);
        if after.sequence != before.sequence + 1 {
            violations.push(format!(
                "sequence {} follows {} (position {index})",
                after.sequence, before.sequence
            ));
        }
        if after.created_at < before.created_at {
            violations.push(format!(
                "event {}: created_at {} before the previous {}",
                after.sequence, after.created_at, before.created_at
            ));
        }
        if after.id.ulid().timestamp_ms() < before.id.ulid().timestamp_ms() {
            violations.push(format!("event {}: its id's time goes back", after.sequence));
        }
    }
    if let Some(first) = events.first() {
        if first.sequence != 1 {
            violations.push(format!("the log starts at sequence {}", first.sequence));
        }
    }
    violations
}

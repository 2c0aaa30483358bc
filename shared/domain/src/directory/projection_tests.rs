//! The flow table of docs/inactive-users.md, row by row under both policies, then retention, policy
//! switches, payload details and groups.

use serde_json::{json, Value};

use crate::ids::{DirectoryGroupId, DirectoryId, DirectoryUserId, ProviderGroupId, ProviderUserId};
use crate::model::{inactive_since_after_write, InactiveUserPolicy, ProviderGroup, ProviderUser};
use crate::time::format_millis;

use super::events::{
    user_payload, GROUP_CREATED, GROUP_DELETED, GROUP_UPDATED, GROUP_USER_ADDED,
    GROUP_USER_REMOVED, USER_CREATED, USER_DELETED, USER_UPDATED,
};
use super::model::{DirectoryGroup, DirectoryUser, UserState};
use super::projection::{project_group, GroupInput, GroupWrite, UserOutcome, UserWrite};
use super::test_support::*;

use InactiveUserPolicy::{Delete, Retain};

const T1: i64 = T0 + 60_000;
const DEACTIVATED_AT: i64 = T0 + 1_000;

#[derive(Debug, Clone, Copy)]
enum Flow {
    NewActive,
    NewInactive,
    ChangeActive,
    Deactivated,
    ChangeWhileInactive,
    Reactivated,
    HardDelete,
}

/// One row's situation: the directory as earlier provider changes left it, and the provider
/// change under test, made at `T1`.
struct Case {
    sim: Sim,
    provider: Option<ProviderUser>,
    provider_groups: Vec<DirectoryGroup>,
    before: Option<DirectoryUser>,
    /// The id the user had when it first existed, if it did.
    first_id: Option<DirectoryUserId>,
    g1: DirectoryGroup,
    g2: DirectoryGroup,
}

impl Case {
    fn new(flow: Flow, policy: InactiveUserPolicy) -> Self {
        let directory_id = DirectoryId::generate();
        let provider_user_id = ProviderUserId::generate();
        let g1 = directory_group(directory_id, "Engineering");
        let g2 = directory_group(directory_id, "Staff");
        // Storage order differs from id order: outcomes must be sorted anyway.
        let groups = vec![g2.clone(), g1.clone()];
        let at = |described: &Described, time| {
            provider_user(directory_id, provider_user_id, described, time)
        };
        let mut sim = Sim::new(settings(policy, None));
        let mut first_id = None;
        // The record the history left, which the row's write replaces.
        let mut last = None;
        let mut history = |sim: &mut Sim, steps: &[(Described, i64)]| {
            for (described, time) in steps {
                let record = at(described, *time);
                sim.step(Some(&record), &groups, *time);
                first_id = first_id.or(sim.user.as_ref().map(|u| u.id));
                last = Some(record);
            }
        };
        let active = Described::active("Engineer");
        let inactive = Described::inactive("Engineer");
        let provider = match flow {
            Flow::NewActive => Some(active),
            Flow::NewInactive => Some(inactive),
            Flow::ChangeActive => {
                history(&mut sim, &[(active, T0)]);
                Some(Described::active("Staff Engineer"))
            }
            Flow::Deactivated => {
                history(&mut sim, &[(active, T0)]);
                Some(inactive)
            }
            Flow::ChangeWhileInactive => {
                history(&mut sim, &[(active, T0), (inactive, DEACTIVATED_AT)]);
                Some(Described::inactive("Staff Engineer"))
            }
            Flow::Reactivated => {
                history(
                    &mut sim,
                    &[(active.clone(), T0), (inactive, DEACTIVATED_AT)],
                );
                Some(active)
            }
            Flow::HardDelete => {
                history(&mut sim, &[(active, T0)]);
                None
            }
        };
        // Written as the SCIM endpoint writes it: `inactive_since` carried from the record
        // it replaces while the user stays inactive.
        let provider = provider.map(|described| {
            let mut record = at(&described, T1);
            record.inactive_since = inactive_since_after_write(last.as_ref(), described.active, T1);
            record
        });
        Self {
            before: sim.user.clone(),
            sim,
            provider,
            provider_groups: groups,
            first_id,
            g1,
            g2,
        }
    }

    fn both(&self) -> Vec<DirectoryGroupId> {
        vec![self.g1.id, self.g2.id]
    }

    fn before_id(&self) -> DirectoryUserId {
        self.before
            .as_ref()
            .map(|u| u.id)
            .expect("the row has a stored user")
    }
}

type Check = fn(&Case, &UserOutcome);

struct Row {
    flow: Flow,
    policy: InactiveUserPolicy,
    events: &'static [&'static str],
    check: Check,
}

fn put(outcome: &UserOutcome) -> &DirectoryUser {
    match &outcome.user {
        UserWrite::Put(user) => user,
        other => panic!("expected a put, got {other:?}"),
    }
}

fn membership_ids(outcome: &UserOutcome, name: &str) -> Vec<(String, String)> {
    let id = |v: &Value, key: &str| v[key]["id"].as_str().unwrap_or_default().to_owned();
    let events = outcome.events().into_iter().filter(|e| e.name == name);
    events
        .map(|e| {
            (
                id(&e.data.to_value(), "user"),
                id(&e.data.to_value(), "group"),
            )
        })
        .collect()
}

fn check_new_active(case: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(user.state, UserState::Active);
    assert_eq!((user.created_at, user.updated_at), (T1, T1));
    assert_eq!(outcome.add_to(), case.both());
    let created = &outcome.events()[0].data.to_value();
    assert_eq!(created["state"], "active");
    assert_eq!(created["id"], user.id.to_string());
    assert_eq!(created["organization_id"], ORG);
    let user_id = user.id.to_string();
    let added = membership_ids(outcome, GROUP_USER_ADDED);
    let expected = [&case.g1, &case.g2].map(|g| (user_id.clone(), g.id.to_string()));
    assert_eq!(added, expected);
}

fn check_nothing(_: &Case, outcome: &UserOutcome) {
    assert_eq!(outcome.user, UserWrite::Unchanged);
    assert!(outcome.add_to().is_empty() && outcome.remove_from().is_empty());
}

fn check_new_inactive_retained(_: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(user.state, UserState::Inactive);
    assert_eq!(user.inactive_since, Some(T1));
    assert!(
        outcome.add_to().is_empty(),
        "an inactive user is in no group"
    );
    assert_eq!(outcome.events()[0].data.to_value()["state"], "inactive");
}

fn check_change_active(case: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(user.id, case.before_id());
    assert_eq!((user.created_at, user.updated_at), (T0, T1));
    assert_eq!(user.attributes.job_title.as_deref(), Some("Staff Engineer"));
    assert_eq!(
        previous(outcome, USER_UPDATED),
        json!({"job_title": "Engineer"})
    );
    assert!(outcome.add_to().is_empty() && outcome.remove_from().is_empty());
}

fn check_deactivated_deleted(case: &Case, outcome: &UserOutcome) {
    assert_eq!(outcome.user, UserWrite::Delete(case.before_id()));
    assert_eq!(outcome.remove_from(), case.both());
    let removed = membership_ids(outcome, GROUP_USER_REMOVED);
    let user_id = case.before_id().to_string();
    let expected = [&case.g1, &case.g2].map(|g| (user_id.clone(), g.id.to_string()));
    assert_eq!(removed, expected);
    assert_eq!(outcome.events()[2].data.to_value()["id"], user_id);
}

fn check_deactivated_retained(case: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(user.id, case.before_id());
    assert_eq!(user.state, UserState::Inactive);
    assert_eq!(user.inactive_since, Some(T1));
    assert_eq!(outcome.remove_from(), case.both());
    // Removals describe the user as it was when it left: still active.
    assert_eq!(
        outcome.events()[0].data.to_value()["user"]["state"],
        "active"
    );
    assert_eq!(outcome.events()[2].data.to_value()["state"], "inactive");
    assert_eq!(previous(outcome, USER_UPDATED), json!({"state": "active"}));
}

fn check_change_while_inactive_retained(case: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(user.id, case.before_id());
    assert_eq!(user.state, UserState::Inactive);
    assert_eq!(user.inactive_since, Some(DEACTIVATED_AT));
    assert_eq!(user.updated_at, T1);
    assert_eq!(
        previous(outcome, USER_UPDATED),
        json!({"job_title": "Engineer"})
    );
    assert!(outcome.add_to().is_empty() && outcome.remove_from().is_empty());
}

fn check_reactivated_deleted(case: &Case, outcome: &UserOutcome) {
    assert!(case.before.is_none());
    let user = put(outcome);
    assert_ne!(
        Some(user.id),
        case.first_id,
        "a returning user gets a new id"
    );
    assert_eq!((user.created_at, user.state), (T1, UserState::Active));
    assert_eq!(outcome.add_to(), case.both());
    assert_eq!(
        outcome.events()[1].data.to_value()["user"]["id"],
        user.id.to_string()
    );
}

fn check_reactivated_retained(case: &Case, outcome: &UserOutcome) {
    let user = put(outcome);
    assert_eq!(Some(user.id), case.first_id);
    assert_eq!(user.state, UserState::Active);
    assert_eq!(user.inactive_since, None);
    assert_eq!(
        previous(outcome, USER_UPDATED),
        json!({"state": "inactive"})
    );
    assert_eq!(outcome.add_to(), case.both());
    assert_eq!(
        outcome.events()[1].data.to_value()["user"]["state"],
        "active"
    );
}

fn check_hard_delete(case: &Case, outcome: &UserOutcome) {
    check_deactivated_deleted(case, outcome);
}

fn rows() -> Vec<Row> {
    let row = |flow, policy, events, check| Row {
        flow,
        policy,
        events,
        check,
    };
    const CREATED_AND_ADDED: &[&str] = &[USER_CREATED, GROUP_USER_ADDED, GROUP_USER_ADDED];
    const REMOVED_AND_DELETED: &[&str] = &[GROUP_USER_REMOVED, GROUP_USER_REMOVED, USER_DELETED];
    vec![
        row(Flow::NewActive, Delete, CREATED_AND_ADDED, check_new_active),
        row(Flow::NewActive, Retain, CREATED_AND_ADDED, check_new_active),
        row(Flow::NewInactive, Delete, &[], check_nothing),
        row(
            Flow::NewInactive,
            Retain,
            &[USER_CREATED],
            check_new_inactive_retained,
        ),
        row(
            Flow::ChangeActive,
            Delete,
            &[USER_UPDATED],
            check_change_active,
        ),
        row(
            Flow::ChangeActive,
            Retain,
            &[USER_UPDATED],
            check_change_active,
        ),
        row(
            Flow::Deactivated,
            Delete,
            REMOVED_AND_DELETED,
            check_deactivated_deleted,
        ),
        row(
            Flow::Deactivated,
            Retain,
            &[GROUP_USER_REMOVED, GROUP_USER_REMOVED, USER_UPDATED],
            check_deactivated_retained,
        ),
        row(Flow::ChangeWhileInactive, Delete, &[], check_nothing),
        row(
            Flow::ChangeWhileInactive,
            Retain,
            &[USER_UPDATED],
            check_change_while_inactive_retained,
        ),
        row(
            Flow::Reactivated,
            Delete,
            CREATED_AND_ADDED,
            check_reactivated_deleted,
        ),
        row(
            Flow::Reactivated,
            Retain,
            &[USER_UPDATED, GROUP_USER_ADDED, GROUP_USER_ADDED],
            check_reactivated_retained,
        ),
        row(
            Flow::HardDelete,
            Delete,
            REMOVED_AND_DELETED,
            check_hard_delete,
        ),
        row(
            Flow::HardDelete,
            Retain,
            REMOVED_AND_DELETED,
            check_hard_delete,
        ),
    ]
}

#[test]
fn every_row_of_the_flow_table() {
    for row in rows() {
        let label = format!("{:?} under {}", row.flow, row.policy.as_str());
        let mut case = Case::new(row.flow, row.policy);
        let outcome = case
            .sim
            .step(case.provider.as_ref(), &case.provider_groups, T1);
        assert_eq!(names(&outcome), row.events, "{label}");
        (row.check)(&case, &outcome);

        // Projecting the result again changes nothing, later too.
        for now in [T1, T1 + 1, T1 + 365 * DAY_MS] {
            let again = case
                .sim
                .project(case.provider.as_ref(), &case.provider_groups, now);
            assert_eq!(again.user, UserWrite::Unchanged, "{label}");
            assert!(again.events().is_empty(), "{label}: {:?}", names(&again));
            assert!(again.add_to().is_empty() && again.remove_from().is_empty());
        }
    }
}

/// A retained user who became inactive at `DEACTIVATED_AT`, and its provider record.
fn retained_inactive(days: u32) -> (Sim, ProviderUser) {
    let directory_id = DirectoryId::generate();
    let id = ProviderUserId::generate();
    let mut sim = Sim::new(settings(Retain, Some(days)));
    let active = provider_user(directory_id, id, &Described::active("Engineer"), T0);
    let inactive = Described::inactive("Engineer");
    let inactive = provider_user(directory_id, id, &inactive, DEACTIVATED_AT);
    sim.step(Some(&active), &[], T0);
    sim.step(Some(&inactive), &[], DEACTIVATED_AT);
    (sim, inactive)
}

#[test]
fn retention_expires_after_n_days_and_not_at_n_days() {
    let (mut sim, provider) = retained_inactive(30);
    let exactly = sim.project(Some(&provider), &[], DEACTIVATED_AT + 30 * DAY_MS);
    assert_eq!(exactly.user, UserWrite::Unchanged);
    assert!(exactly.events().is_empty());

    let id = sim.user.as_ref().map(|u| u.id).expect("retained");
    let expired = sim.step(Some(&provider), &[], DEACTIVATED_AT + 30 * DAY_MS + 1);
    assert_eq!(expired.user, UserWrite::Delete(id));
    assert_eq!(names(&expired), [USER_DELETED]);
    assert!(expired.remove_from().is_empty());

    // Once expired, the unchanged provider record does not bring the user back.
    let later = sim.step(Some(&provider), &[], DEACTIVATED_AT + 90 * DAY_MS);
    assert_eq!(later.user, UserWrite::Unchanged);
    assert!(later.events().is_empty());
}

/// A retained user reactivated and deactivated again, both writes projected as one (the
/// stream batch held both records and the projection read the last): the directory never saw
/// it active, but it has been inactive only since the second deactivation, as its record
/// says, and retention counts from there (found by the fault soak, seed 10).
#[test]
fn a_reactivation_the_projection_never_saw_restarts_retention() {
    let (mut sim, deactivated) = retained_inactive(30);
    let back_at = DEACTIVATED_AT + 20 * DAY_MS;
    let back = scim_write(&deactivated, &Described::active("Engineer"), back_at);
    let again_at = back_at + 1_000;
    let again = scim_write(&back, &Described::inactive("Engineer"), again_at);
    assert_eq!(again.inactive_since, Some(again_at));

    sim.step(Some(&again), &[], again_at);
    assert_eq!(
        sim.user.as_ref().and_then(|u| u.inactive_since),
        Some(again_at)
    );
    let kept = sim.step(Some(&again), &[], DEACTIVATED_AT + 30 * DAY_MS + 1);
    assert_eq!(kept.user, UserWrite::Unchanged, "active 10 days ago");
    let gone = sim.step(Some(&again), &[], again_at + 30 * DAY_MS + 1);
    assert_eq!(names(&gone), [USER_DELETED]);
}

#[test]
fn attribute_changes_while_inactive_do_not_restart_retention() {
    let (mut sim, deactivated) = retained_inactive(30);
    let (directory_id, id) = (deactivated.directory_id, deactivated.id);
    let changed_at = DEACTIVATED_AT + 10 * DAY_MS;
    let provider = scim_write(
        &deactivated,
        &Described::inactive("Staff Engineer"),
        changed_at,
    );
    assert_eq!(provider.inactive_since, Some(DEACTIVATED_AT));
    let outcome = sim.step(Some(&provider), &[], changed_at);
    assert_eq!(names(&outcome), [USER_UPDATED]);
    assert_eq!(
        sim.user.as_ref().and_then(|u| u.inactive_since),
        Some(DEACTIVATED_AT)
    );

    // 30 days from deactivation, not from the attribute change.
    let old_id = sim.user.as_ref().map(|u| u.id).expect("retained");
    let gone = sim.step(Some(&provider), &[], DEACTIVATED_AT + 30 * DAY_MS + 1);
    assert_eq!(gone.user, UserWrite::Delete(old_id));
    assert_eq!(names(&gone), [USER_DELETED]);

    // A later write to the still-inactive user brings nothing back, on the stream path or
    // from scratch (reconciliation).
    let later_at = DEACTIVATED_AT + 40 * DAY_MS;
    let later = scim_write(&provider, &Described::inactive("Principal"), later_at);
    let quiet = sim.step(Some(&later), &[], later_at);
    assert_eq!(quiet.user, UserWrite::Unchanged);
    assert!(quiet.events().is_empty(), "{:?}", names(&quiet));
    let scratch = Sim::new(sim.settings.clone()).project(Some(&later), &[], later_at);
    assert!(scratch.events().is_empty(), "{:?}", names(&scratch));

    // Reactivation creates a new directory user.
    let back_at = later_at + DAY_MS;
    let back = scim_write(&later, &Described::active("Principal"), back_at);
    assert_eq!(back.inactive_since, None);
    let created = sim.step(Some(&back), &[], back_at);
    assert_eq!(names(&created), [USER_CREATED]);
    let user = put(&created);
    assert_ne!(user.id, old_id);
    assert_eq!(
        (user.state, user.directory_id),
        (UserState::Active, directory_id)
    );
    assert_eq!(user.provider_user_id, id);
}

#[test]
fn a_record_without_the_inactive_instant_also_waits_for_its_last_write() {
    let (mut sim, deactivated) = retained_inactive(30);
    let changed_at = DEACTIVATED_AT + 10 * DAY_MS;
    let mut legacy = scim_write(&deactivated, &Described::inactive("Staff"), changed_at);
    legacy.inactive_since = None;
    sim.step(Some(&legacy), &[], changed_at);
    let kept = sim.step(Some(&legacy), &[], DEACTIVATED_AT + 30 * DAY_MS + 1);
    assert_eq!(kept.user, UserWrite::Unchanged);
    let gone = sim.step(Some(&legacy), &[], changed_at + 30 * DAY_MS + 1);
    assert_eq!(names(&gone), [USER_DELETED]);
}

/// The record a SCIM write at `at` leaves behind, carrying `inactive_since` the way the SCIM
/// endpoint does.
fn scim_write(before: &ProviderUser, described: &Described, at: i64) -> ProviderUser {
    let mut next = provider_user(before.directory_id, before.id, described, at);
    next.inactive_since = inactive_since_after_write(Some(before), described.active, at);
    next
}

#[test]
fn policy_switch_retain_to_delete_deletes_inactive_users() {
    let (mut sim, provider) = retained_inactive(30);
    let id = sim.user.as_ref().map(|u| u.id).expect("retained");
    sim.settings = settings(Delete, None);
    let outcome = sim.step(Some(&provider), &[], T1);
    assert_eq!(outcome.user, UserWrite::Delete(id));
    assert_eq!(names(&outcome), [USER_DELETED]);
    assert_eq!(outcome.events()[0].data.to_value()["state"], "inactive");
}

#[test]
fn policy_switch_delete_to_retain_creates_inactive_users() {
    let directory_id = DirectoryId::generate();
    let inactive = Described::inactive("Engineer");
    let provider = provider_user(directory_id, ProviderUserId::generate(), &inactive, T0);
    let mut sim = Sim::new(settings(Delete, None));
    assert!(sim.step(Some(&provider), &[], T0).events().is_empty());

    sim.settings = settings(Retain, None);
    let outcome = sim.step(Some(&provider), &[], T1);
    assert_eq!(names(&outcome), [USER_CREATED]);
    let user = put(&outcome);
    assert_eq!(user.state, UserState::Inactive);
    // Inactive since the provider's last write at the latest, not since the switch.
    assert_eq!(user.inactive_since, Some(T0));

    // With retention, users already inactive for longer are not created at all.
    let mut sim = Sim::new(settings(Retain, Some(1)));
    let outcome = sim.step(Some(&provider), &[], T0 + DAY_MS + 1);
    assert_eq!(outcome.user, UserWrite::Unchanged);
    assert!(outcome.events().is_empty());
}

#[test]
fn custom_attribute_changes_list_previous_values() {
    let directory_id = DirectoryId::generate();
    let id = ProviderUserId::generate();
    let mut described = Described::active("Engineer");
    let mut sim = Sim::new(settings(Delete, None));
    sim.step(
        Some(&provider_user(directory_id, id, &described, T0)),
        &[],
        T0,
    );

    described.department = Some("R&D".into());
    let first = sim.step(
        Some(&provider_user(directory_id, id, &described, T1)),
        &[],
        T1,
    );
    assert_eq!(
        previous(&first, USER_UPDATED),
        json!({"custom_attributes": {"department": null}})
    );
    assert_eq!(
        first.events()[0].data.to_value()["custom_attributes"]["department"],
        "R&D"
    );

    described.department = Some("Sales".into());
    described.title = "Manager".into();
    let second = sim.step(
        Some(&provider_user(directory_id, id, &described, T1 + 1)),
        &[],
        T1 + 1,
    );
    assert_eq!(
        previous(&second, USER_UPDATED),
        json!({"job_title": "Engineer", "custom_attributes": {"department": "R&D"}})
    );
}

#[test]
fn a_change_only_in_raw_attributes_is_stored_without_an_event() {
    let directory_id = DirectoryId::generate();
    let id = ProviderUserId::generate();
    let described = Described::active("Engineer");
    let mut provider = provider_user(directory_id, id, &described, T0);
    let mut sim = Sim::new(settings(Delete, None));
    sim.step(Some(&provider), &[], T0);

    provider.resource["urn:acme:custom"] = json!({"shoeSize": 44});
    let outcome = sim.step(Some(&provider), &[], T1);
    let user = put(&outcome);
    assert_eq!(
        user.attributes.raw_attributes["urn:acme:custom"]["shoeSize"],
        44
    );
    assert_eq!(user.updated_at, T1);
    assert!(outcome.events().is_empty());
}

#[test]
fn membership_changes_alone_remove_before_adding() {
    let directory_id = DirectoryId::generate();
    let g1 = directory_group(directory_id, "a");
    let g2 = directory_group(directory_id, "b");
    let g3 = directory_group(directory_id, "c");
    let active = Described::active("Engineer");
    let provider = provider_user(directory_id, ProviderUserId::generate(), &active, T0);
    let mut sim = Sim::new(settings(Retain, None));
    sim.step(Some(&provider), &[g1.clone(), g2.clone()], T0);

    let outcome = sim.step(Some(&provider), &[g3.clone(), g2.clone(), g3.clone()], T1);
    assert_eq!(outcome.user, UserWrite::Unchanged);
    assert_eq!(names(&outcome), [GROUP_USER_REMOVED, GROUP_USER_ADDED]);
    assert_eq!(
        (outcome.remove_from(), outcome.add_to()),
        (vec![g1.id], vec![g3.id])
    );
    assert_eq!(sim.group_ids(), [g2.id, g3.id]);
}

/// Storage commits each membership item with the event in the same change: the event must
/// name that change's group and the provider group the item records.
#[test]
fn each_membership_change_carries_its_own_event() {
    let directory_id = DirectoryId::generate();
    let (g1, g2) = (
        directory_group(directory_id, "a"),
        directory_group(directory_id, "b"),
    );
    let provider = provider_user(
        directory_id,
        ProviderUserId::generate(),
        &Described::active("Engineer"),
        T0,
    );
    let mut sim = Sim::new(settings(Retain, None));
    let created = sim.step(Some(&provider), std::slice::from_ref(&g1), T0);
    assert_eq!(
        created.own_event.as_ref().map(|e| e.name),
        Some(USER_CREATED)
    );
    let deactivated = Described::inactive("Engineer");
    let inactive = provider_user(directory_id, provider.id, &deactivated, T1);
    let moved = sim.step(Some(&provider), std::slice::from_ref(&g2), T1);
    let left = sim.step(Some(&inactive), std::slice::from_ref(&g2), T1 + 1);
    for (change, group, name) in [
        (&moved.removals[0], &g1, GROUP_USER_REMOVED),
        (&moved.additions[0], &g2, GROUP_USER_ADDED),
        (&left.removals[0], &g2, GROUP_USER_REMOVED),
    ] {
        assert_eq!(
            (change.group, change.provider_group),
            (group.id, group.provider_group_id)
        );
        assert_eq!(change.event.name, name);
        assert_eq!(
            change.event.data.to_value()["group"]["id"],
            group.id.to_string()
        );
    }
    assert_eq!(
        moved.own_event, None,
        "a move changes no attribute of the user"
    );
    assert_eq!(left.own_event.as_ref().map(|e| e.name), Some(USER_UPDATED));
}

#[test]
fn drifted_memberships_of_an_inactive_user_are_dropped() {
    let (mut sim, provider) = retained_inactive(30);
    let group = directory_group(provider.directory_id, "stale");
    sim.groups.push(group.clone());
    let outcome = sim.step(Some(&provider), std::slice::from_ref(&group), T1);
    assert_eq!(outcome.remove_from(), [group.id]);
    assert_eq!(names(&outcome), [GROUP_USER_REMOVED]);
}

#[test]
fn nothing_to_delete_is_nothing() {
    let sim = Sim::new(settings(Delete, None));
    let outcome = sim.project(None, &[], T0);
    assert_eq!(outcome.user, UserWrite::Unchanged);
    assert!(outcome.events().is_empty());
}

#[test]
fn user_payload_has_the_public_shape() {
    let directory_id = DirectoryId::generate();
    let active = Described::active("Engineer");
    let provider = provider_user(directory_id, ProviderUserId::generate(), &active, T0);
    let mut sim = Sim::new(settings(Delete, None));
    let outcome = sim.step(Some(&provider), &[], T0);
    let user = put(&outcome);
    let data = &outcome.events()[0].data.to_value();
    assert_eq!(data, &user_payload(user, Some(ORG)));
    let mut keys: Vec<&str> = data
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = [
        "object",
        "id",
        "directory_id",
        "organization_id",
        "idp_id",
        "email",
        "first_name",
        "last_name",
        "name",
        "username",
        "state",
        "emails",
        "job_title",
        "custom_attributes",
        "raw_attributes",
        "role",
        "roles",
        "created_at",
        "updated_at",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(data["object"], "directory_user");
    assert_eq!(data["directory_id"], directory_id.to_string());
    assert_eq!(data["idp_id"], "00u-jane");
    assert_eq!(data["email"], "jane@acme.test");
    assert_eq!(data["username"], "jane@acme.test");
    assert_eq!(data["first_name"], "Jane");
    assert_eq!(
        data["emails"],
        json!([{"primary": true, "type": "work", "value": "jane@acme.test"}])
    );
    assert_eq!(data["role"], Value::Null);
    assert_eq!(data["roles"], json!([]));
    assert_eq!(data["custom_attributes"], json!({}));
    assert_eq!(data["raw_attributes"], provider.resource);
    assert_eq!(data["created_at"], format_millis(T0));
    assert_eq!(user_payload(user, None)["organization_id"], Value::Null);
}

fn provider_group(directory_id: DirectoryId, name: &str, updated_at: i64) -> ProviderGroup {
    ProviderGroup {
        id: ProviderGroupId::generate(),
        directory_id,
        version: 1,
        display_name: name.to_owned(),
        external_id: Some("grp-ext".into()),
        resource: json!({"displayName": name, "externalId": "grp-ext"}),
        created_at: T0,
        updated_at,
    }
}

fn group_step(
    provider: Option<&ProviderGroup>,
    current: Option<&DirectoryGroup>,
    now: i64,
) -> (GroupWrite, Vec<&'static str>, Vec<Value>) {
    let outcome = project_group(&GroupInput {
        provider,
        current,
        organization_id: Some(ORG),
        now,
    });
    let names = outcome.events.iter().map(|e| e.name).collect();
    let data = outcome.events.iter().map(|e| e.data.to_value()).collect();
    (outcome.group, names, data)
}

#[test]
fn groups_are_created_renamed_and_deleted() {
    let directory_id = DirectoryId::generate();
    let mut provider = provider_group(directory_id, "Engineering", T0);

    let (write, names, data) = group_step(Some(&provider), None, T0);
    assert_eq!(names, [GROUP_CREATED]);
    let created = write.apply(None).expect("created");
    assert_eq!(
        (created.name.as_str(), created.idp_id.as_str()),
        ("Engineering", "grp-ext")
    );
    assert_eq!(data[0]["object"], "directory_group");
    assert_eq!(data[0]["name"], "Engineering");
    assert_eq!(data[0]["organization_id"], ORG);
    assert_eq!(data[0]["id"], created.id.to_string());

    let (write, names, _) = group_step(Some(&provider), Some(&created), T1);
    assert_eq!((write, names.len()), (GroupWrite::Unchanged, 0));

    provider.display_name = "Platform".into();
    provider.resource["displayName"] = json!("Platform");
    let (write, names, data) = group_step(Some(&provider), Some(&created), T1);
    assert_eq!(names, [GROUP_UPDATED]);
    let renamed = write.apply(Some(&created)).expect("renamed");
    assert_eq!(
        (renamed.id, renamed.created_at, renamed.updated_at),
        (created.id, T0, T1)
    );
    assert_eq!(data[0]["name"], "Platform");
    assert_eq!(
        data[0]["previous_attributes"],
        json!({"name": "Engineering"})
    );

    let (write, names, data) = group_step(None, Some(&renamed), T1 + 1);
    assert_eq!(write, GroupWrite::Delete(renamed.id));
    assert_eq!(names, [GROUP_DELETED]);
    assert_eq!(data[0]["name"], "Platform");

    let (write, names, _) = group_step(None, None, T1 + 2);
    assert_eq!((write, names.len()), (GroupWrite::Unchanged, 0));
}

#[test]
fn a_group_change_only_in_raw_attributes_is_stored_without_an_event() {
    let directory_id = DirectoryId::generate();
    let mut provider = provider_group(directory_id, "Engineering", T0);
    let (write, _, _) = group_step(Some(&provider), None, T0);
    let created = write.apply(None).expect("created");
    provider.resource["urn:acme:custom"] = json!({"costCode": 7});
    let (write, names, _) = group_step(Some(&provider), Some(&created), T1);
    assert!(names.is_empty());
    let stored = write.apply(Some(&created)).expect("kept");
    assert_eq!(stored.raw_attributes["urn:acme:custom"]["costCode"], 7);
}

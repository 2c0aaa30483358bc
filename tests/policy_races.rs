//! Races between a projection planned from one read and the writes that land before it
//! commits: the commit must notice whatever changed, however it changed.

use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
use dsync_policy::project::{
    commit_plan, plan_user, plan_users, plan_users_read, project_group, project_user,
    project_users, DirectoryContext, PlanReads,
};
use dsync_tests::{json, spawn_app_without_stream_processing};

/// An app without stream processing and one SCIM user, projected by hand.
async fn one_projected_user(
    email: &str,
) -> (
    dsync_tests::TestApp,
    dsync_policy::App,
    DirectoryContext,
    String,
    ProviderUserId,
) {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&policy).await;
    let scim_id = app.create_user(email).await;
    let user = ProviderUserId::parse(&scim_id).unwrap();
    project_user(&policy, &context, &user).await.unwrap();
    (app, policy, context, scim_id, user)
}

/// The directory user projected from `user`, if any.
async fn directory_user(
    app: &dsync_tests::TestApp,
    user: &ProviderUserId,
) -> Option<dsync_domain::directory::DirectoryUser> {
    app.store().load_projected_user(user).await.unwrap().user
}

fn set_active(active: bool) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    })
}

fn rename(name: &str) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": name}],
    })
}

/// ABA: a plan read the user at revision 1; the user was then deleted (deactivated under
/// the `delete` policy) and re-created on reactivation, at revision 1 again under a new id.
/// The stale plan must not overwrite the new user with the old one.
#[tokio::test]
async fn a_stale_plan_never_lands_on_a_user_deleted_and_recreated_meanwhile() {
    let (app, policy, context, scim_id, user) = one_projected_user("aba@example.com").await;
    let first = directory_user(&app, &user).await.unwrap();

    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &rename("Renamed"))
            .await
            .status,
        200
    );
    let stale = plan_user(&policy, &context, &user).await.unwrap();
    assert!(
        !stale.outcome.events().is_empty(),
        "the stale plan would update the first user"
    );

    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &set_active(false))
            .await
            .status,
        200
    );
    project_user(&policy, &context, &user).await.unwrap();
    assert!(directory_user(&app, &user).await.is_none());
    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &set_active(true))
            .await
            .status,
        200
    );
    project_user(&policy, &context, &user).await.unwrap();
    let second = directory_user(&app, &user).await.unwrap();
    assert_ne!(
        second.id, first.id,
        "reactivation made a new directory user"
    );

    // The stale commit conflicts and re-projects from fresh state: nothing to change.
    let events = commit_plan(&policy, &context, &user, &stale).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    let now = directory_user(&app, &user).await.unwrap();
    assert_eq!(now, second, "the re-created user stays as it was");
}

/// Reconciliation plans from a page of provider records listed before it reads the
/// projection. A user deactivated after the listing, its deactivation already projected (under
/// the default flow: its directory user deleted), must not be brought back by a plan made from
/// the listed, still active record: the commit checks the provider record's version it was
/// planned from, and on a mismatch re-projects from fresh state.
#[tokio::test]
async fn a_plan_from_a_stale_listing_never_brings_back_a_deactivated_user() {
    let (app, policy, context, scim_id, user) = one_projected_user("listed@example.com").await;
    let created = app.event_names_after(None).await;
    assert_eq!(created, ["dsync.user.created"]);

    let listed = app
        .store()
        .list_users(&context.directory().id, None, 100)
        .await
        .unwrap();
    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &set_active(false))
            .await
            .status,
        200
    );
    project_user(&policy, &context, &user).await.unwrap();
    assert!(directory_user(&app, &user).await.is_none());

    // Planned from the listed record against the projection as it is now: a new user.
    let plans = plan_users(&policy, &context, &listed.users).await.unwrap();
    let (_, stale) = plans.into_iter().find(|(id, _)| *id == user).unwrap();
    assert!(
        !stale.outcome.events().is_empty(),
        "the stale plan would create the user again"
    );
    let events = commit_plan(&policy, &context, &user, &stale).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(
        directory_user(&app, &user).await.is_none(),
        "the deactivated user stays deleted"
    );
    assert_eq!(
        app.event_names_after(None).await,
        ["dsync.user.created", "dsync.user.deleted"]
    );
}

/// A SCIM group with `members` (SCIM ids), projected with them.
async fn projected_group(
    app: &dsync_tests::TestApp,
    policy: &dsync_policy::App,
    context: &DirectoryContext,
    members: &[&str],
) -> String {
    let id = app.create_group_with_members("Listed", members).await;
    let group = ProviderGroupId::parse(&id).unwrap();
    project_group(policy, context, &group).await.unwrap();
    id
}

fn members_patch(op: &str, scim_id: &str) -> serde_json::Value {
    let operation = match op {
        "add" => json!({"op": "add", "path": "members", "value": [{"value": scim_id}]}),
        _ => json!({"op": "remove", "path": format!("members[value eq \"{scim_id}\"]")}),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [operation],
    })
}

/// Reconciliation's race for memberships: it lists a page's provider memberships, and a
/// membership change projected by the stream path before the page's projection is read must
/// not be undone by the plan made from the listing. `op` changes the membership between the
/// two reads; the stale plan would make the opposite change.
async fn a_membership_change_between_listing_and_projection_stays(op: &str) {
    let (app, policy, context, scim_id, user) = one_projected_user("member-race@example.com").await;
    let initially: &[&str] = if op == "add" {
        &[]
    } else {
        &[scim_id.as_str()]
    };
    let group_id = projected_group(&app, &policy, &context, initially).await;
    let directory = context.directory().id;
    let listed = app.store().list_users(&directory, None, 100).await.unwrap();
    let listed_memberships = app
        .store()
        .groups_of_users(&directory, &[user])
        .await
        .unwrap();

    let patched = app
        .patch(&format!("/Groups/{group_id}"), &members_patch(op, &scim_id))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    project_user(&policy, &context, &user).await.unwrap();
    let member_now = op == "add";
    let groups_now = |groups: Vec<dsync_domain::directory::DirectoryGroup>| {
        groups.len() == usize::from(member_now)
    };
    assert!(groups_now(
        app.store().load_projected_user(&user).await.unwrap().groups
    ));
    let log = app.event_names_after(None).await;

    // The projection is read after the change: planned against the listing, it would undo it.
    let bases = app.store().load_user_bases(&[user]).await.unwrap();
    let reads = PlanReads::new(listed_memberships, bases);
    let mut known = dsync_policy::known_groups::KnownGroups::default();
    let plans = plan_users_read(&policy, &context, &listed.users, reads, &mut known)
        .await
        .unwrap();
    let (_, stale) = plans.into_iter().find(|(id, _)| *id == user).unwrap();
    let undo = if member_now {
        "dsync.group.user_removed"
    } else {
        "dsync.group.user_added"
    };
    let planned: Vec<&str> = stale.outcome.events().iter().map(|e| e.name).collect();
    assert_eq!(planned, [undo], "the stale plan would undo the change");

    let events = commit_plan(&policy, &context, &user, &stale).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(
        groups_now(app.store().load_projected_user(&user).await.unwrap().groups),
        "the membership stays as the provider has it"
    );
    assert_eq!(app.event_names_after(None).await, log, "no event undoes it");
}

#[tokio::test]
async fn a_plan_from_a_stale_listing_never_takes_a_user_out_of_a_group_it_just_joined() {
    a_membership_change_between_listing_and_projection_stays("add").await;
}

#[tokio::test]
async fn a_plan_from_a_stale_listing_never_puts_a_user_back_in_a_group_it_just_left() {
    a_membership_change_between_listing_and_projection_stays("remove").await;
}

/// The stream path reads a user's provider memberships side by side with its projection. A
/// membership change projected between the two (the memberships read first) must not be
/// undone by the projection that read them: here the projection's BatchGetItem waits at a
/// gate until the memberships' Query has been answered and the change projected.
/// `batched`: the projection reads as a stream batch's users do (`project_users`: the items
/// of the batch's users in one BatchGetItem beside each one's Query).
async fn a_membership_change_between_a_projections_reads_stays(op: &str, batched: bool) {
    let (app, policy, context, scim_id, user) = one_projected_user("reads-race@example.com").await;
    let initially: &[&str] = if op == "add" {
        &[]
    } else {
        &[scim_id.as_str()]
    };
    let group_id = projected_group(&app, &policy, &context, initially).await;
    let gate = dsync_tests::gate::Gate::new("BatchGetItem");
    let gated = dsync_policy::App::new(app.store().with_client(gate.client(&app.running.endpoint)));
    let in_flight = {
        let context = context.clone();
        tokio::spawn(async move {
            if batched {
                let mut results = project_users(&gated, &context, &[user]).await;
                results.remove(0)
            } else {
                project_user(&gated, &context, &user).await
            }
        })
    };
    gate.answered("Query").await;

    let patched = app
        .patch(&format!("/Groups/{group_id}"), &members_patch(op, &scim_id))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let change = project_user(&policy, &context, &user).await.unwrap();
    assert_eq!(change.len(), 1, "{change:?}");
    let log = app.event_names_after(None).await;
    gate.open();

    let events = in_flight.await.unwrap().unwrap();
    assert!(events.is_empty(), "{events:?}");
    let groups = app.store().load_projected_user(&user).await.unwrap().groups;
    assert_eq!(
        groups.len(),
        usize::from(op == "add"),
        "the membership stays"
    );
    assert_eq!(app.event_names_after(None).await, log, "no event undoes it");
}

#[tokio::test]
async fn a_projection_never_takes_a_user_out_of_a_group_it_joined_between_its_reads() {
    a_membership_change_between_a_projections_reads_stays("add", false).await;
}

#[tokio::test]
async fn a_projection_never_puts_a_user_back_in_a_group_it_left_between_its_reads() {
    a_membership_change_between_a_projections_reads_stays("remove", false).await;
}

#[tokio::test]
async fn a_batch_projection_never_takes_a_user_out_of_a_group_it_joined_between_its_reads() {
    a_membership_change_between_a_projections_reads_stays("add", true).await;
}

#[tokio::test]
async fn a_batch_projection_never_puts_a_user_back_in_a_group_it_left_between_its_reads() {
    a_membership_change_between_a_projections_reads_stays("remove", true).await;
}

/// A group's creation and its members' projections are separate commits. The function dies
/// between them (here: the group is committed by hand and nothing else runs); the retried
/// batch finds the group projected already and must still finish its members.
#[tokio::test]
async fn members_of_a_new_group_are_projected_when_the_batch_is_retried_after_a_crash() {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&policy).await;
    let scim_id = app.create_user("member@example.com").await;
    let user = ProviderUserId::parse(&scim_id).unwrap();
    // The user's projection ran before the group existed, so it joined nothing.
    project_user(&policy, &context, &user).await.unwrap();
    let created = app.create_group_with_members("Crash", &[&scim_id]).await;
    let group = ProviderGroupId::parse(&created).unwrap();

    // The first attempt: the group commits, then the process dies.
    let provider = app
        .store()
        .get_group(&context.directory().id, &group)
        .await
        .unwrap();
    let before = app.store().load_projected_group(&group).await.unwrap();
    let outcome = dsync_domain::directory::project_group(&dsync_domain::directory::GroupInput {
        provider: Some(&provider),
        current: None,
        organization_id: None,
        now: policy.now(),
    });
    app.store()
        .commit_group_projection(&scope(&context), &group, &before, &outcome, policy.now())
        .await
        .unwrap();
    assert!(app
        .store()
        .load_projected_user(&user)
        .await
        .unwrap()
        .groups
        .is_empty());

    // The retry.
    let retried = project_group(&policy, &context, &group).await.unwrap();
    assert!(
        retried.events.is_empty(),
        "the group was committed before the crash"
    );
    assert_eq!(retried.member_events, 1, "{retried:?}");
    let names = app.event_names_after(None).await;
    assert_eq!(
        names.last().map(String::as_str),
        Some("dsync.group.user_added"),
        "{names:?}"
    );
    let groups = app.store().load_projected_user(&user).await.unwrap().groups;
    assert_eq!(groups.len(), 1, "the member joined the group");
    // Done once: the next projection of the group has nothing left to finish.
    let again = project_group(&policy, &context, &group).await.unwrap();
    assert_eq!(again.event_count(), 0, "{again:?}");
    assert!(!app
        .store()
        .load_projected_group(&group)
        .await
        .unwrap()
        .members_pending());
}

/// A projection planned while its directory existed commits after the directory was
/// deleted: it must write nothing, since the purge has already run and would never remove it,
/// and `dsync.deleted` must stay the directory's last event.
#[tokio::test]
async fn a_projection_in_flight_while_its_directory_is_deleted_writes_nothing() {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&policy).await;
    let scim_id = app.create_user("late@example.com").await;
    let user = ProviderUserId::parse(&scim_id).unwrap();
    let planned = plan_user(&policy, &context, &user).await.unwrap();
    assert!(
        !planned.outcome.events().is_empty(),
        "the plan creates the user"
    );

    let directory = context.directory().id.to_string();
    let deleted =
        dsync_tests::read(app.api(http::Method::DELETE, &format!("/directories/{directory}")))
            .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    let purge = std::time::Instant::now() + std::time::Duration::from_secs(60);
    app.store()
        .purge_directory(&context.directory().id, purge)
        .await
        .unwrap();

    let events = commit_plan(&policy, &context, &user, &planned)
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(directory_user(&app, &user).await.is_none());
    assert_eq!(
        app.event_names_after(None).await.last().map(String::as_str),
        Some("dsync.deleted")
    );
}

fn scope(context: &DirectoryContext) -> dsync_dynamo::EventScope {
    dsync_dynamo::EventScope {
        environment_id: context.directory().environment_id,
        directory_id: Some(context.directory().id),
        organization_id: context.directory().organization_id.clone(),
    }
}

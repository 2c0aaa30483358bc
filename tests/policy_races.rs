//! Races between a projection planned from one read and the writes that land before it
//! commits: the commit must notice whatever changed, however it changed.

use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_policy::project::{commit_plan, plan_user, project_user, Contexts, DirectoryContext};
use dsync_tests::{json, spawn_app_without_stream_processing, TestApp};

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

async fn context(app: &TestApp, policy: &dsync_policy::App) -> DirectoryContext {
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    Contexts::default()
        .get(policy, &directory)
        .await
        .unwrap()
        .expect("the bootstrap directory")
}

/// ABA: a plan read the user at revision 1; the user was then deleted (deactivated under
/// the `delete` policy) and re-created on reactivation, at revision 1 again under a new id.
/// The stale plan must not overwrite the new user with the old one.
#[tokio::test]
async fn a_stale_plan_never_lands_on_a_user_deleted_and_recreated_meanwhile() {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let context = context(&app, &policy).await;
    let scim_id = app.create_user("aba@example.com").await;
    let user = ProviderUserId::parse(&scim_id).unwrap();
    project_user(&policy, &context, &user).await.unwrap();
    let first = app
        .store()
        .load_projected_user(&user)
        .await
        .unwrap()
        .user
        .unwrap();

    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &rename("Renamed"))
            .await
            .status,
        200
    );
    let stale = plan_user(&policy, &context, &user).await.unwrap();
    assert!(
        !stale.outcome.events.is_empty(),
        "the stale plan would update the first user"
    );

    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &set_active(false))
            .await
            .status,
        200
    );
    project_user(&policy, &context, &user).await.unwrap();
    assert!(app
        .store()
        .load_projected_user(&user)
        .await
        .unwrap()
        .user
        .is_none());
    assert_eq!(
        app.patch(&format!("/Users/{scim_id}"), &set_active(true))
            .await
            .status,
        200
    );
    project_user(&policy, &context, &user).await.unwrap();
    let second = app
        .store()
        .load_projected_user(&user)
        .await
        .unwrap()
        .user
        .unwrap();
    assert_ne!(
        second.id, first.id,
        "reactivation made a new directory user"
    );

    // The stale commit conflicts and re-projects from fresh state: nothing to change.
    let events = commit_plan(&policy, &context, &user, &stale).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    let now = app
        .store()
        .load_projected_user(&user)
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(now, second, "the re-created user stays as it was");
}

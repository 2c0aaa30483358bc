//! A stream batch's users are read together (`project_users`): their memberships in one
//! ranged Query when they are neighbours in id order, and one by one for those the range does
//! not reach.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
use dsync_policy::project::{project_users, DirectoryContext};
use dsync_tests::{spawn_app_without_stream_processing, TestApp};

/// More user-side membership items than one ranged read takes (`RANGE_ITEMS`, 2,000).
const FILLERS: usize = 2_100;

#[tokio::test]
async fn users_far_apart_in_one_batch_still_read_the_memberships_past_the_range() {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&policy).await;
    let first = ProviderUserId::parse(&app.create_user("first@example.com").await).unwrap();
    // Ids are ULIDs: made a few milliseconds apart, these sort between `first` and `last`.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let between: Vec<ProviderUserId> = (0..FILLERS).map(|_| ProviderUserId::generate()).collect();
    tokio::time::sleep(Duration::from_millis(3)).await;
    let last_scim = app.create_user("last@example.com").await;
    let last = ProviderUserId::parse(&last_scim).unwrap();
    assert!(between.iter().all(|user| first < *user && *user < last));
    // Both projected before any group exists: in none.
    for result in project_users(&policy, &context, &[first, last]).await {
        assert_eq!(result.unwrap().len(), 1, "each user created");
    }

    // `last` joins a group on the provider side; the group is projected, not its members.
    let created = app.create_group_with_members("Far", &[&last_scim]).await;
    let group = ProviderGroupId::parse(&created).unwrap();
    project_group_alone(&app, &policy, &context, &group).await;
    // Memberships of users between the two, so one ranged read stops before `last`'s.
    write_memberships(&app, &context, &group, &between).await;

    let results = project_users(&policy, &context, &[first, last]).await;
    let names: Vec<Vec<String>> = results
        .into_iter()
        .map(|result| result.unwrap().into_iter().map(|e| e.name).collect())
        .collect();
    assert_eq!(names[0], Vec::<String>::new(), "`first` is in no group");
    assert_eq!(names[1], vec!["dsync.group.user_added"], "`last` joins");
    let projected = app.store().load_projected_user(&last).await.unwrap();
    assert_eq!(projected.groups.len(), 1);
}

async fn project_group_alone(
    app: &TestApp,
    policy: &dsync_policy::App,
    context: &DirectoryContext,
    group: &ProviderGroupId,
) {
    let store = app.store();
    let provider = store
        .get_group(&context.directory().id, group)
        .await
        .unwrap();
    let before = store.load_projected_group(group).await.unwrap();
    let outcome = dsync_domain::directory::project_group(&dsync_domain::directory::GroupInput {
        provider: Some(&provider),
        current: None,
        organization_id: None,
        now: policy.now(),
    });
    let scope = dsync_dynamo::EventScope {
        environment_id: context.directory().environment_id,
        directory_id: Some(context.directory().id),
        organization_id: context.directory().organization_id.clone(),
    };
    store
        .commit_group_projection(&scope, group, &before, &outcome, policy.now())
        .await
        .unwrap();
}

/// The user-side membership items of `users` in `group`, written as the SCIM handler writes
/// them (their group-side twins are not needed here).
async fn write_memberships(
    app: &TestApp,
    context: &DirectoryContext,
    group: &ProviderGroupId,
    users: &[ProviderUserId],
) {
    let s = |value: String| AttributeValue::S(value);
    let store = app.store();
    let table = &store.tables().provider_records;
    for chunk in users.chunks(25) {
        let requests = chunk
            .iter()
            .map(|user| {
                let item = HashMap::from([
                    (
                        "pk".to_owned(),
                        s(format!("DIR#{}", context.directory().id)),
                    ),
                    ("sk".to_owned(), s(format!("MEMBEROF#{user}#{group}"))),
                    ("type".to_owned(), s("member_of".to_owned())),
                    ("group_id".to_owned(), s(group.to_string())),
                    ("user_id".to_owned(), s(user.to_string())),
                ]);
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let output = store
            .client()
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .unwrap();
        assert!(output.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

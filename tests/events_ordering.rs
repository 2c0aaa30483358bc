//! The event log under concurrency: writers race on one environment's log while a reader
//! pages with `after`; the reader sees every committed event exactly once, in order.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dsync_domain::ids::{DirectoryId, EventId, ProviderUserId};
use dsync_domain::model::ProviderUser;
use dsync_tests::{json, read, spawn_app_without_stream_processing};
use reqwest::Method;

#[tokio::test]
async fn a_reader_paging_with_after_sees_every_event_once_in_order_while_writers_race() {
    let app = spawn_app_without_stream_processing().await;
    let store = app.store().clone();
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    let users: Vec<ProviderUser> = (0..240)
        .map(|i| ProviderUser {
            id: ProviderUserId::generate(),
            directory_id: directory,
            version: 1,
            user_name: format!("racer{i}@example.com"),
            external_id: None,
            active: true,
            inactive_since: None,
            resource: json!({"userName": format!("racer{i}@example.com")}),
            created_at: 1,
            updated_at: 1,
        })
        .collect();
    for user in &users {
        store.create_user(user).await.unwrap();
    }

    // Eight writers project users concurrently, as Lambda does for several shards (and as
    // reconciliation does beside the stream): every commit races for the log head. They are
    // two processes of four, each remembering the heads it committed: a writer's memory is
    // stale whenever the other process committed since, and also when its own did.
    let writing = Arc::new(AtomicBool::new(true));
    let processes = [
        dsync_policy::App::new(store.clone()),
        dsync_policy::App::new(dsync_dynamo::Store::new(
            store.client().clone(),
            store.tables().clone(),
        )),
    ];
    let mut writers = Vec::new();
    for lane in 0..8 {
        let policy = processes[lane % 2].clone();
        let ids: Vec<ProviderUserId> = users.iter().skip(lane).step_by(8).map(|u| u.id).collect();
        writers.push(tokio::spawn(async move {
            let mut contexts = dsync_policy::project::Contexts::default();
            let context = contexts.get(&policy, &directory).await.unwrap().unwrap();
            for id in ids {
                dsync_policy::project::project_user(&policy, &context, &id)
                    .await
                    .unwrap();
            }
        }));
    }
    let done = writing.clone();
    let finish = tokio::spawn(async move {
        for writer in writers {
            writer.await.unwrap();
        }
        done.store(false, Ordering::SeqCst);
    });

    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let still_writing = writing.load(Ordering::SeqCst);
        let mut request = app
            .api(Method::GET, "/events")
            .query(&[("limit", "7"), ("order", "asc")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let page = read(request).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().unwrap().clone();
        if data.is_empty() && !still_writing {
            break;
        }
        for event in &data {
            seen.push(event["id"].as_str().unwrap().to_owned());
        }
        if let Some(last) = seen.last() {
            after = Some(last.clone());
        }
    }
    finish.await.unwrap();

    assert_eq!(seen.len(), 240, "one dsync.user.created per user");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        240,
        "no event twice"
    );
    let sequences: Vec<u64> = seen
        .iter()
        .map(|id| EventId::parse(id).unwrap().sequence())
        .collect();
    assert_eq!(
        sequences,
        (1..=240).collect::<Vec<_>>(),
        "in log order, with no gap"
    );
}

//! Google Workspace pulls under concurrency: one pull per directory at a time (the lease on
//! its sync state), creation in one transaction, and a pull racing the directory's deletion.

use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{Directory, ProviderKind};
use dsync_dynamo::StoreError;
use dsync_tests::{read, TestApp};
use reqwest::Method;

use crate::google_workspace::{connected, three_users, users_of};

fn sync_request(app: &TestApp, id: &str) -> impl std::future::Future<Output = dsync_tests::Reply> {
    read(app.api(Method::POST, &format!("/directories/{id}/sync")))
}

/// Items of the directory table's `GOOGLE#<id>` partition and of the provider-records
/// table's partition of the directory.
async fn leftovers(app: &TestApp, id: &str) -> (usize, usize) {
    let count = |table: String, pk: String| async move {
        app.store()
            .client()
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count() as usize
    };
    let tables = app.store().tables();
    (
        count(tables.directory.clone(), format!("GOOGLE#{id}")).await,
        count(tables.provider_records.clone(), format!("DIR#{id}")).await,
    )
}

#[tokio::test]
async fn two_pulls_started_together_run_once_and_the_other_answers_with_the_running_one() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(1);
    fake.hold_user_listings();
    // Two on-demand syncs at once (as the schedule and a request would be).
    let first = tokio::spawn(sync_request(&app, &id));
    let second = tokio::spawn(sync_request(&app, &id));
    fake.wait_for_held(1).await;
    // One of them holds the lease and waits inside Google's first page; the other answers
    // without asking Google anything.
    let (loser, winner) = loop {
        if first.is_finished() {
            break (first, second);
        }
        if second.is_finished() {
            break (second, first);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let loser = loser.await.unwrap();
    assert_eq!(loser.status, 200, "{:?}", loser.body);
    assert_eq!(loser.body["state"], "running", "{}", loser.body);
    assert_eq!(fake.held(), 1, "only one pull reached Google");
    let tokens = fake.log().iter().filter(|l| l.path == "/token").count();
    assert_eq!(tokens, 1, "only one pull asked for an access token");

    fake.release();
    let winner = winner.await.unwrap();
    assert_eq!(winner.status, 200, "{:?}", winner.body);
    assert_eq!(winner.body["state"], "completed", "{}", winner.body);
    assert_eq!(winner.body["counts"]["users_listed"], 3);
    app.settle().await;
    let listings = fake
        .log()
        .iter()
        .filter(|l| l.path == "/admin/directory/v1/users")
        .count();
    assert_eq!(listings, 3, "three pages, listed once");
    assert_eq!(users_of(&app, &id).await.len(), 3);
    let created = app
        .event_names_after(None)
        .await
        .into_iter()
        .filter(|e| e == "dsync.user.created")
        .count();
    assert_eq!(created, 3);

    // The lease was released: the next sync runs.
    let next = sync_request(&app, &id).await;
    assert_eq!(next.body["state"], "completed", "{}", next.body);
}

#[tokio::test]
async fn a_pull_racing_the_directory_deletion_leaves_no_records_behind() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(1);
    fake.hold_user_listings();
    let pull = tokio::spawn(sync_request(&app, &id));
    fake.wait_for_held(1).await;
    // Deleted (and purged) while the pull waits for Google's first page.
    let deleted = read(app.api(Method::DELETE, &format!("/directories/{id}"))).await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    fake.release();
    let answer = pull.await.unwrap();
    assert_eq!(answer.status, 404, "{:?}", answer.body);
    app.settle().await;
    assert_eq!(
        leftovers(&app, &id).await,
        (0, 0),
        "no connection item and no provider record outlives the directory"
    );
    let listings = fake
        .log()
        .iter()
        .filter(|l| l.path == "/admin/directory/v1/users")
        .count();
    assert_eq!(listings, 1, "the pull stopped at the next page");
}

#[tokio::test]
async fn a_directory_and_its_credentials_are_created_together_or_not_at_all() {
    let (app, _fake, _id) = connected().await;
    let store = app.store();
    let directory = Directory {
        id: DirectoryId::generate(),
        environment_id: EnvironmentId::generate(),
        name: "Acme".into(),
        kind: ProviderKind::GoogleWorkspace,
        organization_id: None,
        token_hash: dsync_domain::secrets::generate("unused_").hash,
        created_at: 1,
        mappings: Default::default(),
    };
    store
        .create_google_directory_with_events(&directory, b"sealed one", &[])
        .await
        .unwrap();
    assert!(store.get_directory(&directory.id).await.is_ok());
    assert_eq!(
        store.google_credentials(&directory.id).await.unwrap(),
        b"sealed one"
    );
    assert!(store
        .google_directories()
        .await
        .unwrap()
        .contains(&directory.id));

    // A second creation under the same id fails whole: the first directory's credentials
    // are not replaced by the failed one's.
    let again = store
        .create_google_directory_with_events(&directory, b"sealed two", &[])
        .await;
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
    assert_eq!(
        store.google_credentials(&directory.id).await.unwrap(),
        b"sealed one"
    );

    // A rotation of a deleted directory's credentials does not bring them back.
    let missing = DirectoryId::generate();
    let rotated = store.put_google_credentials(&missing, b"sealed", 1).await;
    assert!(matches!(rotated, Err(StoreError::NotFound)), "{rotated:?}");
    assert!(matches!(
        store.google_credentials(&missing).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_pull_that_overruns_its_lease_gives_way_to_the_next_one() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(1);
    fake.hold_user_listings();
    let stuck = tokio::spawn(sync_request(&app, &id));
    fake.wait_for_held(1).await;
    // The first pull stalls past its lease (as a crashed one would): the next one takes over.
    app.advance_clock(std::time::Duration::from_secs(6 * 60));
    let next = tokio::spawn(sync_request(&app, &id));
    fake.wait_for_held(2).await;
    fake.release();
    let next = next.await.unwrap();
    assert_eq!(next.body["state"], "completed", "{}", next.body);
    assert_eq!(next.body["counts"]["users_listed"], 3);
    // The stalled one found its lease gone at its first save and stopped.
    let stuck = stuck.await.unwrap();
    assert_eq!(stuck.status, 200, "{:?}", stuck.body);
    assert_ne!(stuck.body["state"], "failed", "{}", stuck.body);
    app.settle().await;
    assert_eq!(users_of(&app, &id).await.len(), 3);
    let status = app.api_get(&format!("/directories/{id}/sync")).await;
    assert_eq!(status.body["state"], "completed", "{}", status.body);
}

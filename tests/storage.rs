//! The DynamoDB adapter's guarantees, checked directly through the real SDK client.

use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::model::ProviderUser;
use dsync_dynamo::{tables, StoreError};
use dsync_tests::{json, spawn_app};

fn user(directory: DirectoryId, user_name: &str) -> ProviderUser {
    ProviderUser {
        id: ProviderUserId::generate(),
        directory_id: directory,
        version: 1,
        user_name: user_name.into(),
        external_id: Some("ext-1".into()),
        active: true,
        inactive_since: None,
        resource: json!({"userName": user_name}),
        created_at: 1,
        updated_at: 1,
    }
}

#[tokio::test]
async fn tables_have_the_streams_and_indexes_the_functions_need() {
    let app = spawn_app().await;
    // The policy function projects provider-record changes from both images.
    assert_eq!(
        tables::PROVIDER_RECORDS.stream,
        Some(tables::StreamView::NewAndOldImages)
    );
    let store = app.store();
    for spec in tables::TABLES {
        let name = store.tables().name_of(spec);
        let table = store
            .client()
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let indexes: Vec<_> = table
            .global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name().map(str::to_owned))
            .collect();
        let expected: Vec<_> = spec.gsis.iter().map(|g| g.name.to_owned()).collect();
        assert_eq!(indexes.len(), expected.len(), "{name}");
        for index in expected {
            assert!(indexes.contains(&index), "{name} has {index}");
        }
        let stream = table
            .stream_specification()
            .map(|s| (s.stream_enabled(), s.stream_view_type().cloned()));
        match spec.stream {
            Some(expected) => {
                let (enabled, view) = stream.expect("stream specification");
                assert!(enabled, "{name} streams");
                let expected = match expected {
                    tables::StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
                    tables::StreamView::NewImage => "NEW_IMAGE",
                };
                assert_eq!(view.unwrap().as_str(), expected, "{name}");
            }
            None => assert!(
                stream.is_none_or(|(enabled, _)| !enabled),
                "{name} has no stream"
            ),
        }
    }
}

#[tokio::test]
async fn a_duplicate_user_name_writes_nothing() {
    let app = spawn_app().await;
    let store = app.store();
    let directory = DirectoryId::generate();
    let first = user(directory, "Dup@Example.com");
    store.create_user(&first).await.unwrap();
    let second = user(directory, "dup@example.COM");
    assert!(matches!(
        store.create_user(&second).await,
        Err(StoreError::Duplicate)
    ));
    assert!(matches!(
        store.get_user(&directory, &second.id).await,
        Err(StoreError::NotFound)
    ));
    let found = store
        .find_user_by_user_name(&directory, "DUP@example.com")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(first.id));
    // The same userName in another directory is another user.
    store
        .create_user(&user(DirectoryId::generate(), "dup@example.com"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stale_version_loses_and_a_rename_moves_the_guard() {
    let app = spawn_app().await;
    let store = app.store();
    let directory = DirectoryId::generate();
    let v1 = user(directory, "old@example.com");
    store.create_user(&v1).await.unwrap();

    let mut v2 = v1.clone();
    v2.version = 2;
    v2.user_name = "new@example.com".into();
    store.replace_user(&v2, &v1).await.unwrap();
    // A writer still holding version 1 loses, whether or not it renames.
    let mut stale = v1.clone();
    stale.version = 2;
    stale.active = false;
    assert!(matches!(
        store.replace_user(&stale, &v1).await,
        Err(StoreError::Conflict)
    ));
    stale.user_name = "other@example.com".into();
    assert!(matches!(
        store.replace_user(&stale, &v1).await,
        Err(StoreError::Conflict)
    ));

    assert!(store
        .find_user_by_user_name(&directory, "old@example.com")
        .await
        .unwrap()
        .is_none());
    let found = store
        .find_user_by_user_name(&directory, "NEW@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, v2);
    // The freed name can be taken again; the new one cannot.
    store
        .create_user(&user(directory, "old@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(&user(directory, "new@example.com")).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store
            .find_users_by_external_id(&directory, "ext-1")
            .await
            .unwrap()
            .len(),
        2
    );
}

//! Google Workspace push: the `users.watch` channels a completed pull opens, notifications
//! checked by channel id and token on `POST /google/{directory_id}/notifications`, renewal
//! before expiry, and channels stopped with the directory.

use std::time::Duration;

use dsync_domain::ids::DirectoryId;
use dsync_tests::google_fake::{deliver, Channel, GoogleFake};
use dsync_tests::{read, TestApp};
use reqwest::Method;
use serde_json::json;

use crate::google_workspace::{connected, sync, three_users, user_by_email, users_of};

const EVENTS: [&str; 4] = ["add", "delete", "update", "undelete"];

fn live(fake: &GoogleFake) -> Vec<Channel> {
    fake.channels().into_iter().filter(|c| !c.stopped).collect()
}

fn update_channel(fake: &GoogleFake) -> Channel {
    live(fake)
        .into_iter()
        .find(|c| c.event == "update")
        .expect("an update channel")
}

async fn requested(app: &TestApp) -> Vec<DirectoryId> {
    app.store()
        .requested_google_pulls()
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// Waits (20 s at most) until Bob's last name reads `name` in the directory.
async fn wait_for_last_name(app: &TestApp, id: &str, name: &str) {
    for _ in 0..200 {
        app.settle().await;
        let users = users_of(app, id).await;
        if user_by_email(&users, "bob@acme.test").is_some_and(|u| u["last_name"] == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the notified change never landed");
}

#[tokio::test]
async fn a_completed_pull_opens_channels_and_a_notification_brings_the_change_in() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    let status = sync(&app, &id).await;
    assert_eq!(status["push"]["state"], "active", "{status}");
    assert!(status["push"]["expires_at"].is_string(), "{status}");

    let channels = live(&fake);
    let mut events: Vec<&str> = channels.iter().map(|c| c.event.as_str()).collect();
    events.sort();
    let mut expected = EVENTS.to_vec();
    expected.sort();
    assert_eq!(events, expected, "one channel per watched event");
    for channel in &channels {
        assert!(
            channel
                .address
                .ends_with(&format!("/google/{id}/notifications")),
            "{}",
            channel.address
        );
        assert!(channel.token.len() >= 40, "a random token");
    }
    // Stored hashed: no channel token is in the directory table.
    let scan = app
        .store()
        .client()
        .scan()
        .table_name(&app.store().tables().directory)
        .send()
        .await
        .unwrap();
    let stored = format!("{:?}", scan.items());
    assert!(channels.iter().all(|c| !stored.contains(&c.token)));

    // Google's first message on a channel is acknowledged and asks for nothing.
    let channel = update_channel(&fake);
    assert_eq!(deliver(&channel, "sync", &channel.token).await, 200);
    assert!(requested(&app).await.is_empty());

    // A change in Google, announced by a notification, lands without a sync request.
    fake.edit_user("102", |u| u["name"]["familyName"] = json!("Brewer"));
    assert_eq!(fake.notify("update").await, [200]);
    wait_for_last_name(&app, &id, "Brewer").await;
    // The request was answered and cleared.
    for _ in 0..100 {
        if requested(&app).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the pull request was never cleared");
}

#[tokio::test]
async fn a_forged_notification_is_refused_and_changes_nothing() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    sync(&app, &id).await;
    fake.edit_user("102", |u| u["name"]["familyName"] = json!("Brewer"));
    let channel = update_channel(&fake);

    // A wrong token, a token of another channel, an unknown channel, another directory's
    // path, missing headers: the same 401.
    assert_eq!(deliver(&channel, "update", "gch_forged").await, 401);
    let other = live(&fake).into_iter().find(|c| c.event == "add").unwrap();
    assert_eq!(deliver(&channel, "update", &other.token).await, 401);
    let unknown = Channel {
        id: "dsync-unknown".into(),
        ..channel.clone()
    };
    assert_eq!(deliver(&unknown, "update", &channel.token).await, 401);
    let elsewhere = Channel {
        address: channel
            .address
            .replace(&id, &DirectoryId::generate().to_string()),
        ..channel.clone()
    };
    assert_eq!(deliver(&elsewhere, "update", &channel.token).await, 401);
    let bare = reqwest::Client::new()
        .post(&channel.address)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let get = reqwest::Client::new()
        .get(&channel.address)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);

    // Nothing was asked for and nothing was pulled.
    assert!(requested(&app).await.is_empty());
    let listings = fake
        .log()
        .iter()
        .filter(|l| l.path == "/admin/directory/v1/users")
        .count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.path == "/admin/directory/v1/users")
            .count(),
        listings
    );
    let users = users_of(&app, &id).await;
    assert_eq!(
        user_by_email(&users, "bob@acme.test").unwrap()["last_name"],
        "Baker"
    );
}

#[tokio::test]
async fn channels_are_renewed_before_they_expire_and_the_old_ones_stopped() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    sync(&app, &id).await;
    let first = live(&fake);
    assert_eq!(first.len(), 4);

    // A pull before the last day of the channels' two days keeps them.
    app.advance_clock(Duration::from_secs(23 * 3600));
    sync(&app, &id).await;
    assert_eq!(fake.channels().len(), 4, "nothing renewed yet");

    // Within a day of expiring: each is replaced, the old one stopped at Google.
    app.advance_clock(Duration::from_secs(2 * 3600));
    let status = sync(&app, &id).await;
    assert_eq!(status["push"]["state"], "active", "{status}");
    let all = fake.channels();
    assert_eq!(all.len(), 8, "four new channels");
    for old in &first {
        let now = all.iter().find(|c| c.id == old.id).unwrap();
        assert!(now.stopped, "{} was stopped", old.id);
    }
    let renewed = live(&fake);
    assert_eq!(renewed.len(), 4);
    assert!(renewed.iter().all(|c| c.expiration > first[0].expiration));

    // The old channel is no longer accepted; the new one is.
    let old = first.iter().find(|c| c.event == "update").unwrap();
    assert_eq!(deliver(old, "update", &old.token).await, 401);
    let new = update_channel(&fake);
    assert_eq!(deliver(&new, "sync", &new.token).await, 200);
    let stops = fake
        .log()
        .iter()
        .filter(|l| l.path == "/admin/directory_v1/channels/stop" && l.status == 204)
        .count();
    assert_eq!(stops, 4);
}

#[tokio::test]
async fn deleting_the_directory_stops_its_channels() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    sync(&app, &id).await;
    let channels = live(&fake);
    assert_eq!(channels.len(), 4);

    let deleted = read(app.api(Method::DELETE, &format!("/directories/{id}"))).await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    assert!(live(&fake).is_empty(), "every channel stopped at Google");
    for channel in &channels {
        assert_eq!(
            deliver(channel, channel.event.as_str(), &channel.token).await,
            401
        );
    }
    assert!(requested(&app).await.is_empty());
}

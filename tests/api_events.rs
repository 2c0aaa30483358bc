//! The Events API: paging with `after` while writers race, filters, ranges and bad input.

use crate::api_support;

use std::collections::HashSet;

use api_support::*;
use dsync_domain::ids::EventId;
use dsync_tests::{json, spawn_app, TestApp};
use reqwest::Method;
use serde_json::Value;

fn sequence(event: &Value) -> u64 {
    EventId::parse(event["id"].as_str().unwrap())
        .unwrap()
        .sequence()
}

/// One `GET /events` page with `after` and extra parameters (seven events unless they say).
async fn page(app: &TestApp, after: Option<&str>, extra: &str) -> Value {
    let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
    let limit = if extra.contains("limit=") {
        ""
    } else {
        "&limit=7"
    };
    let reply = app
        .api_get(&format!("/events?order=asc{limit}{after}{extra}"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test]
async fn paging_with_after_sees_every_event_once_in_order_while_writers_race() {
    let app = spawn_app().await;
    let writers = async {
        let creations = (0..40).map(|i| create_directory(&app, json!({"name": format!("D{i}")})));
        futures::future::join_all(creations).await
    };
    let reader = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..200 {
            let body = page(&app, cursor.as_deref(), "").await;
            seen.extend(body["data"].as_array().unwrap().iter().cloned());
            if let Some(after) = body["list_metadata"]["after"].as_str() {
                cursor = Some(after.to_owned());
            }
            tokio::task::yield_now().await;
        }
        (seen, cursor)
    };
    let (created, (mut seen, mut cursor)) = futures::join!(writers, reader);
    assert_eq!(created.len(), 40);
    // The writers are done: read on to the end.
    loop {
        let body = page(&app, cursor.as_deref(), "").await;
        let data = body["data"].as_array().unwrap().clone();
        if data.is_empty() {
            break;
        }
        cursor = body["list_metadata"]["after"].as_str().map(str::to_owned);
        seen.extend(data);
    }
    let sequences: Vec<u64> = seen.iter().map(sequence).collect();
    assert_eq!(
        sequences,
        // Each creation commits dsync.activated and dsync.token.created.
        (1..=80).collect::<Vec<_>>(),
        "each event once, in log order"
    );
    let directories: HashSet<&str> = seen
        .iter()
        .filter(|e| e["event"] == "dsync.activated")
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    let expected: HashSet<&str> = created.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(directories, expected);
    assert!(seen.iter().all(|e| e["object"] == "event"
        && (e["event"] == "dsync.activated" || e["event"] == "dsync.token.created")));
    let timestamps: Vec<&str> = seen
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    assert!(timestamps.iter().all(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn filters_return_up_to_limit_matches_and_page_on() {
    let app = spawn_app().await;
    let mut made = Vec::new();
    for i in 0..12 {
        let org = if i % 3 == 0 { "org_a" } else { "org_b" };
        made.push(
            create_directory(
                &app,
                json!({"name": format!("D{i}"), "organization_id": org}),
            )
            .await,
        );
    }
    for directory in made.iter().step_by(4) {
        let id = directory["id"].as_str().unwrap();
        assert_eq!(
            app.api(Method::DELETE, &format!("/directories/{id}"))
                .send()
                .await
                .unwrap()
                .status(),
            202
        );
    }
    // 12 activated, then 3 deleted.
    let deleted = page(&app, None, "&events=dsync.deleted").await;
    assert_eq!(
        names(deleted["data"].as_array().unwrap()),
        ["dsync.deleted"; 3]
    );
    let bracketed = page(
        &app,
        None,
        "&events[]=dsync.deleted&events[]=dsync.activated&limit=100",
    )
    .await;
    assert_eq!(bracketed["data"].as_array().unwrap().len(), 15);

    // organization_id "org_a": directories 0, 3, 6 and 9 activated (each with its token
    // created), and 0 deleted (with its token revoked).
    let org_a = page(&app, None, "&organization_id=org_a&limit=100").await;
    assert_eq!(org_a["data"].as_array().unwrap().len(), 10);
    // Two at a time over a selective filter: every match once.
    let mut matched = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor
            .as_ref()
            .map(|c| format!("&after={c}"))
            .unwrap_or_default();
        let reply = app
            .api_get(&format!("/events?organization_id=org_a&limit=2{after}"))
            .await;
        let data = reply.body["data"].as_array().unwrap().clone();
        let next = reply.body["list_metadata"]["after"]
            .as_str()
            .map(str::to_owned);
        assert!(data.len() <= 2);
        matched.extend(data);
        if next.is_none() || next == cursor {
            break;
        }
        cursor = next;
    }
    assert_eq!(ids(&json!({"data": matched})), ids(&org_a));

    let first = made[1]["id"].as_str().unwrap();
    let one_directory = page(&app, None, &format!("&directory_id={first}")).await;
    assert_eq!(
        names(one_directory["data"].as_array().unwrap()),
        ["dsync.activated", "dsync.token.created"]
    );

    let newest_first = app.api_get("/events?order=desc&limit=3").await.body;
    let sequences: Vec<u64> = newest_first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(sequence)
        .collect();
    // 12 creations of two events each, then 3 deletions of two events each.
    assert_eq!(sequences, [30, 29, 28]);

    assert!(
        page(&app, None, "&range_start=2999-01-01T00:00:00Z").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        page(&app, None, "&range_end=2000-01-01T00:00:00Z").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let everything = page(
        &app,
        None,
        "&range_start=2000-01-01T00:00:00Z&range_end=2999-01-01&limit=100",
    )
    .await;
    assert_eq!(everything["data"].as_array().unwrap().len(), 30);
    let since_third = {
        let third = &bracketed["data"][2];
        page(
            &app,
            None,
            &format!(
                "&range_start={}&limit=100",
                third["created_at"].as_str().unwrap()
            ),
        )
        .await
    };
    let since: Vec<u64> = since_third["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(sequence)
        .collect();
    assert!(
        // The third activation is event 5 (each activation is followed by its token event).
        since.first().is_some_and(|s| *s <= 5) && since.last() == Some(&30),
        "{since:?}"
    );
}

#[tokio::test]
async fn bad_event_parameters_are_400() {
    let app = spawn_app().await;
    create_directory(&app, json!({"name": "One"})).await;
    // The last event (the directory's token.created, after its dsync.activated).
    let first = app.events_after(None).await.last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, mentions) in [
        (
            format!("after={first}&range_start=2024-01-01T00:00:00Z"),
            "range_start",
        ),
        ("limit=0".to_owned(), "limit"),
        ("limit=101".to_owned(), "limit"),
        ("limit=many".to_owned(), "limit"),
        ("order=sideways".to_owned(), "order"),
        ("events=dsync.nope".to_owned(), "events"),
        (
            "after=directory_01J00000000000000000000000".to_owned(),
            "after",
        ),
        ("range_start=last-tuesday".to_owned(), "range_start"),
        (
            "range_start=2025-01-02&range_end=2025-01-01".to_owned(),
            "range_start",
        ),
        ("directory_id=nope".to_owned(), "directory_id"),
    ] {
        let reply = app.api_get(&format!("/events?{query}")).await;
        assert_error(&reply, 400, "invalid_request");
        assert!(
            reply.body["message"].as_str().unwrap().contains(mentions),
            "{query}: {:?}",
            reply.body
        );
    }
    let max = app.api_get("/events?limit=100").await;
    assert_eq!(max.status, 200);
    let after_last = app.api_get(&format!("/events?after={first}")).await;
    assert_eq!(after_last.body["data"], json!([]));
    assert_eq!(after_last.body["list_metadata"]["after"], Value::Null);
}

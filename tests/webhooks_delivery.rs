//! Webhook fan-out end to end: a real receiver on loopback, deliveries checked with the
//! Standard Webhooks reference verifier (Rust here, Python and the WorkOS SDK in
//! `python/verify_webhooks.py`), retries, timeouts, `Retry-After`, 410, a stalled endpoint
//! beside a healthy one, secret rotation, redelivered stream batches and address checks.

use std::time::{Duration, Instant};

use dsync_domain::webhooks::{Delivery, DeliveryState, EndpointStatus, WebhookEndpoint};
use dsync_local::streams::{streams_client, StreamPump, StreamSource};
use dsync_tests::receiver::{Answer, Received, Receiver};
use dsync_tests::{
    assert_each_delivered, endpoint_for, fanout_config, json, python_modules_available, run_python,
    spawn_app, spawn_app_with_fanout, spawn_app_without_stream_processing, TestApp,
};

/// Subscribes `url` to every event of the test app's environment, as the API would.
async fn subscribe(app: &TestApp, url: &str) -> WebhookEndpoint {
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let endpoint = WebhookEndpoint::new(environment, url.to_owned(), Vec::new(), now());
    app.store()
        .create_webhook_endpoint(&endpoint)
        .await
        .unwrap();
    endpoint
}

/// Subscribes `url` to the one event `name` (the API's directory creation also commits
/// `dsync.token.created`, which these endpoints then do not receive).
async fn subscribe_to(app: &TestApp, url: &str, name: &str) -> WebhookEndpoint {
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let endpoint = WebhookEndpoint::new(environment, url.to_owned(), vec![name.into()], now());
    app.store()
        .create_webhook_endpoint(&endpoint)
        .await
        .unwrap();
    endpoint
}

fn now() -> i64 {
    dsync_domain::time::now_millis()
}

/// The endpoint's deliveries once `done` holds for them (they are recorded after the
/// receiver answers, so a test that saw the request waits a moment for the record).
async fn deliveries_when(
    app: &TestApp,
    endpoint: &WebhookEndpoint,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = app
            .store()
            .endpoint_deliveries(&endpoint.id, None, 100)
            .await
            .unwrap();
        if done(&page.deliveries) {
            return page.deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never got there: {:?}",
            page.deliveries
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verify_standard(secret: &str, received: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&received.body, &received.headers)
        .is_ok()
}

/// `t` of `WorkOS-Signature: t=<ms>, v1=<hex>`.
fn workos_time(received: &Received) -> i64 {
    let header = received.header("workos-signature");
    let (t, _) = header.split_once(", ").expect("t=…, v1=…");
    t.trim_start_matches("t=").parse().unwrap()
}

/// Runs `python/verify_webhooks.py` on the deliveries; returns its counts, or `None` when the
/// packages are missing outside CI.
async fn verify_with_python(
    standard_secrets: &[&str],
    workos_secret: &str,
    deliveries: &[Received],
) -> Option<serde_json::Value> {
    let available =
        tokio::task::spawn_blocking(|| python_modules_available(&["workos", "standardwebhooks"]))
            .await
            .unwrap();
    if !available {
        return None;
    }
    let deliveries: Vec<_> = deliveries
        .iter()
        .map(|r| {
            let headers: serde_json::Map<_, _> = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
                .collect();
            json!({"headers": headers, "body": String::from_utf8(r.body.to_vec()).unwrap()})
        })
        .collect();
    let spec = json!({"standard_secrets": standard_secrets, "workos_secret": workos_secret,
                      "deliveries": deliveries});
    // Unique per call: tests run side by side, and a name by the second let one test verify
    // another's deliveries.
    let unique = dsync_domain::ids::EventId::generate();
    let file = std::env::temp_dir().join(format!("dsync-webhooks-{unique}.json"));
    std::fs::write(&file, spec.to_string()).unwrap();
    let summary = run_python(
        "verify_webhooks.py",
        vec![file.display().to_string()],
        Vec::new(),
    )
    .await;
    let _ = std::fs::remove_file(&file);
    Some(summary)
}

/// The fan-out's test config with a 100 ms attempt timeout, so a delivery's lease (the
/// timeout + 5 s) runs out within a test.
fn short_lease_config() -> dsync_fanout::Config {
    dsync_fanout::Config {
        timeout: Duration::from_millis(100),
        ..fanout_config()
    }
}

#[tokio::test]
async fn every_event_is_delivered_once_and_verifies_with_standard_webhooks_and_workos() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = subscribe(&app, &receiver.url()).await;
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    app.create_group_with_members("Eng", &[&ann, &bob]).await;
    app.settle().await;

    // Every event after the subscription, in the log: user ×2, group, user_added ×2.
    let logged: Vec<String> = app
        .events_after(None)
        .await
        .iter()
        .filter(|e| e["event"] != "dsync.activated")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged.len(), 5);
    let received = receiver
        .wait_for(logged.len(), Duration::from_secs(10))
        .await;
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    ids.sort();
    let mut expected = logged.clone();
    expected.sort();
    assert_eq!(ids, expected, "each event exactly once");
    for r in &received {
        assert!(verify_standard(&endpoint.secret, r));
        assert_eq!(r.json()["id"], r.header("webhook-id"));
        assert_eq!(r.json()["object"], "event");
        assert_eq!(r.header("content-type"), "application/json");
    }
    let deliveries = deliveries_when(&app, &endpoint, |d| {
        d.len() == 5 && d.iter().all(|d| d.state == DeliveryState::Succeeded)
    })
    .await;
    assert!(deliveries
        .iter()
        .all(|d| d.attempts == 1 && d.last_status == Some(200)));
    if let Some(counts) = verify_with_python(&[&endpoint.secret], &endpoint.secret, &received).await
    {
        assert_eq!(counts, json!({"standard": 5, "workos": 5}));
    }
}

#[tokio::test]
async fn two_failures_then_success_is_three_attempts_of_one_message_freshly_signed() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.script([Answer::Status(500), Answer::Status(503)]);
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 3);
    let id = received[0].header("webhook-id");
    assert!(received.iter().all(|r| r.header("webhook-id") == id));
    for pair in received.windows(2) {
        // The schedule is 1 s ± 10 %.
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(850));
        assert!(
            workos_time(&pair[1]) > workos_time(&pair[0]),
            "a fresh timestamp"
        );
        // Standard Webhooks' timestamp is in seconds: two attempts 0.9 s apart can share
        // one, and then the same body signs the same.
        let seconds = |r: &Received| r.header("webhook-timestamp").parse::<i64>().unwrap();
        assert!(seconds(&pair[1]) >= seconds(&pair[0]));
        if seconds(&pair[1]) != seconds(&pair[0]) {
            assert_ne!(
                pair[1].header("webhook-signature"),
                pair[0].header("webhook-signature")
            );
        }
    }
    assert!(received
        .iter()
        .all(|r| verify_standard(&endpoint.secret, r)));
    let deliveries = deliveries_when(&app, &endpoint, |d| {
        d.first()
            .is_some_and(|d| d.state == DeliveryState::Succeeded)
    })
    .await;
    assert_eq!(deliveries[0].attempts, 3);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3, "nothing after the success");
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried() {
    let app = spawn_app_with_fanout(dsync_fanout::Config {
        timeout: Duration::from_secs(1),
        inline_budget: Duration::from_secs(5),
        ..fanout_config()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script([Answer::Stall(Duration::from_secs(3))]);
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let first = deliveries_when(&app, &endpoint, |d| {
        d.first().is_some_and(|d| d.attempts == 1)
    })
    .await;
    assert_eq!(
        first[0].last_error.as_deref(),
        Some("no response within 1s")
    );
    assert_eq!(first[0].state, DeliveryState::Pending);
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    // 1 s of timeout, then the 1 s (± 10 %) retry delay.
    assert!(received[1].at - received[0].at >= Duration::from_millis(1800));
    let done = deliveries_when(&app, &endpoint, |d| d[0].state == DeliveryState::Succeeded).await;
    assert_eq!(done[0].attempts, 2);
}

#[tokio::test]
async fn retry_after_on_503_is_honoured() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.script([Answer::StatusWith(503, vec![("retry-after", "3".into())])]);
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_millis(2950),
        "retried after {gap:?}, not 3 s"
    );
    let done = deliveries_when(&app, &endpoint, |d| d[0].state == DeliveryState::Succeeded).await;
    assert_eq!(done[0].attempts, 2);
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    receiver.script([Answer::StatusWith(307, vec![("location", elsewhere.url())])]);
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let failed = deliveries_when(&app, &endpoint, |d| {
        d.first().is_some_and(|d| d.attempts >= 1)
    })
    .await;
    assert_eq!(failed[0].last_status, Some(307));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        elsewhere.received().is_empty(),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_nothing_more_is_sent() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.answer_always(Answer::Status(410));
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let deliveries =
        deliveries_when(&app, &endpoint, |d| d.first().is_some_and(|d| d.is_final())).await;
    assert_eq!(
        (deliveries[0].state, deliveries[0].attempts),
        (DeliveryState::Failed, 1)
    );
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let stored = app
        .store()
        .webhook_endpoint(&environment, &endpoint.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, EndpointStatus::Disabled);
    assert_eq!(stored.disabled_reason.as_deref(), Some("gone (410)"));

    app.create_user("bob@example.com").await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    let after = app
        .store()
        .endpoint_deliveries(&endpoint.id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        after.deliveries.len(),
        1,
        "a disabled endpoint gets no new deliveries"
    );
}

#[tokio::test]
async fn a_stalled_endpoint_does_not_delay_another() {
    let app = spawn_app().await;
    let stalled = Receiver::start().await;
    stalled.answer_always(Answer::Stall(Duration::from_secs(60)));
    let healthy = Receiver::start().await;
    let stalled_endpoint = subscribe(&app, &stalled.url()).await;
    subscribe(&app, &healthy.url()).await;

    let started = Instant::now();
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let created = Instant::now();
        app.create_user(&format!("{name}@example.com")).await;
        let got = healthy.wait_for(i + 1, Duration::from_secs(10)).await;
        let latency = got[i].at - created;
        // Projection and fan-out poll their streams every 200 ms; the inline budget is 1 s.
        assert!(
            latency < Duration::from_millis(2500),
            "event {i} took {latency:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(healthy.received().len(), 5);
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let marked = app
        .store()
        .webhook_endpoint(&environment, &stalled_endpoint.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        marked.failing_since.is_some(),
        "the stalled endpoint is marked failing"
    );
}

#[tokio::test]
async fn during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = subscribe(&app, &receiver.url()).await;
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let rotate = |grace: i64| {
        let store = app.store().clone();
        async move {
            let mut e = store
                .webhook_endpoint(&environment, &endpoint.id)
                .await
                .unwrap()
                .unwrap();
            e.rotate_secret(now(), grace);
            e.version += 1;
            store.save_webhook_endpoint(&e).await.unwrap();
            e
        }
    };
    let old = endpoint.secret.clone();
    let rotated = rotate(3600).await;
    app.create_user("ann@example.com").await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(verify_standard(&old, &received[0]));
    assert!(verify_standard(&rotated.secret, &received[0]));
    if let Some(counts) = verify_with_python(&[&old, &rotated.secret], &old, &received[..1]).await {
        assert_eq!(counts, json!({"standard": 2, "workos": 1}));
    }

    let newest = rotate(0).await;
    app.create_user("bob@example.com").await;
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(verify_standard(&newest.secret, &received[1]));
    assert!(!verify_standard(&rotated.secret, &received[1]));
    assert!(!verify_standard(&old, &received[1]));
}

#[tokio::test]
async fn a_redelivered_stream_batch_sends_nothing_twice() {
    let app = spawn_app_without_stream_processing().await;
    let receiver = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.script([Answer::Status(500)]);
    subscribe_to(&app, &receiver.url(), "dsync.activated").await;
    let failing_endpoint = subscribe_to(&app, &failing.url(), "dsync.activated").await;
    // The API commits `dsync.activated` itself: one event, no provider stream needed.
    let created = app
        .api(reqwest::Method::POST, "/directories")
        .json(&json!({"name": "Second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let fanout = dsync_fanout::App::new(app.store().clone(), fanout_config());
    let mut pump = StreamPump::new(
        streams_client(&app.running.endpoint),
        StreamSource::new(app.store().tables().events.clone()),
        move |batch: dsync_local::streams::Event| {
            let fanout = fanout.clone();
            async move {
                dsync_fanout::stream::handle_batch(&fanout, batch.clone()).await;
                Ok(dsync_fanout::stream::handle_batch(&fanout, batch).await)
            }
        },
        |_| panic!("nothing is dead-lettered"),
    );
    pump.pump_until_idle().await.unwrap();
    assert_eq!(
        receiver.received().len(),
        1,
        "delivered once, not once per batch delivery"
    );
    assert_eq!(
        failing.received().len(),
        1,
        "the pending retry belongs to the sweep"
    );

    // The sweep retries the failed one once, on schedule.
    failing.wait_for(2, Duration::from_secs(10)).await;
    let done = deliveries_when(&app, &failing_endpoint, |d| {
        d.first()
            .is_some_and(|d| d.state == DeliveryState::Succeeded)
    })
    .await;
    assert_eq!(done[0].attempts, 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        (receiver.received().len(), failing.received().len()),
        (1, 2)
    );
}

#[tokio::test]
async fn a_loopback_endpoint_is_refused_at_delivery_when_not_allowed() {
    let mut config = fanout_config();
    config.addresses.allow_loopback = false;
    let app = spawn_app_with_fanout(config).await;
    let receiver = Receiver::start().await;
    // Saved behind the API's back (as if the policy changed after it was created).
    let endpoint = subscribe(&app, &receiver.url()).await;
    app.create_user("ann@example.com").await;

    let deliveries = deliveries_when(&app, &endpoint, |d| {
        d.first().is_some_and(|d| d.attempts >= 1)
    })
    .await;
    let error = deliveries[0].last_error.clone().unwrap();
    assert!(error.contains("not allowed"), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.received().is_empty(),
        "no request reached the receiver"
    );
}

/// With a third of the store's calls failing (throttles, conflicts, 500s, answers lost after
/// the write), a batch fails from the first event whose deliveries are not all recorded;
/// delivered again from there, as Lambda does, until it succeeds, and swept once the leases
/// of attempts cut short have run out, every event reaches the receiver and has exactly one
/// delivery, delivered.
#[tokio::test]
async fn a_batch_resumed_after_failed_records_loses_no_event() {
    use dsync_dynamo::faults::{faulty_client, Faults};

    let (engine, store) = dsync_tests::bare_store("fanout_faults").await;
    let receiver = Receiver::start().await;
    let endpoint = endpoint_for(&store, &receiver).await;
    let environment = endpoint.environment_id;
    let config = short_lease_config();
    let faults = Faults::new(23, 0.3);
    let faulty = dsync_dynamo::Store::new(
        faulty_client(&engine.endpoint(), &faults, 1),
        store.tables().clone(),
    );
    let fanout = dsync_fanout::App::new(faulty, config.clone());
    let count = 40;
    let mut batch = dsync_tests::event_batch::committed_events(&store, &environment, count).await;
    let expected: std::collections::BTreeSet<String> = batch
        .records
        .iter()
        .map(|r| match &r.change.new_image["id"] {
            serde_dynamo::AttributeValue::S(id) => id.clone(),
            other => panic!("an event id, not {other:?}"),
        })
        .collect();

    let mut failed_batches = 0;
    loop {
        let response = dsync_fanout::stream::handle_batch(&fanout, batch.clone()).await;
        let Some(failure) = response.batch_item_failures.first() else {
            break;
        };
        let from = batch
            .records
            .iter()
            .position(|r| r.change.sequence_number == failure.item_identifier)
            .expect("the failure names a record of the batch");
        batch.records.drain(..from);
        failed_batches += 1;
        assert!(failed_batches < 200, "the batch never got through");
    }
    assert!(failed_batches > 0, "the faults failed at least one batch");
    assert!(faults.counts().injected() > 0);

    let lease = dsync_domain::webhooks::attempt::lease_for(config.timeout);
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let plain = dsync_fanout::App::new(store.clone(), config);
    dsync_fanout::sweep::run(&plain, None).await.unwrap();
    let page = store
        .endpoint_deliveries(&endpoint.id, None, 100)
        .await
        .unwrap();
    assert_eq!(page.deliveries.len(), count, "one delivery per event");
    assert!(
        page.deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Succeeded),
        "{:?}",
        page.deliveries
    );
    let received: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, expected, "every event reached the receiver");
}

/// A stream batch can hold thousands of events (each record a page of them). An endpoint
/// that outlasted the inline budget once in a batch is left to the sweep for the rest of
/// it: its other deliveries are recorded, not each attempted and waited out.
#[tokio::test]
async fn an_endpoint_too_slow_once_in_a_batch_gets_no_more_inline_attempts_in_it() {
    let (_engine, store) = dsync_tests::bare_store("slowbatch").await;
    let stalled = Receiver::start().await;
    stalled.answer_always(Answer::Stall(Duration::from_secs(60)));
    let endpoint = endpoint_for(&store, &stalled).await;
    let environment = endpoint.environment_id;
    let fanout = dsync_fanout::App::new(
        store.clone(),
        dsync_fanout::Config {
            addresses: dsync_domain::webhooks::AddressPolicy::local(),
            inline_budget: Duration::from_millis(300),
            concurrency: 1,
            ..Default::default()
        },
    );
    let batch = dsync_tests::event_batch::stream_batch(&environment, 1, 20, "dsync.user.updated");

    let response = dsync_fanout::stream::handle_batch(&fanout, batch).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        stalled.received().len(),
        1,
        "one inline attempt, then the sweep's"
    );
    let recorded = store
        .endpoint_deliveries(&endpoint.id, None, 100)
        .await
        .unwrap();
    assert_eq!(recorded.deliveries.len(), 20, "every delivery is recorded");
    // The ones not attempted are due at once, for the next sweep (not after a lease).
    let due_now = recorded
        .deliveries
        .iter()
        .filter(|d| d.next_attempt_at.is_some_and(|at| at <= now()))
        .count();
    assert_eq!(due_now, 19);
}

/// A batch that holds an event twice (a record replayed into it) records and sends its
/// delivery once: one `BatchWriteItem` refuses a key twice, which would fail the batch
/// every time it is retried.
#[tokio::test]
async fn an_event_twice_in_one_batch_is_delivered_once() {
    let (_engine, store) = dsync_tests::bare_store("twice").await;
    let receiver = Receiver::start().await;
    let endpoint = endpoint_for(&store, &receiver).await;
    let environment = endpoint.environment_id;
    let fanout = dsync_fanout::App::new(store.clone(), fanout_config());
    let mut batch =
        dsync_tests::event_batch::stream_batch(&environment, 1, 5, "dsync.user.updated");
    let again = batch.records.clone();
    batch.records.extend(again);

    let response = dsync_fanout::stream::handle_batch(&fanout, batch).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(receiver.received().len(), 5);
    assert_eq!(assert_each_delivered(&store, &endpoint.id, 1).await, 5);
}

/// A delivery's lease runs from when it was planned. When recording it took so long
/// (throttled writes retried) that an attempt could end after the lease, when the sweep may
/// send it too, the stream path leaves it alone: the sweep sends it once the lease is over,
/// and nothing is sent twice.
#[tokio::test]
async fn a_delivery_recorded_too_late_for_its_lease_is_left_to_the_sweep() {
    let (engine, store) = dsync_tests::bare_store("latelease").await;
    let receiver = Receiver::start().await;
    let endpoint = endpoint_for(&store, &receiver).await;
    let environment = endpoint.environment_id;
    // A 100 ms attempt timeout makes the lease 5.1 s; the key read and the record after
    // planning take 2 × 2.6 s.
    let config = short_lease_config();
    let sdk = dsync_dynamo::sdk_config(dsync_dynamo::ConnectOptions {
        endpoint: Some(engine.endpoint()),
        region: None,
    })
    .await;
    let slow = dsync_dynamo::Store::new(
        dsync_dynamo::client_from(&dsync_dynamo::with_latency(
            &sdk,
            Duration::from_millis(2600),
        )),
        store.tables().clone(),
    );
    let fanout = dsync_fanout::App::new(slow, config.clone());
    let batch = dsync_tests::event_batch::committed_events(&store, &environment, 3).await;

    let response = dsync_fanout::stream::handle_batch(&fanout, batch).await;

    assert!(response.batch_item_failures.is_empty());
    assert!(receiver.received().is_empty(), "no attempt past the lease");
    // The lease ran out during the record (5.2 s after planning); a moment more for the
    // sweep's clock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plain = dsync_fanout::App::new(store.clone(), config);
    let report = dsync_fanout::sweep::run(&plain, None).await.unwrap();
    assert_eq!(report.delivered, 3);
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(assert_each_delivered(&store, &endpoint.id, 1).await, 3);
}

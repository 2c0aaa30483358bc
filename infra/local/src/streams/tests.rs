//! Against the embedded engine over HTTP, through the real SDK clients, as the runner uses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::StreamViewType as EventViewType;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use dsync_dynamo::{connect, ConnectOptions};
use serde_dynamo::{AttributeValue, Item};

use super::*;

const TABLE: &str = "items";

struct Engine {
    database: dynoxide::Database,
    endpoint: String,
    dynamo: aws_sdk_dynamodb::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A fresh engine with one table, [`TABLE`], streaming new and old images, keyed by `pk`.
async fn engine() -> anyhow::Result<Engine> {
    let database = dynoxide::Database::memory()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(dynoxide::server::serve_on(listener, database.clone()));
    let dynamo = connect(ConnectOptions {
        endpoint: Some(endpoint.clone()),
        region: None,
    })
    .await;
    dynamo
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        )
        .send()
        .await?;
    Ok(Engine {
        database,
        endpoint,
        dynamo,
        server,
    })
}

impl Engine {
    async fn put(&self, pk: &str, attributes: &[(&str, Av)]) -> anyhow::Result<()> {
        let mut request = self.dynamo.put_item().table_name(TABLE).item("pk", s(pk));
        for (name, value) in attributes {
            request = request.item(*name, value.clone());
        }
        request.send().await?;
        Ok(())
    }

    async fn put_all(&self, pks: &[&str]) -> anyhow::Result<()> {
        for pk in pks {
            self.put(pk, &[]).await?;
        }
        Ok(())
    }

    fn pump(&self, source: StreamSource, handler: impl StreamHandler) -> (StreamPump, DeadLetters) {
        let dead = DeadLetters::default();
        let sink = dead.clone();
        let pump = StreamPump::new(streams_client(&self.endpoint), source, handler, move |f| {
            sink.0.lock().unwrap().push(f)
        });
        (pump, dead)
    }
}

fn s(value: &str) -> Av {
    Av::S(value.to_owned())
}

fn source() -> StreamSource {
    StreamSource {
        retry_backoff: Duration::from_millis(1),
        poll_interval: Duration::from_millis(10),
        ..StreamSource::new(TABLE)
    }
}

#[derive(Clone, Default)]
struct DeadLetters(Arc<Mutex<Vec<FailedRecord>>>);

/// Every batch a handler was invoked with.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Vec<EventRecord>>>>);

impl Calls {
    /// A handler that records each batch, then answers with `respond(batch, call number)`.
    fn handler(
        &self,
        respond: impl Fn(&[EventRecord], usize) -> anyhow::Result<DynamoDbEventResponse>
            + Send
            + Sync
            + 'static,
    ) -> impl StreamHandler {
        let calls = self.clone();
        move |event: Event| {
            let call = {
                let mut batches = calls.0.lock().unwrap();
                batches.push(event.records.clone());
                batches.len()
            };
            let answer = respond(&event.records, call);
            async move { answer }
        }
    }

    fn records(&self) -> Vec<EventRecord> {
        self.0.lock().unwrap().concat()
    }

    /// The `pk` of every record, batch by batch.
    fn keys(&self) -> Vec<Vec<String>> {
        let batches = self.0.lock().unwrap();
        batches.iter().map(|b| b.iter().map(pk).collect()).collect()
    }
}

fn ok(_: &[EventRecord], _: usize) -> anyhow::Result<DynamoDbEventResponse> {
    Ok(DynamoDbEventResponse::default())
}

/// The response a function gives to say "`record` and everything after it failed".
fn failed_from(record: &EventRecord) -> anyhow::Result<DynamoDbEventResponse> {
    let id = record.change.sequence_number.clone();
    Ok(serde_json::from_value(
        serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": id }] }),
    )?)
}

fn pk(record: &EventRecord) -> String {
    match record.change.keys.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        other => panic!("no string pk: {other:?}"),
    }
}

fn keys(batches: &[&[&str]]) -> Vec<Vec<String>> {
    batches
        .iter()
        .map(|b| b.iter().map(|k| k.to_string()).collect())
        .collect()
}

fn image(attributes: &[(&str, AttributeValue)]) -> Item {
    let mut item = Item::default();
    for (name, value) in attributes {
        item.insert(name.to_string(), value.clone());
    }
    item
}

#[tokio::test]
async fn changes_arrive_in_order_with_their_old_and_new_images() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put("a", &[("v", Av::N("1".into()))]).await?;
    engine
        .dynamo
        .update_item()
        .table_name(TABLE)
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", Av::N("2".into()))
        .send()
        .await?;
    engine
        .dynamo
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("a"))
        .send()
        .await?;
    let calls = Calls::default();
    let (mut pump, dead) = engine.pump(source(), calls.handler(ok));

    assert_eq!(pump.pump_until_idle().await?, 3);
    assert_eq!(
        pump.pump_until_idle().await?,
        0,
        "nothing is delivered twice"
    );

    let records = calls.records();
    let names: Vec<&str> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let [insert, modify, remove] = &records[..] else {
        unreachable!()
    };
    let (one, two) = (AttributeValue::N("1".into()), AttributeValue::N("2".into()));
    let pk_a = ("pk", AttributeValue::S("a".into()));
    assert_eq!(
        insert.change.new_image,
        image(&[pk_a.clone(), ("v", one.clone())])
    );
    assert!(insert.change.old_image.is_empty());
    assert_eq!(modify.change.old_image, image(&[pk_a.clone(), ("v", one)]));
    assert_eq!(
        modify.change.new_image,
        image(&[pk_a.clone(), ("v", two.clone())])
    );
    assert_eq!(remove.change.old_image, image(&[pk_a.clone(), ("v", two)]));
    assert!(remove.change.new_image.is_empty());

    let arn = pump.reader.stream_arn.clone();
    assert!(arn.contains(":table/items/stream/"), "{arn}");
    let mut previous = String::new();
    for record in &records {
        assert_eq!(record.change.keys, image(std::slice::from_ref(&pk_a)));
        assert_eq!(record.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(record.event_source_arn.as_deref(), Some(arn.as_str()));
        assert_eq!(
            record.change.stream_view_type,
            Some(EventViewType::NewAndOldImages)
        );
        assert!(
            record.user_identity.is_none(),
            "a user's write has no service identity"
        );
        assert!(!record.event_id.is_empty());
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        assert!(sequence > previous, "sequence numbers increase");
        previous = sequence;
    }
    assert!(dead.0.lock().unwrap().is_empty());
    Ok(())
}

#[tokio::test]
async fn every_attribute_type_arrives_as_written() -> anyhow::Result<()> {
    let engine = engine().await?;
    let nested = HashMap::from([("inner".to_owned(), Av::Bool(false))]);
    engine
        .put(
            "a",
            &[
                ("n", Av::N("-1.5".into())),
                ("b", Av::B(Blob::new(vec![0, 1, 255]))),
                ("t", Av::Bool(true)),
                ("z", Av::Null(true)),
                ("m", Av::M(nested)),
                ("l", Av::L(vec![s("x"), Av::N("2".into())])),
                ("ss", Av::Ss(vec!["x".into(), "y".into()])),
                ("ns", Av::Ns(vec!["1".into(), "2".into()])),
                ("bs", Av::Bs(vec![Blob::new(vec![1]), Blob::new(vec![2])])),
            ],
        )
        .await?;
    let calls = Calls::default();
    let (mut pump, _) = engine.pump(source(), calls.handler(ok));
    pump.pump_until_idle().await?;

    let mut got = calls.records().remove(0).change.new_image;
    // Sets have no order; the engine returns some in DynamoDB's hash order.
    for value in got.values_mut() {
        match value {
            AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.sort(),
            AttributeValue::Bs(set) => set.sort(),
            _ => {}
        }
    }
    let expected = image(&[
        ("pk", AttributeValue::S("a".into())),
        ("n", AttributeValue::N("-1.5".into())),
        ("b", AttributeValue::B(vec![0, 1, 255])),
        ("t", AttributeValue::Bool(true)),
        ("z", AttributeValue::Null(true)),
        (
            "m",
            AttributeValue::M(HashMap::from([(
                "inner".to_owned(),
                AttributeValue::Bool(false),
            )])),
        ),
        (
            "l",
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::N("2".into()),
            ]),
        ),
        ("ss", AttributeValue::Ss(vec!["x".into(), "y".into()])),
        ("ns", AttributeValue::Ns(vec!["1".into(), "2".into()])),
        ("bs", AttributeValue::Bs(vec![vec![1], vec![2]])),
    ]);
    assert_eq!(got, expected);
    Ok(())
}

#[tokio::test]
async fn batches_hold_at_most_batch_size_records_in_stream_order() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a", "b", "c", "d", "e"]).await?;
    let calls = Calls::default();
    let source = StreamSource {
        batch_size: 2,
        ..source()
    };
    let (mut pump, _) = engine.pump(source, calls.handler(ok));
    assert_eq!(pump.pump_until_idle().await?, 5);
    assert_eq!(calls.keys(), keys(&[&["a", "b"], &["c", "d"], &["e"]]));
    Ok(())
}

#[tokio::test]
async fn a_partial_failure_redelivers_from_the_reported_record_only() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a", "b", "c", "d", "e"]).await?;
    let calls = Calls::default();
    let handler = calls.handler(|batch, call| match call {
        1 => failed_from(&batch[2]),
        _ => ok(batch, call),
    });
    let (mut pump, dead) = engine.pump(source(), handler);
    assert_eq!(pump.pump_until_idle().await?, 5);
    assert_eq!(
        calls.keys(),
        keys(&[&["a", "b", "c", "d", "e"], &["c", "d", "e"]])
    );
    assert!(dead.0.lock().unwrap().is_empty());
    Ok(())
}

#[tokio::test]
async fn an_error_retries_the_batch() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a"]).await?;
    let calls = Calls::default();
    let handler = calls.handler(|batch, call| match call {
        1 => anyhow::bail!("the table was busy"),
        _ => ok(batch, call),
    });
    let (mut pump, dead) = engine.pump(source(), handler);
    assert_eq!(pump.pump_until_idle().await?, 1);
    assert_eq!(calls.keys(), keys(&[&["a"], &["a"]]));
    assert!(dead.0.lock().unwrap().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_panicking_handler_fails_its_batch_and_the_pump_goes_on() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a"]).await?;
    let calls = Calls::default();
    let handler = calls.handler(|batch, call| match call {
        1 => panic!("a bug in the handler"),
        _ => ok(batch, call),
    });
    let (mut pump, dead) = engine.pump(source(), handler);
    assert_eq!(pump.pump_until_idle().await?, 1);
    assert_eq!(calls.keys(), keys(&[&["a"], &["a"]]));
    assert!(dead.0.lock().unwrap().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_record_reported_failing_forever_is_dead_lettered_and_the_rest_go_on(
) -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a", "b", "c", "d"]).await?;
    let calls = Calls::default();
    let handler = calls.handler(|batch, call| match batch.iter().find(|r| pk(r) == "b") {
        Some(bad) => failed_from(bad),
        None => ok(batch, call),
    });
    let source = StreamSource {
        max_retries: 2,
        ..source()
    };
    let (mut pump, dead) = engine.pump(source, handler);
    assert_eq!(pump.pump_until_idle().await?, 3);
    assert_eq!(
        calls.keys(),
        keys(&[
            &["a", "b", "c", "d"],
            &["b", "c", "d"],
            &["b", "c", "d"],
            &["c", "d"]
        ])
    );
    let dead = dead.0.lock().unwrap();
    let [failed] = &dead[..] else {
        panic!("one dead letter expected: {dead:?}")
    };
    assert_eq!(pk(&failed.record), "b");
    assert_eq!(
        failed.attempts, 3,
        "the first attempt and max_retries retries"
    );
    assert_eq!(
        Some(&failed.sequence_number),
        failed.record.change.sequence_number.as_ref()
    );
    assert_eq!(
        (failed.table_name.as_str(), failed.stream_arn.as_str()),
        (TABLE, pump.reader.stream_arn.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn an_error_bisects_the_batch_down_to_the_bad_record() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine.put_all(&["a", "b", "c", "d", "e"]).await?;
    let calls = Calls::default();
    let accepted = Calls::default();
    let sink = accepted.clone();
    let handler = calls.handler(move |batch, call| {
        if batch.iter().any(|r| pk(r) == "c") {
            anyhow::bail!("cannot handle c");
        }
        sink.0.lock().unwrap().push(batch.to_vec());
        ok(batch, call)
    });
    let source = StreamSource {
        max_retries: 1,
        ..source()
    };
    let (mut pump, dead) = engine.pump(source, handler);
    assert_eq!(pump.pump_until_idle().await?, 4);
    assert_eq!(accepted.keys(), keys(&[&["a", "b"], &["d", "e"]]));
    let dead = dead.0.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((pk(&dead[0].record), dead[0].attempts), ("c".to_owned(), 2));
    assert!(dead[0].error.contains("cannot handle c"));
    Ok(())
}

#[tokio::test]
async fn a_ttl_deletion_arrives_with_the_service_identity() -> anyhow::Result<()> {
    let engine = engine().await?;
    engine
        .dynamo
        .update_time_to_live()
        .table_name(TABLE)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()?,
        )
        .send()
        .await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    engine
        .put("gone", &[("expires_at", Av::N((now - 60).to_string()))])
        .await?;
    engine
        .put("kept", &[("expires_at", Av::N((now + 3600).to_string()))])
        .await?;
    let database = engine.database.clone();
    assert_eq!(
        tokio::task::spawn_blocking(move || database.sweep_ttl()).await??,
        1
    );

    let calls = Calls::default();
    let (mut pump, _) = engine.pump(source(), calls.handler(ok));
    assert_eq!(pump.pump_until_idle().await?, 3);
    let records = calls.records();
    let seen: Vec<(String, &str, bool)> = records
        .iter()
        .map(|r| (pk(r), r.event_name.as_str(), r.user_identity.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            ("gone".into(), "INSERT", false),
            ("kept".into(), "INSERT", false),
            ("gone".into(), "REMOVE", true)
        ]
    );
    let identity = records[2].user_identity.clone().unwrap_or_default();
    assert_eq!(
        (identity.type_.as_str(), identity.principal_id.as_str()),
        ("Service", "dynamodb.amazonaws.com")
    );
    assert!(
        !records[2].change.old_image.is_empty(),
        "the expired item's last image"
    );
    Ok(())
}

#[tokio::test]
async fn a_checkpoint_file_resumes_after_the_last_processed_record() -> anyhow::Result<()> {
    let engine = engine().await?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let path =
        std::env::temp_dir().join(format!("dsync-streams-{}-{nanos}.json", std::process::id()));
    let source = StreamSource {
        checkpoint_path: Some(path.clone()),
        ..source()
    };
    engine.put_all(&["a", "b"]).await?;
    let first = Calls::default();
    let (mut pump, _) = engine.pump(source.clone(), first.handler(ok));
    assert_eq!(pump.pump_until_idle().await?, 2);
    drop(pump);

    engine.put_all(&["c"]).await?;
    let second = Calls::default();
    let (mut pump, _) = engine.pump(source, second.handler(ok));
    let resumed = pump.pump_until_idle().await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(resumed?, 1);
    assert_eq!(second.keys(), keys(&[&["c"]]));

    let (mut fresh, _) = engine.pump(super::tests::source(), Calls::default().handler(ok));
    assert_eq!(
        fresh.pump_until_idle().await?,
        3,
        "without a checkpoint: from the start"
    );
    Ok(())
}

#[tokio::test]
async fn a_spawned_pump_processes_new_writes_and_can_be_waited_on() -> anyhow::Result<()> {
    let engine = engine().await?;
    let calls = Calls::default();
    let (pump, _) = engine.pump(source(), calls.handler(ok));
    let mut task = pump.spawn_forever();
    let wait = Duration::from_secs(10);

    engine.put_all(&["a"]).await?;
    tokio::time::timeout(wait, task.wait_idle()).await??;
    assert_eq!(calls.keys(), keys(&[&["a"]]));

    engine.put_all(&["b", "c"]).await?;
    tokio::time::timeout(wait, task.wait_idle()).await??;
    assert_eq!(
        calls.records().iter().map(pk).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    Ok(())
}

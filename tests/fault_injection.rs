//! The fault-injecting client against a real engine: rejected calls never reach it, calls
//! whose answer is lost did (an ambiguous commit is committed), and the errors the caller
//! sees are the ones DynamoDB sends.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use dsync_dynamo::faults::{faulty_client, Faults};
use dsync_tests::bare_store;

fn key(i: usize) -> [(String, AttributeValue); 2] {
    [
        ("pk".to_owned(), AttributeValue::S(format!("FAULT#{i}"))),
        ("sk".to_owned(), AttributeValue::S("ITEM".to_owned())),
    ]
}

/// What the caller saw: a service error code, or `dispatch` (no answer: the timeout).
fn seen<E: ProvideErrorMetadata, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String {
    match error.as_service_error() {
        Some(service) => service.code().unwrap_or("unknown").to_owned(),
        None => "dispatch".to_owned(),
    }
}

#[tokio::test]
async fn rejected_calls_never_reach_the_engine_and_lost_answers_did() {
    let (engine, store) = bare_store("faults").await;
    let table = store.tables().directory.clone();
    // Every call fails and the SDK does not retry: each outcome is one decision.
    let faults = Faults::new(11, 1.0);
    let client = faulty_client(&engine.endpoint(), &faults, 1);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..60 {
        let result = client
            .put_item()
            .table_name(&table)
            .set_item(Some(key(i).into_iter().collect()))
            .send()
            .await;
        let error = result.expect_err("every call fails");
        *errors.entry(seen(&error)).or_default() += 1;
    }
    for i in 60..100 {
        let put = Put::builder()
            .table_name(&table)
            .set_item(Some(key(i).into_iter().collect()))
            .build()
            .unwrap();
        let other = Put::builder()
            .table_name(&table)
            .set_item(Some(key(i + 1_000).into_iter().collect()))
            .build()
            .unwrap();
        let result = client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().put(other).build())
            .send()
            .await;
        let error = result.expect_err("every call fails");
        if let Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                cancelled,
            ),
        ) = error.as_service_error()
        {
            let reasons: Vec<_> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or_default().to_owned())
                .collect();
            assert_eq!(reasons, ["TransactionConflict", "None"]);
        }
        *errors.entry(seen(&error)).or_default() += 1;
    }

    let counts = faults.counts();
    assert_eq!(counts.calls, 100);
    assert_eq!(counts.injected(), 100);
    assert_eq!(counts.ambiguous_commits, counts.lost_responses);
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "InternalServerError",
        "TransactionCanceledException",
        "dispatch",
    ] {
        assert!(
            errors.get(code).is_some_and(|n| *n > 0),
            "{code}: {errors:?}"
        );
    }
    assert_eq!(
        errors["TransactionCanceledException"] as u64,
        counts.transaction_conflicts
    );

    // A clean client sees exactly the ambiguous commits: every rejected call left nothing.
    let clean = store.client();
    let mut present = 0;
    for i in 0..100 {
        let item = clean
            .get_item()
            .table_name(&table)
            .set_key(Some(key(i).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item;
        present += usize::from(item.is_some());
    }
    assert_eq!(present as u64, counts.ambiguous_commits, "{counts:?}");
    assert!(present > 0 && present < 100, "{counts:?}");
}

#[tokio::test]
async fn the_sdk_retries_some_faults_and_the_rest_come_through() {
    let (engine, store) = bare_store("faults").await;
    let faults = Faults::new(5, 0.5);
    let client = faulty_client(&engine.endpoint(), &faults, 3);
    let mut failed = 0;
    for i in 0..40 {
        let result = client
            .get_item()
            .table_name(&store.tables().directory)
            .set_key(Some(key(i).into_iter().collect()))
            .send()
            .await;
        failed += usize::from(result.is_err());
    }
    let counts = faults.counts();
    // Retries make more calls than requests, and some requests fail all their attempts.
    assert!(counts.calls > 40, "{counts:?}");
    assert!(failed > 0 && failed < 20, "{failed} failed: {counts:?}");
    // Turned off, nothing fails.
    faults.set_rate(0.0);
    let before = faults.counts().injected();
    for i in 0..10 {
        client
            .get_item()
            .table_name(&store.tables().directory)
            .set_key(Some(key(i).into_iter().collect()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(faults.counts().injected(), before);
}

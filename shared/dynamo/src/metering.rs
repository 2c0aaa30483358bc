//! Counting what a piece of work costs in DynamoDB: requests by operation, and the read and
//! write capacity units DynamoDB reports for them.
//!
//! A [`Meter`] is attached to a client as an SDK interceptor ([`Meter::interceptor`], or
//! [`metered_client`] for a local endpoint). For every attempt the client sends it
//!
//! 1. reads the operation from the `x-amz-target` header (`DynamoDB_20120810.PutItem`);
//! 2. asks for `"ReturnConsumedCapacity":"TOTAL"` in the JSON body when the operation
//!    supports it and the caller did not ask (or asked for `NONE`), before the request is
//!    signed, keeping `content-length` right;
//! 3. once the response body has been read, adds up its `ConsumedCapacity` (one object, or
//!    an array of one object per table).
//!
//! The caller's own view is unchanged apart from the output's `consumed_capacity` being
//! filled in. Counting happens per attempt that got a response, so a retried request counts
//! twice, as DynamoDB would bill it. A failed request (a condition that did not hold, a
//! cancelled transaction) is counted as a request, but DynamoDB returns no
//! `ConsumedCapacity` with an error, so its units are not seen: see
//! [`MeterReport::failed_requests`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

/// The operations that accept `ReturnConsumedCapacity`, and which kind of unit they consume.
const METERED_OPERATIONS: &[(&str, UnitKind)] = &[
    ("GetItem", UnitKind::Read),
    ("BatchGetItem", UnitKind::Read),
    ("Query", UnitKind::Read),
    ("Scan", UnitKind::Read),
    ("TransactGetItems", UnitKind::Read),
    ("PutItem", UnitKind::Write),
    ("UpdateItem", UnitKind::Write),
    ("DeleteItem", UnitKind::Write),
    ("BatchWriteItem", UnitKind::Write),
    ("TransactWriteItems", UnitKind::Write),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Read,
    Write,
}

fn unit_kind(operation: &str) -> Option<UnitKind> {
    METERED_OPERATIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, kind)| *kind)
}

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl Units {
    fn add(&mut self, other: Units) {
        self.read += other.read;
        self.write += other.write;
    }
}

/// What a meter has counted since it was made or last reset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterReport {
    /// Requests (attempts that got a response) by operation name, e.g. `TransactWriteItems`.
    pub requests_by_operation: BTreeMap<String, u64>,
    pub total_requests: u64,
    /// Read capacity units DynamoDB reported.
    pub read_units: f64,
    /// Write capacity units DynamoDB reported.
    pub write_units: f64,
    /// The units by operation name (operations that reported none are absent).
    pub units_by_operation: BTreeMap<String, Units>,
    /// The units by table, where DynamoDB names it (`TableName` of each `ConsumedCapacity`
    /// entry): what one table's partitions take, say the event log's.
    pub units_by_table: BTreeMap<String, Units>,
    /// Requests answered with an error status. DynamoDB bills some of these (a failed
    /// conditional write consumes write units) but reports no `ConsumedCapacity` for them.
    pub failed_requests: u64,
}

impl MeterReport {
    /// `GetItem×2 Query×1 …`, in operation-name order.
    pub fn requests_summary(&self) -> String {
        self.requests_by_operation
            .iter()
            .map(|(op, n)| format!("{op}×{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Counts DynamoDB requests and consumed capacity. Cheap to clone: clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    state: Arc<Mutex<MeterReport>>,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been counted so far.
    pub fn snapshot(&self) -> MeterReport {
        self.lock().clone()
    }

    /// Starts counting from zero again.
    pub fn reset(&self) {
        *self.lock() = MeterReport::default();
    }

    /// The counts so far, and a reset, in one step.
    pub fn take(&self) -> MeterReport {
        std::mem::take(&mut *self.lock())
    }

    /// The interceptor to attach to a client's config
    /// (`aws_sdk_dynamodb::config::Builder::interceptor`).
    pub fn interceptor(&self) -> MeteringInterceptor {
        MeteringInterceptor {
            meter: self.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MeterReport> {
        // A panic while holding the lock leaves plain counters behind; they are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, operation: &str, consumed: &Consumed, failed: bool) {
        let units = consumed.total;
        let mut state = self.lock();
        for (table, table_units) in &consumed.by_table {
            state
                .units_by_table
                .entry(table.clone())
                .or_default()
                .add(*table_units);
        }
        *state
            .requests_by_operation
            .entry(operation.to_owned())
            .or_default() += 1;
        state.total_requests += 1;
        state.read_units += units.read;
        state.write_units += units.write;
        if units != Units::default() {
            state
                .units_by_operation
                .entry(operation.to_owned())
                .or_default()
                .add(units);
        }
        if failed {
            state.failed_requests += 1;
        }
    }
}

/// A client for a local endpoint, built as [`crate::connect`] builds one, that reports to
/// `meter`.
pub fn metered_client(endpoint: &str, meter: &Meter) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "dsync"))
        .http_client(crate::https_client())
        .interceptor(meter.interceptor())
        .build();
    Client::from_conf(config)
}

/// The interceptor behind a [`Meter`].
#[derive(Debug, Clone)]
pub struct MeteringInterceptor {
    meter: Meter,
}

/// The operation of the request in flight, kept from before signing (the request itself is
/// gone by the time the response is read).
#[derive(Debug, Clone)]
struct OperationName(String);

impl Storable for OperationName {
    type Storer = StoreReplace<Self>;
}

impl Intercept for MeteringInterceptor {
    fn name(&self) -> &'static str {
        "DynamoDbMeter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let operation = request
            .headers()
            .get("x-amz-target")
            .map(operation_of_target)
            .map(str::to_owned)
            .or_else(|| cfg.load::<Metadata>().map(|m| m.name().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        if unit_kind(&operation).is_some() {
            let rewritten = request.body().bytes().and_then(with_consumed_capacity);
            if let Some(body) = rewritten {
                request
                    .headers_mut()
                    .insert("content-length", body.len().to_string());
                *request.body_mut() = SdkBody::from(body);
            }
        }
        cfg.interceptor_state().store_put(OperationName(operation));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The orchestrator has read the whole body into memory by now (it has not yet in
        // `read_before_deserialization`, where it is still a stream).
        let operation = cfg
            .load::<OperationName>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| "unknown".to_owned());
        let response = context.response();
        let failed = !response.status().is_success();
        let consumed = response
            .body()
            .bytes()
            .map(|body| consumed(&operation, body))
            .unwrap_or_default();
        self.meter.record(&operation, &consumed, failed);
        Ok(())
    }
}

/// `DynamoDB_20120810.TransactWriteItems` → `TransactWriteItems`.
fn operation_of_target(target: &str) -> &str {
    target.rsplit('.').next().unwrap_or(target)
}

/// The body with `"ReturnConsumedCapacity":"TOTAL"`, or `None` when it is not a JSON object
/// or already asks for capacity (`TOTAL` or `INDEXES`).
fn with_consumed_capacity(body: &[u8]) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match object.get("ReturnConsumedCapacity").and_then(Value::as_str) {
        Some(mode) if !mode.eq_ignore_ascii_case("NONE") => return None,
        _ => {}
    }
    object.insert(
        "ReturnConsumedCapacity".to_owned(),
        Value::String("TOTAL".to_owned()),
    );
    serde_json::to_vec(&Value::Object(object)).ok()
}

/// The units a response body reports in `ConsumedCapacity`, in total and by the table each
/// entry names. `ReadCapacityUnits` and `WriteCapacityUnits` are taken when present;
/// otherwise `CapacityUnits` counts as the operation's kind (reads for `GetItem`, `Query`, …;
/// writes for `PutItem`, …).
#[derive(Debug, Default)]
struct Consumed {
    total: Units,
    by_table: Vec<(String, Units)>,
}

fn consumed(operation: &str, body: &[u8]) -> Consumed {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Consumed::default();
    };
    let kind = unit_kind(operation);
    let entries = match value.get("ConsumedCapacity") {
        Some(Value::Array(entries)) => entries.iter().collect(),
        Some(entry @ Value::Object(_)) => vec![entry],
        _ => Vec::new(),
    };
    let mut consumed = Consumed::default();
    for entry in entries {
        let units = entry_units(entry, kind);
        consumed.total.add(units);
        if let Some(table) = entry.get("TableName").and_then(Value::as_str) {
            consumed.by_table.push((table.to_owned(), units));
        }
    }
    consumed
}

fn entry_units(entry: &Value, kind: Option<UnitKind>) -> Units {
    let number = |name: &str| entry.get(name).and_then(Value::as_f64);
    let read = number("ReadCapacityUnits");
    let write = number("WriteCapacityUnits");
    if read.is_some() || write.is_some() {
        return Units {
            read: read.unwrap_or(0.0),
            write: write.unwrap_or(0.0),
        };
    }
    let total = number("CapacityUnits").unwrap_or(0.0);
    match kind {
        Some(UnitKind::Write) => Units {
            read: 0.0,
            write: total,
        },
        // An unknown operation's units are most likely reads; none is metered today.
        Some(UnitKind::Read) | None => Units {
            read: total,
            write: 0.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_item_units_count_as_the_operations_kind() {
        let body = br#"{"Item":{},"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.5}}"#;
        assert_eq!(
            consumed("GetItem", body).total,
            Units {
                read: 1.5,
                write: 0.0
            }
        );
        let body = br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":3.0}}"#;
        assert_eq!(
            consumed("PutItem", body).total,
            Units {
                read: 0.0,
                write: 3.0
            }
        );
    }

    #[test]
    fn arrays_sum_over_tables_and_named_axes_win_over_the_total() {
        let body = br#"{"ConsumedCapacity":[
            {"TableName":"a","CapacityUnits":4.0,"WriteCapacityUnits":4.0},
            {"TableName":"b","CapacityUnits":2.0,"WriteCapacityUnits":2.0}
        ]}"#;
        assert_eq!(
            consumed("TransactWriteItems", body).total,
            Units {
                read: 0.0,
                write: 6.0
            }
        );
        let body = br#"{"ConsumedCapacity":[
            {"TableName":"a","CapacityUnits":3.0,"ReadCapacityUnits":1.0,"WriteCapacityUnits":2.0}
        ]}"#;
        assert_eq!(
            consumed("TransactWriteItems", body).total,
            Units {
                read: 1.0,
                write: 2.0
            }
        );
        let body = br#"{"Responses":{},"ConsumedCapacity":[
            {"TableName":"a","CapacityUnits":0.5},{"TableName":"b","CapacityUnits":1}
        ]}"#;
        assert_eq!(
            consumed("BatchGetItem", body).total,
            Units {
                read: 1.5,
                write: 0.0
            }
        );
    }

    #[test]
    fn units_are_kept_by_the_table_each_entry_names() {
        let body = br#"{"ConsumedCapacity":[
            {"TableName":"directory","CapacityUnits":4.0},
            {"TableName":"events","CapacityUnits":2.0},
            {"CapacityUnits":1.0}
        ]}"#;
        let consumed = consumed("TransactWriteItems", body);
        assert_eq!(consumed.total.write, 7.0);
        let write = |table: &str| {
            consumed
                .by_table
                .iter()
                .find(|(name, _)| name == table)
                .map(|(_, units)| units.write)
        };
        assert_eq!(write("directory"), Some(4.0));
        assert_eq!(write("events"), Some(2.0));
        assert_eq!(
            consumed.by_table.len(),
            2,
            "an unnamed entry counts only in the total"
        );
    }

    #[test]
    fn no_capacity_or_no_json_is_zero() {
        assert_eq!(consumed("GetItem", b"{}").total, Units::default());
        assert_eq!(consumed("GetItem", b"").total, Units::default());
        assert_eq!(
            consumed(
                "PutItem",
                br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}"#
            )
            .total,
            Units::default()
        );
    }

    #[test]
    fn the_request_asks_for_total_capacity_once() {
        let body = with_consumed_capacity(br#"{"TableName":"t","Key":{}}"#).unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["ReturnConsumedCapacity"], "TOTAL");
        assert_eq!(value["TableName"], "t");
        let body = with_consumed_capacity(br#"{"ReturnConsumedCapacity":"NONE"}"#).unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["ReturnConsumedCapacity"], "TOTAL");
        assert!(with_consumed_capacity(br#"{"ReturnConsumedCapacity":"INDEXES"}"#).is_none());
        assert!(with_consumed_capacity(b"not json").is_none());
        assert!(with_consumed_capacity(b"[]").is_none());
    }

    #[test]
    fn operation_names_come_from_the_target_header() {
        assert_eq!(
            operation_of_target("DynamoDB_20120810.TransactWriteItems"),
            "TransactWriteItems"
        );
        assert_eq!(unit_kind("Query"), Some(UnitKind::Read));
        assert_eq!(unit_kind("CreateTable"), None);
    }

    #[test]
    fn the_meter_counts_and_resets() {
        let meter = Meter::new();
        let clone = meter.clone();
        let read = Consumed {
            total: Units {
                read: 0.5,
                write: 0.0,
            },
            by_table: vec![(
                "t".to_owned(),
                Units {
                    read: 0.5,
                    write: 0.0,
                },
            )],
        };
        clone.record("GetItem", &read, false);
        clone.record("PutItem", &Consumed::default(), true);
        let report = meter.snapshot();
        assert_eq!(report.total_requests, 2);
        assert_eq!(report.requests_by_operation["GetItem"], 1);
        assert_eq!(report.read_units, 0.5);
        assert_eq!(report.units_by_table["t"].read, 0.5);
        assert_eq!(report.failed_requests, 1);
        assert_eq!(report.requests_summary(), "GetItem×1 PutItem×1");
        meter.reset();
        assert_eq!(meter.snapshot(), MeterReport::default());
    }
}

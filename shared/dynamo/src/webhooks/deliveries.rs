//! Deliveries: `pk = DELIVERIES#<endpoint>`, `sk = EVENT#<event sequence>`.
//!
//! Every state change the sweep makes is a whole-item put under a condition on what it read,
//! so two sweeps never both count or send the same attempt. The stream path writes a batch's
//! new deliveries and their first outcomes in `BatchWriteItem`s, unconditionally: it reads
//! first which of them exist ([`Store::recorded_deliveries`]) and leaves those to the sweep,
//! and the outcome lands within the delivery's lease, before the sweep may claim it.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::{DeliveryId, EnvironmentId, EventId, WebhookEndpointId};
use dsync_domain::webhooks::{Delivery, DeliveryState};
use futures::future::try_join_all;

use crate::error::{backend, is_conditional_failure};
use crate::event_log::StoredEvent;
use crate::event_pages::decode_events;
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::query::put_request;
use crate::{Store, StoreError, EVENT_RETENTION_DAYS};

/// A walk through the deliveries due at one moment, index partition by partition, so one
/// sweep run sees every due delivery once even when it leaves some of them alone.
#[derive(Debug, Clone)]
pub struct DueScan {
    now: i64,
    cursors: Vec<ShardCursor>,
}

#[derive(Debug, Clone)]
enum ShardCursor {
    Start,
    After(Item),
    Finished,
}

impl DueScan {
    /// The deliveries due at `now` (epoch ms).
    pub fn new(now: i64) -> Self {
        Self {
            now,
            cursors: vec![ShardCursor::Start; DUE_DELIVERY_SHARDS as usize],
        }
    }

    pub fn finished(&self) -> bool {
        self.cursors
            .iter()
            .all(|c| matches!(c, ShardCursor::Finished))
    }
}

/// One page of an endpoint's deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Pass as `older_than` for the next page; `None` on the last page.
    pub next: Option<DeliveryId>,
}

impl Store {
    /// Which of `ids` have a delivery recorded: consistent reads of their keys, 100 to a
    /// request, the requests side by side.
    pub async fn recorded_deliveries(
        &self,
        ids: &[DeliveryId],
    ) -> Result<HashSet<DeliveryId>, StoreError> {
        let keys = ids.iter().map(delivery_key).collect();
        let items = self
            .batch_get_attributes(&self.tables.directory, keys, &["id"])
            .await?;
        items
            .iter()
            .map(|item| id_attr(item, "id", DeliveryId::parse))
            .collect()
    }

    /// Writes `deliveries` as they are, whatever is stored under their keys, in one
    /// `BatchWriteItem` (so at most 25, with distinct ids), asking again for what DynamoDB
    /// leaves unprocessed. For the stream path only (module comment).
    pub async fn put_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        debug_assert!(deliveries.len() <= 25, "one BatchWriteItem");
        let requests = deliveries
            .iter()
            .map(|delivery| put_request(encode_delivery(delivery)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write_requests(&self.tables.directory, requests)
            .await
    }

    /// Takes a due delivery for one attempt by moving its due time to `lease_until`; `None`
    /// when another worker took it (or it changed) since `seen` was read.
    pub async fn claim_delivery(
        &self,
        seen: &Delivery,
        lease_until: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut claimed = seen.clone();
        claimed.next_attempt_at = Some(lease_until);
        match self.put_if_unchanged(seen, &claimed).await {
            Ok(()) => Ok(Some(claimed)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `before` (as read or claimed) with `after`; `Conflict` when it changed.
    pub async fn update_delivery(
        &self,
        before: &Delivery,
        after: &Delivery,
    ) -> Result<(), StoreError> {
        self.put_if_unchanged(before, after).await
    }

    /// A delivery by id (the id names its key).
    pub async fn delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .set_key(Some(delivery_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.as_ref().map(decode_delivery).transpose()
    }

    /// The next pending deliveries of `scan` (due at its `now`), earliest first: one page of
    /// at most `limit` from each index partition not read to its end yet. Empty once every
    /// partition is. The index is eventually consistent: claim before attempting.
    pub async fn next_due_deliveries(
        &self,
        scan: &mut DueScan,
        limit: i32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let upper = format!("{:015}#~", scan.now.max(0));
        let open: Vec<usize> = (0..scan.cursors.len())
            .filter(|&shard| !matches!(scan.cursors[shard], ShardCursor::Finished))
            .collect();
        let queries = open.iter().map(|&shard| {
            let start = match &scan.cursors[shard] {
                ShardCursor::After(key) => Some(key.clone()),
                _ => None,
            };
            self.client
                .query()
                .table_name(&self.tables.directory)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :shard AND gsi1sk <= :upper")
                .expression_attribute_values(":shard", s(due_deliveries(shard as u32)))
                .expression_attribute_values(":upper", s(&upper))
                .set_exclusive_start_key(start)
                .limit(limit.max(1))
                .send()
        });
        let outputs = try_join_all(queries).await.map_err(backend)?;
        let mut due = Vec::new();
        for (shard, output) in open.into_iter().zip(outputs) {
            for item in output.items.unwrap_or_default() {
                due.push(decode_delivery(&item)?);
            }
            scan.cursors[shard] = match output.last_evaluated_key {
                Some(key) if !key.is_empty() => ShardCursor::After(key),
                _ => ShardCursor::Finished,
            };
        }
        due.sort_by_key(|d| d.next_attempt_at);
        Ok(due)
    }

    /// An endpoint's deliveries, newest event first, `limit` per page, starting after
    /// `older_than` (a delivery of this endpoint) when given.
    pub async fn endpoint_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        older_than: Option<&Delivery>,
        limit: i32,
    ) -> Result<DeliveryPage, StoreError> {
        let pk = deliveries_pk(endpoint);
        let start = older_than.map(|d| {
            Item::from([
                (PK.to_owned(), s(&pk)),
                (SK.to_owned(), s(delivery_sk(d.event_id.sequence()))),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(DELIVERY_PREFIX))
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let deliveries = output
            .items
            .unwrap_or_default()
            .iter()
            .map(decode_delivery)
            .collect::<Result<Vec<_>, _>>()?;
        let more = output.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let next = more.then(|| deliveries.last().map(|d| d.id)).flatten();
        Ok(DeliveryPage { deliveries, next })
    }

    /// The events behind deliveries, for sending them again. Events outlive every retry
    /// schedule (30 days); one that has expired is simply absent. A page of events is keyed
    /// by its last event (event_pages.rs): one BatchGetItem finds every event that ends its
    /// page (all of them when each commit was alone), and a Query for the page keyed at or
    /// after each event still missing finds the rest, a page read once for all its events.
    pub async fn events_by_id(
        &self,
        environment: &EnvironmentId,
        ids: &[EventId],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // An id names its event by the sequence number it carries (one per environment).
        let wanted: std::collections::BTreeSet<u64> = ids.iter().map(EventId::sequence).collect();
        let keys = wanted
            .iter()
            .map(|sequence| {
                Item::from([
                    (PK.to_owned(), s(environment_pk(environment))),
                    (SK.to_owned(), s(event_sk(*sequence))),
                ])
            })
            .collect();
        let mut found = Vec::new();
        for item in self.batch_get_items(&self.tables.events, keys).await? {
            found.extend(decode_events(&item)?);
        }
        let mut read: std::collections::HashSet<u64> = found.iter().map(|e| e.sequence).collect();
        for &sequence in &wanted {
            if read.contains(&sequence) {
                continue;
            }
            if let Some(item) = self.page_holding(environment, sequence, false).await? {
                for event in decode_events(&item)? {
                    if read.insert(event.sequence) {
                        found.push(event);
                    }
                }
            }
            // Absent from every page read: expired.
            read.insert(sequence);
        }
        found.retain(|event| wanted.contains(&event.sequence));
        found.sort_by_key(|event| event.sequence);
        Ok(found)
    }

    async fn put_if_unchanged(
        &self,
        before: &Delivery,
        after: &Delivery,
    ) -> Result<(), StoreError> {
        let mut condition = "attempts = :attempts AND #state = :state".to_owned();
        let mut values = vec![
            (":attempts", n(before.attempts)),
            (":state", s(before.state.as_str())),
        ];
        match before.next_attempt_at {
            Some(at) => {
                condition.push_str(" AND next_attempt_at = :at");
                values.push((":at", n(at)));
            }
            None => condition.push_str(" AND attribute_not_exists(next_attempt_at)"),
        }
        self.put_delivery(after, &condition, values).await
    }

    async fn put_delivery(
        &self,
        delivery: &Delivery,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_delivery(delivery)))
            .condition_expression(condition);
        if condition.contains("#state") {
            request = request.expression_attribute_names("#state", "state");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }
}

fn delivery_key(id: &DeliveryId) -> Item {
    Item::from([
        (PK.to_owned(), s(deliveries_pk(&id.endpoint()))),
        (SK.to_owned(), s(delivery_sk(id.sequence()))),
    ])
}

fn encode_delivery(d: &Delivery) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(deliveries_pk(&d.endpoint_id))),
        (SK.to_owned(), s(delivery_sk(d.event_id.sequence()))),
        ("type".to_owned(), s("delivery")),
        ("id".to_owned(), s(d.id.to_string())),
        ("endpoint_id".to_owned(), s(d.endpoint_id.to_string())),
        ("environment_id".to_owned(), s(d.environment_id.to_string())),
        ("event_id".to_owned(), s(d.event_id.to_string())),
        ("event".to_owned(), s(&d.event)),
        ("state".to_owned(), s(d.state.as_str())),
        ("attempts".to_owned(), n(d.attempts)),
        ("created_at".to_owned(), n(d.created_at)),
        ("updated_at".to_owned(), n(d.updated_at)),
    ]);
    match d.next_attempt_at {
        Some(at) => {
            item.insert("next_attempt_at".to_owned(), n(at));
            item.insert(
                GSI1PK.to_owned(),
                s(due_deliveries(due_shard_of(&d.endpoint_id))),
            );
            item.insert(GSI1SK.to_owned(), s(due_at(at, &d.id)));
        }
        // Final: out of the due index, and gone after the events' own retention.
        None => {
            item.insert(
                "expires_at".to_owned(),
                n(d.updated_at / 1000 + EVENT_RETENTION_DAYS * 86_400),
            );
        }
    }
    if let Some(at) = d.last_attempt_at {
        item.insert("last_attempt_at".to_owned(), n(at));
    }
    if let Some(status) = d.last_status {
        item.insert("last_status".to_owned(), n(status));
    }
    if let Some(error) = &d.last_error {
        item.insert("last_error".to_owned(), s(error));
    }
    item
}

fn decode_delivery(item: &Item) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: id_attr(item, "id", DeliveryId::parse)?,
        endpoint_id: id_attr(item, "endpoint_id", WebhookEndpointId::parse)?,
        environment_id: id_attr(item, "environment_id", EnvironmentId::parse)?,
        event_id: id_attr(item, "event_id", EventId::parse)?,
        event: item.str_attr("event")?.to_owned(),
        state: DeliveryState::parse(item.str_attr("state")?)
            .ok_or_else(|| StoreError::corrupt("unknown delivery state"))?,
        attempts: item.num_attr("attempts")?,
        next_attempt_at: item.opt_num_attr("next_attempt_at"),
        last_attempt_at: item.opt_num_attr("last_attempt_at"),
        last_status: item.opt_num_attr("last_status"),
        last_error: item.opt_str_attr("last_error").map(str::to_owned),
        created_at: item.num_attr("created_at")?,
        updated_at: item.num_attr("updated_at")?,
    })
}

//! Query helpers shared by the record kinds.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};

use crate::error::backend;
use crate::item::{s, Item};
use crate::keys::{PK, SK};
use crate::provider_users::build_error;
use crate::{Store, StoreError};
use futures::{StreamExt, TryStreamExt};

/// BatchGetItems of one long list of keys in flight at once.
const CHUNKS_IN_FLIGHT: usize = 8;

impl Store {
    /// Every item of an index partition (all pages).
    pub(crate) async fn query_index_all(
        &self,
        index: &str,
        hash_attribute: &str,
        hash_value: String,
    ) -> Result<Vec<Item>, StoreError> {
        let table = self.tables.provider_records.clone();
        self.query_index_all_in(&table, index, hash_attribute, hash_value)
            .await
    }

    /// Every item of an index partition of `table` (all pages).
    pub(crate) async fn query_index_all_in(
        &self,
        table: &str,
        index: &str,
        hash_attribute: &str,
        hash_value: String,
    ) -> Result<Vec<Item>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash_attribute)
            .expression_attribute_values(":h", s(hash_value));
        self.query_all(request).await
    }

    /// Up to `limit` items of an index partition in sort-key order, after the sort key
    /// `after`; returns the sort key to continue from, if more remain.
    pub(crate) async fn query_index_page(
        &self,
        table: &str,
        index: &str,
        (hash_attribute, range_attribute): (&str, &str),
        hash_value: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash_attribute)
            .expression_attribute_values(":h", s(hash_value))
            .limit(limit.max(1));
        if let Some(after) = after {
            request = request
                .key_condition_expression("#h = :h AND #r > :after")
                .expression_attribute_names("#r", range_attribute)
                .expression_attribute_values(":after", s(after));
        }
        let output = request.send().await.map_err(backend)?;
        let next = output
            .last_evaluated_key
            .and_then(|key| match key.get(range_attribute) {
                Some(AttributeValue::S(v)) => Some(v.clone()),
                _ => None,
            });
        Ok((output.items.unwrap_or_default(), next))
    }

    /// The provider-records items of partition `pk` with a sort key in `[low, high]`, read
    /// consistently: all of them (every page), or with `limit` the first `limit` (one
    /// page). `true` when items remain after those returned.
    pub(crate) async fn query_range(
        &self,
        pk: &str,
        (low, high): (&str, &str),
        limit: Option<i32>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.tables.provider_records)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .consistent_read(true);
        let Some(limit) = limit else {
            return Ok((self.query_all(request).await?, false));
        };
        let output = request.limit(limit).send().await.map_err(backend)?;
        let more = output.last_evaluated_key.is_some_and(|key| !key.is_empty());
        Ok((output.items.unwrap_or_default(), more))
    }

    /// Every item of partition `pk` of `table`, read consistently (all pages).
    pub(crate) async fn query_partition(
        &self,
        table: &str,
        pk: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        self.query_all(request).await
    }

    /// Every item of partition `pk` of `table` whose sort key starts with `prefix`, read
    /// consistently (all pages).
    pub(crate) async fn query_prefix_all(
        &self,
        table: &str,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        self.query_all(request).await
    }

    /// Up to `limit` items of partition `pk` whose sort key starts with `prefix`, after the
    /// sort key `after`. Returns the items and the sort key to continue from, if any remain.
    pub(crate) async fn query_prefix_page(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<String>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = after.map(|sk| Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))]));
        let output = self
            .client
            .query()
            .table_name(&self.tables.provider_records)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .set_exclusive_start_key(start)
            .limit(limit.max(1))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let items = output.items.unwrap_or_default();
        let next = match output.last_evaluated_key {
            Some(key) => match key.get(SK) {
                Some(AttributeValue::S(sk)) => Some(sk.clone()),
                _ => None,
            },
            None => None,
        };
        Ok((items, next))
    }

    /// Every item a query matches, following `LastEvaluatedKey` through all pages.
    pub(crate) async fn query_all(
        &self,
        request: QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = request
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Consistent reads of items by key, in batches of 100, retrying unprocessed keys.
    /// Duplicate keys are read once; missing items are simply absent from the result.
    pub(crate) async fn batch_get_items(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> Result<Vec<Item>, StoreError> {
        self.batch_get_attributes(table, keys, &[]).await
    }

    /// [`Store::batch_get_items`] reading only `attributes` of each item (all when empty).
    pub(crate) async fn batch_get_attributes(
        &self,
        table: &str,
        mut keys: Vec<Item>,
        attributes: &[&str],
    ) -> Result<Vec<Item>, StoreError> {
        let names: HashMap<String, String> = attributes
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("#a{i}"), (*name).to_owned()))
            .collect();
        let projection = (0..attributes.len())
            .map(|i| format!("#a{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        keys.sort_by_key(key_text);
        keys.dedup_by(|a, b| key_text(a) == key_text(b));
        // The chunks side by side: a long list costs one round trip, not one per 100 keys.
        let reads: Vec<_> = keys
            .chunks(100)
            .map(|chunk| self.batch_get_chunk(table, chunk, &projection, &names))
            .collect();
        let found: Vec<Vec<Item>> = futures::stream::iter(reads)
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// One BatchGetItem of at most 100 keys, asking again for what DynamoDB leaves
    /// unprocessed.
    async fn batch_get_chunk(
        &self,
        table: &str,
        chunk: &[Item],
        projection: &str,
        names: &HashMap<String, String>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(chunk.to_vec()))
            .consistent_read(true);
        if !projection.is_empty() {
            request = request
                .projection_expression(projection)
                .set_expression_attribute_names(Some(names.clone()));
        }
        let request = request.build().map_err(build_error)?;
        let mut found = Vec::with_capacity(chunk.len());
        let mut pending = Some(request);
        while let Some(request) = pending.take() {
            let output = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(backend)?;
            found.extend(output.responses.unwrap_or_default().into_values().flatten());
            pending = output
                .unprocessed_keys
                .and_then(|mut keys| keys.remove(table));
        }
        Ok(found)
    }

    /// Writes requests in batches of 25, retrying what DynamoDB leaves unprocessed (with
    /// backoff, giving up after ten rounds). Every caller's requests are idempotent puts and
    /// deletes, so a retry of the whole call after a failure finishes the job.
    pub(crate) async fn batch_write_requests(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(backend)?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut items| items.remove(table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 10 {
                        return Err(StoreError::Backend(
                            "batch writes stayed unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20u64 << attempt.min(8)))
                        .await;
                }
            }
        }
        Ok(())
    }
}

/// A put of `item` for [`Store::batch_write_requests`].
pub(crate) fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(build_error)?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn key_text(key: &Item) -> (String, String) {
    let text = |name: &str| match key.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    (text(PK), text(SK))
}

//! Query helpers shared by the record kinds.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::backend;
use crate::item::{s, Item};
use crate::keys::{PK, SK};
use crate::{Store, StoreError};

impl Store {
    /// Every item of an index partition (all pages).
    pub(crate) async fn query_index_all(
        &self,
        index: &str,
        hash_attribute: &str,
        hash_value: String,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.tables.provider_records)
                .index_name(index)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", hash_attribute)
                .expression_attribute_values(":h", s(hash_value.clone()))
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
}

//! Each environment's event log: totally ordered and gap-free.
//!
//! The sequence number is allocated inside the transaction that commits the events (and the
//! state change they describe): the environment's head item is updated under a condition on
//! its previous value. Two writers cannot both commit the same numbers, and a number is only
//! ever visible once its transaction committed, so a reader paging with `after` never skips
//! an event that commits later with a smaller number.
//!
//! The number a commit is made after comes from a consistent read of the head, or, when this
//! process committed or read it last and nobody else was seen committing lately, from memory
//! (event_heads.rs). Either way it is only the expected value in that condition.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use dsync_domain::directory::EventDraft;
pub use dsync_domain::directory::{EventScope, StoredEvent};
use dsync_domain::ids::{DirectoryId, EnvironmentId, EventId};
use dsync_domain::time::now_millis;

use crate::error::backend;
use crate::event_heads::Head;
use crate::item::{n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// Events are kept at least this long (DynamoDB's TTL removes them some time after).
pub const EVENT_RETENTION_DAYS: i64 = 30;

/// A transaction holds at most 100 items.
pub(crate) const MAX_TRANSACTION_ITEMS: usize = 100;

impl Store {
    /// Commits `writes` and `events` in one transaction, the events numbered after the
    /// environment's current head. A lost race on the head alone is retried here (the writes
    /// are still valid); a failed condition on any of `writes` is `Conflict`, for the caller
    /// to re-read and re-project.
    ///
    /// The events' time (`created_at` and the time inside their ids) is taken at commit,
    /// after the head is read, never earlier than `not_before` (the caller's clock) nor than
    /// the time of the event before them, which the head carries: `created_at` never
    /// decreases in log order, even when a plan made earlier commits after a newer one or
    /// two writers' clocks disagree.
    pub(crate) async fn commit_with_events(
        &self,
        scope: &EventScope,
        writes: Vec<TransactWriteItem>,
        events: &[EventDraft],
        not_before: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            if !writes.is_empty() {
                self.transact(writes).await?;
            }
            return Ok(Vec::new());
        }
        // The log head, the writes and one item per event: callers chunk so this always
        // holds; a plan that breaks it is refused whole rather than half-committed.
        let items = 1 + writes.len() + events.len();
        if items > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Backend(format!(
                "a transaction of {items} items exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}"
            )));
        }
        let environment = &scope.environment_id;
        let mut attempt = 0u32;
        loop {
            // This process's last known head saves a consistent read; a stale one fails the
            // head's condition below and is replaced (see event_heads.rs).
            let guessed = self.event_heads.guess(environment);
            let head = match guessed {
                Some(head) => head,
                None => self.read_event_head(environment).await?,
            };
            let now = now_millis().max(not_before).max(head.created_at);
            let stored: Vec<StoredEvent> = events
                .iter()
                .enumerate()
                .map(|(i, draft)| {
                    let sequence = head.sequence + 1 + i as u64;
                    StoredEvent {
                        id: EventId::for_sequence(sequence, now),
                        sequence,
                        name: draft.name.to_owned(),
                        data: draft.data.to_value(),
                        created_at: now,
                        directory_id: scope.directory_id,
                        organization_id: scope.organization_id.clone(),
                    }
                })
                .collect();
            let next = head.sequence + events.len() as u64;
            let mut items = vec![self.head_update(environment, head.sequence, next, now)?];
            items.extend(writes.iter().cloned());
            for (event, draft) in stored.iter().zip(events) {
                items.push(self.event_put(environment, event, draft.data.as_str())?);
            }
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => {
                    let committed = Head {
                        sequence: next,
                        created_at: now,
                    };
                    self.event_heads.remember(environment, committed);
                    return Ok(stored);
                }
                Err(e) => {
                    let failed = failed_item(&e);
                    match (failed, guessed) {
                        // Numbered after a remembered head that was not the head.
                        (Some(0), Some(guessed)) => self.event_heads.missed(environment, guessed),
                        // The head is unknown: a lost race, or a lost answer.
                        (Some(0) | None, _) => self.event_heads.forget(environment),
                        // The head held; another item's condition failed.
                        (Some(_), _) => {}
                    }
                    match failed {
                        // Another writer took these numbers: take the next ones.
                        Some(0) | None if is_cancelled(&e) && attempt < 50 => {
                            attempt += 1;
                            backoff(attempt).await;
                        }
                        Some(_) | None if is_cancelled(&e) => return Err(StoreError::Conflict),
                        _ => return Err(backend(e)),
                    }
                }
            }
        }
    }

    /// The environment's last sequence number (0 before its first event), read now.
    pub async fn event_head(&self, environment: &EnvironmentId) -> Result<u64, StoreError> {
        Ok(self.read_event_head(environment).await?.sequence)
    }

    /// The last sequence number and the time of the last event (0 when unknown: a head
    /// written before it kept the time), read consistently and remembered.
    async fn read_event_head(&self, environment: &EnvironmentId) -> Result<Head, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(EVENT_HEAD_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let item = output.item.unwrap_or_default();
        let head = Head {
            sequence: item.opt_num_attr("sequence").unwrap_or(0),
            created_at: item.opt_num_attr("created_at").unwrap_or(0),
        };
        self.event_heads.remember(environment, head);
        Ok(head)
    }

    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_cancelled(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }

    fn head_update(
        &self,
        environment: &EnvironmentId,
        previous: u64,
        next: u64,
        created_at: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(EVENT_HEAD_SK))
            .update_expression("SET #seq = :next, created_at = :at")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":at", n(created_at));
        update = if previous == 0 {
            update.condition_expression("attribute_not_exists(#seq)")
        } else {
            update
                .condition_expression("#seq = :previous")
                .expression_attribute_values(":previous", n(previous))
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    fn event_put(
        &self,
        environment: &EnvironmentId,
        event: &StoredEvent,
        // The draft's text, stored as written (`event.data` is the same JSON, parsed).
        data: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = Item::from([
            (PK.to_owned(), s(environment_pk(environment))),
            (SK.to_owned(), s(event_sk(event.sequence))),
            ("type".to_owned(), s("event")),
            ("id".to_owned(), s(event.id.to_string())),
            ("environment_id".to_owned(), s(environment.to_string())),
            ("sequence".to_owned(), n(event.sequence)),
            ("event".to_owned(), s(&event.name)),
            ("data".to_owned(), s(data)),
            ("created_at".to_owned(), n(event.created_at)),
            (
                "expires_at".to_owned(),
                n(event.created_at / 1000 + EVENT_RETENTION_DAYS * 86_400),
            ),
        ]);
        if let Some(directory) = &event.directory_id {
            item.insert("directory_id".to_owned(), s(directory.to_string()));
        }
        if let Some(organization) = &event.organization_id {
            item.insert("organization_id".to_owned(), s(organization));
        }
        let put = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// Decodes an event item, as read from the table or from a stream image.
pub fn decode_event(item: &Item) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: crate::item::id_attr(item, "id", EventId::parse)?,
        sequence: item.num_attr("sequence")?,
        name: item.str_attr("event")?.to_owned(),
        data: item.json_attr("data")?,
        created_at: item.num_attr("created_at")?,
        directory_id: item
            .opt_str_attr("directory_id")
            .and_then(|d| DirectoryId::parse(d).ok()),
        organization_id: item.opt_str_attr("organization_id").map(str::to_owned),
    })
}

type TransactError =
    SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

fn is_cancelled(e: &TransactError) -> bool {
    matches!(
        e.as_service_error(),
        Some(TransactWriteItemsError::TransactionCanceledException(_))
    )
}

/// The index of the item whose condition failed, if the engine says.
fn failed_item(e: &TransactError) -> Option<usize> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .position(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => None,
    }
}

async fn backoff(attempt: u32) {
    let ceiling = 2u64 << attempt.min(6);
    let millis = rand::random::<u64>() % ceiling + 1;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

//! The Events API's reads of an environment's log (`pk = ENV#<env>`, `sk = <sequence:020>`).
//!
//! A cursor is an event id, which carries its sequence number, so `after=<id>` is one
//! strongly consistent Query `sk > <sequence>`: no lookup, and no event that commits later
//! can take a number below the cursor (see `event_log.rs`). Items are pages of events keyed
//! by their last one (event_pages.rs); the events of a page on the far side of the cursor
//! are skipped. Filters are applied while
//! scanning, so a filtered read still returns up to `limit` matches; the scan is bounded
//! ([`EVENT_SCAN_PAGES`]) and says where it stopped, so a reader continues from there.

use dsync_domain::directory::EventFilter;
use dsync_domain::ids::{EnvironmentId, EventId};

use super::paging::ListOrder;
use crate::error::backend;
use crate::event_log::StoredEvent;
use crate::event_pages::{decode_events, sequence_range, MAX_PAGE_EVENTS};
use crate::item::{s, Item, ItemExt};
use crate::keys::*;
use crate::{Store, StoreError};

/// At most this many Queries (each of up to [`SCAN_PAGE`] items, an item a page of up to 32
/// events) are made per read: a read with a selective filter over a long log returns what it
/// found and where it stopped.
pub const EVENT_SCAN_PAGES: usize = 50;
const SCAN_PAGE: i32 = 100;
/// Items the first Query of a read asks for at most: each is a page of up to 32 events
/// (event_pages.rs), so a read of a few events does not read hundreds.
const FIRST_QUERY_ITEMS: i32 = 16;

/// Writers stamp `created_at` just before they commit, so the log's order and its timestamps
/// agree only up to clock skew and retries; time bounds are widened by this much where they
/// decide where a scan starts or stops (the exact bounds still filter every event).
const CLOCK_SLACK_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCursor {
    /// Events past this sequence number in the listing order.
    After(u64),
    /// The page just before this sequence number in the listing order.
    Before(u64),
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Which events are returned (the domain's rule; this read only applies it).
    pub filter: EventFilter,
    pub order: ListOrder,
    pub cursor: Option<EventCursor>,
    /// Validated by the caller (1–100).
    pub limit: usize,
}

impl EventQuery {
    /// Whether the log is read in ascending sequence order.
    fn ascending(&self) -> bool {
        let before = matches!(self.cursor, Some(EventCursor::Before(_)));
        (self.order == ListOrder::Asc) != before
    }

    /// Whether every event from here on in reading order is outside the time range.
    fn past_range(&self, event: &StoredEvent) -> bool {
        match self.ascending() {
            true => self
                .filter
                .range_end
                .is_some_and(|t| event.created_at > t.saturating_add(CLOCK_SLACK_MS)),
            false => self
                .filter
                .range_start
                .is_some_and(|t| event.created_at < t.saturating_sub(CLOCK_SLACK_MS)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// In listing order.
    pub events: Vec<StoredEvent>,
    /// Where to continue reading in the same direction: the last event returned when the
    /// page is full, else the last event examined (past the non-matching ones, so they are
    /// not examined again), `None` when there was nothing to examine.
    pub resume: Option<EventId>,
}

impl Store {
    pub async fn read_events(
        &self,
        environment: &EnvironmentId,
        query: &EventQuery,
    ) -> Result<EventPage, StoreError> {
        let pk = environment_pk(environment);
        let ascending = query.ascending();
        let bound = match query.cursor {
            Some(EventCursor::After(seq) | EventCursor::Before(seq)) => {
                Some((if ascending { ">" } else { "<" }, seq))
            }
            None => self.start_from_time(environment, query).await?,
        };
        let mut values = Item::from([(":pk".to_owned(), s(&pk))]);
        let condition = match bound {
            Some((op, seq)) => {
                // A page's key is its last event's number (event_pages.rs): the page holding
                // the events just below `seq` has a key up to a page's length above it.
                let key = match op {
                    "<" => seq.saturating_add(MAX_PAGE_EVENTS),
                    _ => seq,
                };
                values.insert(":seq".to_owned(), s(event_sk(key)));
                format!("pk = :pk AND sk {op} :seq")
            }
            None => "pk = :pk".to_owned(),
        };
        let within = |sequence: u64| match bound {
            Some((">", seq)) => sequence > seq,
            Some((">=", seq)) => sequence >= seq,
            Some((_, seq)) => sequence < seq,
            None => true,
        };
        let mut found = Vec::new();
        let mut examined = None;
        let mut start: Option<Item> = None;
        let mut items_per_query = (query.limit as i32).clamp(1, FIRST_QUERY_ITEMS);
        'scan: for _ in 0..EVENT_SCAN_PAGES {
            let output = self
                .client
                .query()
                .table_name(&self.tables.events)
                .key_condition_expression(&condition)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(ascending)
                .set_exclusive_start_key(start.take())
                .limit(items_per_query)
                .consistent_read(true)
                .send()
                .await
                .map_err(backend)?;
            let mut events = Vec::new();
            let items = output.items.unwrap_or_default();
            let (read, found_before) = (items.len(), found.len());
            for item in items {
                let mut page = decode_events(&item)?;
                if !ascending {
                    page.reverse();
                }
                events.extend(page.into_iter().filter(|e| within(e.sequence)));
            }
            for event in events {
                examined = Some(event.id);
                if query.past_range(&event) {
                    break 'scan;
                }
                if query.filter.matches(&event) {
                    found.push(event);
                    if found.len() >= query.limit {
                        break 'scan;
                    }
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
            let matched = found.len() - found_before;
            items_per_query =
                next_query_items(query.limit - found.len(), read, matched, items_per_query);
        }
        let resume = match found.last() {
            Some(last) if found.len() >= query.limit => Some(last.id),
            _ => examined,
        };
        if matches!(query.cursor, Some(EventCursor::Before(_))) {
            found.reverse();
        }
        Ok(EventPage {
            events: found,
            resume,
        })
    }

    /// Without a cursor, where a time range lets a scan start: ascending from the first event
    /// near `range_start`, descending from just past `range_end`.
    async fn start_from_time(
        &self,
        environment: &EnvironmentId,
        query: &EventQuery,
    ) -> Result<Option<(&'static str, u64)>, StoreError> {
        if query.ascending() {
            let Some(t) = query.filter.range_start else {
                return Ok(None);
            };
            let first = self
                .first_sequence_from(environment, t.saturating_sub(CLOCK_SLACK_MS))
                .await?;
            Ok(Some((">=", first)))
        } else {
            let Some(t) = query.filter.range_end else {
                return Ok(None);
            };
            let past = self
                .first_sequence_from(environment, t.saturating_add(CLOCK_SLACK_MS + 1))
                .await?;
            Ok(Some(("<", past)))
        }
    }

    /// The first sequence number whose event was created at `millis` or later (one past the
    /// head when there is none), by binary search over the log: O(log n) one-item Queries.
    /// Sequence numbers are dense apart from expired events at the start of the log.
    async fn first_sequence_from(
        &self,
        environment: &EnvironmentId,
        millis: i64,
    ) -> Result<u64, StoreError> {
        let (mut low, mut high) = (1u64, self.event_head(environment).await? + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.first_event_from(environment, middle).await? {
                Some((sequence, created_at)) if created_at >= millis => high = middle.min(sequence),
                Some((sequence, _)) => low = sequence + 1,
                None => high = middle,
            }
        }
        Ok(low)
    }

    /// The first event at or after `sequence`: its sequence number and `created_at`.
    async fn first_event_from(
        &self,
        environment: &EnvironmentId,
        sequence: u64,
    ) -> Result<Option<(u64, i64)>, StoreError> {
        let Some(item) = self.page_holding(environment, sequence, true).await? else {
            return Ok(None);
        };
        let created_at = item.opt_num_attr::<i64>("created_at");
        // A page's events share their time; the first of them at or after `sequence`.
        match (sequence_range(&item), created_at) {
            (Some((first, _)), Some(at)) => Ok(Some((first.max(sequence), at))),
            _ => Err(StoreError::corrupt("event without sequence or created_at")),
        }
    }
}

/// How many items the next Query of a read asks for: as many as the matches per item so far
/// say are `needed`, one more for luck; twice as many as the last when none matched (a
/// selective filter).
fn next_query_items(needed: usize, read: usize, matched: usize, previous: i32) -> i32 {
    let estimate = if matched == 0 {
        previous.saturating_mul(2)
    } else {
        i32::try_from((needed * read.max(1)).div_ceil(matched) + 1).unwrap_or(SCAN_PAGE)
    };
    estimate.clamp(1, SCAN_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_asks_for_as_many_items_as_its_matches_per_item_say() {
        // Pages of 32: 3 more events need one more page (and one for luck).
        assert_eq!(next_query_items(3, 1, 32, 1), 2);
        // One event per item: 6 more need 7.
        assert_eq!(next_query_items(6, 4, 4, 4), 7);
        // A filter nothing matched yet: twice as many, up to a full Query.
        assert_eq!(next_query_items(10, 16, 0, 16), 32);
        assert_eq!(next_query_items(10, 100, 0, 100), SCAN_PAGE);
    }
}

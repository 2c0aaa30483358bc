//! Event pages: the events one transaction commits, stored several to an item.
//!
//! An event alone is an item of about 1 KB packed (the user object it carries), and every
//! item in a transaction costs twice its size in write units, at least 2. The events a group
//! commit numbers together (a stream batch's users) repeat each other's keys, ids and
//! values, so packed together they take a fraction of that: one page holds up to
//! [`MAX_PAGE_EVENTS`] consecutive events, or [`PAGE_TEXT_BYTES`] of their JSON, as one
//! packed document.
//!
//! A page's sort key is the sequence number of its **last** event, and it carries its first
//! (`first`) beside it (`sequence`). So `after=<n>` is still one Query `sk > n`: the first
//! page it returns is the one holding `n + 1`, whose events up to `n` the reader skips. A
//! read backwards from `n` starts at `sk < n + MAX_PAGE_EVENTS` for the same reason. All
//! events of a page were committed by one transaction, so they share `created_at`.
//!
//! Items written before pages existed hold one event each (`type = event`, `sk` its own
//! sequence number) and read as a page of one.

use dsync_domain::directory::StoredEvent;
use dsync_domain::ids::{DirectoryId, EnvironmentId, EventId};
use serde::Deserialize;

use crate::event_log::EVENT_RETENTION_DAYS;
use crate::item::{document_attr, n, s, Item, ItemExt};
use crate::keys::{environment_pk, event_sk, PK, SK};
use crate::StoreError;

/// The most events a page holds; also how far past a cursor a backwards read starts. Packed
/// together, user events take about 390 bytes alone, 155 in a page of 16 and 143 in a page of
/// 32, and little less beyond: larger pages would save next to nothing and make a reader
/// that wants a few events read many more.
pub(crate) const MAX_PAGE_EVENTS: u64 = 32;
/// A page closes before its events' JSON passes this (a single larger event has a page of its
/// own): an item stays far below DynamoDB's 400 KB, and a reader never reads much past
/// what it asked for.
pub(crate) const PAGE_TEXT_BYTES: usize = 32 * 1024;
/// A page's keys, type, times and attribute names, generously.
pub(crate) const PAGE_ITEM_OVERHEAD: usize = 256;

/// How many events each page takes, for events of JSON entry sizes `sizes` in order.
pub(crate) fn page_lengths(sizes: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut pages = Vec::new();
    let (mut count, mut bytes) = (0usize, 0usize);
    for size in sizes {
        let full = count as u64 == MAX_PAGE_EVENTS || bytes + size > PAGE_TEXT_BYTES;
        if count > 0 && full {
            pages.push(count);
            (count, bytes) = (0, 0);
        }
        count += 1;
        bytes += size + 1;
    }
    if count > 0 {
        pages.push(count);
    }
    pages
}

/// The JSON of one event in a page; `data` is the event's data as written.
pub(crate) fn entry_json(event: &StoredEvent, data: &str) -> String {
    let mut entry = String::with_capacity(data.len() + 160);
    entry.push_str("{\"id\":\"");
    entry.push_str(&event.id.to_string());
    entry.push_str("\",\"sequence\":");
    entry.push_str(&event.sequence.to_string());
    entry.push_str(",\"event\":");
    entry.push_str(&json_string(&event.name));
    if let Some(directory) = &event.directory_id {
        entry.push_str(",\"directory_id\":\"");
        entry.push_str(&directory.to_string());
        entry.push('"');
    }
    if let Some(organization) = &event.organization_id {
        entry.push_str(",\"organization_id\":");
        entry.push_str(&json_string(organization));
    }
    entry.push_str(",\"data\":");
    entry.push_str(data);
    entry.push('}');
    entry
}

/// An upper bound of [`entry_json`]'s length, before the event is numbered.
pub(crate) fn entry_bytes(name: &str, data: &str, organization: Option<&str>) -> usize {
    // Ids, the sequence number, the directory id and the names around them.
    160 + name.len() + data.len() + organization.map_or(0, |o| 2 * o.len() + 24)
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The item of a page of `entries` (each an [`entry_json`], in sequence order from `first`
/// to `last`), all committed at `created_at`.
pub(crate) fn page_item(
    environment: &EnvironmentId,
    first: u64,
    last: u64,
    created_at: i64,
    entries: &[&str],
) -> Item {
    let mut text = String::with_capacity(entries.iter().map(|e| e.len() + 1).sum::<usize>() + 1);
    text.push('[');
    for (index, entry) in entries.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(entry);
    }
    text.push(']');
    Item::from([
        (PK.to_owned(), s(environment_pk(environment))),
        (SK.to_owned(), s(event_sk(last))),
        ("type".to_owned(), s("events")),
        ("environment_id".to_owned(), s(environment.to_string())),
        ("first".to_owned(), n(first)),
        ("sequence".to_owned(), n(last)),
        ("events".to_owned(), crate::packed::document(&text)),
        ("created_at".to_owned(), n(created_at)),
        (
            "expires_at".to_owned(),
            n(created_at / 1000 + EVENT_RETENTION_DAYS * 86_400),
        ),
    ])
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    sequence: u64,
    event: String,
    #[serde(default)]
    directory_id: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    data: serde_json::Value,
}

/// The events of a page's JSON text (its `events` document), committed at `created_at`.
pub fn events_of_page(text: &str, created_at: i64) -> Result<Vec<StoredEvent>, StoreError> {
    let entries: Vec<Entry> = serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt(format!("an event page is not JSON: {e}")))?;
    entries
        .into_iter()
        .map(|entry| {
            Ok(StoredEvent {
                id: EventId::parse(&entry.id)
                    .map_err(|_| StoreError::corrupt("an event page holds a bad event id"))?,
                sequence: entry.sequence,
                name: entry.event,
                data: entry.data,
                created_at,
                directory_id: entry.directory_id.and_then(|d| DirectoryId::parse(&d).ok()),
                organization_id: entry.organization_id,
            })
        })
        .collect()
}

/// The events of an item of the events table, page or single event, in sequence order.
pub fn decode_events(item: &Item) -> Result<Vec<StoredEvent>, StoreError> {
    match item.opt_str_attr("type") {
        Some("events") => {
            let text = document_attr(item, "events")?;
            events_of_page(&text, item.num_attr("created_at")?)
        }
        _ => Ok(vec![decode_single(item)?]),
    }
}

/// An event item written before pages: one event, its attributes at the top level.
fn decode_single(item: &Item) -> Result<StoredEvent, StoreError> {
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

/// The first and last sequence numbers an item of the events table holds.
pub(crate) fn sequence_range(item: &Item) -> Option<(u64, u64)> {
    let last = item.opt_num_attr("sequence")?;
    let first = match item.get("first") {
        Some(_) => item.opt_num_attr("first")?,
        None => last,
    };
    Some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_close_at_a_hundred_events_or_at_their_bytes() {
        let full = MAX_PAGE_EVENTS as usize;
        assert_eq!(page_lengths(vec![100; 2 * full + 5]), vec![full, full, 5]);
        let large = PAGE_TEXT_BYTES / 2;
        assert_eq!(page_lengths(vec![large; 5]), vec![1, 1, 1, 1, 1]);
        assert_eq!(page_lengths(vec![large - 1; 5]), vec![2, 2, 1]);
        // An event larger than a page has one of its own.
        assert_eq!(
            page_lengths(vec![10, PAGE_TEXT_BYTES * 2, 10]),
            vec![1, 1, 1]
        );
        assert!(page_lengths(Vec::new()).is_empty());
    }

    #[test]
    fn a_page_reads_back_as_its_events() {
        let environment = EnvironmentId::generate();
        let directory = DirectoryId::generate();
        let events: Vec<StoredEvent> = (7..10)
            .map(|sequence| StoredEvent {
                id: EventId::for_sequence(sequence, 1_700_000_000_000),
                sequence,
                name: "dsync.user.created".into(),
                data: serde_json::json!({"id": format!("u{sequence}"), "name": "Zoë \"Z\""}),
                created_at: 1_700_000_000_000,
                directory_id: Some(directory),
                organization_id: (sequence == 8).then(|| "org_\"quoted\"".to_owned()),
            })
            .collect();
        let entries: Vec<String> = events
            .iter()
            .map(|e| entry_json(e, &e.data.to_string()))
            .collect();
        for (event, entry) in events.iter().zip(&entries) {
            let organization = event.organization_id.as_deref();
            assert!(entry.len() <= entry_bytes(&event.name, &event.data.to_string(), organization));
        }
        let texts: Vec<&str> = entries.iter().map(String::as_str).collect();
        let item = page_item(&environment, 7, 9, 1_700_000_000_000, &texts);
        assert_eq!(decode_events(&item).unwrap(), events);
        assert_eq!(sequence_range(&item), Some((7, 9)));
    }
}

//! `GET /events`: the environment's event log, oldest first by default.
//!
//! Parameters: `events` (repeated `events=` / `events[]=`, or comma-separated), `after` /
//! `before` (event ids), `range_start` / `range_end` (RFC 3339), `limit` (1–100, default 10),
//! `order` (`asc`, the default, or `desc`), `directory_id`, `organization_id`. `after` (or
//! `before`) with `range_start` is a 400: a cursor already says where to start.
//!
//! Paging: `after=<list_metadata.after>` sees every committed event exactly once, in order.
//! `list_metadata.after` is the last event returned when the page is full, else the last
//! event examined (so events that did not match are not examined again), and `null` when there
//! was nothing to examine: a reader that keeps its cursor when it gets `null` can poll.

use bytes::Bytes;
use dsync_domain::directory::events::ALL;
use dsync_domain::directory::EventFilter;
use dsync_domain::ids::{DirectoryId, EventId};
use dsync_dynamo::{EventCursor, EventQuery, ListOrder};
use http::Response;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{stored, ApiError};
use crate::respond;
use crate::route::Context;

pub async fn serve(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let query = parse(ctx)?;
    let page = stored(ctx.app.store.read_events(&ctx.environment, &query).await)?;
    let resume = page.resume.map(|id| id.to_string());
    let (before, after) = match query.cursor {
        // Read backwards from `before`: the scan continues with an earlier `before`.
        Some(EventCursor::Before(_)) => (resume, page.events.last().map(|e| e.id.to_string())),
        _ => (None, resume),
    };
    let data = page.events.iter().map(|e| e.envelope()).collect();
    Ok(respond::list(data, before, after))
}

fn parse(ctx: &Context<'_>) -> Result<EventQuery, ApiError> {
    let q = &ctx.query;
    let names: Vec<String> = q
        .all(&["events", "events[]"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = names.iter().find(|name| !ALL.contains(&name.as_str())) {
        return Err(ApiError::invalid(format!(
            "events: unknown event {unknown}; known: {}",
            ALL.join(", ")
        )));
    }
    let after = q
        .single("after")?
        .map(|id| sequence_of("after", id))
        .transpose()?;
    let before = q
        .single("before")?
        .map(|id| sequence_of("before", id))
        .transpose()?;
    let range_start = q
        .single("range_start")?
        .map(|t| timestamp("range_start", t))
        .transpose()?;
    let range_end = q
        .single("range_end")?
        .map(|t| timestamp("range_end", t))
        .transpose()?;
    let cursor = match (after, before) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give before or after, not both")),
        (Some(seq), None) => Some(EventCursor::After(seq)),
        (None, Some(seq)) => Some(EventCursor::Before(seq)),
        (None, None) => None,
    };
    if cursor.is_some() && range_start.is_some() {
        return Err(ApiError::invalid(
            "range_start cannot be combined with after or before",
        ));
    }
    if let (Some(start), Some(end)) = (range_start, range_end) {
        if start > end {
            return Err(ApiError::invalid("range_start is later than range_end"));
        }
    }
    let directory_id = q
        .single("directory_id")?
        .map(|id| {
            DirectoryId::parse(id).map_err(|e| ApiError::invalid(format!("directory_id is {e}")))
        })
        .transpose()?;
    let organization_id = q.single("organization_id")?.map(str::to_owned);
    Ok(EventQuery {
        filter: EventFilter {
            names,
            directory_id,
            organization_id,
            range_start,
            range_end,
        },
        order: q.order(ListOrder::Asc)?,
        cursor,
        limit: q.limit()?,
    })
}

/// An event id as a cursor: its sequence number (ids carry it; no lookup needed).
fn sequence_of(name: &str, id: &str) -> Result<u64, ApiError> {
    EventId::parse(id)
        .map(|id| id.sequence())
        .map_err(|e| ApiError::invalid(format!("{name} is {e}")))
}

/// RFC 3339 (`2026-01-31T12:00:00Z`, offsets allowed) or a bare date (midnight UTC), in ms.
fn timestamp(name: &str, text: &str) -> Result<i64, ApiError> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).or_else(|_| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, &format).map(|date| date.midnight().assume_utc())
    });
    match parsed {
        Ok(t) => i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| ApiError::invalid(format!("{name} is out of range"))),
        Err(_) => Err(ApiError::invalid(format!(
            "{name} must be an ISO-8601 timestamp such as 2026-01-31T12:00:00Z"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_rfc3339_or_dates() {
        assert_eq!(timestamp("t", "1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(timestamp("t", "1970-01-02"), Ok(86_400_000));
        assert_eq!(timestamp("t", "1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(timestamp("range_start", "yesterday")
            .unwrap_err()
            .message
            .starts_with("range_start"));
    }

    #[test]
    fn event_ids_give_their_sequence() {
        let id = EventId::for_sequence(42, 1_700_000_000_000).to_string();
        assert_eq!(sequence_of("after", &id), Ok(42));
        assert!(sequence_of("after", "directory_01H").is_err());
    }
}

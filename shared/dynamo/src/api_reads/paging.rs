//! WorkOS list windows: `limit`, `order` and an object id as `before` or `after` cursor, over
//! keys that sort like the ids (ULIDs, so creation order).
//!
//! `after=<id>` continues the listing past `id` in the listing order; `before=<id>` is the
//! page just before `id` in the listing order (still returned in listing order).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::backend;
use crate::item::{s, Item};
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListOrder {
    Asc,
    /// Newest first: WorkOS's default for lists.
    #[default]
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListCursor {
    After(String),
    Before(String),
}

impl ListCursor {
    fn id(&self) -> &str {
        match self {
            Self::After(id) | Self::Before(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWindow {
    /// Validated by the caller (1–100).
    pub limit: usize,
    pub order: ListOrder,
    pub cursor: Option<ListCursor>,
}

impl ListWindow {
    /// Whether keys are read in ascending order: the listing order, flipped for `before`
    /// (which reads away from its cursor, then turns the page around).
    fn ascending(&self) -> bool {
        let before = matches!(self.cursor, Some(ListCursor::Before(_)));
        (self.order == ListOrder::Asc) != before
    }

    /// The window over a whole list held in memory (lists that are small by nature, such as
    /// an environment's directories).
    pub fn select<T>(&self, items: Vec<T>, id: impl Fn(&T) -> String) -> Page<T> {
        let mut keyed: Vec<(String, T)> = items.into_iter().map(|item| (id(&item), item)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        if !self.ascending() {
            keyed.reverse();
        }
        // Now in reading order; keep what lies strictly past the cursor.
        if let Some(cursor) = &self.cursor {
            let ascending = self.ascending();
            keyed.retain(|(key, _)| match ascending {
                true => key.as_str() > cursor.id(),
                false => key.as_str() < cursor.id(),
            });
        }
        let mut items: Vec<T> = keyed.into_iter().map(|(_, item)| item).collect();
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        self.finish(items, more)
    }

    /// Turns a page read in reading order into listing order, with its neighbours' flags.
    fn finish<T>(&self, mut items: Vec<T>, more: bool) -> Page<T> {
        match &self.cursor {
            Some(ListCursor::Before(_)) => {
                items.reverse();
                Page {
                    items,
                    has_previous: more,
                    has_next: true,
                }
            }
            cursor => Page {
                items,
                has_previous: cursor.is_some(),
                has_next: more,
            },
        }
    }
}

/// One page in listing order. The flags say whether a `before` / `after` cursor leads
/// anywhere (`has_previous` after an `after` cursor is assumed: the cursor itself was there).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<T> Page<T> {
    pub(crate) fn map_items<U>(self, items: Vec<U>) -> Page<U> {
        Page {
            items,
            has_previous: self.has_previous,
            has_next: self.has_next,
        }
    }
}

/// A list stored as one key partition whose sort keys are `key_prefix` + an object id.
pub(crate) struct KeyedList<'a> {
    pub table: &'a str,
    /// `None`: the table itself.
    pub index: Option<&'a str>,
    pub hash_attribute: &'a str,
    pub hash_value: String,
    pub range_attribute: &'a str,
    /// What the sort key holds before the id (`DMEMBER#`, or nothing on the GSIs).
    pub key_prefix: &'a str,
    /// The ids' own prefix (`directory_user_`): bounds the list within its partition.
    pub id_prefix: &'a str,
    /// Only the table (not an index) can be read consistently.
    pub consistent: bool,
}

impl Store {
    /// The window's items of a keyed list, in listing order: one Query (more only when a
    /// page hits the 1 MB cap), reading `limit + 1` items to learn whether more follow.
    pub(crate) async fn query_window(
        &self,
        list: &KeyedList<'_>,
        window: &ListWindow,
    ) -> Result<Page<Item>, StoreError> {
        let lowest = format!("{}{}", list.key_prefix, list.id_prefix);
        let cursor = window
            .cursor
            .as_ref()
            .map(|c| format!("{}{}", list.key_prefix, c.id()));
        // BETWEEN is inclusive, so the cursor's own item is read and skipped below.
        let (condition, low, high) = match &cursor {
            None => ("#h = :h AND begins_with(#r, :low)", lowest, None),
            Some(c) if window.ascending() => (
                "#h = :h AND #r BETWEEN :low AND :high",
                c.clone(),
                Some(upper_bound(&lowest)),
            ),
            Some(c) => (
                "#h = :h AND #r BETWEEN :low AND :high",
                lowest,
                Some(c.clone()),
            ),
        };
        let mut values = Item::from([
            (":h".to_owned(), s(&list.hash_value)),
            (":low".to_owned(), s(low)),
        ]);
        if let Some(high) = high {
            values.insert(":high".to_owned(), s(high));
        }
        let wanted = window.limit + 1;
        let mut items = Vec::with_capacity(wanted);
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(list.table)
                .set_index_name(list.index.map(str::to_owned))
                .key_condition_expression(condition)
                .expression_attribute_names("#h", list.hash_attribute)
                .expression_attribute_names("#r", list.range_attribute)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(window.ascending())
                .set_exclusive_start_key(start)
                // One more than needed: the cursor's own item may be among them.
                .limit(i32::try_from(wanted - items.len() + 1).unwrap_or(i32::MAX))
                .consistent_read(list.consistent)
                .send()
                .await
                .map_err(backend)?;
            for item in output.items.unwrap_or_default() {
                let key = match item.get(list.range_attribute) {
                    Some(AttributeValue::S(key)) => key.as_str(),
                    _ => continue,
                };
                if Some(key) != cursor.as_deref() && items.len() < wanted {
                    items.push(item);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() && items.len() < wanted => start = Some(key),
                _ => break,
            }
        }
        let more = items.len() > window.limit;
        items.truncate(window.limit);
        Ok(window.finish(items, more))
    }
}

/// The smallest string above every string that starts with `prefix` (prefixes are ASCII).
fn upper_bound(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last = last.saturating_add(1);
    }
    String::from_utf8(bytes).unwrap_or_else(|_| format!("{prefix}\u{7f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(limit: usize, order: ListOrder, cursor: Option<ListCursor>) -> ListWindow {
        ListWindow {
            limit,
            order,
            cursor,
        }
    }

    fn ids(page: &Page<&str>) -> Vec<String> {
        page.items.iter().map(|s| s.to_string()).collect()
    }

    const ITEMS: [&str; 5] = ["a1", "a2", "a3", "a4", "a5"];

    #[test]
    fn in_memory_windows_follow_workos_cursor_semantics() {
        let all = || ITEMS.to_vec();
        let page = window(2, ListOrder::Desc, None).select(all(), |s| s.to_string());
        assert_eq!(ids(&page), ["a5", "a4"]);
        assert!(!page.has_previous && page.has_next);

        let page = window(2, ListOrder::Desc, Some(ListCursor::After("a4".into())))
            .select(all(), |s| s.to_string());
        assert_eq!(ids(&page), ["a3", "a2"]);
        assert!(page.has_previous && page.has_next);

        let page = window(2, ListOrder::Desc, Some(ListCursor::Before("a2".into())))
            .select(all(), |s| s.to_string());
        assert_eq!(ids(&page), ["a4", "a3"]);
        assert!(page.has_previous && page.has_next);

        let page = window(10, ListOrder::Asc, Some(ListCursor::After("a3".into())))
            .select(all(), |s| s.to_string());
        assert_eq!(ids(&page), ["a4", "a5"]);
        assert!(!page.has_next);

        let page = window(2, ListOrder::Asc, Some(ListCursor::Before("a2".into())))
            .select(all(), |s| s.to_string());
        assert_eq!(ids(&page), ["a1"]);
        assert!(!page.has_previous && page.has_next);
    }

    #[test]
    fn upper_bound_is_above_every_key_with_the_prefix() {
        let bound = upper_bound("directory_user_");
        assert!("directory_user_01ZZZZ" < bound.as_str());
        assert!("directory_user_" < bound.as_str());
        assert!(!bound.starts_with("directory_user_"));
        assert_eq!(upper_bound("DMEMBER#"), "DMEMBER$");
    }
}

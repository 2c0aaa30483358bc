//! List requests: filter, `startIndex`/`count` paging in a stable order, attribute selection.

use std::collections::HashMap;

use dsync_domain::scim::attributes::AttributeSelection;
use dsync_domain::scim::filter::Filter;
use dsync_domain::scim::list::{list_response, ListQuery};
use dsync_domain::scim::render::{render_group, render_user};
use dsync_domain::scim::ScimError;
use dsync_dynamo::{RecordKind, StoreError};
use serde_json::Value;

use crate::respond::store_error;
use crate::route::Context;

/// Items read from storage per query while walking a directory.
pub const PAGE_SIZE: i32 = 200;

pub struct Listing {
    pub filter: Option<Filter>,
    start_index: usize,
    count: usize,
    selection: AttributeSelection,
}

/// A filter no key serves walks the directory; past this many records it is refused with
/// 400 `tooMany` before reading anything. At a few KB per record that walk is some hundred
/// 1 MB Query pages, seconds, well inside API Gateway's 29 s (docs/limits.md).
pub const MAX_FILTER_SCAN: u64 = 50_000;

impl Listing {
    pub fn parse(ctx: &Context<'_>) -> Result<Self, ScimError> {
        Self::from_params(&ctx.route.query)
    }

    /// From list parameters, names lowercased: a GET's query or a `.search` body.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, ScimError> {
        let query = ListQuery::from_params(params)?;
        Ok(Self {
            filter: query.filter.as_deref().map(Filter::parse).transpose()?,
            start_index: query.start_index,
            count: query.count,
            selection: AttributeSelection::parse(
                params.get("attributes").map(String::as_str),
                params.get("excludedattributes").map(String::as_str),
            )?,
        })
    }

    /// 1-based.
    pub fn start_index(&self) -> u64 {
        self.start_index as u64
    }

    pub fn count(&self) -> u64 {
        self.count as u64
    }

    /// A page read by position: `total` counted apart, `page` already the window.
    pub fn page_response(&self, total: u64, page: impl Iterator<Item = Value>) -> Value {
        let window = page
            .map(|mut resource| {
                self.selection.apply(&mut resource);
                resource
            })
            .collect();
        list_response(total as usize, self.start_index, window)
    }

    /// An unfiltered page: the directory's count of `kind` (its `totalResults`) and the
    /// records `read(start_index, count)` finds by position. The page does not depend on
    /// the count, so both are read at once.
    pub async fn counted_page<T, Page>(
        &self,
        ctx: &Context<'_>,
        kind: RecordKind,
        read: impl FnOnce(u64, u64) -> Page,
    ) -> Result<(u64, Vec<T>), ScimError>
    where
        Page: std::future::Future<Output = Result<Vec<T>, StoreError>>,
    {
        let page = async {
            match self.count() {
                0 => Ok(Vec::new()),
                count => read(self.start_index(), count).await,
            }
        };
        let total = ctx.app.store.record_count(&ctx.directory.id, kind);
        let (total, page) = tokio::join!(total, page);
        Ok((total.map_err(store_error)?, page.map_err(store_error)?))
    }

    /// Refuses a filter that would walk more than [`MAX_FILTER_SCAN`] records.
    pub fn check_scan(&self, records: u64, what: &str) -> Result<(), ScimError> {
        if records > MAX_FILTER_SCAN {
            return Err(ScimError::too_many(format!(
                "this filter needs a walk of all {records} {what}, more than {MAX_FILTER_SCAN}; \
                 filter by id, externalId or {} eq instead",
                if what == "groups" {
                    "displayName"
                } else {
                    "userName"
                }
            )));
        }
        Ok(())
    }

    /// Walks candidates in order, keeping only the requested window: memory is bounded by
    /// `count`, not by the directory.
    pub fn collector(&self) -> Collector<'_> {
        Collector {
            listing: self,
            matched: 0,
            window: Vec::new(),
        }
    }

    pub fn respond(&self, candidates: impl Iterator<Item = Value>) -> Value {
        let mut collector = self.collector();
        candidates.for_each(|c| collector.offer(c));
        collector.finish()
    }
}

pub struct Collector<'a> {
    listing: &'a Listing,
    matched: usize,
    window: Vec<Value>,
}

impl Collector<'_> {
    pub fn offer(&mut self, mut resource: Value) {
        if let Some(filter) = &self.listing.filter {
            if !filter.matches(&resource) {
                return;
            }
        }
        self.matched += 1;
        let first = self.listing.start_index;
        if self.matched >= first && self.matched < first + self.listing.count {
            self.listing.selection.apply(&mut resource);
            self.window.push(resource);
        }
    }

    pub fn finish(self) -> Value {
        list_response(self.matched, self.listing.start_index, self.window)
    }
}

/// Offers every user of the directory to `collector`, a storage page at a time: the walk of a
/// filtered list, bounded beforehand by [`Listing::check_scan`].
pub async fn offer_every_user(
    ctx: &Context<'_>,
    collector: &mut Collector<'_>,
) -> Result<(), ScimError> {
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .app
            .store
            .list_users(&ctx.directory.id, after.as_deref(), PAGE_SIZE)
            .await
            .map_err(store_error)?;
        for user in &page.users {
            collector.offer(render_user(user, &ctx.route.base_url, None));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// Offers every group of the directory to `collector`, as [`offer_every_user`] does users.
pub async fn offer_every_group(
    ctx: &Context<'_>,
    collector: &mut Collector<'_>,
) -> Result<(), ScimError> {
    let mut after: Option<String> = None;
    loop {
        let (groups, next) = ctx
            .app
            .store
            .list_groups(&ctx.directory.id, after.as_deref(), PAGE_SIZE)
            .await
            .map_err(store_error)?;
        for group in &groups {
            collector.offer(render_group(group, &ctx.route.base_url, None));
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

pub fn selection(ctx: &Context<'_>) -> Result<AttributeSelection, ScimError> {
    AttributeSelection::parse(ctx.query("attributes"), ctx.query("excludedAttributes"))
}

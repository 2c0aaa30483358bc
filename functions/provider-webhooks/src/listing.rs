//! List requests: filter, `startIndex`/`count` paging in a stable order, attribute selection.

use dsync_domain::scim::attributes::AttributeSelection;
use dsync_domain::scim::filter::Filter;
use dsync_domain::scim::list::{list_response, ListQuery};
use dsync_domain::scim::ScimError;
use serde_json::Value;

use crate::route::Context;

/// Items read from storage per query while walking a directory.
pub const PAGE_SIZE: i32 = 200;

pub struct Listing {
    pub filter: Option<Filter>,
    start_index: usize,
    count: usize,
    selection: AttributeSelection,
}

impl Listing {
    pub fn parse(ctx: &Context<'_>) -> Result<Self, ScimError> {
        let query = ListQuery::from_params(&ctx.route.query)?;
        Ok(Self {
            filter: query.filter.as_deref().map(Filter::parse).transpose()?,
            start_index: query.start_index,
            count: query.count,
            selection: selection(ctx)?,
        })
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

pub fn selection(ctx: &Context<'_>) -> Result<AttributeSelection, ScimError> {
    AttributeSelection::parse(ctx.query("attributes"), ctx.query("excludedAttributes"))
}

//! `POST /.search`, `/Users/.search`, `/Groups/.search` (RFC 7644 §3.4.3): list requests whose
//! parameters come in a `SearchRequest` body, answered exactly as the GET lists are.

use std::collections::HashMap;

use bytes::Bytes;
use dsync_domain::model::{ProviderGroup, ProviderUser};
use dsync_domain::scim::render::{render_group, render_user};
use dsync_domain::scim::ScimError;
use dsync_dynamo::RecordKind;
use http::{Response, StatusCode};
use serde_json::Value;

use crate::listing::{self, Listing};
use crate::respond::{self, store_error};
use crate::route::Context;
use crate::{body, groups, users};

pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Which resources a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Users,
    Groups,
    /// The server root: users, then groups.
    All,
}

pub async fn serve(ctx: &Context<'_>, scope: Scope) -> Result<Response<Bytes>, ScimError> {
    if ctx.request.method() != http::Method::POST {
        return Err(ScimError::method_not_allowed());
    }
    let listing = Listing::from_params(&params_of(&body::json(ctx.request)?)?)?;
    let body = match scope {
        Scope::Users => users::list_body(ctx, &listing).await?,
        Scope::Groups => groups::list_body(ctx, &listing).await?,
        Scope::All => all(ctx, &listing).await?,
    };
    Ok(respond::json(StatusCode::OK, &body))
}

/// The body's parameters under the names a GET query uses (lowercased); `attributes` and
/// `excludedAttributes` may be arrays or comma-separated strings.
pub fn params_of(body: &Value) -> Result<HashMap<String, String>, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest is a JSON object"))?;
    if let Some(schemas) = object.get("schemas") {
        let named = schemas
            .as_array()
            .is_some_and(|list| list.iter().any(|s| s == SEARCH_REQUEST_SCHEMA));
        if !named {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {SEARCH_REQUEST_SCHEMA}"
            )));
        }
    }
    let mut params = HashMap::new();
    for (name, value) in object {
        let key = name.to_ascii_lowercase();
        let text = match (key.as_str(), value) {
            ("schemas", _) | (_, Value::Null) => continue,
            ("attributes" | "excludedattributes", Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        ScimError::invalid_value(format!("{name} must list attribute names"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            (_, Value::String(text)) => text.clone(),
            (_, Value::Number(number)) => number.to_string(),
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{name} has the wrong type"
                )))
            }
        };
        params.insert(key, text);
    }
    Ok(params)
}

/// Users then groups, one position space: without a filter each part is read by position
/// (O(count)); a filter walks both, bounded like any list.
async fn all(ctx: &Context<'_>, listing: &Listing) -> Result<Value, ScimError> {
    let store = &ctx.app.store;
    let directory = &ctx.directory.id;
    let base = &ctx.route.base_url;
    let render_user = |user: &ProviderUser| render_user(user, base, None);
    let render_group = |group: &ProviderGroup| render_group(group, base, None);
    let count_of = |kind| async move {
        store
            .record_count(directory, kind)
            .await
            .map_err(store_error)
    };
    let users = count_of(RecordKind::Users).await?;
    let groups = count_of(RecordKind::Groups).await?;
    if listing.filter.is_none() {
        let (start, count) = (listing.start_index(), listing.count());
        let mut page = Vec::new();
        if start <= users && count > 0 {
            let found = store
                .users_at(directory, start, count.min(users - start + 1))
                .await
                .map_err(store_error)?;
            page.extend(found.iter().map(render_user));
        }
        let left = count.saturating_sub(page.len() as u64);
        if left > 0 {
            let from = start.saturating_sub(users).max(1);
            let found = store
                .groups_at(directory, from, left)
                .await
                .map_err(store_error)?;
            page.extend(found.iter().map(render_group));
        }
        return Ok(listing.page_response(users + groups, page.into_iter()));
    }
    listing.check_scan(users + groups, "users and groups")?;
    let mut collector = listing.collector();
    listing::offer_every_user(ctx, &mut collector).await?;
    listing::offer_every_group(ctx, &mut collector).await?;
    Ok(collector.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_parameters_read_like_query_parameters() {
        let params = params_of(&json!({
            "schemas": [SEARCH_REQUEST_SCHEMA],
            "filter": "userName eq \"ann\"",
            "startIndex": 11,
            "count": 5,
            "attributes": ["userName", "emails"],
            "sortBy": null
        }))
        .unwrap();
        assert_eq!(params["filter"], "userName eq \"ann\"");
        assert_eq!(params["startindex"], "11");
        assert_eq!(params["count"], "5");
        assert_eq!(params["attributes"], "userName,emails");
        assert!(!params.contains_key("sortby"));
    }

    #[test]
    fn a_body_of_another_message_is_refused() {
        let error = params_of(&json!({"schemas": ["urn:other"]})).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(params_of(&json!([1])).unwrap_err().status, 400);
    }
}

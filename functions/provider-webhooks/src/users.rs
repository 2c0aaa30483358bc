//! `/Users`: create, read, list, replace, patch, delete.

use bytes::Bytes;
use dsync_domain::ids::ProviderUserId;
use dsync_domain::model::{inactive_since_after_write, ProviderUser};
use dsync_domain::scim::filter::Filter;
use dsync_domain::scim::render::render_user;
use dsync_domain::scim::resource::{normalize, user_summary};
use dsync_domain::scim::schema::ResourceKind;
use dsync_domain::scim::{patch, ScimError};
use dsync_domain::time::now_millis;
use dsync_dynamo::{RecordKind, StoreError};
use http::{Method, Response, StatusCode};
use serde_json::Value;

use crate::listing::{self, Listing};
use crate::respond::{self, store_error};
use crate::retry::{Attempts, Outcome};
use crate::route::Context;
use crate::{body, limits};

pub async fn serve(ctx: &Context<'_>, id: Option<&str>) -> Result<Response<Bytes>, ScimError> {
    match (ctx.request.method().clone(), id) {
        (Method::GET, None) => list(ctx).await,
        (Method::POST, None) => create(ctx).await,
        (Method::GET, Some(id)) => get(ctx, id).await,
        (Method::PUT, Some(id)) => replace(ctx, id).await,
        (Method::PATCH, Some(id)) => patch(ctx, id).await,
        (Method::DELETE, Some(id)) => delete(ctx, id).await,
        _ => Err(ScimError::method_not_allowed()),
    }
}

async fn create(ctx: &Context<'_>) -> Result<Response<Bytes>, ScimError> {
    let resource = normalize(ResourceKind::User, body::json(ctx.request)?)?.resource;
    let now = now_millis();
    let user = build_user(ctx, ProviderUserId::generate(), resource, None, 1, now, now)?;
    match ctx.app.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Duplicate) => return Err(duplicate_user_name()),
        Err(e) => return Err(store_error(e)),
    }
    tracing::info!(provider_user_id = %user.id, "user created");
    let body = render_user(&user, &ctx.route.base_url, Some(&[]));
    let location = body["meta"]["location"].as_str().map(str::to_owned);
    Ok(respond::resource(
        StatusCode::CREATED,
        &body,
        user.version,
        location.as_deref(),
    ))
}

async fn get(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    respond_with(ctx, id, load(ctx, id)).await
}

async fn list(ctx: &Context<'_>) -> Result<Response<Bytes>, ScimError> {
    let listing = Listing::parse(ctx)?;
    Ok(respond::json(
        StatusCode::OK,
        &list_body(ctx, &listing).await?,
    ))
}

/// A list or `.search` answer. `userName eq`, `externalId eq` and `id eq` are key lookups;
/// without a filter the page is read by position and `totalResults` is the directory's
/// counter, so the cost is O(count) whatever the directory's size; any other filter walks
/// the directory, up to [`listing::MAX_FILTER_SCAN`] users.
pub async fn list_body(ctx: &Context<'_>, listing: &Listing) -> Result<Value, ScimError> {
    let store = &ctx.app.store;
    let directory = &ctx.directory.id;
    let base = &ctx.route.base_url;
    let render = |user: &ProviderUser| render_user(user, base, None);
    if let Some(mut users) = key_lookup(ctx, listing.filter.as_ref()).await? {
        users.sort_by_key(|u| u.id);
        return Ok(listing.respond(users.iter().map(render)));
    }
    if listing.filter.is_none() {
        let (total, users) = listing
            .counted_page(ctx, RecordKind::Users, |start, count| {
                store.users_at(directory, start, count)
            })
            .await?;
        return Ok(listing.page_response(total, users.iter().map(render)));
    }
    let total = store
        .record_count(directory, RecordKind::Users)
        .await
        .map_err(store_error)?;
    listing.check_scan(total, "users")?;
    let mut collector = listing.collector();
    listing::offer_every_user(ctx, &mut collector).await?;
    Ok(collector.finish())
}

async fn key_lookup(
    ctx: &Context<'_>,
    filter: Option<&Filter>,
) -> Result<Option<Vec<ProviderUser>>, ScimError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let store = &ctx.app.store;
    let directory = &ctx.directory.id;
    for (path, value) in filter.key_conjuncts() {
        if path.is("userName") {
            let found = store
                .find_user_by_user_name(directory, value)
                .await
                .map_err(store_error)?;
            return Ok(Some(found.into_iter().collect()));
        }
        if path.is("externalId") {
            let found = store
                .find_users_by_external_id(directory, value)
                .await
                .map_err(store_error)?;
            return Ok(Some(found));
        }
        if path.is("id") {
            let Ok(id) = ProviderUserId::parse(value) else {
                return Ok(Some(Vec::new()));
            };
            return match store.get_user(directory, &id).await {
                Ok(user) => Ok(Some(vec![user])),
                Err(StoreError::NotFound) => Ok(Some(Vec::new())),
                Err(e) => Err(store_error(e)),
            };
        }
    }
    Ok(None)
}

async fn replace(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let resource = normalize(ResourceKind::User, body::json(ctx.request)?)?.resource;
    respond_with(ctx, id, update(ctx, id, |_| Ok(resource.clone()))).await
}

async fn patch(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let request = patch::parse_patch(&body::json(ctx.request)?)?;
    let patched = update(ctx, id, |current| {
        patch::patched_user(current.resource.clone(), &request)
    });
    respond_with(ctx, id, patched).await
}

async fn delete(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let mut attempts = Attempts::new(ctx.if_match().is_some());
    loop {
        let user = load(ctx, id).await?;
        ctx.check_if_match(user.version)?;
        match attempts.judge(ctx.app.store.delete_user(&user).await)? {
            Outcome::Done(()) => break,
            Outcome::Retry => attempts.pause().await?,
        }
    }
    tracing::info!(provider_user_id = id, "user deleted");
    Ok(respond::no_content())
}

/// Read, change, write under the version condition; on a lost race read again and re-apply,
/// so concurrent PATCHes never lose an update. With `If-Match` a lost race is a 412.
async fn update(
    ctx: &Context<'_>,
    id: &str,
    change: impl Fn(&ProviderUser) -> Result<Value, ScimError>,
) -> Result<ProviderUser, ScimError> {
    let mut attempts = Attempts::new(ctx.if_match().is_some());
    loop {
        let current = load(ctx, id).await?;
        ctx.check_if_match(current.version)?;
        let resource = normalize(ResourceKind::User, change(&current)?)?.resource;
        if resource == current.resource {
            return Ok(current);
        }
        let next = build_user(
            ctx,
            current.id,
            resource,
            Some(&current),
            current.version + 1,
            current.created_at,
            now_millis().max(current.updated_at),
        )?;
        match ctx.app.store.replace_user(&next, &current).await {
            Err(StoreError::Duplicate) => return Err(duplicate_user_name()),
            result => match attempts.judge(result)? {
                Outcome::Done(()) => return Ok(next),
                Outcome::Retry => attempts.pause().await?,
            },
        }
    }
}

/// The user `work` reads or writes, with its groups. A user's groups do not change with its
/// own record, so they are read beside `work`, not after it: one round trip fewer in sequence
/// for a GET, a PUT or a PATCH.
async fn respond_with(
    ctx: &Context<'_>,
    id: &str,
    work: impl std::future::Future<Output = Result<ProviderUser, ScimError>>,
) -> Result<Response<Bytes>, ScimError> {
    let groups = async {
        match ProviderUserId::parse(id) {
            Ok(id) => {
                ctx.app
                    .store
                    .live_groups_of_user(&ctx.directory.id, &id)
                    .await
            }
            Err(_) => Ok(Vec::new()),
        }
    };
    // Boxed: joined inline, the read-or-write loop's future would make this one large enough
    // to overflow a debug build's stack where handlers are polled without a task of their own.
    let (user, groups) = tokio::join!(Box::pin(work), groups);
    let user = user?;
    let groups = groups.map_err(store_error)?;
    let mut body = render_user(&user, &ctx.route.base_url, Some(&groups));
    listing::selection(ctx)?.apply(&mut body);
    Ok(respond::resource(StatusCode::OK, &body, user.version, None))
}

async fn load(ctx: &Context<'_>, id: &str) -> Result<ProviderUser, ScimError> {
    let not_found = || ScimError::not_found(format!("no user {id}"));
    let id = ProviderUserId::parse(id).map_err(|_| not_found())?;
    match ctx.app.store.get_user(&ctx.directory.id, &id).await {
        Ok(user) => Ok(user),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(store_error(e)),
    }
}

/// `previous`: the record this write replaces (`None` on create), whose `inactive_since`
/// carries over while the user stays inactive.
fn build_user(
    ctx: &Context<'_>,
    id: ProviderUserId,
    resource: Value,
    previous: Option<&ProviderUser>,
    version: u64,
    created_at: i64,
    updated_at: i64,
) -> Result<ProviderUser, ScimError> {
    limits::check_user(&resource, &id)?;
    let summary = user_summary(&resource);
    limits::check_key_value("userName", &summary.user_name)?;
    if let Some(external_id) = &summary.external_id {
        limits::check_key_value("externalId", external_id)?;
    }
    Ok(ProviderUser {
        id,
        directory_id: ctx.directory.id,
        version,
        user_name: summary.user_name,
        external_id: summary.external_id,
        active: summary.active,
        inactive_since: inactive_since_after_write(previous, summary.active, updated_at),
        resource,
        created_at,
        updated_at,
    })
}

fn duplicate_user_name() -> ScimError {
    ScimError::uniqueness("userName is already taken in this directory")
}

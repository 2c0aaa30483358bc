//! `/Groups`: create, read, list, replace, patch, delete; memberships as separate items.

use bytes::Bytes;
use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
use dsync_domain::model::ProviderGroup;
use dsync_domain::scim::attributes::AttributeSelection;
use dsync_domain::scim::filter::{AttrPath, Filter};
use dsync_domain::scim::patch::{self, MemberChange};
use dsync_domain::scim::render::render_group;
use dsync_domain::scim::resource::{group_summary, normalize};
use dsync_domain::scim::schema::ResourceKind;
use dsync_domain::scim::ScimError;
use dsync_domain::time::now_millis;
use dsync_dynamo::{GroupState, RecordKind, StoreError, MEMBER_WRITE_LEASE_MS};
use http::{Method, Response, StatusCode};
use serde_json::Value;

use crate::listing::{self, Listing};
use crate::members::MemberPlan;
use crate::respond::{self, store_error};
use crate::retry::{Attempts, Outcome};
use crate::route::Context;
use crate::{body, limits};

/// The most members a group response lists: with values, 256-byte displays and `$ref`s
/// that is under 3 MB.
pub const MAX_LISTED_MEMBERS: usize = 5_000;

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
    let normalized = normalize(ResourceKind::Group, body::json(ctx.request)?)?;
    let now = now_millis();
    let group = build_group(
        ctx,
        ProviderGroupId::generate(),
        normalized.resource,
        1,
        now,
        now,
    )?;
    let mut plan = MemberPlan::for_new_group(group.id);
    plan.add(normalized.members.unwrap_or_default());
    let diff = plan.finish(ctx).await?;
    ctx.app
        .store
        .create_group(&group, &diff, now)
        .await
        .map_err(store_error)?;
    tracing::info!(provider_group_id = %group.id, members = diff.add.len(), "group created");
    respond_with(ctx, &group, StatusCode::CREATED).await
}

async fn get(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let group = load(ctx, id).await?;
    respond_with(ctx, &group, StatusCode::OK).await
}

async fn list(ctx: &Context<'_>) -> Result<Response<Bytes>, ScimError> {
    let listing = Listing::parse(ctx)?;
    Ok(respond::json(
        StatusCode::OK,
        &list_body(ctx, &listing).await?,
    ))
}

/// A list or `.search` answer, as for users: key lookups, pages by position with a counted
/// total, or a bounded walk for other filters. Members are left out of lists: a page of
/// large groups would be unbounded.
pub async fn list_body(ctx: &Context<'_>, listing: &Listing) -> Result<Value, ScimError> {
    let store = &ctx.app.store;
    let directory = &ctx.directory.id;
    let base = &ctx.route.base_url;
    let render = |group: &ProviderGroup| render_group(group, base, None);
    if let Some(mut groups) = key_lookup(ctx, listing.filter.as_ref()).await? {
        groups.sort_by_key(|g| g.id);
        return Ok(listing.respond(groups.iter().map(render)));
    }
    if listing.filter.is_none() {
        let (total, groups) = listing
            .counted_page(ctx, RecordKind::Groups, |start, count| {
                store.groups_at(directory, start, count)
            })
            .await?;
        return Ok(listing.page_response(total, groups.iter().map(render)));
    }
    let total = store
        .record_count(directory, RecordKind::Groups)
        .await
        .map_err(store_error)?;
    listing.check_scan(total, "groups")?;
    let mut collector = listing.collector();
    listing::offer_every_group(ctx, &mut collector).await?;
    Ok(collector.finish())
}

async fn key_lookup(
    ctx: &Context<'_>,
    filter: Option<&Filter>,
) -> Result<Option<Vec<ProviderGroup>>, ScimError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let store = &ctx.app.store;
    let directory = &ctx.directory.id;
    for (path, value) in filter.key_conjuncts() {
        if path.is("displayName") {
            return store
                .find_groups_by_display_name(directory, value)
                .await
                .map(Some)
                .map_err(store_error);
        }
        if path.is("externalId") {
            return store
                .find_groups_by_external_id(directory, value)
                .await
                .map(Some)
                .map_err(store_error);
        }
        if path.is("id") {
            let Ok(id) = ProviderGroupId::parse(value) else {
                return Ok(Some(Vec::new()));
            };
            return match store.get_group(directory, &id).await {
                Ok(group) => Ok(Some(vec![group])),
                Err(StoreError::NotFound) => Ok(Some(Vec::new())),
                Err(e) => Err(store_error(e)),
            };
        }
    }
    Ok(None)
}

async fn replace(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let normalized = normalize(ResourceKind::Group, body::json(ctx.request)?)?;
    let members = normalized.members;
    let resource = normalized.resource;
    let group = update(ctx, id, |_| {
        let changes = match &members {
            Some(members) => vec![MemberChange::ReplaceAll(members.clone())],
            None => Vec::new(),
        };
        Ok((resource.clone(), changes))
    })
    .await?;
    respond_with(ctx, &group, StatusCode::OK).await
}

async fn patch(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let request = patch::parse_patch(&body::json(ctx.request)?)?;
    let group = update(ctx, id, |current| {
        patch::patched_group(current.resource.clone(), &request)
    })
    .await?;
    respond_with(ctx, &group, StatusCode::OK).await
}

async fn delete(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ScimError> {
    let mut attempts = Attempts::new(ctx.if_match().is_some());
    let store = &ctx.app.store;
    loop {
        let state = load_state(ctx, id).await?;
        if state.deleting {
            // A deletion that stopped half-way: this request finishes its sweep.
            store
                .finish_group_deletion(&ctx.directory.id, &state.group.id)
                .await
                .map_err(store_error)?;
            break;
        }
        ctx.check_if_match(state.group.version)?;
        match attempts.judge(store.delete_group(&state.group).await)? {
            Outcome::Done(()) => break,
            Outcome::Retry => attempts.pause().await?,
        }
    }
    tracing::info!(provider_group_id = id, "group deleted");
    Ok(respond::no_content())
}

/// Read, change, write under the version condition, retrying lost races from a fresh read.
async fn update(
    ctx: &Context<'_>,
    id: &str,
    change: impl Fn(&ProviderGroup) -> Result<(Value, Vec<MemberChange>), ScimError>,
) -> Result<ProviderGroup, ScimError> {
    let mut attempts = Attempts::new(ctx.if_match().is_some());
    loop {
        let current = load_settled(ctx, id).await?;
        ctx.check_if_match(current.version)?;
        let (resource, changes) = change(&current)?;
        let resource = normalize(ResourceKind::Group, resource)?.resource;
        let diff = MemberPlan::resolve(ctx, &current, changes).await?;
        if resource == current.resource && diff.is_empty() {
            return Ok(current);
        }
        let next = build_group(
            ctx,
            current.id,
            resource,
            current.version + 1,
            current.created_at,
            now_millis().max(current.updated_at),
        )?;
        let now = now_millis();
        match attempts.judge(
            ctx.app
                .store
                .replace_group(&next, &current, &diff, now)
                .await,
        )? {
            Outcome::Done(()) => return Ok(next),
            Outcome::Retry => attempts.pause().await?,
        }
    }
}

async fn respond_with(
    ctx: &Context<'_>,
    group: &ProviderGroup,
    status: StatusCode,
) -> Result<Response<Bytes>, ScimError> {
    let selection = listing::selection(ctx)?;
    // Entra asks for groups with `excludedAttributes=members`: skip reading them at all.
    let members = if leaves_out_members(&selection) {
        None
    } else {
        listed_members(ctx, group).await?
    };
    let mut body = render_group(group, &ctx.route.base_url, members.as_deref());
    selection.apply(&mut body);
    let location = (status == StatusCode::CREATED)
        .then(|| body["meta"]["location"].as_str().map(str::to_owned))
        .flatten();
    Ok(respond::resource(
        status,
        &body,
        group.version,
        location.as_deref(),
    ))
}

/// A group's members for a response, or `None` when it has more than
/// [`MAX_LISTED_MEMBERS`]: the response then leaves `members` out (as for
/// `excludedAttributes=members`) so it stays far below Lambda's 6 MB payload limit, and reads
/// at most that many items whatever the group's size.
async fn listed_members(
    ctx: &Context<'_>,
    group: &ProviderGroup,
) -> Result<Option<Vec<(ProviderUserId, Option<String>)>>, ScimError> {
    let mut members = Vec::new();
    let mut after = None;
    loop {
        let room = MAX_LISTED_MEMBERS + 1 - members.len();
        let page = ctx
            .app
            .store
            .list_members(&group.directory_id, &group.id, after, room.min(1000) as i32)
            .await
            .map_err(store_error)?;
        members.extend(page.members);
        if members.len() > MAX_LISTED_MEMBERS {
            tracing::info!(provider_group_id = %group.id, "members left out of a large group");
            return Ok(None);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(Some(members)),
        }
    }
}

/// The group with any multi-transaction membership change on it finished (or its lease run
/// out), so this writer's member diff is computed from settled memberships.
async fn load_settled(ctx: &Context<'_>, id: &str) -> Result<ProviderGroup, ScimError> {
    // Waits at most a lease and a little: the writer holding it either finishes or expires.
    let deadline = now_millis() + MEMBER_WRITE_LEASE_MS + 5_000;
    loop {
        let state = load_state(ctx, id).await?;
        if state.deleting {
            return Err(ScimError::not_found(format!("no group {id}")));
        }
        let now = now_millis();
        match state.busy_until {
            Some(until) if until > now && now < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            _ => return Ok(state.group),
        }
    }
}

async fn load_state(ctx: &Context<'_>, id: &str) -> Result<GroupState, ScimError> {
    let not_found = || ScimError::not_found(format!("no group {id}"));
    let id = ProviderGroupId::parse(id).map_err(|_| not_found())?;
    match ctx.app.store.get_group_state(&ctx.directory.id, &id).await {
        Ok(state) => Ok(state),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(store_error(e)),
    }
}

async fn load(ctx: &Context<'_>, id: &str) -> Result<ProviderGroup, ScimError> {
    let not_found = || ScimError::not_found(format!("no group {id}"));
    let id = ProviderGroupId::parse(id).map_err(|_| not_found())?;
    match ctx.app.store.get_group(&ctx.directory.id, &id).await {
        Ok(group) => Ok(group),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(store_error(e)),
    }
}

fn build_group(
    ctx: &Context<'_>,
    id: ProviderGroupId,
    resource: Value,
    version: u64,
    created_at: i64,
    updated_at: i64,
) -> Result<ProviderGroup, ScimError> {
    limits::check_group(&resource)?;
    let summary = group_summary(&resource);
    limits::check_key_value("displayName", &summary.display_name)?;
    if let Some(external_id) = &summary.external_id {
        limits::check_key_value("externalId", external_id)?;
    }
    Ok(ProviderGroup {
        id,
        directory_id: ctx.directory.id,
        version,
        display_name: summary.display_name,
        external_id: summary.external_id,
        resource,
        created_at,
        updated_at,
    })
}

fn leaves_out_members(selection: &AttributeSelection) -> bool {
    let names_members = |path: &AttrPath| path.name.eq_ignore_ascii_case("members");
    selection
        .excluded
        .iter()
        .any(|p| names_members(p) && p.sub_attr.is_none())
        || (!selection.attributes.is_empty() && !selection.attributes.iter().any(names_members))
}

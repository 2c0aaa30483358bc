//! Directory users and groups: `GET /directory_users?directory=|group=`,
//! `GET /directory_users/{id}`, `GET /directory_groups?directory=|user=`,
//! `GET /directory_groups/{id}`, with WorkOS list parameters. Payloads are the ones events
//! carry (`user_payload` / `group_payload`), with the directory's `organization_id`.

use bytes::Bytes;
use dsync_domain::directory::events::{group_payload, user_payload};
use dsync_domain::directory::{DirectoryGroup, DirectoryUser};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId, DirectoryUserId, ProviderUserId};
use dsync_dynamo::{Page, StoreError};
use http::Response;
use serde_json::Value;

use crate::error::{found, stored, ApiError};
use crate::query::cursors;
use crate::route::{Context, Route};
use crate::{directories, respond};

pub async fn serve_users(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match route {
        Route::DirectoryUser(id) => {
            let user = load_user(ctx, id).await?;
            let organization =
                organization_of(ctx, &user.directory_id, "directory_user", id).await?;
            let users = with_groups(ctx, vec![user], organization.as_deref()).await?;
            Ok(respond::ok(&users[0]))
        }
        _ => list_users(ctx).await,
    }
}

pub async fn serve_groups(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match route {
        Route::DirectoryGroup(id) => {
            let group = load_group(ctx, id).await?;
            let organization =
                organization_of(ctx, &group.directory_id, "directory_group", id).await?;
            Ok(respond::ok(&group_payload(&group, organization.as_deref())))
        }
        _ => list_groups(ctx).await,
    }
}

async fn list_users(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(DirectoryUserId::parse)?;
    let store = &ctx.app.store;
    let (page, organization) = match scope(ctx, "group")? {
        Scope::Parent(group_id) => {
            DirectoryGroupId::parse(&group_id)
                .map_err(|e| ApiError::invalid(format!("group is {e}")))?;
            let group = load_group(ctx, &group_id).await?;
            let organization =
                organization_of(ctx, &group.directory_id, "directory_group", &group_id).await?;
            if !directory_admits(ctx, &group.directory_id)? {
                return Ok(respond::list(Vec::new(), None, None));
            }
            (
                stored(store.list_group_users(&group.id, &window).await)?,
                organization,
            )
        }
        Scope::Directory(directory) => {
            let organization = directories::load(ctx, &directory)
                .await?
                .directory
                .organization_id;
            if let Some(filter) = UserFilter::of(ctx)? {
                let found = filter.lookup(ctx, &directory).await?;
                let data = with_groups(ctx, found, organization.as_deref()).await?;
                return Ok(respond::list(data, None, None));
            }
            (
                stored(store.list_directory_users(&directory, &window).await)?,
                organization,
            )
        }
    };
    let (before, after) = cursors(&page, |u: &DirectoryUser| u.id.to_string());
    let mut users = page.items;
    if let Some(filter) = UserFilter::of(ctx)? {
        users.retain(|u| filter.matches(u));
    }
    let data = with_groups(ctx, users, organization.as_deref()).await?;
    Ok(respond::list(data, before, after))
}

/// Directory User objects as the API returns them: the event payload plus `groups`, which
/// WorkOS's SDKs read on every listed or fetched user (the Node SDK maps it unconditionally).
async fn with_groups(
    ctx: &Context<'_>,
    users: Vec<DirectoryUser>,
    organization: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let mut groups = stored(ctx.app.store.listed_users_groups(&users).await)?;
    Ok(users
        .iter()
        .map(|user| {
            let mut payload = user_payload(user, organization);
            let of_user = groups.remove(&user.id).unwrap_or_default();
            payload["groups"] = of_user
                .iter()
                .map(|g| group_payload(g, organization))
                .collect();
            payload
        })
        .collect())
}

async fn list_groups(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(DirectoryGroupId::parse)?;
    let store = &ctx.app.store;
    let (page, organization): (Page<DirectoryGroup>, _) = match scope(ctx, "user")? {
        Scope::Parent(user_id) => {
            DirectoryUserId::parse(&user_id)
                .map_err(|e| ApiError::invalid(format!("user is {e}")))?;
            let user = load_user(ctx, &user_id).await?;
            let organization =
                organization_of(ctx, &user.directory_id, "directory_user", &user_id).await?;
            if !directory_admits(ctx, &user.directory_id)? {
                return Ok(respond::list(Vec::new(), None, None));
            }
            (
                stored(store.list_user_groups(&user, &window).await)?,
                organization,
            )
        }
        Scope::Directory(directory) => {
            let organization = directories::load(ctx, &directory)
                .await?
                .directory
                .organization_id;
            (
                stored(store.list_directory_groups(&directory, &window).await)?,
                organization,
            )
        }
    };
    let (before, after) = cursors(&page, |g| g.id.to_string());
    let data = page
        .items
        .iter()
        .map(|g| group_payload(g, organization.as_deref()))
        .collect();
    Ok(respond::list(data, before, after))
}

/// `email=` / `idp_id=` on `/directory_users`. Within a directory they are key lookups, not
/// scans: `idp_id` through the provider records' `externalId` index (or as a provider user
/// id), `email` through the `userName` guard, so `email` finds users whose `userName` is that
/// address (what Okta, Entra, OneLogin and JumpCloud send) and whose email it is.
struct UserFilter {
    email: Option<String>,
    idp_id: Option<String>,
}

impl UserFilter {
    fn of(ctx: &Context<'_>) -> Result<Option<Self>, ApiError> {
        let email = ctx.query.single("email")?.map(str::to_owned);
        let idp_id = ctx.query.single("idp_id")?.map(str::to_owned);
        Ok((email.is_some() || idp_id.is_some()).then_some(Self { email, idp_id }))
    }

    fn matches(&self, user: &DirectoryUser) -> bool {
        let attributes = &user.attributes;
        self.email.as_ref().is_none_or(|email| {
            attributes
                .email
                .as_ref()
                .is_some_and(|own| own.eq_ignore_ascii_case(email))
        }) && self
            .idp_id
            .as_ref()
            .is_none_or(|idp_id| attributes.idp_id == *idp_id)
    }

    async fn lookup(
        &self,
        ctx: &Context<'_>,
        directory: &DirectoryId,
    ) -> Result<Vec<DirectoryUser>, ApiError> {
        let store = &ctx.app.store;
        let mut candidates: Vec<ProviderUserId> = Vec::new();
        if let Some(idp_id) = &self.idp_id {
            let by_external = stored(store.find_users_by_external_id(directory, idp_id).await)?;
            candidates.extend(by_external.iter().map(|u| u.id));
            if let Ok(id) = ProviderUserId::parse(idp_id) {
                candidates.push(id);
            }
        } else if let Some(email) = &self.email {
            let by_name = stored(store.find_user_by_user_name(directory, email).await)?;
            candidates.extend(by_name.iter().map(|u| u.id));
        }
        candidates.sort();
        candidates.dedup();
        let projected = stored(store.load_projected_users(&candidates).await)?;
        let mut users: Vec<DirectoryUser> = projected
            .into_values()
            .filter_map(|p| p.user)
            .filter(|u| u.directory_id == *directory && self.matches(u))
            .collect();
        users.sort_by_key(|u| std::cmp::Reverse(u.id));
        Ok(users)
    }
}

/// What a list is of: a parent object (a group's users, a user's groups) or a directory.
enum Scope {
    Parent(String),
    Directory(DirectoryId),
}

/// `directory` or the parent parameter is required; the parent wins when both are given
/// (the directory then only has to agree, see [`directory_admits`]).
fn scope(ctx: &Context<'_>, parent: &str) -> Result<Scope, ApiError> {
    if let Some(id) = ctx.query.single(parent)? {
        return Ok(Scope::Parent(id.to_owned()));
    }
    match ctx.query.single("directory")? {
        Some(id) => DirectoryId::parse(id)
            .map(Scope::Directory)
            .map_err(|e| ApiError::invalid(format!("directory is {e}"))),
        None => Err(ApiError::invalid(format!(
            "directory or {parent} is required"
        ))),
    }
}

/// Whether a `directory` parameter given beside the parent names the parent's directory.
fn directory_admits(ctx: &Context<'_>, directory: &DirectoryId) -> Result<bool, ApiError> {
    match ctx.query.single("directory")? {
        None => Ok(true),
        Some(id) => Ok(id == directory.to_string()),
    }
}

async fn load_user(ctx: &Context<'_>, id: &str) -> Result<DirectoryUser, ApiError> {
    let parsed =
        DirectoryUserId::parse(id).map_err(|_| ApiError::not_found("directory_user", id))?;
    found(
        ctx.app.store.get_directory_user(&parsed).await,
        "directory_user",
        id,
    )
}

async fn load_group(ctx: &Context<'_>, id: &str) -> Result<DirectoryGroup, ApiError> {
    let parsed =
        DirectoryGroupId::parse(id).map_err(|_| ApiError::not_found("directory_group", id))?;
    found(
        ctx.app.store.get_directory_group(&parsed).await,
        "directory_group",
        id,
    )
}

/// The `organization_id` of an object's directory, checking that the directory exists and
/// is this environment's: otherwise the object (`what`, `id`) is a 404.
async fn organization_of(
    ctx: &Context<'_>,
    directory: &DirectoryId,
    what: &str,
    id: &str,
) -> Result<Option<String>, ApiError> {
    match ctx.app.store.get_stored_directory(directory).await {
        Ok(stored) if stored.directory.environment_id == ctx.environment => {
            Ok(stored.directory.organization_id)
        }
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found(what, id)),
        Err(e) => Err(ApiError::storage(e)),
    }
}

//! `GET|PUT /environment/settings` and `POST /environment/settings/preview`.
//!
//! Settings: `{"inactive_user_policy": "delete"|"retain", "inactive_user_retention_days":
//! null|N}`; `N ≥ 1` and only with `retain`. A new policy governs new changes at once and
//! existing records at the next reconciliation (`POST /reconciliations`).

use bytes::Bytes;
use dsync_domain::model::{EnvironmentSettings, InactiveUserPolicy};
use std::time::{Duration, Instant};

use dsync_policy::preview::{preview_page, PreviewCursor};
use http::{Method, Response};
use serde_json::{json, Map, Value};

use crate::error::{found, stored, ApiError};
use crate::route::{Context, Route};
use crate::{body, objects, respond};

const POLICY: &str = "inactive_user_policy";
const RETENTION: &str = "inactive_user_retention_days";
/// A hundred years: beyond that "retain" is what the developer means.
const MAX_RETENTION_DAYS: u64 = 36_500;
/// Users listed per preview bucket; the counts are always whole (for the slice).
const PREVIEW_SAMPLE: usize = 100;
const CURSOR: &str = "cursor";
/// Pages of 100 records one preview request walks at most …
const PREVIEW_PAGES: u32 = 50;
/// … and none is started after this long, far inside API Gateway's 29 s.
const PREVIEW_BUDGET: Duration = Duration::from_secs(10);

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::SettingsPreview, _) => preview_settings(ctx).await,
        (_, &Method::PUT) => put_settings(ctx).await,
        _ => get_settings(ctx).await,
    }
}

async fn get_settings(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let id = ctx.environment.to_string();
    let environment = found(
        ctx.app.store.get_environment(&ctx.environment).await,
        "environment",
        &id,
    )?;
    Ok(respond::ok(&objects::settings(&id, &environment.settings)))
}

async fn put_settings(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let settings = parse_settings(ctx.body())?;
    let id = ctx.environment.to_string();
    let result = ctx
        .app
        .store
        .update_environment_settings(&ctx.environment, &settings, ctx.app.now())
        .await;
    found(result, "environment", &id)?;
    tracing::info!(environment_id = %id, policy = settings.inactive_user_policy.as_str(), "settings changed");
    Ok(respond::ok(&objects::settings(&id, &settings)))
}

/// `{"object": "settings_preview", "current": settings, "proposed": settings,
/// "users_created": {"count", "data": [≤100 users], "truncated"}, "users_deleted": {…},
/// "list_metadata": {"after": cursor | null}}`: what a reconciliation under the proposed
/// settings would do now. Writes nothing. One request covers a slice of the environment (at
/// most 5,000 records, or 10 s); when `after` is not null, the same body with
/// `"cursor": after` gives the next slice, and the counts add up.
async fn preview_settings(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let map = body::object(ctx.body(), &[POLICY, RETENTION, CURSOR])?;
    let proposed = settings_from(&map)?;
    let from = match body::optional_string(&map, CURSOR, 4096)? {
        None => None,
        Some(token) => Some(
            PreviewCursor::decode(token)
                .ok_or_else(|| ApiError::invalid(format!("{CURSOR} is not a preview cursor")))?,
        ),
    };
    let id = ctx.environment.to_string();
    let current = found(
        ctx.app.store.get_environment(&ctx.environment).await,
        "environment",
        &id,
    )?;
    // Settings leave the roles as they are.
    let proposed = EnvironmentSettings {
        roles: current.settings.roles.clone(),
        ..proposed
    };
    let deadline = Instant::now() + PREVIEW_BUDGET;
    let page = stored(
        preview_page(
            &ctx.app.policy,
            &ctx.environment,
            &proposed,
            from,
            PREVIEW_PAGES,
            Some(deadline),
        )
        .await,
    )?;
    let outcome = page.preview;
    Ok(respond::ok(&json!({
        "object": "settings_preview",
        "current": objects::settings(&id, &current.settings),
        "proposed": objects::settings(&id, &proposed),
        "users_created": sample(&outcome.users_created),
        "users_deleted": sample(&outcome.users_deleted),
        "list_metadata": {"after": page.next.map(|next| next.encode())},
    })))
}

/// At most [`PREVIEW_SAMPLE`] entries of a preview bucket, with the whole count.
pub fn sample<T: serde::Serialize>(users: &[T]) -> Value {
    let data: Vec<Value> = users
        .iter()
        .take(PREVIEW_SAMPLE)
        .map(|user| serde_json::to_value(user).unwrap_or(Value::Null))
        .collect();
    json!({"count": users.len(), "data": data, "truncated": users.len() > PREVIEW_SAMPLE})
}

/// A settings body. A malformed body or unknown field is a 400; values that are well-formed
/// but not acceptable are a 422 naming the field.
fn parse_settings(body: &Bytes) -> Result<EnvironmentSettings, ApiError> {
    settings_from(&body::object(body, &[POLICY, RETENTION])?)
}

fn settings_from(map: &Map<String, Value>) -> Result<EnvironmentSettings, ApiError> {
    let policy = parse_policy(map)?;
    let retention = parse_retention(map)?;
    if retention.is_some() && policy != InactiveUserPolicy::Retain {
        return Err(ApiError::unprocessable(format!(
            "{RETENTION} is only allowed with {POLICY} \"retain\""
        )));
    }
    Ok(EnvironmentSettings {
        inactive_user_policy: policy,
        inactive_user_retention_days: retention,
        ..EnvironmentSettings::default()
    })
}

fn parse_policy(map: &Map<String, Value>) -> Result<InactiveUserPolicy, ApiError> {
    match map.get(POLICY) {
        None | Some(Value::Null) => Err(ApiError::invalid(format!("{POLICY} is required"))),
        Some(Value::String(text)) => InactiveUserPolicy::parse(text).ok_or_else(|| {
            ApiError::unprocessable(format!("{POLICY} must be \"delete\" or \"retain\""))
        }),
        Some(_) => Err(ApiError::unprocessable(format!(
            "{POLICY} must be \"delete\" or \"retain\""
        ))),
    }
}

fn parse_retention(map: &Map<String, Value>) -> Result<Option<u32>, ApiError> {
    let invalid = || {
        ApiError::unprocessable(format!(
            "{RETENTION} must be null or an integer from 1 to {MAX_RETENTION_DAYS}"
        ))
    };
    match map.get(RETENTION) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => {
                u32::try_from(days).map(Some).map_err(|_| invalid())
            }
            _ => Err(invalid()),
        },
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EnvironmentSettings, ApiError> {
        parse_settings(&Bytes::from(text.to_owned()))
    }

    #[test]
    fn valid_settings_parse() {
        let settings =
            parse(r#"{"inactive_user_policy":"retain","inactive_user_retention_days":30}"#)
                .unwrap();
        assert_eq!(settings.inactive_user_policy, InactiveUserPolicy::Retain);
        assert_eq!(settings.inactive_user_retention_days, Some(30));
        let settings =
            parse(r#"{"inactive_user_policy":"delete","inactive_user_retention_days":null}"#)
                .unwrap();
        assert_eq!(settings, EnvironmentSettings::default());
    }

    #[test]
    fn malformed_bodies_are_400_and_bad_values_422() {
        for (body, status) in [
            ("", 400),
            ("[]", 400),
            ("{", 400),
            (r#"{"inactive_user_retention_days":3}"#, 400),
            (r#"{"inactive_user_policy":"delete","typo":1}"#, 400),
            (r#"{"inactive_user_policy":"archive"}"#, 422),
            (r#"{"inactive_user_policy":true}"#, 422),
            (
                r#"{"inactive_user_policy":"retain","inactive_user_retention_days":0}"#,
                422,
            ),
            (
                r#"{"inactive_user_policy":"retain","inactive_user_retention_days":1.5}"#,
                422,
            ),
            (
                r#"{"inactive_user_policy":"retain","inactive_user_retention_days":"7"}"#,
                422,
            ),
            (
                r#"{"inactive_user_policy":"retain","inactive_user_retention_days":99999999999}"#,
                422,
            ),
            (
                r#"{"inactive_user_policy":"delete","inactive_user_retention_days":7}"#,
                422,
            ),
        ] {
            let error = parse(body).unwrap_err();
            assert_eq!(error.status.as_u16(), status, "{body}: {error:?}");
        }
    }
}

//! `POST /hr/{directory_id}`: the one webhook URL of an HR-fed directory (BambooHR or the
//! generic HR format), beside the SCIM endpoint on the same function.
//!
//! A delivery is checked before anything is read from it: the directory must exist, be an
//! HR directory and have a signing secret; the signature must match and its timestamp be
//! within five minutes; and its replay key must not have been seen. Any failure is the same
//! 401 (an unknown directory looks like a wrong signature) and stores nothing. Only then is
//! the body parsed (400 with the reason when it is not the documented shape) and applied.

pub mod apply;
mod bamboohr_api;
mod departments;
pub mod resync;
pub mod schedule;

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::{Directory, ProviderKind};
use dsync_domain::providers::employee::EmployeeChange;
use dsync_domain::providers::{bamboohr, hr_webhooks, replay};
use dsync_domain::time::now_millis;
use dsync_dynamo::StoreError;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::json;

use crate::App;

const HR_PREFIX: &str = "/hr/";

/// Whether a path is an HR webhook URL (`…/hr/{directory_id}`).
pub fn is_hr_path(path: &str) -> bool {
    path.contains(HR_PREFIX) && !path.contains("/scim/v2/")
}

/// Answers one HR webhook delivery.
pub async fn handle(app: &App, request: Request<Bytes>) -> Response<Bytes> {
    let response = match serve(app, &request).await {
        Ok(response) => response,
        Err(failure) => failure.response(),
    };
    tracing::info!(status = response.status().as_u16(), "hr webhook");
    response
}

/// A refused delivery: its status and a JSON error body.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(why: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", why)
    }

    fn response(&self) -> Response<Bytes> {
        let body = json!({"error": self.code, "message": self.message});
        json_response(self.status, &body)
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve(app: &App, request: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    if request.method() != Method::POST {
        return Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "HR webhooks are delivered with POST",
        ));
    }
    if request.body().len() > app.config.max_body_bytes {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body is larger than {} bytes",
                app.config.max_body_bytes
            ),
        ));
    }
    let directory = directory_of(app, request.uri().path()).await?;
    let secret = app
        .store
        .hr_credentials(&directory.id, app.sealer.as_ref())
        .await
        .map_err(store_failure)?
        .webhook_secret
        .ok_or_else(|| Failure::unauthorized("the directory has no webhook secret yet"))?;
    let now = now_millis();
    let identity = verify(&directory, &secret, request.headers(), request.body(), now)?;
    let changes = parse(directory.kind, request.body())?;
    let key = replay::replay_key(&identity);
    let claimed = app
        .store
        .claim_hr_delivery(&directory.id, &key, now / 1000)
        .await
        .map_err(store_failure)?;
    if !claimed {
        return Err(Failure::unauthorized("this delivery was already received"));
    }
    let applied = apply::apply_all(&app.store, &directory, &changes, now, "webhook").await;
    let report = match applied {
        Ok(report) => report,
        Err(error) => {
            // Give the key back so the sender's retry of this delivery is accepted.
            if let Err(release) = app.store.release_hr_delivery(&directory.id, &key).await {
                tracing::error!(directory_id = %directory.id, %release, "replay key not released");
            }
            tracing::error!(directory_id = %directory.id, %error, "hr delivery not stored");
            return Err(Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the delivery could not be stored; retry it",
            ));
        }
    };
    if let Err(error) = app.store.record_hr_sync(&directory.id, &report).await {
        tracing::warn!(directory_id = %directory.id, %error, "sync report not recorded");
    }
    tracing::info!(
        directory_id = %directory.id,
        upserted = report.upserted,
        unchanged = report.unchanged,
        removed = report.removed,
        skipped = report.skipped,
        failed = report.failed,
        "hr delivery applied"
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "received": changes.len(),
            "upserted": report.upserted,
            "unchanged": report.unchanged,
            "removed": report.removed,
            "skipped": report.skipped,
            "failed": report.failed,
            "error": report.error,
        }),
    ))
}

/// The HR directory a path names; anything else is the 401 a wrong signature gets.
async fn directory_of(app: &App, path: &str) -> Result<Directory, Failure> {
    let unknown = || Failure::unauthorized("the signature does not match");
    let start = path.find(HR_PREFIX).ok_or_else(unknown)?;
    let id = path[start + HR_PREFIX.len()..].trim_end_matches('/');
    let id = DirectoryId::parse(id).map_err(|_| unknown())?;
    match app.store.get_directory(&id).await {
        Ok(directory) if directory.kind.is_hr() => Ok(directory),
        Ok(_) | Err(StoreError::NotFound) => Err(unknown()),
        Err(e) => Err(store_failure(e)),
    }
}

/// Checks the signature and freshness; returns what names the delivery for replay checks
/// (BambooHR's signature, which covers body and timestamp; the Standard Webhooks message id).
fn verify(
    directory: &Directory,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<String, Failure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match directory.kind {
        ProviderKind::Bamboohr => {
            let signature = header(bamboohr::SIGNATURE_HEADER);
            let timestamp = header(bamboohr::TIMESTAMP_HEADER);
            bamboohr::verify(secret, body, timestamp, signature, now_ms / 1000)
                .map_err(|rejection| Failure::unauthorized(&rejection.to_string()))?;
            Ok(format!(
                "bamboohr:{}",
                signature.unwrap_or_default().to_ascii_lowercase()
            ))
        }
        _ => {
            let signed = hr_webhooks::Signed {
                id: header(hr_webhooks::WEBHOOK_ID),
                timestamp: header(hr_webhooks::WEBHOOK_TIMESTAMP),
                signature: header(hr_webhooks::WEBHOOK_SIGNATURE),
            };
            let id = hr_webhooks::verify(secret, body, signed)
                .map_err(|rejection| Failure::unauthorized(&rejection.to_string()))?;
            Ok(format!("standard-webhooks:{id}"))
        }
    }
}

fn parse(kind: ProviderKind, body: &[u8]) -> Result<Vec<EmployeeChange>, Failure> {
    let invalid = |message: String| Failure::new(StatusCode::BAD_REQUEST, "invalid_body", message);
    match kind {
        ProviderKind::Bamboohr => bamboohr::parse_webhook(body).map_err(|e| invalid(e.to_string())),
        _ => hr_webhooks::parse(body)
            .map(|change| vec![change])
            .map_err(|e| invalid(e.to_string())),
    }
}

fn store_failure(error: StoreError) -> Failure {
    tracing::error!(%error, "storage failure");
    Failure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "storage is unavailable; retry the delivery",
    )
}

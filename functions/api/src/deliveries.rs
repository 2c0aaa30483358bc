//! Webhook deliveries: `GET /webhook_endpoints/{id}/deliveries` (newest first) and
//! `POST /deliveries/{id}/retry`.
//!
//! The fan-out function records and attempts deliveries; here they are only read, and a retry
//! only makes a delivery due now, for the fan-out function's sweep to attempt.

use bytes::Bytes;
use dsync_domain::ids::DeliveryId;
use dsync_domain::webhooks::attempt::{lease_for, DEFAULT_ATTEMPT_TIMEOUT};
use dsync_domain::webhooks::{Delivery, DeliveryState, EndpointStatus, WebhookEndpoint};
use dsync_dynamo::{ListOrder, StoreError};
use http::{Response, StatusCode};

use crate::error::{stored, ApiError};
use crate::route::{Context, Route};
use crate::{objects, respond, webhooks};

/// Writes of a retry: a conflict means an attempt or a sweep changed the delivery meanwhile,
/// so it is read again once and the retry scheduled on what is there.
const RETRY_WRITES: usize = 2;

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match route {
        Route::WebhookEndpointDeliveries(id) => list(ctx, id).await,
        Route::DeliveryRetry(id) => retry(ctx, id).await,
        _ => Err(ApiError::no_route(ctx.request.uri().path())),
    }
}

/// `?limit=&after=<delivery id>`: pages run from the newest event back, which is the only
/// order the store keeps them in, so `before` and `order=asc` are refused rather than ignored.
async fn list(ctx: &Context<'_>, endpoint_id: &str) -> Result<Response<Bytes>, ApiError> {
    let limit = ctx.query.limit()?;
    if ctx.query.single("before")?.is_some() {
        return Err(ApiError::invalid(
            "before is not supported here: deliveries are paged newest first with after",
        ));
    }
    if ctx.query.order(ListOrder::Desc)? != ListOrder::Desc {
        return Err(ApiError::invalid(
            "deliveries are listed newest first only (order=desc)",
        ));
    }
    let endpoint = webhooks::load(ctx, endpoint_id).await?;
    let older_than = match ctx.query.single("after")? {
        Some(text) => Some(cursor(ctx, &endpoint, text).await?),
        None => None,
    };
    // `limit` is at most query::MAX_LIMIT.
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let page = stored(
        ctx.app
            .store
            .endpoint_deliveries(&endpoint.id, older_than.as_ref(), limit)
            .await,
    )?;
    Ok(respond::list(
        page.deliveries.iter().map(objects::delivery).collect(),
        None,
        page.next.map(|id| id.to_string()),
    ))
}

/// The delivery an `after` cursor names, which must be one of this endpoint's.
async fn cursor(
    ctx: &Context<'_>,
    endpoint: &WebhookEndpoint,
    text: &str,
) -> Result<Delivery, ApiError> {
    let id = DeliveryId::parse(text).map_err(|e| ApiError::invalid(format!("after is {e}")))?;
    stored(ctx.app.store.delivery(&id).await)?
        .filter(|d| d.endpoint_id == endpoint.id)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "after is not a delivery of webhook endpoint {}",
                endpoint.id
            ))
        })
}

/// `POST /deliveries/{id}/retry` → 202 with the delivery, pending and due now. A pending
/// delivery that is due already, or soon, is left as it is (so a repeated request does
/// nothing more).
async fn retry(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let delivery_id = DeliveryId::parse(id).map_err(|_| ApiError::not_found("delivery", id))?;
    let mut delivery = load(ctx, &delivery_id, id).await?;
    // The sweep gives up a disabled or deleted endpoint's deliveries without an attempt, so
    // scheduling one would only see it fail again; say why instead.
    let endpoint = stored(
        ctx.app
            .store
            .webhook_endpoint(&ctx.environment, &delivery.endpoint_id)
            .await,
    )?;
    match endpoint {
        None => {
            return Err(ApiError::conflict(
                "the delivery's webhook endpoint has been deleted",
            ))
        }
        Some(e) if e.status == EndpointStatus::Disabled => {
            return Err(ApiError::conflict(
                "the delivery's webhook endpoint is disabled; enable it to retry its deliveries",
            ))
        }
        Some(_) => {}
    }
    for _ in 0..RETRY_WRITES {
        let now = ctx.app.now();
        if due_soon(&delivery, now) {
            return Ok(accepted(ctx, &delivery));
        }
        let mut after = delivery.clone();
        after.state = DeliveryState::Pending;
        after.next_attempt_at = Some(now);
        after.updated_at = now;
        match ctx.app.store.update_delivery(&delivery, &after).await {
            Ok(()) => {
                tracing::info!(delivery_id = %after.id, webhook_endpoint_id = %after.endpoint_id, "delivery retry scheduled");
                return Ok(accepted(ctx, &after));
            }
            Err(StoreError::Conflict) => delivery = load(ctx, &delivery_id, id).await?,
            Err(error) => return Err(ApiError::storage(error)),
        }
    }
    Err(ApiError::conflict(
        "the delivery kept changing while its retry was being scheduled; retry",
    ))
}

/// Whether a pending delivery is due by the end of a fan-out lease from `now`. While the
/// fan-out function attempts a delivery it holds it by moving its due time a lease ahead; a
/// delivery due within that is either being attempted or about to be, and moving its due time
/// would start a second attempt beside the one in flight.
fn due_soon(delivery: &Delivery, now: i64) -> bool {
    // The default lease: the API does not know the fan-out's configured timeout. With a
    // longer one, a retry late in a lease can still race the attempt in flight.
    let lease = i64::try_from(lease_for(DEFAULT_ATTEMPT_TIMEOUT).as_millis()).unwrap_or(0);
    delivery.state == DeliveryState::Pending
        && delivery.next_attempt_at.is_some_and(|at| at <= now + lease)
}

/// A delivery of the request's environment; any other is a 404.
async fn load(ctx: &Context<'_>, id: &DeliveryId, text: &str) -> Result<Delivery, ApiError> {
    stored(ctx.app.store.delivery(id).await)?
        .filter(|d| d.environment_id == ctx.environment)
        .ok_or_else(|| ApiError::not_found("delivery", text))
}

/// 202 with the delivery, after asking the runner (if any) to sweep at once.
fn accepted(ctx: &Context<'_>, delivery: &Delivery) -> Response<Bytes> {
    if let Some(trigger) = &ctx.app.sweep_trigger {
        trigger();
    }
    respond::json(StatusCode::ACCEPTED, &objects::delivery(delivery))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsync_domain::ids::{EnvironmentId, EventId, WebhookEndpointId};

    #[test]
    fn a_pending_delivery_due_within_a_lease_is_left_alone() {
        let lease = lease_for(DEFAULT_ATTEMPT_TIMEOUT).as_millis() as i64;
        let pending = Delivery::new(
            WebhookEndpointId::generate(),
            EnvironmentId::generate(),
            EventId::for_sequence(1, 0),
            "dsync.user.created",
            0,
            1_000 + lease,
        );
        assert!(due_soon(&pending, 1_000), "leased by an attempt in flight");
        assert!(
            !due_soon(&pending, 999),
            "a retry later than a lease from now"
        );
        let failed = pending.abandoned("endpoint disabled", 2_000);
        assert!(!due_soon(&failed, 2_000));
    }
}

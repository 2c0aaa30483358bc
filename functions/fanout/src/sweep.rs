//! The retry sweep: due deliveries, attempted again.
//!
//! A run pages through everything due when it started (every partition of the due index),
//! so a large backlog of one endpoint never hides another endpoint's deliveries.
//!
//! Each endpoint's due deliveries are sent in order, the first alone and then eight at a
//! time, endpoints side by side. An endpoint that does not answer in time stops its own
//! queue for this run (its other deliveries stay due for the next one), so a dead endpoint
//! costs one timeout per run and never holds up the others.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use dsync_domain::ids::{EnvironmentId, EventId, WebhookEndpointId};
use dsync_domain::webhooks::{Delivery, DeliveryState, EndpointStatus, WebhookEndpoint};
use dsync_dynamo::{DueScan, StoreError, StoredEvent};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::deliver::{self, body_of, Health};
use crate::App;

/// Due deliveries read per index partition per round.
const ROUND_SIZE: i32 = 100;
/// One endpoint's deliveries in flight at once, once it has answered in this run.
const PER_ENDPOINT: usize = 8;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub attempted: usize,
    pub delivered: usize,
    /// Given up without an attempt: endpoint deleted or disabled, event expired.
    pub abandoned: usize,
}

/// Attempts what was due when the run started, until all of it was seen or `deadline` comes.
pub async fn run(app: &App, deadline: Option<Instant>) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let mut stopped: HashSet<WebhookEndpointId> = HashSet::new();
    let mut scan = DueScan::new(app.now());
    while !scan.finished() && !past(deadline) {
        let due: Vec<Delivery> = app
            .store
            .next_due_deliveries(&mut scan, ROUND_SIZE)
            .await?
            .into_iter()
            .filter(|d| !stopped.contains(&d.endpoint_id))
            .collect();
        if due.is_empty() {
            continue;
        }
        let round = sweep_round(app, due, deadline).await?;
        report.attempted += round.report.attempted;
        report.delivered += round.report.delivered;
        report.abandoned += round.report.abandoned;
        stopped.extend(round.stopped);
    }
    Ok(report)
}

struct Round {
    report: SweepReport,
    stopped: Vec<WebhookEndpointId>,
}

async fn sweep_round(
    app: &App,
    due: Vec<Delivery>,
    deadline: Option<Instant>,
) -> Result<Round, StoreError> {
    let mut endpoints: HashMap<WebhookEndpointId, WebhookEndpoint> = HashMap::new();
    let mut events: HashMap<EventId, StoredEvent> = HashMap::new();
    let mut by_environment: HashMap<EnvironmentId, Vec<EventId>> = HashMap::new();
    for delivery in &due {
        by_environment
            .entry(delivery.environment_id)
            .or_default()
            .push(delivery.event_id);
    }
    for (environment, ids) in by_environment {
        for endpoint in app.store.webhook_endpoints(&environment).await? {
            endpoints.insert(endpoint.id, endpoint);
        }
        for event in app.store.events_by_id(&environment, &ids).await? {
            events.insert(event.id, event);
        }
    }
    let mut queues: HashMap<WebhookEndpointId, Vec<Delivery>> = HashMap::new();
    for delivery in due {
        queues
            .entry(delivery.endpoint_id)
            .or_default()
            .push(delivery);
    }
    let (endpoints, events, health) = (&endpoints, &events, &Health::default());
    let results: Vec<Queue> = stream::iter(queues)
        .map(|(id, queue)| async move {
            drain(app, health, endpoints.get(&id), queue, events, deadline).await
        })
        .buffer_unordered(app.config.concurrency)
        .try_collect()
        .await?;
    let mut round = Round {
        report: SweepReport::default(),
        stopped: Vec::new(),
    };
    for queue in results {
        round.report.attempted += queue.report.attempted;
        round.report.delivered += queue.report.delivered;
        round.report.abandoned += queue.report.abandoned;
        round.stopped.extend(queue.stopped);
    }
    Ok(round)
}

struct Queue {
    report: SweepReport,
    stopped: Option<WebhookEndpointId>,
}

/// What became of one due delivery in a sweep.
enum Swept {
    /// Another worker has it, or it changed under us.
    Skipped,
    Abandoned,
    Attempted {
        delivered: bool,
        answered: bool,
    },
}

/// One endpoint's due deliveries, in order, until one gets no answer: the first alone (a
/// dead endpoint costs one timeout per run), then [`PER_ENDPOINT`] at a time, so a backlog
/// left by an outage drains at several round trips at once, not one delivery per three.
async fn drain(
    app: &App,
    health: &Health,
    endpoint: Option<&WebhookEndpoint>,
    queue: Vec<Delivery>,
    events: &HashMap<EventId, StoredEvent>,
    deadline: Option<Instant>,
) -> Result<Queue, StoreError> {
    let mut result = Queue {
        report: SweepReport::default(),
        stopped: None,
    };
    let mut queue = queue.into_iter();
    let mut width = 1;
    while !past(deadline) {
        let window: Vec<Delivery> = queue.by_ref().take(width).collect();
        if window.is_empty() {
            break;
        }
        let swept = futures::future::join_all(
            window
                .into_iter()
                .map(|seen| sweep_one(app, health, endpoint, seen, events)),
        )
        .await;
        let mut unanswered = false;
        for outcome in swept {
            match outcome? {
                Swept::Skipped => {}
                Swept::Abandoned => result.report.abandoned += 1,
                Swept::Attempted {
                    delivered,
                    answered,
                } => {
                    result.report.attempted += 1;
                    result.report.delivered += usize::from(delivered);
                    unanswered |= !answered;
                }
            }
        }
        if unanswered {
            // No answer at all (timeout, refused): leave the rest for the next run.
            result.stopped = endpoint.map(|e| e.id);
            break;
        }
        width = PER_ENDPOINT;
    }
    Ok(result)
}

/// Claims `seen` and attempts it, or gives it up when its endpoint or event is gone.
async fn sweep_one(
    app: &App,
    health: &Health,
    endpoint: Option<&WebhookEndpoint>,
    seen: Delivery,
    events: &HashMap<EventId, StoredEvent>,
) -> Result<Swept, StoreError> {
    let lease_until = app.now() + app.config.lease().as_millis() as i64;
    let Some(delivery) = app.store.claim_delivery(&seen, lease_until).await? else {
        return Ok(Swept::Skipped); // another worker has it
    };
    let reason = match (endpoint, events.get(&delivery.event_id)) {
        (None, _) => Some("endpoint deleted"),
        (Some(e), _) if e.status == EndpointStatus::Disabled => Some("endpoint disabled"),
        (_, None) => Some("event expired"),
        _ => None,
    };
    if let Some(reason) = reason {
        let abandoned = delivery.abandoned(reason, app.now());
        return match app.store.update_delivery(&delivery, &abandoned).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(Swept::Abandoned),
            Err(error) => Err(error),
        };
    }
    let (Some(endpoint), Some(event)) = (endpoint, events.get(&delivery.event_id)) else {
        return Ok(Swept::Skipped);
    };
    match deliver::attempt(app, health, endpoint, &delivery, &body_of(event)).await {
        Ok(after) => Ok(Swept::Attempted {
            delivered: after.state == DeliveryState::Succeeded,
            answered: after.last_status.is_some(),
        }),
        // The delivery changed under us (a manual retry, say): its new state stands.
        Err(StoreError::Conflict) => Ok(Swept::Skipped),
        Err(error) => Err(error),
    }
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

//! One event's delivery to one endpoint, and what each attempt does to it.

use crate::ids::{DeliveryId, EnvironmentId, EventId, WebhookEndpointId};

use super::attempt::{AttemptResult, Next};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet; `next_attempt_at` says when it is tried (again).
    Pending,
    Succeeded,
    /// Given up: the schedule ran out, or the endpoint was disabled or deleted.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub environment_id: EnvironmentId,
    pub event_id: EventId,
    pub event: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Epoch ms; `None` once the delivery is final.
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Delivery {
    /// A delivery about to be attempted at `now`; `next_attempt_at` is the lease: if the
    /// attempt's result is never recorded (the process died), the sweep retries it then.
    pub fn new(
        endpoint_id: WebhookEndpointId,
        environment_id: EnvironmentId,
        event_id: EventId,
        event: &str,
        now: i64,
        lease_until: i64,
    ) -> Self {
        Self {
            id: DeliveryId::new(endpoint_id, &event_id),
            endpoint_id,
            environment_id,
            event_id,
            event: event.to_owned(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: Some(lease_until),
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The delivery after one more attempt that ended in `result`, decided as `next`.
    pub fn after_attempt(&self, result: &AttemptResult, next: Next, now: i64) -> Self {
        let mut after = self.clone();
        after.attempts += 1;
        after.last_attempt_at = Some(now);
        after.last_status = result.status();
        after.last_error = result.error();
        after.updated_at = now;
        (after.state, after.next_attempt_at) = match next {
            Next::Delivered => (DeliveryState::Succeeded, None),
            Next::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            Next::Exhausted | Next::EndpointGone => (DeliveryState::Failed, None),
        };
        after
    }

    /// Given up without an attempt (its endpoint is gone or disabled).
    pub fn abandoned(&self, reason: &str, now: i64) -> Self {
        let mut after = self.clone();
        after.state = DeliveryState::Failed;
        after.next_attempt_at = None;
        after.last_error = Some(reason.to_owned());
        after.updated_at = now;
        after
    }

    pub fn is_final(&self) -> bool {
        self.state != DeliveryState::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_move_a_delivery_to_its_final_state() {
        let d = Delivery::new(
            WebhookEndpointId::generate(),
            EnvironmentId::generate(),
            EventId::for_sequence(1, 0),
            "dsync.user.created",
            0,
            20_000,
        );
        let failed = AttemptResult::Status {
            code: 500,
            retry_after: None,
        };
        let retry = d.after_attempt(&failed, Next::RetryAt(1_000), 10);
        assert_eq!((retry.state, retry.attempts), (DeliveryState::Pending, 1));
        assert_eq!(retry.next_attempt_at, Some(1_000));
        assert_eq!(retry.last_error.as_deref(), Some("HTTP 500"));
        let ok = AttemptResult::Status {
            code: 204,
            retry_after: None,
        };
        let done = retry.after_attempt(&ok, Next::Delivered, 20);
        assert_eq!((done.state, done.attempts), (DeliveryState::Succeeded, 2));
        assert_eq!(
            (done.next_attempt_at, done.last_error.as_deref()),
            (None, None)
        );
        assert!(done.is_final());
        let gone = d.after_attempt(&failed, Next::EndpointGone, 10);
        assert_eq!(gone.state, DeliveryState::Failed);
    }
}

//! Turns at an environment's event-log head, for processes committing to it at once.
//!
//! Every commit updates the head under a condition on the sequence it was numbered after, so
//! of several processes that read the same head only one commits: the others' transactions
//! are cancelled after DynamoDB (billing them) did the work of up to 100 items each. With
//! many writers (Lambda instances of several stream shards) most of the work was such
//! losers'. So once a process has seen another one commit to the environment (event_heads.rs),
//! it takes a turn instead of reading the head: one conditional `UpdateItem` of the head item
//! that names it the holder until [`TURN`] from now and returns the head, as the read did.
//! A process that finds the turn held sends no transaction: it waits a moment and asks
//! again, while its queue fills, so the transaction it sends on its turn carries more. The
//! holder's transaction ends the turn (its head update removes it); a holder whose commits
//! all failed ends it with one more write.
//!
//! A turn is advice, never a guarantee: the head's condition still decides every commit, as
//! before. A holder that dies leaves a turn that lapses after [`TURN`]; a process not yet
//! contending commits without asking; a turn ending further ahead than any holder could set
//! (a clock far ahead) counts as lapsed.

use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;
use dsync_domain::ids::EnvironmentId;
use dsync_domain::time::now_millis;

use crate::error::{backend, is_conditional_failure};
use crate::event_heads::Head;
use crate::item::{n, s};
use crate::keys::*;
use crate::{Store, StoreError};

/// How long a turn lasts unless its transaction ends it first: a few transactions' time,
/// so a holder that died holds up the environment's other writers no longer than this.
pub(crate) const TURN: Duration = Duration::from_millis(1000);

/// The attributes of the head item that hold the turn; the head update removes them.
pub(crate) const TURN_ATTRIBUTES: &str = "turn_owner, turn_until";

impl Store {
    /// The environment's head, with the turn to commit after it; `None` when another process
    /// holds the turn.
    pub(crate) async fn take_commit_turn(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Option<Head>, StoreError> {
        let now = now_millis();
        let turn = TURN.as_millis() as i64;
        let result = self
            .head_item_update(environment)
            .update_expression("SET turn_owner = :me, turn_until = :until")
            .condition_expression(
                "attribute_not_exists(turn_until) OR turn_until < :now \
                 OR turn_until > :far OR turn_owner = :me",
            )
            .expression_attribute_values(":until", n(now + turn))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":far", n(now + 2 * turn))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(
                self.remember_head_item(environment, &output.attributes.unwrap_or_default()),
            )),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// An update of the environment's head item, `:me` bound to this process.
    fn head_item_update(&self, environment: &EnvironmentId) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(EVENT_HEAD_SK))
            .expression_attribute_values(":me", s(self.event_heads.owner()))
    }

    /// Ends this process's turn at the environment's head, if it still holds it. Best
    /// effort: a turn not ended here lapses.
    pub(crate) async fn release_commit_turn(&self, environment: &EnvironmentId) {
        let result = self
            .head_item_update(environment)
            .update_expression(format!("REMOVE {TURN_ATTRIBUTES}"))
            .condition_expression("turn_owner = :me")
            .send()
            .await;
        if let Err(e) = result {
            if !is_conditional_failure(&e) {
                tracing::debug!(error = %backend(e), "a turn left to lapse");
            }
        }
    }
}

/// The pause before asking for a turn again, after `refused` refusals in a row: about a
/// transaction's time at first, longer the more often the turn was found held (many
/// waiters), jittered so waiters do not ask in step. Each refusal is a conditional write
/// DynamoDB bills, on the head's partition, so waiters must not ask much faster than turns
/// can pass.
pub(crate) async fn wait_for_turn(refused: u32) {
    let ceiling = 4u64 << refused.min(3);
    let millis = 2 + rand::random::<u64>() % ceiling;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

//! Webhook endpoints: `pk = ENV#<environment>`, `sk = WEBHOOK#<id>`.

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::{EnvironmentId, WebhookEndpointId};
use dsync_domain::webhooks::{EndpointStatus, PreviousSecret, WebhookEndpoint};

use crate::error::{backend, is_conditional_failure};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::{Store, StoreError};

impl Store {
    pub async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError> {
        self.put_endpoint(endpoint, "attribute_not_exists(pk)", None)
            .await
    }

    /// Saves `endpoint`, whose `version` was incremented from the one read; `Conflict` when
    /// someone else saved in between.
    pub async fn save_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError> {
        let previous = endpoint.version.saturating_sub(1);
        self.put_endpoint(endpoint, "version = :previous", Some(previous))
            .await
    }

    /// Every endpoint of the environment, oldest first (a consistent read: a just-created
    /// endpoint gets the next event).
    pub async fn webhook_endpoints(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.query_prefix_all(
            &self.tables.directory,
            &environment_pk(environment),
            WEBHOOK_ENDPOINT_PREFIX,
        )
        .await?
        .iter()
        .map(decode_endpoint)
        .collect()
    }

    pub async fn webhook_endpoint(
        &self,
        environment: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(webhook_endpoint_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.as_ref().map(decode_endpoint).transpose()
    }

    /// Removes the endpoint; `false` when there was none. Its pending deliveries are given up
    /// by the sweep when it finds the endpoint gone.
    pub async fn delete_webhook_endpoint(
        &self,
        environment: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(webhook_endpoint_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// Disables the endpoint whatever its version (a receiver's 410 wins over a concurrent
    /// edit). Nothing happens when it no longer exists.
    pub async fn disable_webhook_endpoint(
        &self,
        environment: &EnvironmentId,
        id: &WebhookEndpointId,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.update_endpoint(
            environment,
            id,
            "SET #status = :disabled, disabled_reason = :reason, updated_at = :now ADD version :one",
            vec![
                (":disabled", s(EndpointStatus::Disabled.as_str())),
                (":reason", s(reason)),
                (":now", n(now)),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Records that the endpoint started failing at `since`, or (`None`) that it works again.
    /// Bumps `version`, so an edit read before this cannot write the old mark back.
    pub async fn set_webhook_endpoint_failing(
        &self,
        environment: &EnvironmentId,
        id: &WebhookEndpointId,
        since: Option<i64>,
    ) -> Result<(), StoreError> {
        match since {
            Some(since) => {
                self.update_endpoint(
                    environment,
                    id,
                    "SET failing_since = :since ADD version :one",
                    vec![(":since", n(since)), (":one", n(1))],
                )
                .await
            }
            None => {
                self.update_endpoint(
                    environment,
                    id,
                    "REMOVE failing_since ADD version :one",
                    vec![(":one", n(1))],
                )
                .await
            }
        }
    }

    async fn update_endpoint(
        &self,
        environment: &EnvironmentId,
        id: &WebhookEndpointId,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(webhook_endpoint_sk(id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)");
        if expression.contains("#status") {
            request = request.expression_attribute_names("#status", "status");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        condition: &str,
        previous_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_endpoint(endpoint)))
            .condition_expression(condition);
        if let Some(previous) = previous_version {
            request = request.expression_attribute_values(":previous", n(previous));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }
}

fn encode_endpoint(endpoint: &WebhookEndpoint) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(environment_pk(&endpoint.environment_id))),
        (SK.to_owned(), s(webhook_endpoint_sk(&endpoint.id))),
        ("type".to_owned(), s("webhook_endpoint")),
        ("id".to_owned(), s(endpoint.id.to_string())),
        (
            "environment_id".to_owned(),
            s(endpoint.environment_id.to_string()),
        ),
        ("url".to_owned(), s(&endpoint.url)),
        (
            "events".to_owned(),
            s(serde_json::Value::from(endpoint.events.clone()).to_string()),
        ),
        ("status".to_owned(), s(endpoint.status.as_str())),
        ("secret".to_owned(), s(&endpoint.secret)),
        ("created_at".to_owned(), n(endpoint.created_at)),
        ("updated_at".to_owned(), n(endpoint.updated_at)),
        ("version".to_owned(), n(endpoint.version)),
    ]);
    if let Some(reason) = &endpoint.disabled_reason {
        item.insert("disabled_reason".to_owned(), s(reason));
    }
    if let Some(previous) = &endpoint.previous_secret {
        item.insert("previous_secret".to_owned(), s(&previous.secret));
        item.insert(
            "previous_secret_expires_at".to_owned(),
            n(previous.expires_at),
        );
    }
    if let Some(since) = endpoint.failing_since {
        item.insert("failing_since".to_owned(), n(since));
    }
    item
}

fn decode_endpoint(item: &Item) -> Result<WebhookEndpoint, StoreError> {
    let events: Vec<String> = serde_json::from_value(item.json_attr("events")?)
        .map_err(|_| StoreError::corrupt("webhook endpoint events are not a list of names"))?;
    let previous_secret = match (
        item.opt_str_attr("previous_secret"),
        item.opt_num_attr("previous_secret_expires_at"),
    ) {
        (Some(secret), Some(expires_at)) => Some(PreviousSecret {
            secret: secret.to_owned(),
            expires_at,
        }),
        _ => None,
    };
    Ok(WebhookEndpoint {
        id: id_attr(item, "id", WebhookEndpointId::parse)?,
        environment_id: id_attr(item, "environment_id", EnvironmentId::parse)?,
        url: item.str_attr("url")?.to_owned(),
        events,
        status: EndpointStatus::parse(item.str_attr("status")?)
            .ok_or_else(|| StoreError::corrupt("unknown webhook endpoint status"))?,
        disabled_reason: item.opt_str_attr("disabled_reason").map(str::to_owned),
        secret: item.str_attr("secret")?.to_owned(),
        previous_secret,
        failing_since: item.opt_num_attr("failing_since"),
        created_at: item.num_attr("created_at")?,
        updated_at: item.num_attr("updated_at")?,
        version: item.num_attr("version")?,
    })
}

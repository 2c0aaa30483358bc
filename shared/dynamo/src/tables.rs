//! The one source of table definitions: the local runner and the tests create tables from
//! these, and the SAM template is checked against them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::error::backend;
use crate::StoreError;

/// Every table and index is keyed by a string partition key and a string sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub hash: &'static str,
    pub range: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GsiSpec {
    pub name: &'static str,
    pub key: KeySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamView {
    NewAndOldImages,
    NewImage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The logical id in the SAM template, e.g. `ProviderRecordsTable`.
    pub logical_id: &'static str,
    /// Appended to the deployment prefix: `dsync-provider-records`.
    pub suffix: &'static str,
    pub key: KeySpec,
    pub gsis: &'static [GsiSpec],
    pub stream: Option<StreamView>,
    pub ttl_attribute: Option<&'static str>,
}

const PK_SK: KeySpec = KeySpec {
    hash: "pk",
    range: "sk",
};
const GSI1: GsiSpec = GsiSpec {
    name: "gsi1",
    key: KeySpec {
        hash: "gsi1pk",
        range: "gsi1sk",
    },
};
const GSI2: GsiSpec = GsiSpec {
    name: "gsi2",
    key: KeySpec {
        hash: "gsi2pk",
        range: "gsi2sk",
    },
};

/// Users, groups and memberships as each provider last described them. Its stream (old and
/// new images) feeds the policy function.
pub const PROVIDER_RECORDS: TableSpec = TableSpec {
    logical_id: "ProviderRecordsTable",
    suffix: "provider-records",
    key: PK_SK,
    gsis: &[GSI1, GSI2],
    stream: Some(StreamView::NewAndOldImages),
    ttl_attribute: None,
};

/// Environments, API keys, directories, the projected directory users and groups, and each
/// environment's event-log head.
pub const DIRECTORY: TableSpec = TableSpec {
    logical_id: "DirectoryTable",
    suffix: "directory",
    key: PK_SK,
    gsis: &[GSI1, GSI2],
    stream: None,
    ttl_attribute: Some("expires_at"),
};

/// Each environment's ordered event log; its stream (new images) feeds the fan-out function.
/// Events expire by TTL, and TTL removals make no events.
pub const EVENTS: TableSpec = TableSpec {
    logical_id: "EventsTable",
    suffix: "events",
    key: PK_SK,
    gsis: &[],
    stream: Some(StreamView::NewImage),
    ttl_attribute: Some("expires_at"),
};

pub const TABLES: &[&TableSpec] = &[&PROVIDER_RECORDS, &DIRECTORY, &EVENTS];

/// The physical table names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub provider_records: String,
    pub directory: String,
    pub events: String,
}

impl TableNames {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            provider_records: format!("{prefix}-{}", PROVIDER_RECORDS.suffix),
            directory: format!("{prefix}-{}", DIRECTORY.suffix),
            events: format!("{prefix}-{}", EVENTS.suffix),
        }
    }

    /// From `DSYNC_TABLE_PREFIX` (default `dsync`), as every function reads it at start-up.
    pub fn from_env() -> Self {
        Self::with_prefix(&std::env::var("DSYNC_TABLE_PREFIX").unwrap_or_else(|_| "dsync".into()))
    }

    pub fn name_of(&self, spec: &TableSpec) -> &str {
        match spec.suffix {
            s if s == PROVIDER_RECORDS.suffix => &self.provider_records,
            s if s == EVENTS.suffix => &self.events,
            _ => &self.directory,
        }
    }
}

/// Creates every table that does not exist yet, then turns on TTL where the spec has one.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StoreError> {
    let existing = client.list_tables().send().await.map_err(backend)?;
    let existing = existing.table_names();
    for spec in TABLES {
        let name = names.name_of(spec);
        if existing.iter().any(|t| t == name) {
            continue;
        }
        create_table(client, name, spec).await?;
        if let Some(attribute) = spec.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attribute)
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))?,
                )
                .send()
                .await
                .map_err(backend)?;
        }
    }
    Ok(())
}

async fn create_table(client: &Client, name: &str, spec: &TableSpec) -> Result<(), StoreError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(spec.key).map_err(build)?));
    let mut attributes = vec![spec.key.hash, spec.key.range];
    for gsi in spec.gsis {
        attributes.extend([gsi.key.hash, gsi.key.range]);
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(gsi.name)
                .set_key_schema(Some(key_schema(gsi.key).map_err(build)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build)?,
        );
    }
    for attribute in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        );
    }
    if let Some(view) = spec.stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(match view {
                    StreamView::NewAndOldImages => StreamViewType::NewAndOldImages,
                    StreamView::NewImage => StreamViewType::NewImage,
                })
                .build()
                .map_err(build)?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Another process created it between our list and our create.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(backend(e)),
    }
}

fn key_schema(key: KeySpec) -> Result<Vec<KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(key.hash)
            .key_type(KeyType::Hash)
            .build()?,
        KeySchemaElement::builder()
            .attribute_name(key.range)
            .key_type(KeyType::Range)
            .build()?,
    ])
}

//! Google Workspace push: the directory's `users.watch` channels, in the connection's
//! partition (`GOOGLE#<directory_id>`, removed with its credentials), and the "pull
//! requested" mark a notification leaves for the schedule, in a partition of its own
//! (`GOOGLEPULL#<directory_id>`): the provider-webhooks function may write that partition
//! and no other of the directory table, so it can ask for a pull but never touch
//! credentials or channels.
//!
//! | `pk` / `sk` | what |
//! | --- | --- |
//! | `GOOGLE#<dir>` / `CHANNEL#<channel id>` | one channel: its event, token (SHA-256), Google's resource id, expiry |
//! | `GOOGLEPULL#<dir>` / `PULL_REQUESTED` | a notification arrived (`requested_at`); gsi1 `GOOGLE#PULL_REQUESTS` lists them |

use dsync_domain::ids::DirectoryId;
use dsync_domain::secrets::SecretHash;

use crate::error::{backend, is_conditional_failure};
use crate::google::connection_pk;
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::{GSI1PK, GSI1SK, PK, SK};
use crate::{Store, StoreError};

const CHANNEL_PREFIX: &str = "CHANNEL#";
const REQUESTED_SK: &str = "PULL_REQUESTED";
const REQUESTS: &str = "GOOGLE#PULL_REQUESTS";

pub(crate) fn pull_request_pk(directory: &DirectoryId) -> String {
    format!("GOOGLEPULL#{directory}")
}

/// One `users.watch` channel. The token is kept only as its hash: a notification's
/// `X-Goog-Channel-Token` is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleChannel {
    /// Our id for the channel (`X-Goog-Channel-ID`).
    pub id: String,
    /// The `users.watch` event it watches (`add`, `delete`, `update`, `undelete`).
    pub event: String,
    pub token_hash: SecretHash,
    /// Google's id of the watched resource (`channels.stop` needs it); `None` while the
    /// watch request has not answered yet.
    pub resource_id: Option<String>,
    /// Where Google delivers (a channel for an old address is replaced).
    pub address: String,
    pub created_at: i64,
    /// When Google stops delivering (milliseconds).
    pub expiration: i64,
}

fn encode_channel(directory: &DirectoryId, channel: &GoogleChannel) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(connection_pk(directory))),
        (SK.to_owned(), s(format!("{CHANNEL_PREFIX}{}", channel.id))),
        ("type".to_owned(), s("google_channel")),
        ("channel_id".to_owned(), s(&channel.id)),
        ("event".to_owned(), s(&channel.event)),
        ("token_hash".to_owned(), s(channel.token_hash.to_hex())),
        ("address".to_owned(), s(&channel.address)),
        ("created_at".to_owned(), n(channel.created_at)),
        ("expiration".to_owned(), n(channel.expiration)),
    ]);
    if let Some(resource) = &channel.resource_id {
        item.insert("resource_id".to_owned(), s(resource));
    }
    item
}

fn decode_channel(item: &Item) -> Result<GoogleChannel, StoreError> {
    Ok(GoogleChannel {
        id: item.str_attr("channel_id")?.to_owned(),
        event: item.str_attr("event")?.to_owned(),
        token_hash: SecretHash::from_hex(item.str_attr("token_hash")?)
            .ok_or_else(|| StoreError::corrupt("google channel token hash"))?,
        resource_id: item.opt_str_attr("resource_id").map(str::to_owned),
        address: item.str_attr("address")?.to_owned(),
        created_at: item.num_attr("created_at")?,
        expiration: item.num_attr("expiration")?,
    })
}

impl Store {
    /// Records a channel (before the watch request, so a notification that arrives before
    /// Google answers is recognized, and again with Google's answer).
    pub async fn put_google_channel(
        &self,
        directory: &DirectoryId,
        channel: &GoogleChannel,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_channel(directory, channel)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// One channel of the directory by its id (a consistent read).
    pub async fn google_channel(
        &self,
        directory: &DirectoryId,
        channel_id: &str,
    ) -> Result<Option<GoogleChannel>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(connection_pk(directory)))
            .key(SK, s(format!("{CHANNEL_PREFIX}{channel_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item.as_ref().map(decode_channel).transpose()
    }

    /// Every channel the directory has.
    pub async fn google_channels(
        &self,
        directory: &DirectoryId,
    ) -> Result<Vec<GoogleChannel>, StoreError> {
        let items = self
            .query_prefix_all(
                &self.tables.directory,
                &connection_pk(directory),
                CHANNEL_PREFIX,
            )
            .await?;
        items.iter().map(decode_channel).collect()
    }

    pub async fn delete_google_channel(
        &self,
        directory: &DirectoryId,
        channel_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.directory)
            .key(PK, s(connection_pk(directory)))
            .key(SK, s(format!("{CHANNEL_PREFIX}{channel_id}")))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Marks the directory for a pull soon (a notification arrived). Idempotent: a later
    /// notification moves `requested_at` forward.
    pub async fn request_google_pull(
        &self,
        directory: &DirectoryId,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .item(PK, s(pull_request_pk(directory)))
            .item(SK, s(REQUESTED_SK))
            .item(GSI1PK, s(REQUESTS))
            .item(GSI1SK, s(directory.to_string()))
            .item("type", s("google_pull_request"))
            .item("directory_id", s(directory.to_string()))
            .item("requested_at", n(now))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The directories with a pull requested, and when (one Query of the index).
    pub async fn requested_google_pulls(&self) -> Result<Vec<(DirectoryId, i64)>, StoreError> {
        let items = self
            .query_index_all_in(&self.tables.directory, "gsi1", GSI1PK, REQUESTS.into())
            .await?;
        items
            .iter()
            .map(|item| {
                let directory = id_attr(item, "directory_id", DirectoryId::parse)?;
                Ok((directory, item.num_attr("requested_at")?))
            })
            .collect()
    }

    /// Removes the mark a pull answered, unless a newer notification moved it meanwhile
    /// (that one asks for another pull).
    pub async fn clear_google_pull_request(
        &self,
        directory: &DirectoryId,
        requested_at: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.directory)
            .key(PK, s(pull_request_pk(directory)))
            .key(SK, s(REQUESTED_SK))
            .condition_expression("requested_at = :at")
            .expression_attribute_values(":at", n(requested_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

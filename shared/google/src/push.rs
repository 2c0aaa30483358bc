//! Push: `users.watch` channels, so a change in Google reaches dsync within a minute
//! instead of at the next 15-minute pull.
//!
//! A directory has one channel per watched event (`add`, `delete`, `update`, `undelete`),
//! opened after a completed pull when a public URL to receive notifications at is
//! configured, each with its own random token stored only as its SHA-256. Google POSTs to
//! `{base}/google/{directory_id}/notifications`; the provider-webhooks function checks the
//! channel id and token and marks the directory "pull requested" ([`pull_requested`] runs
//! those pulls: on AWS a schedule every minute, locally at once). Channels are renewed
//! after a completed pull once [`channel_due`] says so (the old one stopped), and stopped
//! when the directory is deleted.

use std::time::Instant;

use dsync_domain::ids::DirectoryId;
use dsync_domain::providers::google::{channel_due, PushStatus};
use dsync_domain::secrets;
use dsync_dynamo::{GoogleChannel, Store, StoreError};

use crate::api::{open_session, ApiError, ChannelRequest, Session};
use crate::pull::{pull_directory, Clock, PullEnd};
use crate::Google;

/// The `users.watch` events a directory's channels watch: everything that changes a user
/// as dsync maps it (`makeAdmin` does not).
pub const EVENTS: [&str; 4] = ["add", "delete", "update", "undelete"];
/// The lifetime asked for: Google's maximum for Directory API channels (two days).
const TTL_SECONDS: i64 = 2 * 24 * 3600;
/// Channel tokens carry this prefix (Google echoes them back; they are never shown).
const TOKEN_PREFIX: &str = "gch_";

/// Where Google delivers a directory's notifications.
pub fn notification_address(base: &str, directory: &DirectoryId) -> String {
    format!("{base}/google/{directory}/notifications")
}

#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the channels a directory lacks and renews those due, with the session of the pull
/// that just completed. Never fails the pull: the outcome is reported in the status.
/// `None` when this process has no address to receive notifications at (it leaves the
/// channels, and the status, to the processes that have one).
pub async fn maintain_channels(
    google: &Google,
    store: &Store,
    directory: &DirectoryId,
    session: &Session<'_>,
    clock: Clock<'_>,
) -> Option<PushStatus> {
    let base = google.push_base_url.as_ref()?;
    let address = notification_address(base, directory);
    Some(
        match maintain(store, directory, session, clock, &address).await {
            Ok(expires_at) => PushStatus {
                state: "active".into(),
                expires_at,
                error: None,
            },
            Err(error) => {
                tracing::warn!(directory_id = %directory, %error, "google push channel not opened; pulls continue on schedule");
                PushStatus {
                    state: "failed".into(),
                    expires_at: None,
                    error: Some(error.to_string()),
                }
            }
        },
    )
}

/// The earliest expiry among the live channels.
async fn maintain(
    store: &Store,
    directory: &DirectoryId,
    session: &Session<'_>,
    clock: Clock<'_>,
    address: &str,
) -> Result<Option<i64>, PushError> {
    let channels = store.google_channels(directory).await?;
    let now = clock();
    let mut soonest: Option<i64> = None;
    for event in EVENTS {
        let of_event: Vec<&GoogleChannel> = channels.iter().filter(|c| c.event == event).collect();
        let live = of_event
            .iter()
            .filter(|c| {
                c.resource_id.is_some()
                    && c.address == address
                    && !channel_due(now, c.created_at, c.expiration)
            })
            .max_by_key(|c| c.expiration)
            .copied();
        let expiration = match live {
            Some(channel) => channel.expiration,
            None => open_channel(store, directory, session, event, address, now).await?,
        };
        soonest = Some(soonest.map_or(expiration, |s| s.min(expiration)));
        // The channels it replaces: stopped first, so Google stops delivering to them.
        for old in of_event
            .iter()
            .filter(|c| live.is_none_or(|l| l.id != c.id))
        {
            stop(store, directory, session, old).await;
        }
    }
    Ok(soonest)
}

/// Opens one channel and returns its expiry. It is stored before Google is asked, so the
/// `sync` notification Google sends at once finds it.
async fn open_channel(
    store: &Store,
    directory: &DirectoryId,
    session: &Session<'_>,
    event: &str,
    address: &str,
    now: i64,
) -> Result<i64, PushError> {
    let token = secrets::generate(TOKEN_PREFIX);
    let mut channel = GoogleChannel {
        id: format!("dsync-{}", ulid::Ulid::new()),
        event: event.to_owned(),
        token_hash: token.hash,
        resource_id: None,
        address: address.to_owned(),
        created_at: now,
        expiration: now + TTL_SECONDS * 1000,
    };
    store.put_google_channel(directory, &channel).await?;
    let request = ChannelRequest {
        id: &channel.id,
        event,
        address,
        token: &token.plain,
        expiration: channel.expiration,
        ttl_seconds: TTL_SECONDS,
    };
    let watch = match session.watch_users(&request).await {
        Ok(watch) => watch,
        Err(error) => {
            store.delete_google_channel(directory, &channel.id).await?;
            return Err(error.into());
        }
    };
    channel.resource_id = Some(watch.resource_id);
    if let Some(expiration) = watch.expiration {
        channel.expiration = expiration;
    }
    store.put_google_channel(directory, &channel).await?;
    tracing::info!(directory_id = %directory, channel_id = %channel.id, event, "google push channel opened");
    Ok(channel.expiration)
}

/// Stops a channel at Google (best effort: it expires on its own within two days, and its
/// notifications are refused once its item is gone) and forgets it.
async fn stop(
    store: &Store,
    directory: &DirectoryId,
    session: &Session<'_>,
    channel: &GoogleChannel,
) {
    if let Some(resource) = &channel.resource_id {
        if let Err(error) = session.stop_channel(&channel.id, resource).await {
            tracing::warn!(directory_id = %directory, channel_id = %channel.id, %error, "google channel not stopped; it expires on its own");
        }
    }
    if let Err(error) = store.delete_google_channel(directory, &channel.id).await {
        tracing::warn!(directory_id = %directory, channel_id = %channel.id, %error, "google channel not forgotten");
    }
}

/// Stops every channel of a directory being deleted, while its credentials are still
/// stored. Best effort: whatever fails expires at Google within two days, and its
/// notifications are refused meanwhile (the channel items go with the connection).
pub async fn stop_channels(google: &Google, store: &Store, directory: &DirectoryId) {
    let channels = match store.google_channels(directory).await {
        Ok(channels) if !channels.is_empty() => channels,
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(directory_id = %directory, %error, "google channels not read");
            return;
        }
    };
    let credentials = store
        .google_credentials(directory)
        .await
        .ok()
        .and_then(|sealed| google.open(directory, &sealed).ok());
    let Some(credentials) = credentials else {
        tracing::warn!(directory_id = %directory, "google channels not stopped (no credentials); they expire on their own");
        return;
    };
    let now = dsync_domain::time::now_millis() / 1000;
    let deadline = Some(Instant::now() + std::time::Duration::from_secs(10));
    let session = match open_session(
        &google.http,
        &google.endpoints,
        google.backoff,
        &credentials,
        now,
        deadline,
    )
    .await
    {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(directory_id = %directory, %error, "google channels not stopped; they expire on their own");
            return;
        }
    };
    for channel in &channels {
        stop(store, directory, &session, channel).await;
    }
}

/// Runs the pulls notifications asked for, until done or `deadline`. A request stays while
/// another pull holds the directory or the pull is unfinished, and one that arrived during
/// the pull asks for the next.
pub async fn pull_requested(
    google: &Google,
    store: &Store,
    clock: Clock<'_>,
    deadline: Option<Instant>,
) -> Result<Vec<(DirectoryId, PullEnd)>, StoreError> {
    let mut ends = Vec::new();
    for (directory, requested_at) in store.requested_google_pulls().await? {
        let end = pull_directory(google, store, &directory, clock, deadline).await?;
        ends.push((directory, end));
        match end {
            PullEnd::Suspended => break,
            PullEnd::AlreadyRunning => {}
            PullEnd::Completed | PullEnd::Failed | PullEnd::NotConnected => {
                store
                    .clear_google_pull_request(&directory, requested_at)
                    .await?;
            }
        }
    }
    Ok(ends)
}

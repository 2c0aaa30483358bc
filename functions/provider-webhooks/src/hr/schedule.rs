//! BambooHR re-syncs on the reconciliation schedule (the policy function's `resync_hr`
//! invocation on AWS, a task of the local runner): every BambooHR directory with
//! credentials for its API is re-synced when its last run started an interval ago, and an
//! unfinished run is resumed at once. Directories are taken one after the other until the
//! deadline; the next invocation goes on from the checkpoints.

use std::time::Instant;

use dsync_domain::ids::DirectoryId;
use dsync_domain::model::ProviderKind;
use dsync_dynamo::{Sealer, Store, StoreError};

use super::resync::{resync, ResyncConfig, ResyncEnd, ResyncError, Trigger};

/// What the schedule did for one directory.
#[derive(Debug)]
pub struct Scheduled {
    pub directory_id: DirectoryId,
    pub end: Result<ResyncEnd, ResyncError>,
}

/// Re-syncs every BambooHR directory that is due (or unfinished), until `deadline`.
pub async fn resync_due(
    store: &Store,
    sealer: Option<&Sealer>,
    config: &ResyncConfig,
    clock: &(dyn Fn() -> i64 + Send + Sync),
    deadline: Option<Instant>,
) -> Result<Vec<Scheduled>, StoreError> {
    let mut done = Vec::new();
    for environment in store.environment_ids().await? {
        for directory in store.directories_of(&environment).await? {
            if directory.kind != ProviderKind::Bamboohr {
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(done);
            }
            let credentials = match store.hr_credentials(&directory.id, sealer).await {
                Ok(credentials) => credentials,
                Err(error) => {
                    tracing::error!(directory_id = %directory.id, %error, "hr credentials unreadable");
                    done.push(Scheduled {
                        directory_id: directory.id,
                        end: Err(ResyncError::from(error)),
                    });
                    continue;
                }
            };
            // Webhooks only: nothing to read BambooHR with.
            if credentials.bamboohr_company.is_none() || credentials.bamboohr_api_key.is_none() {
                continue;
            }
            let end = resync(
                store,
                &directory,
                &credentials,
                config,
                Trigger::Schedule,
                clock,
                deadline,
            )
            .await;
            done.push(Scheduled {
                directory_id: directory.id,
                end,
            });
        }
    }
    Ok(done)
}

//! The BambooHR re-sync: webhooks can be missed, so the employee directory
//! (`GET {base}/api/gateway.php/{company}/v1/employees/directory`, HTTP Basic with the API key
//! as user name and `x` as password) is read whole and compared with the provider records.
//!
//! Every listed employee is upserted with the listing as its whole state (unchanged ones
//! write nothing). The listing names current employees only, so an employee with a record
//! here who is missing from it has left: it is marked inactive, exactly as a termination
//! webhook would, and the environment's inactive-user policy decides what that means
//! (deleted from the directory under the secure flow, kept inactive under `retain`).

use std::collections::HashSet;
use std::time::Duration;

use dsync_domain::model::Directory;
use dsync_domain::providers::bamboohr::parse_directory;
use dsync_domain::providers::employee::{provider_user_id, EmployeeChange, EmployeeFields};
use dsync_dynamo::{HrCredentials, HrSyncReport, Store};

use super::apply::{self, ChangeError, Outcome};

/// BambooHR's API origin; tests point it at a local fake.
pub const DEFAULT_BASE_URL: &str = "https://api.bamboohr.com";
/// Users read per page while looking for employees the listing no longer names.
const PAGE: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("the directory has no bamboohr_company and bamboohr_api_key to read BambooHR with")]
    NotConfigured,
    #[error("BambooHR answered {0}")]
    Upstream(u16),
    #[error("BambooHR could not be reached")]
    Unreachable,
    #[error("BambooHR's employee directory is not in the documented shape: {0}")]
    BadListing(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

/// Reads the directory's BambooHR employee listing and brings its provider records in line;
/// the report is recorded as the directory's last sync (with the error, when it fails).
pub async fn resync(
    store: &Store,
    directory: &Directory,
    credentials: &HrCredentials,
    base_url: &str,
    now: i64,
) -> Result<HrSyncReport, ResyncError> {
    let result = run(store, directory, credentials, base_url, now).await;
    let report = match &result {
        Ok(report) => report.clone(),
        Err(error) => HrSyncReport {
            at: now,
            source: "resync".into(),
            error: Some(error.to_string()),
            ..HrSyncReport::default()
        },
    };
    if let Err(error) = store.record_hr_sync(&directory.id, &report).await {
        tracing::warn!(directory_id = %directory.id, %error, "sync report not recorded");
    }
    result
}

async fn run(
    store: &Store,
    directory: &Directory,
    credentials: &HrCredentials,
    base_url: &str,
    now: i64,
) -> Result<HrSyncReport, ResyncError> {
    let (Some(company), Some(api_key)) =
        (&credentials.bamboohr_company, &credentials.bamboohr_api_key)
    else {
        return Err(ResyncError::NotConfigured);
    };
    let listing = fetch(base_url, company, api_key).await?;
    let employees =
        parse_directory(&listing).map_err(|e| ResyncError::BadListing(e.to_string()))?;
    let listed: HashSet<_> = employees
        .iter()
        .map(|(id, _)| provider_user_id(&directory.id, id))
        .collect();
    let changes: Vec<EmployeeChange> = employees
        .into_iter()
        .map(|(employee_id, fields)| EmployeeChange::Upsert {
            employee_id,
            fields,
        })
        .collect();
    let mut report = apply::apply_all(store, directory, &changes, now, "resync").await?;
    let mut after = None;
    loop {
        let page = store
            .list_users(&directory.id, after.as_deref(), PAGE)
            .await
            .map_err(ChangeError::from)?;
        for user in page
            .users
            .iter()
            .filter(|u| u.active && !listed.contains(&u.id))
        {
            let Some(employee_id) = &user.external_id else {
                continue;
            };
            let left = EmployeeChange::Upsert {
                employee_id: employee_id.clone(),
                fields: EmployeeFields {
                    active: Some(false),
                    ..EmployeeFields::default()
                },
            };
            if apply::apply(store, directory, &left, now).await? == Outcome::Upserted {
                report.removed += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(
        directory_id = %directory.id,
        upserted = report.upserted,
        unchanged = report.unchanged,
        removed = report.removed,
        failed = report.failed,
        "bamboohr re-sync finished"
    );
    Ok(report)
}

async fn fetch(base_url: &str, company: &str, api_key: &str) -> Result<Vec<u8>, ResyncError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|_| ResyncError::Unreachable)?;
    let url = format!(
        "{}/api/gateway.php/{company}/v1/employees/directory",
        base_url.trim_end_matches('/')
    );
    let response = client
        .get(url)
        .basic_auth(api_key, Some("x"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| ResyncError::Unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ResyncError::Upstream(status.as_u16()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|_| ResyncError::Unreachable)?;
    Ok(body.to_vec())
}

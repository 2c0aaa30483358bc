//! Dry runs: which directory users reconciliation would create, delete or update now under
//! proposed settings or mappings, computed with the same projection rule on the same state,
//! writing nothing.
//!
//! An environment can hold 100,000 users, more than one API request can walk in its time
//! limit, so the preview is paged: each call walks at most a bounded number of pages (and
//! stops early when its time is up) and returns a cursor where the next call resumes. The
//! cursor names the directory, the phase and the last key read; directories are walked in
//! id order, so a directory created meanwhile is either reached or not, never half.

use std::time::Instant;

use dsync_domain::directory::events::{previous_attributes, user_payload};
use dsync_domain::directory::{DirectoryUser, UserWrite};
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{DirectoryMappings, EnvironmentSettings};
use dsync_dynamo::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::project::{plan_user, plan_users, Contexts, DirectoryContext, UserPlan};
use crate::App;

const PAGE_SIZE: i32 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewUser {
    /// The directory user that would be deleted or updated; `None` for one that would be created.
    pub id: Option<String>,
    pub directory_id: String,
    pub idp_id: String,
    pub username: String,
    pub state: String,
}

/// A user whose visible attributes would change: what they would be (roles and custom
/// attributes) and, as `dsync.user.updated` would say it, what they were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewUpdate {
    #[serde(flatten)]
    pub user: PreviewUser,
    pub role: Option<Value>,
    pub roles: Vec<Value>,
    pub custom_attributes: Map<String, Value>,
    pub previous_attributes: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preview {
    pub users_created: Vec<PreviewUser>,
    pub users_deleted: Vec<PreviewUser>,
    pub users_updated: Vec<PreviewUpdate>,
}

/// Where a preview resumes: a directory, a phase (`users`: provider users; `gone_users`:
/// directory users whose provider record is gone) and the last key read in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewCursor {
    #[serde(rename = "d")]
    pub directory_id: DirectoryId,
    #[serde(rename = "p")]
    pub phase: String,
    #[serde(rename = "a")]
    pub after: Option<String>,
}

impl PreviewCursor {
    /// An opaque token (hex of a small JSON document): clients pass it back unchanged.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        json.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// `None` for anything that is not a token [`PreviewCursor::encode`] made.
    pub fn decode(token: &str) -> Option<Self> {
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let cursor: Self = serde_json::from_slice(&bytes?).ok()?;
        matches!(cursor.phase.as_str(), "users" | "gone_users").then_some(cursor)
    }
}

/// One slice of a preview and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviewPage {
    pub preview: Preview,
    pub next: Option<PreviewCursor>,
}

/// What reconciliation under `proposed` would create and delete now, over the whole
/// environment (tests and small environments; the API pages with [`preview_page`]).
pub async fn preview(
    app: &App,
    environment: &EnvironmentId,
    proposed: &EnvironmentSettings,
) -> Result<Preview, StoreError> {
    let mut whole = Preview::default();
    let mut from = None;
    loop {
        let page = preview_page(app, environment, proposed, from, u32::MAX, None).await?;
        whole.users_created.extend(page.preview.users_created);
        whole.users_deleted.extend(page.preview.users_deleted);
        whole.users_updated.extend(page.preview.users_updated);
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(whole),
        }
    }
}

/// One slice of the preview, from `from` (the start when `None`): at most `max_pages` pages
/// of 100 records, and none started after `deadline`.
pub async fn preview_page(
    app: &App,
    environment: &EnvironmentId,
    proposed: &EnvironmentSettings,
    from: Option<PreviewCursor>,
    max_pages: u32,
    deadline: Option<Instant>,
) -> Result<PreviewPage, StoreError> {
    let mut preview = Preview::default();
    let mut contexts = Contexts::default();
    let mut directories: Vec<DirectoryId> = app
        .store
        .directories_of(environment)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    directories.sort();
    if let Some(from) = &from {
        directories.retain(|d| *d >= from.directory_id);
    }
    let mut pages = 0u32;
    for directory in directories {
        let Some(mut context) = contexts.get(app, &directory).await? else {
            continue;
        };
        context.set_settings(proposed.clone());
        let organization = context.directory().organization_id.clone();
        let organization = organization.as_deref();
        let resume = from.as_ref().filter(|f| f.directory_id == directory);
        let phases: &[&str] = match resume.map(|r| r.phase.as_str()) {
            Some("gone_users") => &["gone_users"],
            _ => &["users", "gone_users"],
        };
        for (index, phase) in phases.iter().enumerate() {
            let mut after = if index == 0 {
                resume.and_then(|r| r.after.clone())
            } else {
                None
            };
            loop {
                if pages >= max_pages || deadline.is_some_and(|d| Instant::now() >= d) {
                    let next = PreviewCursor {
                        directory_id: directory,
                        phase: (*phase).to_owned(),
                        after,
                    };
                    return Ok(PreviewPage {
                        preview,
                        next: Some(next),
                    });
                }
                pages += 1;
                let next = if *phase == "users" {
                    // A record that does not decode is left out (reconciliation
                    // quarantines it and lists it as a sync failure).
                    let (page, _) = app
                        .store
                        .list_users_tolerant(&directory, after.as_deref(), PAGE_SIZE)
                        .await?;
                    for (_, plan) in plan_users(app, &context, &page.users).await? {
                        record(&mut preview, &plan, organization);
                    }
                    page.next
                } else {
                    // Directory users whose provider record is gone are deleted under every
                    // policy.
                    let (users, next) = app
                        .store
                        .projected_users_page(&directory, after, PAGE_SIZE)
                        .await?;
                    let present = app.store.existing_users(&directory, &users).await?;
                    for user in users.iter().filter(|u| !present.contains(u)) {
                        let plan = plan_user(app, &context, user).await?;
                        record(&mut preview, &plan, organization);
                    }
                    next
                };
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    Ok(PreviewPage {
        preview,
        next: None,
    })
}

/// What reconciling one directory under `proposed` mappings would do now, walking the whole
/// directory. `None`: the directory is gone.
pub async fn preview_mappings(
    app: &App,
    directory: &DirectoryId,
    proposed: &DirectoryMappings,
) -> Result<Option<Preview>, StoreError> {
    let Some(mut context) = Contexts::default().get(app, directory).await? else {
        return Ok(None);
    };
    context.set_mappings(proposed.clone());
    let mut preview = Preview::default();
    preview_directory(app, &context, &mut preview).await?;
    Ok(Some(preview))
}

/// Walks one directory as reconciliation does (provider users page by page, then directory
/// users whose provider record is gone), planning each page with the batched reads.
async fn preview_directory(
    app: &App,
    context: &DirectoryContext,
    preview: &mut Preview,
) -> Result<(), StoreError> {
    let directory = &context.directory().id;
    let organization = context.directory().organization_id.as_deref();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .store
            .list_users(directory, after.as_deref(), PAGE_SIZE)
            .await?;
        for (_, plan) in plan_users(app, context, &page.users).await? {
            record(preview, &plan, organization);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut after: Option<String> = None;
    loop {
        let (users, next) = app
            .store
            .projected_users_page(directory, after, PAGE_SIZE)
            .await?;
        let present = app.store.existing_users(directory, &users).await?;
        for user in users.iter().filter(|u| !present.contains(u)) {
            record(preview, &plan_user(app, context, user).await?, organization);
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}

fn record(preview: &mut Preview, plan: &UserPlan, organization: Option<&str>) {
    match (&plan.outcome.user, &plan.before.user) {
        (UserWrite::Put(new), None) => preview.users_created.push(describe(new, false)),
        (UserWrite::Delete(_), Some(old)) => preview.users_deleted.push(describe(old, true)),
        (UserWrite::Put(new), Some(old)) => {
            let previous = previous_attributes(
                &user_payload(old, organization),
                &user_payload(new, organization),
            );
            if !previous.is_empty() {
                preview.users_updated.push(PreviewUpdate {
                    user: describe(new, true),
                    role: new.attributes.role.clone(),
                    roles: new.attributes.roles.clone(),
                    custom_attributes: new.attributes.custom_attributes.clone(),
                    previous_attributes: previous,
                });
            }
        }
        _ => {}
    }
}

fn describe(user: &DirectoryUser, existing: bool) -> PreviewUser {
    PreviewUser {
        id: existing.then(|| user.id.to_string()),
        directory_id: user.directory_id.to_string(),
        idp_id: user.attributes.idp_id.clone(),
        username: user.attributes.username.clone(),
        state: user.state.as_str().to_owned(),
    }
}

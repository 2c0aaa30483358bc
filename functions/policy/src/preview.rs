//! Dry runs: which directory users reconciliation would create, delete or update now under
//! proposed settings or mappings, computed with the same projection rule on the same state,
//! writing nothing.

use dsync_domain::directory::events::{previous_attributes, user_payload};
use dsync_domain::directory::{DirectoryUser, UserWrite};
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{DirectoryMappings, EnvironmentSettings};
use dsync_dynamo::StoreError;
use serde::Serialize;
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

/// What reconciliation under `proposed` settings would do now, in every directory.
pub async fn preview(
    app: &App,
    environment: &EnvironmentId,
    proposed: &EnvironmentSettings,
) -> Result<Preview, StoreError> {
    let mut preview = Preview::default();
    let mut contexts = Contexts::default();
    for directory in app.store.directories_of(environment).await? {
        let Some(mut context) = contexts.get(app, &directory.id).await? else {
            continue;
        };
        context.settings = proposed.clone();
        preview_directory(app, &context, &mut preview).await?;
    }
    Ok(preview)
}

/// What reconciling one directory under `proposed` mappings would do now. `None`: the
/// directory is gone.
pub async fn preview_mappings(
    app: &App,
    directory: &DirectoryId,
    proposed: &DirectoryMappings,
) -> Result<Option<Preview>, StoreError> {
    let Some(mut context) = Contexts::default().get(app, directory).await? else {
        return Ok(None);
    };
    context.directory.mappings = proposed.clone();
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
    let directory = &context.directory.id;
    let organization = context.directory.organization_id.as_deref();
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
    // Directory users whose provider record is gone are deleted under every policy.
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

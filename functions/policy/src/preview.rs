//! A dry run of proposed settings: which directory users reconciliation would create or
//! delete now, computed with the same projection rule on the same state, writing nothing.

use dsync_domain::directory::{DirectoryUser, UserWrite};
use dsync_domain::ids::EnvironmentId;
use dsync_domain::model::EnvironmentSettings;
use dsync_dynamo::StoreError;
use serde::Serialize;

use crate::project::{plan_user, plan_users, Contexts, UserPlan};
use crate::App;

const PAGE_SIZE: i32 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewUser {
    /// The directory user that would be deleted; `None` for one that would be created.
    pub id: Option<String>,
    pub directory_id: String,
    pub idp_id: String,
    pub username: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preview {
    pub users_created: Vec<PreviewUser>,
    pub users_deleted: Vec<PreviewUser>,
}

/// What reconciliation under `proposed` would create and delete now.
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
        let mut after: Option<String> = None;
        loop {
            let page = app
                .store
                .list_users(&directory.id, after.as_deref(), PAGE_SIZE)
                .await?;
            for (_, plan) in plan_users(app, &context, &page.users).await? {
                record(&mut preview, &plan);
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
                .projected_users_page(&directory.id, after, PAGE_SIZE)
                .await?;
            let present = app.store.existing_users(&directory.id, &users).await?;
            for user in users.iter().filter(|u| !present.contains(u)) {
                record(&mut preview, &plan_user(app, &context, user).await?);
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(preview)
}

fn record(preview: &mut Preview, plan: &UserPlan) {
    match (&plan.outcome.user, &plan.before.user) {
        (UserWrite::Put(new), None) => preview.users_created.push(describe(new, false)),
        (UserWrite::Delete(_), Some(old)) => preview.users_deleted.push(describe(old, true)),
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

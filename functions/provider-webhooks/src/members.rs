//! Turning the member changes of a PUT or PATCH into the membership items to write.

use std::collections::{BTreeMap, BTreeSet};

use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
use dsync_domain::model::ProviderGroup;
use dsync_domain::scim::patch::MemberChange;
use dsync_domain::scim::resource::MemberRef;
use dsync_domain::scim::ScimError;
use dsync_dynamo::MembershipDiff;
use serde_json::json;

use crate::respond::store_error;
use crate::route::Context;

/// Member changes folded in order into one set of additions and removals.
pub struct MemberPlan {
    group: ProviderGroupId,
    adds: BTreeMap<ProviderUserId, Option<String>>,
    removes: BTreeSet<ProviderUserId>,
    /// Present once a change needed the current members; lets `finish` skip no-op writes.
    current: Option<BTreeMap<ProviderUserId, Option<String>>>,
    not_user_ids: Vec<String>,
}

impl MemberPlan {
    /// A group that has no members yet.
    pub fn for_new_group(group: ProviderGroupId) -> Self {
        let mut plan = Self::for_existing_group(group);
        plan.current = Some(BTreeMap::new());
        plan
    }

    fn for_existing_group(group: ProviderGroupId) -> Self {
        Self {
            group,
            adds: BTreeMap::new(),
            removes: BTreeSet::new(),
            current: None,
            not_user_ids: Vec::new(),
        }
    }

    pub async fn resolve(
        ctx: &Context<'_>,
        group: &ProviderGroup,
        changes: Vec<MemberChange>,
    ) -> Result<MembershipDiff, ScimError> {
        let mut plan = Self::for_existing_group(group.id);
        for change in changes {
            match change {
                MemberChange::Add(refs) => plan.add(refs),
                MemberChange::Remove(ids) => plan.remove(ids),
                MemberChange::RemoveAll => {
                    let current = plan.current(ctx, group).await?;
                    plan.adds.clear();
                    plan.removes.extend(current);
                }
                MemberChange::ReplaceAll(refs) => {
                    let current = plan.current(ctx, group).await?;
                    plan.adds.clear();
                    plan.removes = current.into_iter().collect();
                    plan.add(refs);
                }
                MemberChange::RemoveWhere(filter) => {
                    let current = plan.current(ctx, group).await?;
                    let candidates: Vec<_> = current
                        .iter()
                        .filter(|id| !plan.removes.contains(id))
                        .chain(plan.adds.keys())
                        .copied()
                        .collect();
                    for id in candidates {
                        let display = plan.display_of(&id);
                        let member =
                            json!({ "value": id.to_string(), "display": display, "type": "User" });
                        if filter.matches(&member) {
                            plan.adds.remove(&id);
                            plan.removes.insert(id);
                        }
                    }
                }
            }
        }
        plan.finish(ctx).await
    }

    pub fn add(&mut self, refs: Vec<MemberRef>) {
        for member in refs {
            match ProviderUserId::parse(&member.value) {
                Ok(id) => {
                    self.removes.remove(&id);
                    self.adds
                        .insert(id, crate::limits::short_display(member.display));
                }
                Err(_) => self.not_user_ids.push(member.value),
            }
        }
    }

    fn remove(&mut self, ids: Vec<String>) {
        // A value that is not a user id cannot be a member: removing it changes nothing.
        for id in ids.iter().filter_map(|v| ProviderUserId::parse(v).ok()) {
            self.adds.remove(&id);
            self.removes.insert(id);
        }
    }

    async fn current(
        &mut self,
        ctx: &Context<'_>,
        group: &ProviderGroup,
    ) -> Result<Vec<ProviderUserId>, ScimError> {
        if self.current.is_none() {
            let members = ctx
                .app
                .store
                .all_members(&group.directory_id, &group.id)
                .await
                .map_err(store_error)?;
            self.current = Some(members.into_iter().collect());
        }
        Ok(self
            .current
            .iter()
            .flat_map(|c| c.keys().copied())
            .collect())
    }

    fn display_of(&self, id: &ProviderUserId) -> Option<String> {
        self.adds
            .get(id)
            .cloned()
            .or_else(|| self.current.as_ref().and_then(|c| c.get(id).cloned()))
            .flatten()
    }

    /// Drops writes that would change nothing. A member id this directory has not seen (yet)
    /// is stored all the same, in this directory's partition only: the membership takes
    /// effect, with its events, once a user with that id exists, and deleting that user
    /// removes it. A value that is not a user id at all can never name one and is skipped.
    /// Neither fails the request: identity providers send such references routinely.
    pub async fn finish(mut self, ctx: &Context<'_>) -> Result<MembershipDiff, ScimError> {
        let stored = match self.current.take() {
            Some(current) => current,
            None => {
                let touched: Vec<ProviderUserId> = self
                    .adds
                    .keys()
                    .chain(self.removes.iter())
                    .copied()
                    .collect();
                ctx.app
                    .store
                    .memberships_among(&ctx.directory.id, &self.group, &touched)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .collect()
            }
        };
        self.adds
            .retain(|id, display| stored.get(id) != Some(display));
        self.removes.retain(|id| stored.contains_key(id));
        if !self.not_user_ids.is_empty() {
            tracing::info!(
                provider_group_id = %self.group,
                skipped = self.not_user_ids.len(),
                "member values that are not user ids skipped"
            );
        }
        Ok(MembershipDiff {
            add: self.adds.into_iter().collect(),
            remove: self.removes.into_iter().collect(),
        })
    }
}

//! Leases on work items (a reconciliation run, an HR re-sync): `lease_owner` and `lease_until`
//! on the item that holds the work's progress.

use crate::error::{backend, is_conditional_failure};
use crate::item::s;
use crate::keys::{PK, SK};
use crate::{Store, StoreError};

impl Store {
    /// Gives up `owner`'s lease on the item at `pk`/`sk` (the progress stays), so the next
    /// invocation may take it at once; a lease `owner` no longer holds is left alone.
    pub(crate) async fn release_lease(
        &self,
        pk: String,
        sk: String,
        owner: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

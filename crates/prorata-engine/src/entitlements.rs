//! Entitlements: a subscription's features and limits on a date, read for the vendor's product
//! to gate what its customers may use. The core computes them from the catalog and the
//! timeline ([`prorata_core::entitlements`]); this reads both and picks the date.

use chrono::NaiveDate;
use prorata_core::entitlements::{entitlements, Entitlements};
use prorata_store::{StoreError, Tenant};

use crate::{Engine, EngineError, Result};

impl Engine {
    /// The entitlements of `tenant`'s subscription `id` on `as_of` (the tenant's today when
    /// `None`: a sandbox's own clock), with every change known today — so a change scheduled
    /// for later shows from its day on.
    pub async fn entitlements(
        &self,
        tenant: &Tenant,
        id: i64,
        as_of: Option<NaiveDate>,
    ) -> Result<Entitlements> {
        let today = Engine::today(tenant);
        let as_of = as_of.unwrap_or(today);
        crate::bounds::check_date("as_of", as_of, today)?;
        let mut tx = self.store.read().await?;
        let row = tx
            .subscription(tenant.id, id, false)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        // Every change is checked against the catalog version the subscription is sold on,
        // so its plan is there: a plan missing is a store out of step with its catalog.
        entitlements(&catalog, &row.subscription, as_of, today)
            .map_err(|e| EngineError::Store(StoreError::Corrupt(format!("subscription {id}: {e}"))))
    }
}

//! The background billing worker of `prorata serve`: live tenants are billed on the calendar's
//! date; sandbox tenants only move when their clock is advanced.

use std::time::Duration;

use prorata_engine::{Engine, RunSummary};
use prorata_store::TenantMode;

/// Bills every live tenant once, as of today. Exposed so tests can drain the work.
pub async fn run_once(engine: &Engine) -> Result<RunSummary, prorata_engine::EngineError> {
    let ids = engine.store.begin().await?.tenant_ids().await?;
    let mut total = RunSummary::default();
    for id in ids {
        let tenant = engine.tenant(id).await?;
        if tenant.mode == TenantMode::Live {
            let s = engine
                .run_billing(&tenant, Engine::today(&tenant), &mut |_| {})
                .await?;
            total.add(&s);
        }
    }
    Ok(total)
}

/// Runs [`run_once`] every `every`, logging failures and carrying on.
pub fn spawn(engine: Engine, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(&engine).await {
                eprintln!("billing worker: {e}");
            }
            tokio::time::sleep(every).await;
        }
    })
}

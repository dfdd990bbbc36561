//! `prorata bench collection`: N accounts paying by card are billed, then one collection pass
//! is timed — dispatching the N `invoice.finalized` events into charge jobs, and charging
//! each — twice: through the sandbox gateway (which keeps its memory in the same database,
//! a write per charge, as a stand-in for the gateway's round trip), and through an instant
//! gateway that answers from nothing, so that the engine's own cost per charge shows.

use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_core::Money;

use prorata_engine::gateway::{BankAccount, BoxFuture, CardInfo, Gateway, GatewayError};
use prorata_store::TenantMode;

use crate::bench::{drop_fresh, fresh_url};
use crate::db::open;
use prorata_testkit::bulk;

pub async fn collection(store: &str, accounts: usize, database_url: Option<String>) -> Result<()> {
    for instant in [false, true] {
        let (url, cleanup) = fresh_url(store, database_url.clone()).await?;
        let result = run(&url, store, accounts, instant).await;
        drop_fresh(&url, cleanup).await?;
        result?;
    }
    Ok(())
}

/// A gateway that says yes at once and remembers nothing: the engine's cost alone.
#[derive(Debug)]
struct InstantGateway;

impl Gateway for InstantGateway {
    fn card<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<CardInfo, GatewayError>> {
        Box::pin(async { Err(GatewayError::Invalid("not used".into())) })
    }
    fn attach_bank_account<'a>(
        &'a self,
        _: &'a str,
        _: &'a BankAccount,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async { Err(GatewayError::Invalid("not used".into())) })
    }
    fn authorise<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Money,
        _: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async { Err(GatewayError::Invalid("not used".into())) })
    }
    fn void<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async { Ok(()) })
    }
    fn charge<'a>(
        &'a self,
        key: &'a str,
        _: &'a str,
        _: Money,
        _: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move { Ok(format!("ch_{key}")) })
    }
    fn refund<'a>(
        &'a self,
        key: &'a str,
        _: &'a str,
        _: Money,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move { Ok(format!("re_{key}")) })
    }
    fn max_in_flight(&self) -> usize {
        64
    }
}

async fn run(url: &str, store: &str, n: usize, instant: bool) -> Result<()> {
    let engine = open(url).await?;
    let engine = if instant {
        engine.with_gateway(std::sync::Arc::new(InstantGateway))
    } else {
        engine
    };
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or_default();
    let (tenant, catalog) = bulk::tenant_with_catalog(
        &engine,
        "bench",
        TenantMode::Live,
        None,
        &Settings::default(),
    )
    .await?;
    let sub = bulk::monthly("essentials", as_of, &[("user", 5), ("number", 1)]);
    let ids = bulk::subscriptions(&engine, tenant.id, catalog, n, &sub).await?;
    crate::bench::attach_good_visa(&engine, tenant.id, &ids).await?;
    let billed = Instant::now();
    let run = engine.run_billing(&tenant, as_of, &mut |_| {}).await?;
    let bill_secs = billed.elapsed().as_secs_f64();

    let started = Instant::now();
    let summary = engine.collect(&tenant, as_of).await?;
    let secs = started.elapsed().as_secs_f64();
    let rate = |k: u64, s: f64| if s > 0.0 { k as f64 / s } else { 0.0 };
    println!(
        "collection on {store}, {} gateway: {n} accounts; billing run {} invoices in {bill_secs:.1} s; \
         collection pass {secs:.1} s: {} events dispatched, {} charges ({} succeeded) = {:.0} charges/s",
        if instant { "instant" } else { "sandbox" },
        run.invoices,
        summary.events,
        summary.charges,
        summary.succeeded,
        rate(summary.charges, secs)
    );
    Ok(())
}

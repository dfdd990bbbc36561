//! The harness shared by the engine's integration tests: each test body is an
//! `async fn(url)` written once, run on a throwaway SQLite file and on a fresh PostgreSQL
//! database by [`on_both_stores!`], plus the customers most tests start from.
// Each test binary uses part of this module.
#![allow(dead_code, unused_macros)]

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::catalog::Lang;
use prorata_core::reconcile::Settings;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Currency, Frequency};
use prorata_engine::Engine;
use prorata_store::{CatalogVersion, Store, Tenant, TenantMode};

pub const DEFAULT_CATALOG: &str = include_str!("../../../../catalog/default.toml");

/// For each `name`, a test `sqlite::name` and a test `postgres::name`, both running the body
/// `name(url)` defined in the test file.
macro_rules! on_both_stores {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    // The guard removes the file's directory when the test ends.
                    let (url, _guard) = prorata_testkit::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    super::$name(&url).await;
                }
            )*
        }
    };
}

/// A date: 2024-03-01 is `d(2024, 3, 1)`.
pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a valid date")
}

pub async fn open(url: &str) -> Engine {
    let store = Store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    store.migrate().await.expect("migrations apply");
    Engine::new(store)
}

pub async fn sandbox(engine: &Engine, name: &str, clock: NaiveDate) -> Tenant {
    engine
        .create_tenant(name, TenantMode::Sandbox, Some(clock), &Settings::default())
        .await
        .expect("tenant created")
}

/// A French company billed in euros, without a VAT number: French VAT at 20 % applies.
pub fn french_account(name: &str) -> Account {
    Account {
        name: name.into(),
        website: String::new(),
        address: Address {
            line1: "1 rue de la Paix".into(),
            postcode: "75002".into(),
            city: "Paris".into(),
            ..Address::default()
        },
        country: "FR".into(),
        vat_number: None,
        currency: Currency::EUR,
        language: Lang::Fr,
        time_zone: "Europe/Paris".into(),
        billing_contacts: vec!["billing@example.com".into()],
        siren: None,
        siret: None,
        delivery_address: None,
    }
}

/// Essentials, monthly, in euros, no trial: `users` users and 1 number (included).
pub fn essentials(start: NaiveDate, users: i64) -> SubscriptionSpec {
    SubscriptionSpec {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start,
        trial_days: Some(0),
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([("user".to_string(), users), ("number".to_string(), 1)]),
        billing_day: None,
    }
}

/// A sandbox tenant (clock at `clock`) with the default catalog as version 1.
pub async fn tenant_with_catalog(engine: &Engine, clock: NaiveDate) -> (Tenant, CatalogVersion) {
    let tenant = sandbox(engine, "Acme telephony (sandbox)", clock).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("the default catalog imports");
    assert_eq!(catalog.version, 1);
    (tenant, catalog)
}

/// An active user of the tenant (of `account`, or staff), French, without a password: the
/// id.
pub async fn user(
    engine: &Engine,
    tenant: &Tenant,
    account: Option<i64>,
    role: prorata_core::access::Role,
    email: &str,
) -> i64 {
    let mut tx = engine.store.begin().await.expect("tx");
    let id = tx
        .insert_user(
            tenant.id,
            &prorata_store::NewUser {
                account_id: account,
                role,
                email,
                name: email,
                language: prorata_core::Lang::Fr,
                status: prorata_core::access::UserStatus::Active,
                password_hash: None,
            },
        )
        .await
        .expect("user");
    tx.commit().await.expect("commit");
    id
}

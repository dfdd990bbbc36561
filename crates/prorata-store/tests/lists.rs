//! The API's lists on both stores (issue #16, item 3): the subscription status filter, written
//! in SQL over the stored milestones, lists exactly the subscriptions the core's rule
//! (`Milestones::status_on`) puts in that status, on every day around their milestones; and
//! the invoice heads and totals the status derivation reads are scoped by tenant.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use prorata_core::account::{Account, Address};
use prorata_core::entitlements::{Milestones, Status};
use prorata_core::reconcile::Settings;
use prorata_core::timeline::{start_of, Change, Event, Subscription};
use prorata_core::{Currency, Frequency, Lang};
use prorata_store::{Store, SubscriptionFilter, TenantMode, Tx};
use prorata_testkit::both_stores;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, m, d).expect("a date")
}

fn account() -> Account {
    Account {
        name: "Lumen".into(),
        website: String::new(),
        address: Address::default(),
        country: "FR".into(),
        vat_number: None,
        currency: Currency::EUR,
        language: Lang::Fr,
        time_zone: "Europe/Paris".into(),
        billing_contacts: vec![],
        siren: None,
        siret: None,
        delivery_address: None,
    }
}

fn subscription(start: NaiveDate, trial_days: u32, end: Option<(NaiveDate, u32)>) -> Subscription {
    let events = end
        .map(|(on, hour)| {
            vec![Event {
                recorded_on: start,
                effective: start_of(on)
                    .checked_add_signed(chrono::TimeDelta::hours(hour.into()))
                    .unwrap_or(start_of(on)),
                change: Change::Cancelled,
            }]
        })
        .unwrap_or_default();
    Subscription {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start,
        trial_days,
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([("user".into(), 5)]),
        events,
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    }
}

async fn tenant(tx: &mut Tx, name: &str) -> (i64, i64, i64) {
    let tenant = tx
        .create_tenant(
            name,
            TenantMode::Sandbox,
            Some(day(7, 1)),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let account = tx
        .insert_account(tenant, &account())
        .await
        .expect("account");
    let catalog = tx
        .insert_catalog(tenant, include_str!("../../../catalog/default.toml"))
        .await
        .expect("catalog")
        .id;
    (tenant, account, catalog)
}

async fn the_status_filter_agrees_with_the_core_rule_on_every_day(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("tx");
    let (t, a, catalog) = tenant(&mut tx, "Vendor").await;
    let subs = [
        subscription(day(7, 10), 0, None),
        subscription(day(7, 10), 7, None),
        // A trial cut short by a cancellation at noon, and one ending at midnight.
        subscription(day(7, 10), 14, Some((day(7, 15), 12))),
        subscription(day(7, 12), 0, Some((day(7, 20), 0))),
        // Cancelled on its first day.
        subscription(day(7, 14), 3, Some((day(7, 14), 0))),
    ];
    let mut ids = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        // One written at insert, the others by an update: both write the milestones.
        let id = if i % 2 == 0 {
            tx.insert_subscription(t, a, catalog, sub, None)
                .await
                .expect("insert")
        } else {
            let id = tx
                .insert_subscription(t, a, catalog, &subscription(day(1, 1), 0, None), None)
                .await
                .expect("insert");
            tx.update_subscription(t, id, sub, None)
                .await
                .expect("update");
            id
        };
        ids.push(id);
    }
    // Another tenant's subscription in every status is never listed.
    let (other, other_account, other_catalog) = tenant(&mut tx, "Other").await;
    tx.insert_subscription(other, other_account, other_catalog, &subs[1], None)
        .await
        .expect("other");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("tx");
    let mut on = day(7, 8);
    while on <= day(7, 25) {
        for status in Status::ALL {
            let filter = SubscriptionFilter {
                account: None,
                status: Some((status, on)),
            };
            let page = tx
                .list_subscriptions(t, filter, 0, 100)
                .await
                .expect("list");
            let listed: Vec<i64> = page.items.iter().map(|r| r.id).collect();
            let expected: Vec<i64> = ids
                .iter()
                .zip(&subs)
                .filter(|(_, s)| Milestones::of(s, NaiveDate::MAX).status_on(on) == status)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(listed, expected, "{status:?} on {on}");
        }
        on = on.checked_add_days(Days::new(1)).expect("a day");
    }
    // By account, in pages.
    let filter = SubscriptionFilter {
        account: Some(a),
        status: None,
    };
    let first = tx.list_subscriptions(t, filter, 0, 3).await.expect("list");
    assert_eq!(first.items.len(), 3);
    let next = first.next.expect("a next page");
    let rest = tx
        .list_subscriptions(t, filter, next, 3)
        .await
        .expect("list");
    let all: Vec<i64> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|r| r.id)
        .collect();
    assert_eq!((all, rest.next), (ids.clone(), None));
    // Another tenant's account lists nothing of this tenant.
    let filter = SubscriptionFilter {
        account: Some(other_account),
        status: None,
    };
    let page = tx.list_subscriptions(t, filter, 0, 10).await.expect("list");
    assert!(page.items.is_empty());
}
both_stores!(
    status_filter,
    the_status_filter_agrees_with_the_core_rule_on_every_day
);

//! Usage metering (issue #4) against both stores: call records in, the invoice's "Minutes"
//! section out.
//!
//! Every test body below is an `async fn(url)` written once; [`on_both_stores!`] generates two
//! `#[tokio::test]` wrappers for each, `sqlite::<name>` (a throwaway SQLite file from
//! `prorata_testkit::sqlite_url`) and `postgres::<name>` (a fresh database from
//! `prorata_testkit::fresh_database`, on `DATABASE_URL` or a throwaway cluster; never skipped).
//!
//! The catalog is `catalog/default.toml`. Call metrics count seconds and are priced per minute
//! (EUR): France fixed 0.0150 and France mobile 0.0500 (per second after the first minute),
//! Europe 0.0400 and USA/Canada 0.0200 (each call rounded up to the minute), toll-free inbound
//! 0.0350 (per second after the first minute). A line's amount is `seconds / 60 × price`,
//! rounded once per line, half-up, to the cent. Amounts are minor units (cents).
//!
//! Every customer holds Essentials, monthly, from 2024-03-01, no trial: 3 users × 30.00 =
//! 90.00 a month (the one number is included). Its periods are calendar months, so March's
//! calls are billed on the 1 April invoice.

use chrono::{DateTime, NaiveDate, Utc};
use prorata_core::account::Account;
use prorata_core::calls::{CallError, CallRecord, Direction};
use prorata_core::document::{Document, DocumentKind, Line, LineKey, Section};
use prorata_core::horizon::Horizon;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Decimal, Period};
use prorata_engine::{parse_call, Engine, EngineError, IngestReport, Rejected, RunSummary};
use prorata_store::{CatalogVersion, DocumentRow, Tenant};

#[macro_use]
mod common;

use common::*;

// ------------------------------------------------------------------------------ harness

on_both_stores!(
    each_rounding_rule_bills_its_seconds_and_each_line_is_rounded_once_half_up_on_the_april_invoice,
    a_bundle_covers_its_metrics_first_toll_free_is_billed_at_its_own_rate_and_ordinary_inbound_calls_are_free,
    an_event_id_sent_twice_in_a_batch_and_again_in_a_later_batch_is_counted_as_a_duplicate_and_billed_once,
    a_mixed_batch_accepts_the_good_events_and_names_the_index_and_field_of_each_bad_one_including_another_tenants_account,
    a_march_call_recorded_on_10_april_is_billed_on_the_may_invoice_as_late_usage_of_the_march_period,
    late_usage_in_a_metric_already_billed_for_its_period_is_rerated_and_only_the_difference_is_billed,
    a_call_belongs_to_the_period_of_its_local_day_in_the_accounts_time_zone,
    a_subscription_created_after_a_refused_call_is_seen_by_the_next_batch,
    billing_reads_from_the_settled_horizon_and_usage_dated_before_it_voids_it,
);

fn period(start: NaiveDate, end: NaiveDate) -> Period {
    Period { start, end }
}

/// 1 – 31 March 2024.
fn march() -> Period {
    period(d(2024, 3, 1), d(2024, 3, 31))
}

/// 1 – 30 April 2024.
fn april() -> Period {
    period(d(2024, 4, 1), d(2024, 4, 30))
}

/// An RFC 3339 instant.
fn at(text: &str) -> DateTime<Utc> {
    text.parse()
        .unwrap_or_else(|e| panic!("{text} is not an instant: {e}"))
}

/// A sandbox tenant (clock at 2024-03-01) with the default catalog as version 1.
async fn tenant_with_catalog(engine: &Engine, name: &str) -> (Tenant, CatalogVersion) {
    let tenant = sandbox(engine, name, d(2024, 3, 1)).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("the default catalog imports");
    assert_eq!(catalog.version, 1);
    (tenant, catalog)
}

/// An account and its subscription from 2024-03-01 (the tenant's clock must be there):
/// `(account id, subscription id)`. March is invoiced at once.
async fn customer(
    engine: &Engine,
    tenant: &Tenant,
    catalog: &CatalogVersion,
    account: &Account,
    spec: &SubscriptionSpec,
) -> (i64, i64) {
    assert_eq!(tenant.clock, Some(d(2024, 3, 1)));
    let account_id = engine
        .create_account(tenant, account)
        .await
        .expect("account created");
    let (sub, docs) = engine
        .create_subscription(tenant, account_id, catalog.id, spec)
        .await
        .expect("subscription created");
    assert_eq!(docs.len(), 1, "March is invoiced at creation: {docs:#?}");
    assert_eq!(docs[0].issued_on, d(2024, 3, 1));
    assert!(usage_lines(&docs[0]).is_empty());
    (account_id, sub)
}

async fn advance(engine: &Engine, tenant: &Tenant, to: NaiveDate) -> (Tenant, RunSummary) {
    let (tenant, summary) = engine
        .advance_clock(tenant, to, &mut |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("clock advanced to {to}: {e}"));
    assert_eq!(tenant.clock, Some(to));
    (tenant, summary)
}

/// A call from the customer's French number `+33180000001` to `callee`.
fn outbound(
    event_id: &str,
    account_id: i64,
    started_at: &str,
    callee: &str,
    seconds: i64,
) -> CallRecord {
    CallRecord {
        event_id: event_id.into(),
        account_id,
        started_at: at(started_at),
        direction: Direction::Outbound,
        toll_free: false,
        caller: "+33180000001".into(),
        callee: callee.into(),
        duration_seconds: seconds,
    }
}

/// A call from `+33612345678` to one of the customer's numbers, toll-free or not.
fn inbound(
    event_id: &str,
    account_id: i64,
    started_at: &str,
    toll_free: bool,
    seconds: i64,
) -> CallRecord {
    CallRecord {
        event_id: event_id.into(),
        account_id,
        started_at: at(started_at),
        direction: Direction::Inbound,
        toll_free,
        caller: "+33612345678".into(),
        callee: if toll_free {
            "+33805000001".into()
        } else {
            "+33180000001".into()
        },
        duration_seconds: seconds,
    }
}

async fn ingest(engine: &Engine, tenant: &Tenant, calls: Vec<CallRecord>) -> IngestReport {
    engine
        .ingest_calls(tenant, calls.into_iter().map(Ok).collect())
        .await
        .expect("the batch is ingested")
}

/// Every document of `tenant`, in issue order, read page by page.
async fn documents(engine: &Engine, tenant: i64) -> Vec<DocumentRow> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let mut tx = engine.store.begin().await.expect("begin");
        let page = tx
            .list_documents(tenant, None, None, after, 500)
            .await
            .expect("list documents");
        out.extend(page.items);
        match page.next {
            Some(next) => after = next,
            None => return out,
        }
    }
}

/// The one invoice of subscription `sub` issued on `on`.
async fn invoice(engine: &Engine, tenant: &Tenant, sub: i64, on: NaiveDate) -> Document {
    let mut found: Vec<Document> = documents(engine, tenant.id)
        .await
        .into_iter()
        .filter(|r| r.subscription_id == sub && r.document.issued_on == on)
        .map(|r| r.document)
        .collect();
    assert_eq!(found.len(), 1, "one document for {sub} on {on}: {found:#?}");
    let doc = found.remove(0);
    assert_eq!(doc.kind, DocumentKind::Invoice);
    doc
}

/// What a usage line says, for comparison: amounts in cents, quantities in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage {
    metric: String,
    period: Period,
    late: bool,
    events: Option<i64>,
    seconds: i64,
    included: Option<i64>,
    cents: i64,
}

/// A line of `metric` for `period`, not late, with no bundle.
fn billed(metric: &str, period: Period, events: i64, seconds: i64, cents: i64) -> Usage {
    Usage {
        metric: metric.into(),
        period,
        late: false,
        events: Some(events),
        seconds,
        included: None,
        cents,
    }
}

fn usage_of(line: &Line) -> Usage {
    let LineKey::Usage { metric, period } = &line.key else {
        panic!("not a usage line: {line:#?}");
    };
    Usage {
        metric: metric.clone(),
        period: *period,
        late: line.late,
        events: line.events,
        seconds: line.quantity,
        included: line.included_used,
        cents: line.amount.minor(),
    }
}

/// The lines of `doc`'s "Minutes" section, in the document's order. Each is checked to be
/// keyed as usage and to cover its whole period.
fn usage_lines(doc: &Document) -> Vec<Usage> {
    doc.lines
        .iter()
        .filter(|l| l.section == Section::Usage)
        .map(|l| {
            let u = usage_of(l);
            assert_eq!(l.service, u.period, "{l:#?}");
            assert_eq!(
                l.from,
                u.period.start.and_hms_opt(0, 0, 0).unwrap(),
                "{l:#?}"
            );
            assert_eq!(l.to, u.period.next_start().and_hms_opt(0, 0, 0).unwrap());
            u
        })
        .collect()
}

/// Net amount of the recurring lines of `doc`.
fn recurring_net(doc: &Document) -> i64 {
    doc.lines
        .iter()
        .filter(|l| l.section == Section::Recurring)
        .map(|l| l.amount.minor())
        .sum()
}

fn line<'a>(doc: &'a Document, metric: &str) -> &'a Line {
    doc.lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Usage { metric: m, .. } if m == metric))
        .unwrap_or_else(|| panic!("no {metric} line in {:#?}", doc.lines))
}

fn rejected(index: usize, event_id: Option<&str>, field: &str) -> (usize, Option<String>, String) {
    (index, event_id.map(str::to_string), field.to_string())
}

fn rejections(report: &IngestReport) -> Vec<(usize, Option<String>, String)> {
    report
        .rejected
        .iter()
        .map(
            |Rejected {
                 index,
                 event_id,
                 field,
                 ..
             }| (*index, event_id.clone(), field.clone()),
        )
        .collect()
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

// ------------------------------------------------------------------------------ 1

/// Europe (`per_minute`): 61 s bills 120 s. France mobile (`per_second_after_first_minute`):
/// 10 s bills 60 s, 61 s bills 61 s. France fixed: two calls of 90 s, 90 s each.
async fn each_rounding_rule_bills_its_seconds_and_each_line_is_rounded_once_half_up_on_the_april_invoice(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Rounding (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Lumen Conseil SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    // Nothing falls due between 2 and 31 March.
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 3, 31)).await;
    assert_eq!(summary.invoices, 0);

    let report = ingest(
        &engine,
        &tenant,
        vec![
            outbound("eu-61", account, "2024-03-12T09:00:00Z", "+4930123456", 61),
            outbound(
                "mobile-10",
                account,
                "2024-03-13T09:00:00Z",
                "+33612345678",
                10,
            ),
            outbound(
                "mobile-61",
                account,
                "2024-03-14T09:00:00Z",
                "+33712345678",
                61,
            ),
            outbound(
                "fixed-90a",
                account,
                "2024-03-15T09:00:00Z",
                "+33145678900",
                90,
            ),
            outbound(
                "fixed-90b",
                account,
                "2024-03-16T09:00:00Z",
                "+33298765432",
                90,
            ),
        ],
    )
    .await;
    assert_eq!(
        report,
        IngestReport {
            accepted: 5,
            duplicates: 0,
            rejected: Vec::new()
        }
    );

    // Europe: 120 s = 2 min × 0.0400 = 0.08.
    let eu = billed("outbound_eu", march(), 1, 120, 8);
    // France fixed: 90 + 90 = 180 s = 3 min × 0.0150 = 0.045 → 0.05 (rounded once for the line;
    // per call it would have been 0.0225 → 0.02, twice 0.04).
    let fixed = billed("outbound_fr_fixed", march(), 2, 180, 5);
    // France mobile: 60 + 61 = 121 s = 2 min 1 s × 0.0500 = 0.100833… → 0.10.
    let mobile = billed("outbound_fr_mobile", march(), 2, 121, 10);

    // What the customer sees before the invoice (today, 31 March, is in March's period).
    let preview = engine
        .usage_summary(&tenant, account, None)
        .await
        .expect("usage summary");
    assert_eq!(preview.subscription_id, sub);
    assert_eq!(preview.period, march());
    let seen: Vec<Usage> = preview.lines.iter().map(usage_of).collect();
    assert_eq!(seen, [eu.clone(), fixed.clone(), mobile.clone()]);

    // 1 April: April's licences and March's minutes.
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    assert_eq!((summary.invoices, summary.credit_notes), (1, 0));
    let inv = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    assert_eq!(inv.number, "INV-000002");
    assert_eq!(usage_lines(&inv), [eu, fixed, mobile]);
    // The preview was the invoice to the line.
    let printed: Vec<&Line> = inv
        .lines
        .iter()
        .filter(|l| l.section == Section::Usage)
        .collect();
    assert_eq!(printed, preview.lines.iter().collect::<Vec<_>>());

    let eu = line(&inv, "outbound_eu");
    assert_eq!(eu.unit_price, Some(dec("0.0400")));
    assert!(!eu.late);
    assert_eq!(eu.proration, None);
    assert_eq!(eu.description, "Appels sortants – Europe");
    assert!(
        eu.explanation.contains("2 min × 0.0400") && eu.explanation.ends_with("0.08 EUR"),
        "{}",
        eu.explanation
    );
    let mobile = line(&inv, "outbound_fr_mobile");
    assert_eq!(mobile.unit_price, Some(dec("0.0500")));
    assert!(
        mobile.explanation.contains("2 min 1 s × 0.0500")
            && mobile.explanation.ends_with("0.10 EUR"),
        "{}",
        mobile.explanation
    );

    // 3 × 30.00 = 90.00 for April, + 0.08 + 0.05 + 0.10 = 90.23 net;
    // VAT 20 % × 90.23 = 18.046 → 18.05; total 108.28.
    assert_eq!(recurring_net(&inv), 9000);
    assert_eq!(inv.net_total.minor(), 9023);
    assert_eq!(inv.taxes.len(), 1, "{:?}", inv.taxes);
    assert_eq!(inv.taxes[0].tax.minor(), 1805);
    assert_eq!(inv.total.minor(), 10828);
    // March's invoice was 90.00 + 18.00 = 108.00: 108.00 + 108.28 = 216.28 owed.
    assert_eq!(inv.previous_balance.map(|m| m.minor()), Some(10800));
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 21628);

    // Billing again on 1 April bills nothing more.
    let again = engine
        .run_billing(&tenant, d(2024, 4, 1), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((again.invoices, again.credit_notes), (0, 0));
    assert_eq!(documents(&engine, tenant.id).await.len(), 2);
}

// ------------------------------------------------------------------------------ 2

/// Essentials with `bundle_europe = 1` (20.00 a month): 1,000 minutes = 60,000 s shared by
/// France fixed, France mobile and Europe, consumed day by day in call order.
async fn a_bundle_covers_its_metrics_first_toll_free_is_billed_at_its_own_rate_and_ordinary_inbound_calls_are_free(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Bundles (sandbox)").await;
    let mut spec = essentials(d(2024, 3, 1), 3);
    spec.quantities.insert("bundle_europe".into(), 1);
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Atelier Vauban SAS"),
        &spec,
    )
    .await;
    // March was invoiced at creation: 3 × 30.00 + 20.00 = 110.00.
    let march_invoice = invoice(&engine, &tenant, sub, d(2024, 3, 1)).await;
    assert_eq!(march_invoice.net_total.minor(), 11000);

    let (tenant, _) = advance(&engine, &tenant, d(2024, 3, 31)).await;
    let report = ingest(
        &engine,
        &tenant,
        vec![
            // 10 March: 40,000 s to a French fixed line; the bundle has 20,000 s left.
            outbound(
                "fixed",
                account,
                "2024-03-10T09:00:00Z",
                "+33145678900",
                40_000,
            ),
            // 11 March: 15,000 s to a French mobile; 5,000 s left.
            outbound(
                "mobile",
                account,
                "2024-03-11T09:00:00Z",
                "+33612345678",
                15_000,
            ),
            // 12 March: 6,000 s (100 min exactly) to Germany: 5,000 s covered, 1,000 s billed.
            outbound("eu", account, "2024-03-12T09:00:00Z", "+4930123456", 6_000),
            // 12 March: USA, not in the bundle: 61 s → 120 s.
            outbound("us", account, "2024-03-12T10:00:00Z", "+12125550100", 61),
            // Toll-free inbound: 30 s → 60 s, and 90 s.
            inbound("toll-free-30", account, "2024-03-13T09:00:00Z", true, 30),
            inbound("toll-free-90", account, "2024-03-13T10:00:00Z", true, 90),
            // An ordinary inbound call: accepted, free.
            inbound("inbound", account, "2024-03-14T09:00:00Z", false, 600),
        ],
    )
    .await;
    assert_eq!(
        report,
        IngestReport {
            accepted: 7,
            duplicates: 0,
            rejected: Vec::new()
        }
    );

    let (tenant, summary) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    assert_eq!(summary.invoices, 1);
    let inv = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    let covered = |metric: &str, seconds: i64, included: i64, cents: i64| Usage {
        included: Some(included),
        ..billed(metric, march(), 1, seconds, cents)
    };
    assert_eq!(
        usage_lines(&inv),
        [
            // 60 + 90 = 150 s = 2 min 30 s × 0.0350 = 0.0875 → 0.09.
            billed("inbound_toll_free", march(), 2, 150, 9),
            // (6,000 − 5,000) s = 16 min 40 s × 0.0400 = 0.6666… → 0.67.
            covered("outbound_eu", 6_000, 5_000, 67),
            // Wholly covered: 0.00.
            covered("outbound_fr_fixed", 40_000, 40_000, 0),
            covered("outbound_fr_mobile", 15_000, 15_000, 0),
            // 120 s = 2 min × 0.0200 = 0.04.
            billed("outbound_us_ca", march(), 1, 120, 4),
        ],
        "no line for the free inbound call"
    );
    let eu = line(&inv, "outbound_eu");
    assert!(
        eu.explanation.contains("100 min − 83 min 20 s"),
        "{}",
        eu.explanation
    );
    // 3 × 30.00 + 20.00 = 110.00, + 0.09 + 0.67 + 0.04 = 110.80 net; VAT 22.16; 132.96.
    assert_eq!(recurring_net(&inv), 11000);
    assert_eq!(inv.net_total.minor(), 11080);
    assert_eq!(inv.total.minor(), 13296);
}

// ------------------------------------------------------------------------------ 3

async fn an_event_id_sent_twice_in_a_batch_and_again_in_a_later_batch_is_counted_as_a_duplicate_and_billed_once(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Duplicates (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Garnet Health SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (tenant, _) = advance(&engine, &tenant, d(2024, 3, 31)).await;
    // Three calls of 120 s to French mobiles.
    let a = outbound(
        "call-a",
        account,
        "2024-03-05T09:00:00Z",
        "+33612345678",
        120,
    );
    let b = outbound(
        "call-b",
        account,
        "2024-03-06T09:00:00Z",
        "+33612345679",
        120,
    );
    let c = outbound(
        "call-c",
        account,
        "2024-03-07T09:00:00Z",
        "+33612345670",
        120,
    );

    let first = ingest(&engine, &tenant, vec![a.clone(), b, a.clone()]).await;
    assert_eq!((first.accepted, first.duplicates), (2, 1));
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);

    let second = ingest(&engine, &tenant, vec![a.clone(), c]).await;
    assert_eq!((second.accepted, second.duplicates), (1, 1));
    assert!(second.rejected.is_empty(), "{:?}", second.rejected);

    // The resent event changed nothing, even with a different duration.
    let mut a_again = a;
    a_again.duration_seconds = 3_000;
    let third = ingest(&engine, &tenant, vec![a_again]).await;
    assert_eq!((third.accepted, third.duplicates), (0, 1));

    // 3 calls × 120 s = 360 s = 6 min × 0.0500 = 0.30.
    let expected = [billed("outbound_fr_mobile", march(), 3, 360, 30)];
    let preview = engine
        .usage_summary(&tenant, account, Some(d(2024, 3, 31)))
        .await
        .unwrap();
    assert_eq!(
        preview.lines.iter().map(usage_of).collect::<Vec<_>>(),
        expected
    );

    let (tenant, _) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    let inv = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    assert_eq!(usage_lines(&inv), expected);
    // 90.00 + 0.30 = 90.30 net.
    assert_eq!(inv.net_total.minor(), 9030);
}

// ------------------------------------------------------------------------------ 4

async fn a_mixed_batch_accepts_the_good_events_and_names_the_index_and_field_of_each_bad_one_including_another_tenants_account(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Acme telephony (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Delta Logistique SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (tenant, _) = advance(&engine, &tenant, d(2024, 3, 31)).await;

    // Another tenant, with a customer of its own who made one call (so this engine has that
    // account in its ingestion cache).
    let (other, other_catalog) = tenant_with_catalog(&engine, "Other vendor (sandbox)").await;
    let (foreign, _) = customer(
        &engine,
        &other,
        &other_catalog,
        &french_account("Eikenhout Advies BV"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    assert_ne!(foreign, account);
    let (other, _) = advance(&engine, &other, d(2024, 3, 31)).await;
    let theirs = ingest(
        &engine,
        &other,
        vec![outbound(
            "shared-id",
            foreign,
            "2024-03-20T09:00:00Z",
            "+33612345678",
            60,
        )],
    )
    .await;
    assert_eq!((theirs.accepted, theirs.rejected.len()), (1, 0));

    let parse_error = parse_call(r#"{"event_id": 5}"#).expect_err("5 is not a string");
    assert_eq!(parse_error.field, "event_id");

    let bad_callee = outbound("bad-callee", account, "2024-03-20T10:00:00Z", "0612", 60);
    let mut toll_free_out = outbound(
        "toll-free-out",
        account,
        "2024-03-20T10:00:00Z",
        "+33805000001",
        60,
    );
    toll_free_out.toll_free = true;
    let batch: Vec<Result<CallRecord, CallError>> = vec![
        // 0: good, France mobile 60 s.
        Ok(outbound(
            "good-1",
            account,
            "2024-03-20T09:00:00Z",
            "+33612345678",
            60,
        )),
        // 1: not E.164.
        Ok(bad_callee),
        // 2: a negative duration.
        Ok(outbound(
            "negative",
            account,
            "2024-03-20T10:00:00Z",
            "+33612345678",
            -5,
        )),
        // 3: no such account.
        Ok(outbound(
            "unknown-account",
            999_999,
            "2024-03-20T10:00:00Z",
            "+33612345678",
            60,
        )),
        // 4: the other tenant's account is unknown here.
        Ok(outbound(
            "foreign-account",
            foreign,
            "2024-03-20T10:00:00Z",
            "+33612345678",
            60,
        )),
        // 5: outbound calls never reach a toll-free number of the customer.
        Ok(toll_free_out),
        // 6: what `parse_call` made of `{"event_id": 5}`.
        Err(parse_error),
        // 7: good, Europe 30 s; the other tenant's event id is not a duplicate here.
        Ok(outbound(
            "shared-id",
            account,
            "2024-03-21T09:00:00Z",
            "+4930123456",
            30,
        )),
        // 8: 20 February, before the subscription.
        Ok(outbound(
            "before-start",
            account,
            "2024-02-20T10:00:00Z",
            "+33612345678",
            60,
        )),
        // 9: 5 April, after today (31 March).
        Ok(outbound(
            "future",
            account,
            "2024-04-05T10:00:00Z",
            "+33612345678",
            60,
        )),
    ];
    let report = engine.ingest_calls(&tenant, batch).await.unwrap();
    assert_eq!((report.accepted, report.duplicates), (2, 0));
    assert_eq!(
        rejections(&report),
        [
            rejected(1, Some("bad-callee"), "callee"),
            rejected(2, Some("negative"), "duration_seconds"),
            rejected(3, Some("unknown-account"), "account_id"),
            rejected(4, Some("foreign-account"), "account_id"),
            rejected(5, Some("toll-free-out"), "toll_free"),
            rejected(6, None, "event_id"),
            rejected(8, Some("before-start"), "started_at"),
            rejected(9, Some("future"), "started_at"),
        ],
        "{:#?}",
        report.rejected
    );
    assert!(report.rejected.iter().all(|r| !r.reason.is_empty()));
    // The foreign account is refused exactly as an unknown one.
    assert_eq!(
        report.rejected[3].reason,
        format!("no account {foreign}"),
        "{:#?}",
        report.rejected
    );

    // The other tenant's usage is its own call only; its account is not found from here.
    let theirs = engine.usage_summary(&other, foreign, None).await.unwrap();
    assert_eq!(
        theirs.lines.iter().map(usage_of).collect::<Vec<_>>(),
        [billed("outbound_fr_mobile", march(), 1, 60, 5)]
    );
    assert!(matches!(
        engine.usage_summary(&tenant, foreign, None).await,
        Err(EngineError::NotFound("account"))
    ));

    // Only the good calls are billed: 60 s × 0.0500 = 0.05; 30 s → 60 s × 0.0400 = 0.04.
    let (tenant, _) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    let inv = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    assert_eq!(
        usage_lines(&inv),
        [
            billed("outbound_eu", march(), 1, 60, 4),
            billed("outbound_fr_mobile", march(), 1, 60, 5),
        ]
    );
}

// ------------------------------------------------------------------------------ 5

/// Nothing was billed for March's minutes on 1 April (there were none); a call of 30 March
/// arrives on 10 April, after March was invoiced.
async fn a_march_call_recorded_on_10_april_is_billed_on_the_may_invoice_as_late_usage_of_the_march_period(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Late (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Fjord Analytics SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    // To 10 April: the 1 April invoice bills April's licences and no minutes.
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 4, 10)).await;
    assert_eq!(summary.invoices, 1);
    let april_invoice = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    assert!(usage_lines(&april_invoice).is_empty());
    assert_eq!(april_invoice.net_total.minor(), 9000);

    let report = ingest(
        &engine,
        &tenant,
        vec![
            // 30 March (Paris), France mobile 61 s: recorded after March was invoiced.
            outbound("late", account, "2024-03-30T10:00:00Z", "+33612345678", 61),
            // 5 April, Europe 30 s → 60 s: on time for May.
            outbound("april", account, "2024-04-05T10:00:00Z", "+4930123456", 30),
        ],
    )
    .await;
    assert_eq!((report.accepted, report.rejected.len()), (2, 0));
    // Nothing is issued before the next invoice day.
    assert_eq!(
        engine.subscription(&tenant, sub).await.unwrap().next_due,
        Some(d(2024, 5, 1))
    );
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 4, 30)).await;
    assert_eq!(summary.invoices, 0);
    assert_eq!(documents(&engine, tenant.id).await.len(), 2);

    let (tenant, summary) = advance(&engine, &tenant, d(2024, 5, 1)).await;
    assert_eq!((summary.invoices, summary.credit_notes), (1, 0));
    let inv = invoice(&engine, &tenant, sub, d(2024, 5, 1)).await;
    // Lines print by metric: Europe (April) before France mobile (March).
    assert_eq!(
        usage_lines(&inv),
        [
            // 60 s × 0.0400 = 0.04, April's own.
            billed("outbound_eu", april(), 1, 60, 4),
            // 61 s = 1 min 1 s × 0.0500 = 0.050833… → 0.05, late, for 1 – 31 March.
            Usage {
                late: true,
                ..billed("outbound_fr_mobile", march(), 1, 61, 5)
            },
        ]
    );
    let late = line(&inv, "outbound_fr_mobile");
    assert!(
        late.late,
        "the March call arrived after March was invoiced: {late:#?}"
    );
    assert_eq!(late.service.start, d(2024, 3, 1));
    assert_eq!(late.service, march());
    assert_eq!(
        late.key,
        LineKey::Usage {
            metric: "outbound_fr_mobile".into(),
            period: march()
        }
    );
    assert_eq!(
        (late.events, late.quantity, late.amount.minor()),
        (Some(1), 61, 5)
    );
    assert!(late.description.contains("tardive"), "{}", late.description);
    let april_line = line(&inv, "outbound_eu");
    assert!(!april_line.late);
    assert_eq!(april_line.service, april());
    // 90.00 + 0.05 + 0.04 = 90.09 net.
    assert_eq!(inv.net_total.minor(), 9009);
}

/// March's France mobile minutes were billed on 1 April (90 s → 0.08); another call of
/// 30 March arrives on 10 April. The period is re-rated on its total and the difference billed.
async fn late_usage_in_a_metric_already_billed_for_its_period_is_rerated_and_only_the_difference_is_billed(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Re-rating (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Harbour Freight SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (tenant, _) = advance(&engine, &tenant, d(2024, 3, 31)).await;
    let report = ingest(
        &engine,
        &tenant,
        vec![outbound(
            "on-time",
            account,
            "2024-03-20T10:00:00Z",
            "+33612345678",
            90,
        )],
    )
    .await;
    assert_eq!(report.accepted, 1);
    let (tenant, _) = advance(&engine, &tenant, d(2024, 4, 10)).await;
    let april_invoice = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    // 90 s = 1 min 30 s × 0.0500 = 0.075 → 0.08.
    assert_eq!(
        usage_lines(&april_invoice),
        [billed("outbound_fr_mobile", march(), 1, 90, 8)]
    );

    let report = ingest(
        &engine,
        &tenant,
        vec![outbound(
            "late",
            account,
            "2024-03-30T10:00:00Z",
            "+33612345678",
            90,
        )],
    )
    .await;
    assert_eq!(report.accepted, 1);
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 5, 1)).await;
    assert_eq!(summary.invoices, 1);
    let inv = invoice(&engine, &tenant, sub, d(2024, 5, 1)).await;
    // March re-rated: 180 s = 3 min × 0.0500 = 0.15, of which 0.08 already billed: 0.07
    // (not the 0.08 the late call would cost alone).
    assert_eq!(
        usage_lines(&inv),
        [Usage {
            late: true,
            ..billed("outbound_fr_mobile", march(), 1, 90, 7)
        }]
    );
    let late = line(&inv, "outbound_fr_mobile");
    assert_eq!(late.service, march());
    assert!(late.description.contains("tardive"), "{}", late.description);
    assert!(
        late.explanation.contains("0.15 EUR") && late.explanation.ends_with("0.07 EUR"),
        "{}",
        late.explanation
    );
    assert_eq!(inv.net_total.minor(), 9007);
}

// ------------------------------------------------------------------------------ 6

/// New York is UTC−4 on 31 March 2024 (summer time since 10 March); Paris is UTC+2 (since
/// 31 March, 01:00 UTC).
async fn a_call_belongs_to_the_period_of_its_local_day_in_the_accounts_time_zone(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Time zones (sandbox)").await;
    let (new_york, ny_sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &Account {
            time_zone: "America/New_York".into(),
            ..french_account("Hudson Desk SAS")
        },
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (paris, paris_sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Rive Gauche SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (tenant, _) = advance(&engine, &tenant, d(2024, 3, 31)).await;

    let report = ingest(
        &engine,
        &tenant,
        vec![
            // 1 April 02:30 UTC = 31 March 22:30 in New York: March. Europe 61 s → 120 s.
            outbound(
                "ny-evening",
                new_york,
                "2024-04-01T02:30:00Z",
                "+4930123456",
                61,
            ),
            // 31 March 22:30 UTC = 1 April 00:30 in Paris: April. France mobile 30 s → 60 s.
            outbound(
                "paris-midnight",
                paris,
                "2024-03-31T22:30:00Z",
                "+33612345678",
                30,
            ),
            // 1 March 03:00 UTC = 29 February 22:00 in New York: before the subscription.
            outbound(
                "ny-leap-day",
                new_york,
                "2024-03-01T03:00:00Z",
                "+4930123456",
                61,
            ),
        ],
    )
    .await;
    assert_eq!((report.accepted, report.duplicates), (2, 0));
    assert_eq!(
        rejections(&report),
        [rejected(2, Some("ny-leap-day"), "started_at")]
    );
    assert!(
        report.rejected[0].reason.contains("2024-02-29"),
        "{:?}",
        report.rejected
    );

    // Before invoicing: New York's March holds its call (120 s = 2 min × 0.0400 = 0.08)…
    let ny_march = billed("outbound_eu", march(), 1, 120, 8);
    let summary = engine
        .usage_summary(&tenant, new_york, Some(d(2024, 3, 31)))
        .await
        .unwrap();
    assert_eq!((summary.subscription_id, summary.period), (ny_sub, march()));
    assert_eq!(
        summary.lines.iter().map(usage_of).collect::<Vec<_>>(),
        std::slice::from_ref(&ny_march)
    );
    // …Paris's March (today's period) holds nothing, its April the call (60 s × 0.05 = 0.05).
    let paris_april = billed("outbound_fr_mobile", april(), 1, 60, 5);
    let summary = engine.usage_summary(&tenant, paris, None).await.unwrap();
    assert_eq!(summary.period, march());
    assert!(summary.lines.is_empty(), "{:#?}", summary.lines);
    let summary = engine
        .usage_summary(&tenant, paris, Some(d(2024, 4, 1)))
        .await
        .unwrap();
    assert_eq!(
        (summary.subscription_id, summary.period),
        (paris_sub, april())
    );
    assert_eq!(
        summary.lines.iter().map(usage_of).collect::<Vec<_>>(),
        std::slice::from_ref(&paris_april)
    );

    // 1 April: New York's invoice bills its March call; Paris's bills no minutes.
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    assert_eq!(summary.invoices, 2);
    let ny_april = invoice(&engine, &tenant, ny_sub, d(2024, 4, 1)).await;
    assert_eq!(usage_lines(&ny_april), [ny_march]);
    assert_eq!(ny_april.net_total.minor(), 9008);
    let paris_april_invoice = invoice(&engine, &tenant, paris_sub, d(2024, 4, 1)).await;
    assert!(usage_lines(&paris_april_invoice).is_empty());
    assert_eq!(paris_april_invoice.net_total.minor(), 9000);

    // 1 May: Paris's call is billed with April; New York has nothing more.
    let (tenant, summary) = advance(&engine, &tenant, d(2024, 5, 1)).await;
    assert_eq!(summary.invoices, 2);
    let paris_may = invoice(&engine, &tenant, paris_sub, d(2024, 5, 1)).await;
    assert_eq!(usage_lines(&paris_may), [paris_april]);
    let ny_may = invoice(&engine, &tenant, ny_sub, d(2024, 5, 1)).await;
    assert!(usage_lines(&ny_may).is_empty());
}

// ------------------------------------------------------------------------------ 7

/// A call for an account that holds no subscription yet is refused; once the subscription is
/// created, the same call sent again is accepted (ingestion's account cache must not hide the
/// new subscription: "a new subscription is seen at once").
async fn a_subscription_created_after_a_refused_call_is_seen_by_the_next_batch(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "New customer (sandbox)").await;
    let account = engine
        .create_account(&tenant, &french_account("Nouvelle Vague SAS"))
        .await
        .unwrap();
    let call = outbound("first", account, "2024-03-01T09:00:00Z", "+33612345678", 60);
    let report = ingest(&engine, &tenant, vec![call.clone()]).await;
    assert_eq!(report.accepted, 0);
    assert_eq!(
        rejections(&report),
        [rejected(0, Some("first"), "started_at")]
    );

    let (sub, _) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 3, 1), 3))
        .await
        .unwrap();
    let report = ingest(&engine, &tenant, vec![call]).await;
    assert_eq!(
        (report.accepted, report.duplicates, report.rejected.clone()),
        (1, 0, Vec::new()),
        "the new subscription holds the call"
    );
    // 60 s × 0.0500 = 0.05 on the 1 April invoice.
    let (tenant, _) = advance(&engine, &tenant, d(2024, 4, 1)).await;
    let inv = invoice(&engine, &tenant, sub, d(2024, 4, 1)).await;
    assert_eq!(
        usage_lines(&inv),
        [billed("outbound_fr_mobile", march(), 1, 60, 5)]
    );
}

/// The billing run keeps each subscription's settled-through horizon (issue #18): after
/// billing March to July, the horizon is 1 July, it covers every earlier document and carries
/// none of their lines, so the next run reads the July invoice alone. A call of 20 May learnt
/// on 10 July voids it when the usage is folded; the August invoice bills it as late usage of
/// May (the run reads the whole history once) and the horizon is set again.
async fn billing_reads_from_the_settled_horizon_and_usage_dated_before_it_voids_it(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, "Horizon (sandbox)").await;
    let (account, sub) = customer(
        &engine,
        &tenant,
        &catalog,
        &french_account("Fjord Analytics SAS"),
        &essentials(d(2024, 3, 1), 3),
    )
    .await;
    let (tenant, _) = advance(&engine, &tenant, d(2024, 7, 10)).await;
    let h = horizon(&engine, &tenant, sub)
        .await
        .expect("a horizon after four runs");
    assert_eq!((h.through, h.known_on), (d(2024, 7, 1), d(2024, 7, 1)));
    assert!(h.carried.is_empty(), "{h:#?}");
    let docs = documents(&engine, tenant.id).await;
    let june = docs
        .iter()
        .find(|r| r.document.issued_on == d(2024, 6, 1))
        .expect("the June invoice");
    assert_eq!(h.after_document, june.id);
    let mut tx = engine.store.begin().await.expect("begin");
    let read = tx
        .documents_after(tenant.id, &[(sub, h.after_document)])
        .await
        .expect("documents after the horizon");
    let issued: Vec<NaiveDate> = read[&sub].iter().map(|(_, d)| d.issued_on).collect();
    assert_eq!(issued, [d(2024, 7, 1)]);
    drop(tx);

    // 20 May (Paris), France mobile 61 s, learnt on 10 July.
    let report = ingest(
        &engine,
        &tenant,
        vec![outbound(
            "may",
            account,
            "2024-05-20T10:00:00Z",
            "+33612345678",
            61,
        )],
    )
    .await;
    assert_eq!((report.accepted, report.rejected.len()), (1, 0));
    engine.fold_usage(tenant.id).await.expect("folded");
    assert_eq!(
        horizon(&engine, &tenant, sub).await,
        None,
        "usage dated before the horizon voids it"
    );

    let (tenant, summary) = advance(&engine, &tenant, d(2024, 8, 1)).await;
    assert_eq!((summary.invoices, summary.credit_notes), (1, 0));
    let inv = invoice(&engine, &tenant, sub, d(2024, 8, 1)).await;
    assert_eq!(
        usage_lines(&inv),
        [Usage {
            late: true,
            ..billed(
                "outbound_fr_mobile",
                period(d(2024, 5, 1), d(2024, 5, 31)),
                1,
                61,
                5
            )
        }]
    );
    let h = horizon(&engine, &tenant, sub).await.expect("set again");
    assert_eq!(h.through, d(2024, 8, 1));
}

/// The horizon the next billing run will read for `sub` (claimed far ahead, not kept).
async fn horizon(engine: &Engine, tenant: &Tenant, sub: i64) -> Option<Horizon> {
    let mut tx = engine.store.begin().await.expect("begin");
    tx.claim_due(tenant.id, d(2099, 1, 1), None, 1000, false)
        .await
        .expect("claimed")
        .into_iter()
        .find(|r| r.row.id == sub)
        .and_then(|r| r.horizon)
}

//! Issue #16, item 3, through the router on SQLite and on PostgreSQL: the list of
//! subscriptions, invoices' status and amount due derived from the ledger, conditional GETs of
//! the document downloads, and exports streamed as NDJSON and CSV.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use http_body_util::BodyExt;
use prorata_core::account::Account;
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Currency, Frequency};
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::{Store, Tenant, TenantMode};
use prorata_testkit::both_stores;
use serde_json::{json, Value};
use tower::ServiceExt;

const CATALOG: &str = include_str!("../../../catalog/default.toml");

struct TestApp {
    router: Router,
    key: String,
    catalog: i64,
    engine: Engine,
    tenant: Tenant,
}

async fn spawn_app(url: &str) -> TestApp {
    let store = Store::connect(url).await.expect("store");
    store.migrate().await.expect("migrate");
    let engine = Engine::new(store);
    let tenant = engine
        .create_tenant(
            "Vendor",
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2024, 6, 6),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let key = engine.create_api_key(&tenant).await.expect("key").secret;
    let catalog = engine
        .import_catalog(&tenant, CATALOG)
        .await
        .expect("catalog")
        .id;
    TestApp {
        router: app(AppState::new(engine.clone())),
        key,
        catalog,
        engine,
        tenant,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

impl TestApp {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.key));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(text.clone()));
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, path, None, headers).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        let r = self.call(Method::POST, path, Some(body), &[]).await;
        assert!(r.status.is_success(), "{path}: {} {:?}", r.status, r.body);
        r
    }

    async fn account(&self, name: &str) -> i64 {
        let body = json!({"name": name, "country": "FR", "vat_number": "FR40303265045",
            "address": {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris"},
            "currency": "EUR", "language": "fr", "billing_contacts": ["compta@example.com"]});
        self.post("/v1/accounts", body).await.body["id"]
            .as_i64()
            .expect("account id")
    }

    /// Essentials, monthly: 10 users and a number, 360.00 a month with VAT.
    async fn subscribe(&self, account: i64, start: &str, trial_days: u32) -> i64 {
        let body = json!({"account_id": account, "catalog_version_id": self.catalog,
            "plan": "essentials", "frequency": "monthly", "currency": "EUR", "start": start,
            "trial_days": trial_days, "quantities": {"user": 10, "number": 1}});
        self.post("/v1/subscriptions", body).await.body["id"]
            .as_i64()
            .expect("subscription id")
    }
}

/// `(id, field)` of every item of a page.
fn pairs(r: &Reply, field: &str) -> Vec<(i64, String)> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {:?}", r.body))
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap_or_default(),
                i[field].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn ids(r: &Reply) -> Vec<i64> {
    pairs(r, "id").into_iter().map(|p| p.0).collect()
}

fn refused_on(r: &Reply, field: &str) {
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
        "{:?}",
        r.body
    );
}

async fn subscriptions_are_listed_by_account_and_status_at_the_tenant_today(url: &str) {
    let t = spawn_app(url).await;
    let (a, b) = (t.account("Lumen").await, t.account("Orbe").await);
    // The tenant's today is 6 June 2024.
    let active = t.subscribe(a, "2024-05-01", 0).await;
    let trial = t.subscribe(a, "2024-06-06", 14).await;
    let later = t.subscribe(b, "2024-07-01", 0).await;
    let ended = t.subscribe(b, "2024-06-01", 0).await;
    t.post(
        &format!("/v1/subscriptions/{ended}/changes"),
        json!({"request": {"type": "cancel_immediately"}}),
    )
    .await;

    let all = t.get("/v1/subscriptions").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        pairs(&all, "status"),
        [
            (active, "active".to_string()),
            (trial, "trial".into()),
            (later, "not_started".into()),
            (ended, "ended".into()),
        ]
    );
    assert_eq!(all.body["data"][1]["in_trial"], true);
    assert_eq!(all.body["data"][0]["subscription"]["plan"], "essentials");
    assert_eq!(all.body["next_cursor"], Value::Null);
    // The one subscription reads the same.
    let one = t.get(&format!("/v1/subscriptions/{trial}")).await;
    assert_eq!(one.body, all.body["data"][1]);

    for (status, expected) in [
        ("active", vec![active]),
        ("trial", vec![trial]),
        ("not_started", vec![later]),
        ("ended", vec![ended]),
    ] {
        let r = t.get(&format!("/v1/subscriptions?status={status}")).await;
        assert_eq!(ids(&r), expected, "{status}");
    }
    let r = t.get(&format!("/v1/subscriptions?account_id={b}")).await;
    assert_eq!(ids(&r), [later, ended]);
    let r = t
        .get(&format!("/v1/subscriptions?account_id={b}&status=ended"))
        .await;
    assert_eq!(ids(&r), [ended]);

    // Pages of two, with a cursor.
    let first = t.get("/v1/subscriptions?limit=2").await;
    assert_eq!(ids(&first), [active, trial]);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let second = t
        .get(&format!("/v1/subscriptions?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), [later, ended]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    refused_on(&t.get("/v1/subscriptions?status=cancelled").await, "status");
    refused_on(&t.get("/v1/subscriptions?limit=0").await, "limit");

    // The sandbox clock moves the statuses: on 1 July the trial is over and `later` started.
    t.post("/v1/clock/advance", json!({"to": "2024-07-01"}))
        .await;
    let r = t.get("/v1/subscriptions?status=active").await;
    assert_eq!(ids(&r), [active, trial, later]);
    assert_eq!(
        ids(&t.get("/v1/subscriptions?status=trial").await),
        Vec::<i64>::new()
    );

    // Another tenant sees none of them.
    let other = t
        .engine
        .create_tenant(
            "Other",
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2024, 6, 6),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let key = t.engine.create_api_key(&other).await.expect("key").secret;
    let req = Request::builder()
        .uri("/v1/subscriptions")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let res = t.router.clone().oneshot(req).await.expect("response");
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let page: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(page["data"], json!([]));
}
both_stores!(
    subscription_list,
    subscriptions_are_listed_by_account_and_status_at_the_tenant_today
);

/// Rows written before migration 13 have no milestones; `Store::migrate` fills them from
/// their timelines, and the status filter then finds them.
async fn subscriptions_written_before_the_milestones_get_them_at_migration(url: &str) {
    let t = spawn_app(url).await;
    let a = t.account("Lumen").await;
    let trial = t.subscribe(a, "2024-06-06", 14).await;
    const FORGET: &str =
        "UPDATE subscriptions SET starts_on = NULL, paid_from = NULL, ends_on = NULL";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query(FORGET).execute(&pool).await.expect("forget");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        sqlx::query(FORGET).execute(&pool).await.expect("forget");
        pool.close().await;
    }
    assert_eq!(
        ids(&t.get("/v1/subscriptions?status=trial").await),
        Vec::<i64>::new()
    );
    t.engine.store.migrate().await.expect("migrate");
    assert_eq!(ids(&t.get("/v1/subscriptions?status=trial").await), [trial]);
}
both_stores!(
    milestones_backfill,
    subscriptions_written_before_the_milestones_get_them_at_migration
);

async fn invoices_carry_their_status_and_amount_due_derived_from_the_ledger(url: &str) {
    let t = spawn_app(url).await;
    let seller = json!({"legal_name": "Vendor SAS", "siren": "552100554",
        "vat_number": "FR96552100554", "payment_terms_days": 30,
        "address": {"line1": "1 rue du Test", "postcode": "75001", "city": "Paris"}});
    let r = t.call(Method::PUT, "/v1/seller", Some(seller), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let a = t.account("Lumen").await;
    t.subscribe(a, "2024-06-06", 0).await;
    // 6 June: INV-000001, 360.00, due 6 July. 6 July: INV-000002, due 5 August.
    t.post("/v1/clock/advance", json!({"to": "2024-07-10"}))
        .await;
    let b = t.account("Orbe").await;
    // 10 July: INV-000003 to Orbe, due 9 August.
    t.subscribe(b, "2024-07-10", 0).await;

    let all = t.get("/v1/invoices").await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    let numbers: Vec<&str> = all.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|i| i["number"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(numbers, ["INV-000001", "INV-000002", "INV-000003"]);
    let (inv1, inv2, inv3) = {
        let v = ids(&all);
        (v[0], v[1], v[2])
    };
    // Nothing paid: all due; the first past its due date (6 July < 10 July).
    let due = |r: &Reply| -> BTreeMap<i64, (String, i64)> {
        r.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|i| {
                (
                    i["id"].as_i64().unwrap_or_default(),
                    (
                        i["status"].as_str().unwrap_or_default().to_string(),
                        i["amount_due"]["minor"].as_i64().unwrap_or(-1),
                    ),
                )
            })
            .collect()
    };
    assert_eq!(
        due(&all),
        BTreeMap::from([
            (inv1, ("overdue".to_string(), 36000)),
            (inv2, ("open".to_string(), 36000)),
            (inv3, ("open".to_string(), 36000)),
        ])
    );
    assert_eq!(all.body["data"][0]["amount_due"]["currency"], "EUR");
    assert_eq!(ids(&t.get("/v1/invoices?overdue=true").await), [inv1]);
    assert_eq!(
        ids(&t.get("/v1/invoices?overdue=false").await),
        [inv2, inv3]
    );

    // 500.00 received from Lumen: it settles the oldest first — INV-000001 in full, then
    // 140.00 of INV-000002, which still owes 360.00 − 140.00 = 220.00.
    t.post(
        &format!("/v1/accounts/{a}/payments"),
        json!({"amount": 50000, "reference": "INV-000001"}),
    )
    .await;
    let all = t.get("/v1/invoices").await;
    assert_eq!(
        due(&all),
        BTreeMap::from([
            (inv1, ("paid".to_string(), 0)),
            (inv2, ("partly_paid".to_string(), 22000)),
            (inv3, ("open".to_string(), 36000)),
        ])
    );
    let one = t.get(&format!("/v1/invoices/{inv2}")).await;
    assert_eq!(one.body, all.body["data"][1]);

    for (status, expected) in [
        ("paid", vec![inv1]),
        ("partly_paid", vec![inv2]),
        ("open", vec![inv3]),
        ("overdue", vec![]),
    ] {
        let r = t.get(&format!("/v1/invoices?status={status}")).await;
        assert_eq!(ids(&r), expected, "{status}");
    }
    assert_eq!(
        ids(&t.get("/v1/invoices?overdue=true").await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&t
            .get(&format!("/v1/invoices?account_id={a}&status=partly_paid"))
            .await),
        [inv2]
    );
    assert_eq!(
        ids(&t.get("/v1/invoices?issued_from=2024-07-01").await),
        [inv2, inv3]
    );
    assert_eq!(
        ids(&t.get("/v1/invoices?issued_to=2024-07-06").await),
        [inv1, inv2]
    );
    assert_eq!(
        ids(&t
            .get("/v1/invoices?issued_from=2024-07-01&issued_to=2024-07-09&status=partly_paid")
            .await),
        [inv2]
    );
    // A filtered page of one, with a cursor to the next match.
    let first = t
        .get("/v1/invoices?status=open&limit=1&overdue=false")
        .await;
    assert_eq!(ids(&first), [inv3]);
    assert_eq!(first.body["next_cursor"], Value::Null);
    let first = t.get("/v1/invoices?overdue=false&limit=1").await;
    assert_eq!(ids(&first), [inv1]);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let next = t
        .get(&format!(
            "/v1/invoices?overdue=false&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&next), [inv2]);

    // 10 August: INV-000002's remainder is past its due date (5 August); Orbe's first
    // invoice too (9 August). The new invoices of 6 August and 10 August are open.
    t.post("/v1/clock/advance", json!({"to": "2024-08-10"}))
        .await;
    let r = t.get("/v1/invoices?status=overdue").await;
    assert_eq!(ids(&r), [inv2, inv3]);
    assert_eq!(r.body["data"][0]["amount_due"]["minor"], 22000);

    // Credit notes carry neither.
    let r = t.get("/v1/credit-notes").await;
    assert_eq!(r.status, StatusCode::OK);

    refused_on(&t.get("/v1/invoices?status=void").await, "status");
    refused_on(
        &t.get("/v1/invoices?issued_from=10-07-2024").await,
        "issued_from",
    );
    refused_on(
        &t.get("/v1/invoices?issued_to=2024-02-30").await,
        "issued_to",
    );
    refused_on(&t.get("/v1/invoices?overdue=yes").await, "overdue");
}
both_stores!(
    invoice_status,
    invoices_carry_their_status_and_amount_due_derived_from_the_ledger
);

async fn a_download_whose_etag_matches_if_none_match_is_304_without_a_body(url: &str) {
    let t = spawn_app(url).await;
    let a = t.account("Lumen").await;
    t.subscribe(a, "2024-06-06", 0).await;
    let id = ids(&t.get("/v1/invoices").await)[0];
    for ext in ["pdf", "xml"] {
        let path = format!("/v1/invoices/{id}.{ext}");
        let first = t.get(&path).await;
        assert_eq!(first.status, StatusCode::OK);
        let etag = first.headers["etag"].to_str().expect("etag").to_string();
        let weak = format!("W/{etag}");
        let listed = format!("\"other\", {etag}");
        for matching in [etag.as_str(), weak.as_str(), "*", listed.as_str()] {
            let r = t.get_with(&path, &[("if-none-match", matching)]).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{matching}");
            assert!(r.text.is_empty(), "{matching}: a body {:?}", r.text);
            assert_eq!(r.headers["etag"].to_str().ok(), Some(etag.as_str()));
        }
        let r = t.get_with(&path, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.text.is_empty());
    }
    // A credit note's downloads too.
    let sub = ids(&t.get("/v1/subscriptions").await)[0];
    t.post(
        &format!("/v1/subscriptions/{sub}/changes"),
        json!({"request": {"type": "set_quantity", "product": "user", "quantity": 6}}),
    )
    .await;
    let cn = ids(&t.get("/v1/credit-notes").await)[0];
    let first = t.get(&format!("/v1/credit-notes/{cn}.pdf")).await;
    let etag = first.headers["etag"].to_str().expect("etag").to_string();
    let r = t
        .get_with(
            &format!("/v1/credit-notes/{cn}.pdf"),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // Another tenant's document is not found, whatever it sends.
    let r = t
        .get_with(
            &format!("/v1/credit-notes/{}.pdf", cn + 1000),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both_stores!(
    conditional_get,
    a_download_whose_etag_matches_if_none_match_is_304_without_a_body
);

/// Subscriptions exported.
const BULK: usize = 3_000;

/// Splits a CSV line (the export quotes no field of these rows).
fn fields(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

async fn exports_stream_every_row_as_ndjson_or_csv(url: &str) {
    let t = spawn_app(url).await;
    let today = Engine::today(&t.tenant);
    let sub = Subscription {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start: today,
        trial_days: 0,
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([("user".to_string(), 10), ("number".to_string(), 1)]),
        events: Vec::new(),
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    };
    let account: Account = serde_json::from_value(json!({"name": "Bulk", "country": "FR",
        "vat_number": "FR40303265045", "currency": "EUR", "language": "fr",
        "address": {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris"},
        "billing_contacts": ["compta@example.com"]}))
    .expect("account");
    {
        let mut tx = t.engine.store.begin().await.expect("tx");
        let accounts = tx
            .insert_accounts(t.tenant.id, &vec![account; BULK])
            .await
            .expect("accounts");
        let rows: Vec<_> = accounts
            .iter()
            .map(|id| (*id, t.catalog, sub.clone(), Some(today)))
            .collect();
        tx.insert_subscriptions(t.tenant.id, &rows)
            .await
            .expect("subscriptions");
        tx.commit().await.expect("commit");
    }
    let summary = t
        .engine
        .run_billing(&t.tenant, today, &mut |_| {})
        .await
        .expect("billing");
    assert_eq!(summary.invoices, BULK as u64);
    // Half the accounts pay their invoice of 360.00 in full, the others 100.00 of it.
    let accounts: Vec<i64> = {
        let mut tx = t.engine.store.begin().await.expect("tx");
        let page = tx
            .list_subscriptions(t.tenant.id, Default::default(), 0, BULK as i64)
            .await
            .expect("subscriptions");
        page.items.iter().map(|s| s.account_id).collect()
    };
    {
        let entries: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| prorata_store::NewLedgerEntry {
                account_id: *a,
                entry_date: today,
                kind: prorata_store::LedgerKind::Payment,
                amount: prorata_core::Money::from_minor(
                    if i % 2 == 0 { -36000 } else { -10000 },
                    Currency::EUR,
                ),
                reference: format!("payment {i}"),
            })
            .collect();
        let mut tx = t.engine.store.begin().await.expect("tx");
        tx.insert_ledger(t.tenant.id, &entries)
            .await
            .expect("ledger");
        tx.commit().await.expect("commit");
    }

    // Subscriptions, as NDJSON: every one, beyond any page limit.
    let r = t
        .get_with(
            "/v1/subscriptions?limit=5",
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), BULK);
    assert!(lines
        .windows(2)
        .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));
    assert!(lines.iter().all(|l| l["status"] == "active"));
    // The same as CSV, with a header row; and filtered.
    let r = t
        .get_with("/v1/subscriptions?status=active", &[("accept", "text/csv")])
        .await;
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let rows: Vec<&str> = r.text.lines().collect();
    assert_eq!(rows.len(), BULK + 1);
    assert_eq!(
        rows[0],
        "id,account_id,catalog_version_id,status,plan,frequency,currency,start,trial_ends,next_due,next_renewal,notice_deadline,ends"
    );
    assert_eq!(
        fields(rows[1])[3..8],
        ["active", "essentials", "monthly", "EUR", "2024-06-06"]
    );
    let r = t
        .get_with("/v1/subscriptions?status=ended", &[("accept", "text/csv")])
        .await;
    assert_eq!(r.text.lines().count(), 1, "the header row only");

    // Invoices, as CSV: amounts as decimal strings beside their currency.
    let r = t.get_with("/v1/invoices", &[("accept", "text/csv")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let rows: Vec<&str> = r.text.lines().collect();
    assert_eq!(rows.len(), BULK + 1);
    assert_eq!(
        rows[0],
        "id,number,account_id,subscription_id,issued_on,due_on,currency,net_total,tax_total,total,amount_due,status"
    );
    let first = fields(rows[1]);
    assert_eq!(first[1], "INV-000001");
    assert_eq!(
        first[6..],
        ["EUR", "300.00", "60.00", "360.00", "0.00", "paid"]
    );
    let second = fields(rows[2]);
    assert_eq!(
        second[6..],
        ["EUR", "300.00", "60.00", "360.00", "260.00", "partly_paid"]
    );
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows[1..] {
        *by_status.entry(fields(row)[11].to_string()).or_default() += 1;
    }
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("paid".to_string(), BULK / 2),
            ("partly_paid".to_string(), BULK / 2)
        ])
    );
    // Filtered by a derived status, as NDJSON: all 1,500 partly paid ones, read 500 a page.
    let r = t
        .get_with(
            "/v1/invoices?status=partly_paid",
            &[("accept", "application/x-ndjson")],
        )
        .await;
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), BULK / 2);
    assert!(lines
        .iter()
        .all(|l| l["status"] == "partly_paid" && l["amount_due"]["minor"] == 26000));
    // A page of them reads the same rows.
    let page = t.get("/v1/invoices?status=partly_paid&limit=100").await;
    assert_eq!(page.body["data"].as_array().map(Vec::len), Some(100));
    assert_eq!(page.body["data"][0], lines[0]);
    // None is overdue: a page scans at most 2,000 invoices, so the first page is empty with a
    // cursor after the 2,000th invoice, and the next one reads the rest and ends the list.
    let all_ids: Vec<i64> = rows[1..]
        .iter()
        .map(|r| fields(r)[0].parse().unwrap_or_default())
        .collect();
    let r = t.get("/v1/invoices?status=overdue").await;
    assert_eq!(r.body["data"], json!([]));
    let cursor = r.body["next_cursor"].as_str().expect("cursor").to_string();
    assert_eq!(cursor, all_ids[1999].to_string());
    let r = t
        .get(&format!("/v1/invoices?status=overdue&cursor={cursor}"))
        .await;
    assert_eq!(
        (&r.body["data"], &r.body["next_cursor"]),
        (&json!([]), &Value::Null)
    );
    let r = t
        .get_with(
            "/v1/invoices?overdue=true",
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, ""));
    // A refusal is still a problem document, before anything streams.
    let r = t
        .get_with("/v1/invoices?status=void", &[("accept", "text/csv")])
        .await;
    refused_on(&r, "status");
}
both_stores!(exports, exports_stream_every_row_as_ndjson_or_csv);

/// The document declares what these routes answer: the lists' filters as query parameters
/// with their values, the exports' media types, and the 304 of a conditional download.
#[tokio::test]
async fn the_openapi_document_declares_filters_exports_and_304() {
    let (url, _guard) = prorata_testkit::sqlite_url();
    let t = spawn_app(&url).await;
    let req = Request::builder()
        .uri("/openapi.json")
        .body(Body::empty())
        .expect("request");
    let res = t.router.clone().oneshot(req).await.expect("response");
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).expect("json");
    let schemas = &doc["components"]["schemas"];
    let parameter = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{path}: no parameter {name}"))
    };
    assert_eq!(
        schemas["SubscriptionStatus"]["enum"],
        json!(["not_started", "trial", "active", "ended"])
    );
    assert_eq!(
        parameter("/v1/subscriptions", "status")["schema"]["enum"],
        json!(["not_started", "trial", "active", "ended"])
    );
    assert_eq!(
        parameter("/v1/invoices", "status")["schema"]["enum"],
        json!(["open", "partly_paid", "paid", "overdue"])
    );
    // Every reference leads to a schema of the document.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap_or_default();
        assert!(
            schemas[name].is_object(),
            "a reference to {name}, which is not declared"
        );
    }
    for name in ["account_id", "status", "limit", "cursor"] {
        assert_eq!(parameter("/v1/subscriptions", name)["in"], "query");
    }
    for name in [
        "account_id",
        "status",
        "issued_from",
        "issued_to",
        "overdue",
    ] {
        assert_eq!(parameter("/v1/invoices", name)["in"], "query");
    }
    for path in ["/v1/subscriptions", "/v1/invoices"] {
        let content = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        for media in ["application/json", "application/x-ndjson", "text/csv"] {
            assert!(content.get(media).is_some(), "{path}: {media}");
        }
    }
    let page = &doc["paths"]["/v1/subscriptions"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"];
    let page = page
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .expect("a named page schema");
    assert!(schemas[page]["properties"]["data"].is_object(), "{page}");
    assert!(schemas["Subscription"]["properties"]["status"].is_object());
    assert!(schemas["IssuedDocument"].is_object(), "invoices are typed");
    for path in ["/v1/invoices/{id}", "/v1/credit-notes/{id}"] {
        let get = &doc["paths"][path]["get"];
        assert!(
            get["responses"]["304"]["headers"]["ETag"].is_object(),
            "{path}"
        );
        assert_eq!(parameter(path, "If-None-Match")["in"], "header");
    }
}

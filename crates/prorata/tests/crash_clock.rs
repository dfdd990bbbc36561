//! A sandbox clock advance is crash-safe: an advance killed with SIGKILL at any point —
//! while a day is being billed, while it is being collected — and advanced again to the same
//! date ends in exactly the state of an uninterrupted advance: the same documents with the
//! same numbers (no gap, no duplicate), the same ledger, the same payments on the same days,
//! the same dunning standings, and no customer charged twice.
//!
//! For each store (SQLite files; fresh PostgreSQL databases) the same setup is made twice,
//! through the engine, in database A and database B: one sandbox tenant with its clock on day
//! 0 (2026-03-02), the default catalog, and [`N`] French accounts, each subscribed on day 0
//! (so each has its first invoice, issued at creation, waiting to be charged) and paying by
//! (see [`pays`]): a good card, Visa 4242… or Mastercard 5555… (most; some on an annual
//! Professional plan, some with an upgrade recorded on day 0 to take effect on day 45), the
//! card 4000…0341 (every charge declined: seed 004's dunning, retries on +2, +4 and +21,
//! cancellation on +29 with a credit note for the unused days, purge 90 days after that),
//! the card 4000…0119 (every other charge fails with a processing error, tried again in a
//! later pass under a new key), SEPA direct debit, or bank transfer (never charged: reminded
//! after the due date, then dunned on the same schedule as a declined card). Every
//! card has its own expiry date and every IBAN its own last digits, so each account has its
//! own gateway token: the gateway's memory reads per account, and the intermittent card's
//! alternation (which counts the calls made on its token) is the account's own.
//!
//! Then the real binary runs `prorata --database-url <url> clock advance --tenant <id> --to
//! 2026-08-31`, which collects day 0, the dunning days (4, 6, 23 and 31 March), bills and
//! collects 2 April, 2 May and 2 June — each billing day two chunks of subscriptions
//! (`prorata_engine::CHUNK` is 2,000), so a kill can land between them — takes the purges of
//! 29 June, then bills and collects 2 July and 2 August. The kills aim at March to June; the
//! two months after leave work for a kill that comes late on a loaded machine:
//!
//! - on B it runs once, uninterrupted; a separate connection watches it to learn how long
//!   each day's billing takes (from the clock reaching the day to its last invoices
//!   committed) and how many invoices each chunk commits;
//! - on A it is killed with SIGKILL ([`std::process::Child::kill`]) 20 times ([`PLAN`]),
//!   each time started again: 10 kills aimed at the billing of a day (at varied fractions of
//!   the time B took to bill it, after the clock reached it or after the restarted process is
//!   up, or just after its first chunk committed), 10 during collection (once the gateway has
//!   answered k more charges, or more payments are recorded, or the clock reached the
//!   cancellation day, then after a varied delay). Committed progress is watched through a
//!   separate connection; each time the test asserts the process was still running when
//!   killed, and that a day's invoices were committed by whole chunks (a count B committed
//!   too). Then it is run to completion. A and B are then advanced once more to the same
//!   date: the target day's own collection pass (taken when an advance starts from a day
//!   that was only a target) leaves them equal, and a third advance changes nothing.
//!
//! What "equal" means, and why it can be exact. The advance is a sequence of steps, each a
//! transaction; a killed step leaves nothing, and the clock names the day in progress, so the
//! restarted advance finishes that day and goes on. Billing claims due subscriptions in id
//! order and numbers them in that order; collection dispatches events in id order, takes
//! dunning steps in (day, account) order and charges jobs in id order, each charge keyed and
//! its amount fixed in a commit before the gateway is asked, and asked again under the same
//! key after a crash (the sandbox answers a key it has seen from its memory). So every
//! document must have the same number, body and date in A and B; every ledger entry, payment,
//! standing, job and outbox event the same content in the same order for its account.
//!
//! What is compared through a projection, and why: row ids (a killed PostgreSQL transaction
//! consumes identity values, so ids of payments, jobs and documents may differ between A and
//! B), and what derives from them: a charge's idempotency key is `t{tenant}-charge-{job
//! id}-{attempt}`, the gateway's charge reference is a hash of that key, and a
//! `payment.succeeded` event carries the payment's id. These are compared with the job id and
//! the hash masked (the attempt number is kept), and checked for consistency instead: every
//! succeeded payment's reference is the gateway's answer to its key, and every key the
//! gateway charged successfully has exactly one succeeded payment. Timestamps of the wall
//! clock (`created_at`, `processed_at`, `done_at`, `run_after`) are not compared; whether a
//! job is done and whether an event is processed are. The keys of payment-method
//! authorisations made during the setup are random (`t1-pm-{account}-{random}`): the
//! authorisations' references (hashes of those keys) are masked too, and their voids, whose
//! token is such a reference, are left out.
//!
//! No double charge: per account, the gateway's charges (amount and outcome, in order) are
//! the same in A and B; every account's ledger balance, walked in order, never goes below
//! zero (a second charge of an invoice would) except by a credit note; and the accounts paying
//! by the good card or SEPA end owing nothing.

#[macro_use]
mod crash_common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../prorata-engine/tests/common/mod.rs"]
mod common;

use chrono::{Days, Months, NaiveDate};
use common::{essentials, french_account, open, sandbox, DEFAULT_CATALOG};
use crash_common::{kill_running, log_text, Db};
use prorata_core::change::Request;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Currency, Frequency};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::NewPaymentMethod;
use serde_json::Value;

/// Accounts: enough for each billing day to take two billing chunks, so kills can land between
/// them. 70 % of them are still billed monthly after March — the declined cards (10 %) and the
/// unpaid transfers (15 %, reminded then dunned like a failed card) are cancelled, the annual
/// plans (5 %) are not due — so 3,000 accounts give 2,100 invoices a billing day, more than one
/// chunk of 2,000. An uninterrupted advance then takes about 10 s (SQLite) to 14 s
/// (PostgreSQL) in a debug build, the whole test about 50 s and 90 s (the two run side by
/// side).
const N: usize = 3000;
/// How long one attempt may take to reach its kill point before the test gives up.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(300);

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date")
}

/// Where the clock is advanced to: past the three billing days the kills aim at, the purges
/// of 29 June, and two more billing days.
fn target() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 8, 31).expect("a date")
}

/// The billing days of the advance: day 0 plus one, two and three months.
fn billing_day(months: u32) -> NaiveDate {
    day0() + Months::new(months)
}

on_both_stores!(
    a_clock_advance_killed_twenty_times_while_billing_and_collecting_ends_exactly_like_an_uninterrupted_one,
);

// ------------------------------------------------------------------------------ the kills

/// When a kill comes, counted from the start of the attempt.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// The billing of this day: once the clock reached it (or, when the attempt starts on it,
    /// once the process is up), after this fraction of the time B took to bill the day.
    Billing(NaiveDate, f64),
    /// The billing of this day's second chunk: once the first is committed (or, when the
    /// attempt starts with it committed, once the process is up), plus a delay in ms.
    SecondChunk(NaiveDate, u64),
    /// Once the gateway answered this many more charges, plus a delay in milliseconds.
    Charges(i64, u64),
    /// Once this many more payments are recorded, plus a delay in milliseconds.
    Payments(i64, u64),
    /// Once the clock reached this day (a dunning day), plus a delay in milliseconds.
    Clock(NaiveDate, u64),
}

/// The 20 kills, in order: 10 aimed at billing, 10 at collection.
const PLAN: [Trigger; 20] = {
    const fn d(m: u32, day: u32) -> NaiveDate {
        match NaiveDate::from_ymd_opt(2026, m, day) {
            Some(d) => d,
            None => panic!("a date"),
        }
    }
    use Trigger::*;
    [
        // Day 0's collection: the invoices issued at the setup, the first declines.
        Charges(1, 0),
        Payments(1, 0),
        Charges(300, 5),
        // The cancellations of 31 March (+29): subscriptions ended, credit notes issued.
        Clock(d(3, 31), 0),
        Billing(d(4, 2), 0.0),
        Billing(d(4, 2), 0.3),
        SecondChunk(d(4, 2), 0),
        Charges(1, 3),
        Payments(1, 20),
        Billing(d(5, 2), 0.1),
        Billing(d(5, 2), 0.4),
        SecondChunk(d(5, 2), 5),
        SecondChunk(d(5, 2), 40),
        Charges(10, 0),
        Payments(2, 5),
        Billing(d(6, 2), 0.2),
        Billing(d(6, 2), 0.6),
        SecondChunk(d(6, 2), 10),
        Charges(1, 10),
        Charges(20, 0),
    ]
};

// ------------------------------------------------------------------------------ the database

/// What the binary has committed so far, as the kills watch it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Progress {
    clock: String,
    invoices: i64,
    charges: i64,
    payments: i64,
}

/// Everything compared between A and B (module docs), canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    clock: Option<String>,
    /// (kind, number, account, subscription, issued on, total, body), in number order.
    documents: Vec<DocRow>,
    /// Per account, in order: (date, kind, amount, currency, reference).
    ledger: BTreeMap<i64, Vec<LedgerRow>>,
    /// Per account, in order: (method, amount, refunded, status, failure, reference, key, paid on).
    payments: BTreeMap<i64, Vec<PaymentRow>>,
    /// Per account: (status, next due, body).
    standings: BTreeMap<i64, (String, Option<String>, String)>,
    /// Per subscription: (account, next due, body, revision).
    subscriptions: BTreeMap<i64, (i64, Option<String>, String, i64)>,
    /// Per account: body (a purge blanks it).
    accounts: BTreeMap<i64, String>,
    /// Per account, in order: (kind, body, detached).
    methods: BTreeMap<i64, Vec<(String, String, bool)>>,
    /// Per account (0 for none), in order: (topic, payload, processed).
    outbox: BTreeMap<i64, Vec<(String, String, bool)>>,
    /// Per account (0 for none), in order: (kind, payload, attempts, outcome, done).
    jobs: BTreeMap<i64, Vec<JobRow>>,
    /// Per token, sorted: (operation, amount, outcome).
    gateway: BTreeMap<String, Vec<(String, i64, String)>>,
    number_series: Vec<(String, i64)>,
    renders_queued: i64,
}

type DocRow = (String, String, i64, i64, String, i64, String);
type LedgerRow = (String, String, i64, String, String);
type PaymentRow = (
    String,
    i64,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
);
type JobRow = (String, String, i64, Option<String>, bool);
/// A payments row as read: the account, then a [`PaymentRow`] before its projection.
type RawPayment = (
    i64,
    String,
    i64,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
);
/// A jobs row as read: the account, then a [`JobRow`] before its projection.
type RawJob = (Option<i64>, String, String, i64, Option<String>, i64);

impl Db {
    async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as(sql).fetch_one(p).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    async fn clock(&self) -> String {
        const SQL: &str = "SELECT CAST(clock AS TEXT) FROM tenants";
        let (clock,): (Option<String>,) =
            on_db!(self, p => sqlx::query_as(SQL).fetch_one(p).await).expect(SQL);
        clock.unwrap_or_default()
    }

    async fn invoices_on(&self, day: NaiveDate) -> i64 {
        let sql = format!(
            "SELECT COUNT(*) FROM documents WHERE kind = 'invoice' \
             AND CAST(issued_on AS TEXT) = '{day}'"
        );
        self.count(&sql).await
    }

    async fn progress(&self) -> Progress {
        Progress {
            clock: self.clock().await,
            invoices: self
                .count("SELECT COUNT(*) FROM documents WHERE kind = 'invoice'")
                .await,
            charges: self
                .count("SELECT COUNT(*) FROM sandbox_gateway WHERE operation = 'charge'")
                .await,
            payments: self.count("SELECT COUNT(*) FROM payments").await,
        }
    }

    async fn state(&self) -> State {
        let clock: Option<String> = {
            const SQL: &str = "SELECT CAST(clock AS TEXT) FROM tenants";
            let (c,): (Option<String>,) =
                on_db!(self, p => sqlx::query_as(SQL).fetch_one(p).await).expect(SQL);
            c
        };
        let documents = {
            const SQL: &str = "SELECT kind, number, account_id, subscription_id, \
                               CAST(issued_on AS TEXT), total, body FROM documents \
                               ORDER BY kind, number";
            on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
        };
        let ledger = {
            const SQL: &str = "SELECT account_id, CAST(entry_date AS TEXT), kind, amount, \
                               currency, reference FROM ledger_entries ORDER BY id";
            let rows: Vec<(i64, String, String, i64, String, String)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            group(
                rows.into_iter()
                    .map(|(a, d, k, m, c, r)| (a, (d, k, m, c, canonical(&r)))),
            )
        };
        let payments = {
            const SQL: &str = "SELECT account_id, method, amount, refunded, status, failure, \
                               reference, idempotency_key, CAST(paid_on AS TEXT) FROM payments \
                               ORDER BY id";
            let rows: Vec<RawPayment> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            group(
                rows.into_iter()
                    .map(|(a, m, amount, r, s, f, reference, key, on)| {
                        (
                            a,
                            (
                                m,
                                amount,
                                r,
                                s,
                                f,
                                canonical(&reference),
                                canonical(&key),
                                on,
                            ),
                        )
                    }),
            )
        };
        let standings = {
            const SQL: &str = "SELECT account_id, status, CAST(next_due AS TEXT), body \
                               FROM standings ORDER BY account_id";
            let rows: Vec<(i64, String, Option<String>, String)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            rows.into_iter()
                .map(|(a, s, n, b)| (a, (s, n, b)))
                .collect()
        };
        let subscriptions = {
            const SQL: &str = "SELECT id, account_id, CAST(next_due AS TEXT), body, \
                               CAST(revision AS BIGINT) FROM subscriptions ORDER BY id";
            let rows: Vec<(i64, i64, Option<String>, String, i64)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            rows.into_iter()
                .map(|(id, a, n, b, r)| (id, (a, n, b, r)))
                .collect()
        };
        let accounts = {
            const SQL: &str = "SELECT id, body FROM accounts ORDER BY id";
            let rows: Vec<(i64, String)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            rows.into_iter().collect()
        };
        let methods = {
            const SQL: &str = "SELECT account_id, kind, body, \
                               CAST(CASE WHEN detached_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
                               FROM payment_methods ORDER BY id";
            let rows: Vec<(i64, String, String, i64)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            group(rows.into_iter().map(|(a, k, b, d)| (a, (k, b, d == 1))))
        };
        let outbox = {
            const SQL: &str = "SELECT topic, payload, \
                               CAST(CASE WHEN processed_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
                               FROM outbox ORDER BY id";
            let rows: Vec<(String, String, i64)> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            group(rows.into_iter().map(|(topic, payload, processed)| {
                let mut payload: Value = serde_json::from_str(&payload).expect("JSON payload");
                let account = payload["account_id"].as_i64().unwrap_or(0);
                // A payment's row id (module docs).
                if let Some(p) = payload.as_object_mut() {
                    p.remove("payment_id");
                }
                (
                    account,
                    (topic, canonical(&payload.to_string()), processed == 1),
                )
            }))
        };
        let jobs = {
            const SQL: &str = "SELECT account_id, kind, payload, CAST(attempts AS BIGINT), \
                               outcome, \
                               CAST(CASE WHEN done_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
                               FROM jobs ORDER BY id";
            let rows: Vec<RawJob> =
                on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
            group(
                rows.into_iter()
                    .map(|(a, kind, payload, attempts, outcome, done)| {
                        (
                            a.unwrap_or(0),
                            (
                                kind,
                                canonical(&payload),
                                attempts,
                                outcome.map(|o| canonical(&o)),
                                done == 1,
                            ),
                        )
                    }),
            )
        };
        let gateway = {
            let mut by_token: BTreeMap<String, Vec<(String, i64, String)>> = BTreeMap::new();
            for (_, operation, token, amount, outcome) in self.gateway_memory().await {
                // A void names the authorisation made at the setup under a random key.
                if operation == "void" {
                    continue;
                }
                by_token
                    .entry(token)
                    .or_default()
                    .push((operation, amount, canonical(&outcome)));
            }
            for v in by_token.values_mut() {
                v.sort();
            }
            by_token
        };
        let number_series = {
            const SQL: &str = "SELECT series, CAST(next AS BIGINT) FROM number_series \
                               ORDER BY series";
            on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
        };
        State {
            clock,
            documents,
            ledger,
            payments,
            standings,
            subscriptions,
            accounts,
            methods,
            outbox,
            jobs,
            gateway,
            number_series,
            renders_queued: self.count("SELECT COUNT(*) FROM document_renders").await,
        }
    }

    /// The sandbox gateway's memory: (key, operation, token, amount, outcome).
    async fn gateway_memory(&self) -> Vec<(String, String, String, i64, String)> {
        const SQL: &str = "SELECT idempotency_key, operation, token, amount, outcome \
                           FROM sandbox_gateway ORDER BY idempotency_key";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }

    /// Succeeded payments: (account, amount, reference, idempotency key).
    async fn succeeded_payments(&self) -> Vec<(i64, i64, String, String)> {
        const SQL: &str = "SELECT account_id, amount, reference, idempotency_key FROM payments \
                           WHERE status = 'succeeded' ORDER BY id";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }
}

/// Rows grouped by their first field, order kept.
fn group<K: Ord, V>(rows: impl Iterator<Item = (K, V)>) -> BTreeMap<K, Vec<V>> {
    let mut map: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for (k, v) in rows {
        map.entry(k).or_default().push(v);
    }
    map
}

/// `text` with what derives from row ids or random keys masked (module docs): the job id of
/// a charge key (`t1-charge-123-0` → `t1-charge-#-0`) and the hash in a gateway reference
/// (`ch_…`, `auth_…`).
fn canonical(text: &str) -> String {
    const MARKS: [&str; 3] = ["-charge-", "ch_", "auth_"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, mark)) = MARKS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, *m)))
        .min()
    {
        out.push_str(&rest[..at + mark.len()]);
        rest = &rest[at + mark.len()..];
        let masked = if mark == "-charge-" {
            rest.bytes().take_while(u8::is_ascii_digit).count()
        } else {
            let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
            if hex == 16 {
                hex
            } else {
                0
            }
        };
        if masked > 0 {
            out.push('#');
            rest = &rest[masked..];
        }
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------------------------ setup

/// How account `i` pays.
enum Pays {
    /// The good cards, Visa 4242… and Mastercard 5555… in turn.
    GoodCard,
    /// 4000 0000 0000 0341: every charge declined.
    Declined,
    /// 4000 0000 0000 0119: every other charge fails with a processing error.
    Intermittent,
    Sepa,
    Transfer,
}

fn pays(i: usize) -> Pays {
    match i % 20 {
        0..=10 => Pays::GoodCard,
        11 | 12 => Pays::Declined,
        13 | 14 => Pays::Intermittent,
        15 | 16 => Pays::Sepa,
        _ => Pays::Transfer,
    }
}

/// Essentials monthly, but Professional annual (invoiced once, on day 0) for some good
/// cards, and Professional monthly for some good and intermittent cards.
fn subscription(i: usize) -> SubscriptionSpec {
    let users = 3 + (i % 5) as i64;
    match i % 20 {
        10 => SubscriptionSpec {
            plan: "professional".into(),
            frequency: Frequency::Annual,
            currency: Currency::EUR,
            start: day0(),
            trial_days: Some(0),
            term_months: 12,
            notice_days: 30,
            quantities: BTreeMap::from([
                ("user".to_string(), users),
                ("number".to_string(), 2),
                ("analytics_plus".to_string(), 1),
            ]),
            billing_day: None,
        },
        9 | 14 => SubscriptionSpec {
            plan: "professional".into(),
            frequency: Frequency::Monthly,
            ..essentials(day0(), users)
        },
        _ => essentials(day0(), users),
    }
}

/// Accounts with an upgrade recorded on day 0, effective on day 45: two more users.
fn upgraded(i: usize) -> bool {
    matches!(i % 20, 3 | 9)
}

/// A valid German IBAN whose last four digits are `i`'s own (never `0002`, which the
/// sandbox declines).
fn iban(i: usize) -> String {
    let bban = format!("370400440{:09}", 100_000 + 3 * i + 1);
    // Check digits: 98 - (BBAN, then "DE00" as digits) mod 97.
    let digits = format!("{bban}131400");
    let rest = digits
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rest)
}

/// The tenant, catalog, accounts, payment methods and subscriptions (module docs); returns
/// the tenant's id.
async fn set_up(store: &str, url: &str) -> i64 {
    let started = Instant::now();
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Crash clock (sandbox)", day0()).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("catalog")
        .id;
    // Cards made so far per number: the next one's expiry (a month of 2027 … 2099 each).
    let mut cards: BTreeMap<&str, u32> = BTreeMap::new();
    let mut card = |number: &'static str| {
        let k = cards.entry(number).or_default();
        let (month, year) = (1 + *k % 12, 2027 + (*k / 12) as i32);
        assert!(year <= 2099, "too many cards {number}: lower N");
        *k += 1;
        NewPaymentMethod::Card {
            token: SandboxGateway::tokenize_card(tenant.id, number, month, year)
                .expect("test card"),
        }
    };
    for i in 0..N {
        let account = engine
            .create_account(&tenant, &french_account(&format!("Customer {i:04}")))
            .await
            .expect("account");
        let method = match pays(i) {
            Pays::GoodCard if (i / 20) % 2 == 0 => card("4242424242424242"),
            Pays::GoodCard => card("5555555555554444"),
            Pays::Declined => card("4000000000000341"),
            Pays::Intermittent => card("4000000000000119"),
            Pays::Sepa => NewPaymentMethod::SepaDebit {
                iban: iban(i),
                // Given: one made up would be random, and the invoices print it.
                mandate_reference: Some(format!("MANDATE-{i:04}")),
            },
            Pays::Transfer => NewPaymentMethod::BankTransfer,
        };
        engine
            .add_payment_method(&tenant, account, &method)
            .await
            .expect("payment method");
        let spec = subscription(i);
        let (sub, _) = engine
            .create_subscription(&tenant, account, catalog, &spec)
            .await
            .expect("subscription");
        if upgraded(i) {
            let effective = (day0() + Days::new(45))
                .and_hms_opt(0, 0, 0)
                .expect("midnight");
            engine
                .request_change(
                    &tenant,
                    sub,
                    &Request::SetQuantity {
                        product: "user".into(),
                        quantity: spec.quantities["user"] + 2,
                    },
                    Some(effective),
                )
                .await
                .expect("upgrade");
        }
    }
    engine.store.close().await;
    eprintln!(
        "{store}: setup of {N} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tenant.id
}

// ------------------------------------------------------------------------------ the binary

/// Starts `prorata --database-url <url> clock advance --tenant <id> --to 2026-08-31`, its
/// output in `log`.
fn start_advance(url: &str, tenant: i64, log: &Path) -> Child {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(env!("CARGO_BIN_EXE_prorata"))
        // Each committed chunk is logged (prorata_engine, debug): B's log says exactly
        // where its chunks ended, which sampling the database could miss.
        .args(["--database-url", url, "--log-format", "json"])
        .args(["--log", "info,prorata_engine=debug", "clock", "advance"])
        .args([
            "--tenant",
            &tenant.to_string(),
            "--to",
            &target().to_string(),
        ])
        .env_remove("PRORATA_DATABASE_URL")
        .env_remove("PRORATA_FAILPOINT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the prorata binary starts")
}

/// How long the binary takes to start and open the store before a command's work begins:
/// the quickest of three `prorata migrate` (the migrations are applied already).
fn startup_time(url: &str) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
                .args(["--database-url", url, "migrate"])
                .env_remove("PRORATA_DATABASE_URL")
                .output()
                .expect("the prorata binary runs");
            assert!(out.status.success(), "prorata migrate: {out:?}");
            started.elapsed()
        })
        .min()
        .expect("three runs")
}

/// Runs the advance to completion and returns its output.
fn advance_to_completion(url: &str, tenant: i64, log: &Path) -> String {
    let mut child = start_advance(url, tenant, log);
    let status = child.wait().expect("wait");
    let text = log_text(log);
    assert!(
        status.success(),
        "prorata clock advance failed: {status:?}\n{text}"
    );
    text
}

/// Polls `db` until `done` holds, while `child` runs; panics if it ends first.
async fn wait_until<F>(db: &Db, child: &mut Child, log: &Path, what: &str, mut done: F)
where
    F: FnMut(&Progress) -> bool,
{
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    loop {
        let p = db.progress().await;
        if done(&p) {
            return;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the advance ended ({status:?}) before {what} (at {p:?}); raise N\n{}",
                log_text(log)
            );
        }
        assert!(Instant::now() < deadline, "no progress to {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What the uninterrupted run B showed: how long each billing day's billing took (from the
/// clock reaching the day to its last invoices committed), how many invoices it issued, and
/// the counts committed on the way (after each chunk).
struct Timings {
    billing: BTreeMap<NaiveDate, Duration>,
    invoices: BTreeMap<NaiveDate, i64>,
    chunks: BTreeMap<NaiveDate, BTreeSet<i64>>,
    total: Duration,
}

/// Runs B's advance uninterrupted, watching when the clock reaches each billing day and when
/// that day's invoices are committed.
async fn watch_uninterrupted(db: &Db, url: &str, tenant: i64, log: &Path) -> Timings {
    let started = Instant::now();
    let mut child = start_advance(url, tenant, log);
    let days: Vec<NaiveDate> = (1..=3).map(billing_day).collect();
    let mut reached: BTreeMap<NaiveDate, Instant> = BTreeMap::new();
    // The last time the day's count of invoices was seen to change.
    let mut billed: BTreeMap<NaiveDate, (i64, Instant)> = BTreeMap::new();
    let mut chunks: BTreeMap<NaiveDate, BTreeSet<i64>> = BTreeMap::new();
    loop {
        let clock = db.clock().await;
        for day in &days {
            if clock == day.to_string() {
                reached.entry(*day).or_insert_with(Instant::now);
            }
            if reached.contains_key(day) {
                let n = db.invoices_on(*day).await;
                if billed.get(day).map_or(0, |b| b.0) != n {
                    billed.insert(*day, (n, Instant::now()));
                    chunks.entry(*day).or_default().insert(n);
                }
            }
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "B's advance failed\n{}", log_text(log));
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let total = started.elapsed();
    // Where each chunk ended, as the run logged it: cumulative invoices of its day.
    for line in log_text(log).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["message"] != "chunk committed" {
            continue;
        }
        let day = event["as_of"]
            .as_str()
            .and_then(|d| d.parse::<NaiveDate>().ok());
        if let (Some(day), Some(n)) = (day, event["invoices"].as_i64()) {
            if days.contains(&day) && n > 0 {
                chunks.entry(day).or_default().insert(n);
            }
        }
    }
    let mut timings = Timings {
        billing: BTreeMap::new(),
        invoices: BTreeMap::new(),
        chunks,
        total,
    };
    for day in days {
        let took = match (reached.get(&day), billed.get(&day)) {
            (Some(r), Some((_, b))) => b.duration_since(*r),
            // Too quick to be seen: a guess.
            _ => Duration::from_millis(500),
        };
        timings
            .billing
            .insert(day, took.max(Duration::from_millis(20)));
        timings.invoices.insert(day, db.invoices_on(day).await);
    }
    timings
}

// ------------------------------------------------------------------------------ the test

async fn a_clock_advance_killed_twenty_times_while_billing_and_collecting_ends_exactly_like_an_uninterrupted_one(
    url_a: &str,
    url_b: &str,
) {
    let store = if url_a.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let test_started = Instant::now();
    let logs = prorata_testkit::TempDirGuard::new("prorata-crash-clock-logs");
    let log = logs.path().join("advance.log");
    // The same setup in A and B (separate databases, made side by side).
    let (tenant, tenant_b) = tokio::join!(set_up(store, url_a), set_up(store, url_b));
    assert_eq!(tenant, tenant_b);
    let a = Db::connect(url_a).await;
    let b = Db::connect(url_b).await;
    let before = a.state().await;
    compare("A's setup", "B's setup", &before, &b.state().await);
    assert_eq!(before.clock.as_deref(), Some("2026-03-02"));

    // B: uninterrupted, watched.
    let timings = watch_uninterrupted(&b, url_b, tenant, &log).await;
    let text = log_text(&log);
    eprintln!(
        "{store}: uninterrupted advance in {:.2} s (billing {}): {}",
        timings.total.as_secs_f64(),
        timings
            .billing
            .iter()
            .map(|(d, t)| format!(
                "{d}: {} invoices in {} ms",
                timings.invoices[d],
                t.as_millis()
            ))
            .collect::<Vec<_>>()
            .join(", "),
        text.lines().last().unwrap_or_default()
    );
    // Each billing day is more than one chunk, so kills can land between its chunks.
    assert!(
        timings.chunks.values().all(|c| c.len() >= 2),
        "each billing day takes two chunks or more: {:?}",
        timings.chunks
    );

    // A: killed 20 times. An attempt that starts on the day it is to be killed billing bills
    // as soon as it is up.
    let startup = startup_time(url_a);
    eprintln!("{store}: the binary starts in {} ms", startup.as_millis());
    let mut in_billing = 0;
    for (i, trigger) in PLAN.into_iter().enumerate() {
        let kill = i + 1;
        let at_start = a.progress().await;
        let started = Instant::now();
        let mut child = start_advance(url_a, tenant, &log);
        let what = format!("kill {kill} ({trigger:?})");
        // A billing kill aims at its day; when that day is billed already (a kill before landed
        // after it), at that day's collection instead.
        let mut aimed_at = None;
        match trigger {
            Trigger::Billing(day, _) | Trigger::SecondChunk(day, _)
                if a.invoices_on(day).await == timings.invoices[&day] =>
            {
                wait_until(&a, &mut child, &log, &what, |p| {
                    p.charges > at_start.charges
                })
                .await;
            }
            Trigger::Billing(day, fraction) => {
                aimed_at = Some(day);
                let after = timings.billing[&day].mul_f64(fraction);
                if at_start.clock == day.to_string() {
                    // On the day already (a kill before landed in its billing).
                    tokio::time::sleep(startup + after).await;
                } else {
                    wait_until(&a, &mut child, &log, &what, |p| p.clock >= day.to_string()).await;
                    tokio::time::sleep(after).await;
                }
            }
            Trigger::SecondChunk(day, delay) => {
                aimed_at = Some(day);
                if a.invoices_on(day).await > 0 {
                    tokio::time::sleep(startup).await;
                } else {
                    let deadline = Instant::now() + PROGRESS_TIMEOUT;
                    while a.invoices_on(day).await == 0 {
                        assert!(
                            child.try_wait().expect("try_wait").is_none(),
                            "{what}: the advance ended\n{}",
                            log_text(&log)
                        );
                        assert!(Instant::now() < deadline, "{what}: no progress");
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Trigger::Charges(k, delay) => {
                wait_until(&a, &mut child, &log, &what, |p| {
                    p.charges >= at_start.charges + k
                })
                .await;
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Trigger::Payments(k, delay) => {
                wait_until(&a, &mut child, &log, &what, |p| {
                    p.payments >= at_start.payments + k
                })
                .await;
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Trigger::Clock(day, delay) => {
                wait_until(&a, &mut child, &log, &what, |p| p.clock >= day.to_string()).await;
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
        kill_running(&mut child, &log, &what);
        let at_kill = started.elapsed();
        let p = a.progress().await;
        let mut note = String::new();
        if let Some(day) = aimed_at {
            let n = a.invoices_on(day).await;
            let all = timings.invoices[&day];
            assert!(
                n == 0 || timings.chunks[&day].contains(&n),
                "{what}: {n} invoices of {day} committed, not a count B committed a chunk at \
                 ({:?}): only whole chunks are committed",
                timings.chunks[&day]
            );
            if n < all {
                in_billing += 1;
                note = format!(", {n} of the {all} invoices of {day} committed");
            } else {
                note = format!(", after the invoices of {day} were committed");
            }
        }
        eprintln!(
            "{store}: kill {kill} {trigger:?} at {:.3} s: clock {}, {} invoices, {} charges \
             answered, {} payments{note}",
            at_kill.as_secs_f64(),
            p.clock,
            p.invoices,
            p.charges,
            p.payments
        );
        assert!(
            p.clock < target().to_string(),
            "{what}: the advance had reached its target"
        );
    }
    eprintln!(
        "{store}: {in_billing} of the 10 billing kills landed before the day's invoices were \
         all committed"
    );
    // The kills are timed from B's run: on a loaded machine some aimed at billing land in the
    // collection that follows (still a kill mid-advance, still compared below). A few must
    // land in billing for the test to test what it says.
    assert!(
        in_billing >= 3,
        "too few kills landed in billing ({in_billing})"
    );

    // Started again, to the end; then once more, which must change nothing.
    let started = Instant::now();
    let text = advance_to_completion(url_a, tenant, &log);
    eprintln!(
        "{store}: restarted advance to completion in {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        text.lines().last().unwrap_or_default()
    );
    let state_a = a.state().await;
    let state_b = b.state().await;

    // A equals B.
    compare("A", "B", &state_a, &state_b);

    // Advanced once more to the same date, both make the target day's own collection pass
    // (a target that is not a due day is collected when an advance starts from it: a charge
    // retry pending then is taken), and stay equal; a third time changes nothing at all.
    advance_to_completion(url_a, tenant, &log);
    advance_to_completion(url_b, tenant, &log);
    let again_a = a.state().await;
    compare(
        "A advanced again",
        "B advanced again",
        &again_a,
        &b.state().await,
    );
    advance_to_completion(url_a, tenant, &log);
    compare(
        "A a third time",
        "A advanced again",
        &a.state().await,
        &again_a,
    );
    let state_a = again_a;
    check_invariants(store, &a, &state_a).await;
    eprintln!(
        "{store}: {} documents, {} payments, {} gateway charges; test in {:.1} s",
        state_a.documents.len(),
        state_a.payments.values().map(Vec::len).sum::<usize>(),
        state_a
            .gateway
            .values()
            .flatten()
            .filter(|g| g.0 == "charge")
            .count(),
        test_started.elapsed().as_secs_f64()
    );
    a.close().await;
    b.close().await;
}

/// Asserts `x` equals `y`, field by field, naming the first difference.
fn compare(x_name: &str, y_name: &str, x: &State, y: &State) {
    assert_eq!(x.clock, y.clock, "clock: {x_name} vs {y_name}");
    assert_eq!(
        x.documents.len(),
        y.documents.len(),
        "number of documents: {x_name} vs {y_name}"
    );
    for (dx, dy) in x.documents.iter().zip(&y.documents) {
        assert_eq!(dx, dy, "document {} differs: {x_name} vs {y_name}", dx.1);
    }
    fn per_key<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
        what: &str,
        x_name: &str,
        y_name: &str,
        x: &BTreeMap<K, V>,
        y: &BTreeMap<K, V>,
    ) {
        let keys: BTreeSet<&K> = x.keys().chain(y.keys()).collect();
        for k in keys {
            assert_eq!(
                x.get(k),
                y.get(k),
                "{what} of {k:?} differ: {x_name} (left) vs {y_name} (right)"
            );
        }
    }
    per_key("ledger entries", x_name, y_name, &x.ledger, &y.ledger);
    per_key("payments", x_name, y_name, &x.payments, &y.payments);
    per_key("standings", x_name, y_name, &x.standings, &y.standings);
    per_key(
        "subscriptions",
        x_name,
        y_name,
        &x.subscriptions,
        &y.subscriptions,
    );
    per_key("accounts", x_name, y_name, &x.accounts, &y.accounts);
    per_key("payment methods", x_name, y_name, &x.methods, &y.methods);
    per_key("outbox events", x_name, y_name, &x.outbox, &y.outbox);
    per_key("jobs", x_name, y_name, &x.jobs, &y.jobs);
    per_key("gateway calls", x_name, y_name, &x.gateway, &y.gateway);
    assert_eq!(
        x.number_series, y.number_series,
        "number series: {x_name} vs {y_name}"
    );
    assert_eq!(
        x.renders_queued, y.renders_queued,
        "documents queued for rendering: {x_name} vs {y_name}"
    );
    assert!(x == y, "{x_name} and {y_name} differ");
}

/// What must hold of A on its own: numbers without gap, no double charge (module docs).
async fn check_invariants(store: &str, db: &Db, state: &State) {
    // Each series is 1 … n without gap or duplicate, and its counter is n + 1.
    for (series, kind) in [("INV", "invoice"), ("CN", "credit_note")] {
        let numbers: Vec<&str> = state
            .documents
            .iter()
            .filter(|d| d.0 == kind)
            .map(|d| d.1.as_str())
            .collect();
        let expected: Vec<String> = (1..=numbers.len())
            .map(|i| format!("{series}-{i:06}"))
            .collect();
        assert!(
            numbers == expected,
            "{store}: {series} numbers are not 1 … {} without gap",
            numbers.len()
        );
        let next = state
            .number_series
            .iter()
            .find(|s| s.0 == series)
            .map_or(1, |s| s.1);
        assert_eq!(next, numbers.len() as i64 + 1, "{store}: {series} counter");
    }
    // The scenario played out: each declining card's account, and each transfer payer's
    // (never paying: reminded, then dunned from the due date), was cancelled (a credit note
    // each) and purged; intermittent cards' charges were tried again.
    let cancelled = (0..N)
        .filter(|i| matches!(pays(*i), Pays::Declined | Pays::Transfer))
        .count();
    let credit_notes = state
        .documents
        .iter()
        .filter(|d| d.0 == "credit_note")
        .count();
    assert_eq!(
        credit_notes, cancelled,
        "{store}: a credit note per cancellation"
    );
    let purged = state.standings.values().filter(|s| s.0 == "purged").count();
    assert_eq!(purged, cancelled, "{store}: accounts purged");
    let retried = state
        .jobs
        .values()
        .flatten()
        .filter(|j| j.0 == "charge" && j.2 > 0)
        .count();
    assert!(retried > 0, "{store}: no charge was tried again");

    // Every key the gateway charged successfully has exactly one succeeded payment, whose
    // reference is the gateway's answer; and no succeeded payment without such a key.
    let memory = db.gateway_memory().await;
    let charged: BTreeMap<String, String> = memory
        .iter()
        .filter(|m| m.1 == "charge")
        .filter_map(|m| {
            let v: Value = serde_json::from_str(&m.4).expect("gateway outcome");
            v.get("Ok")
                .and_then(Value::as_str)
                .map(|r| (m.0.clone(), r.to_string()))
        })
        .collect();
    let paid = db.succeeded_payments().await;
    let collected: Vec<&(i64, i64, String, String)> =
        paid.iter().filter(|p| p.3.contains("-charge-")).collect();
    let keys: BTreeSet<&str> = collected.iter().map(|p| p.3.as_str()).collect();
    assert_eq!(keys.len(), collected.len(), "{store}: a key paid twice");
    assert_eq!(
        keys,
        charged.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        "{store}: the gateway's successful charges and the payments recorded differ"
    );
    for p in &collected {
        assert_eq!(charged.get(&p.3), Some(&p.2), "{store}: payment reference");
    }
    assert!(!collected.is_empty());

    // No invoice paid twice: walking each account's ledger, the balance never goes below
    // zero but by a credit note; accounts paying by the good card or SEPA owe nothing.
    let methods = &state.methods;
    for (account, entries) in &state.ledger {
        let mut balance = 0;
        for (date, kind, amount, _, reference) in entries {
            balance += amount;
            assert!(
                balance >= 0 || kind == "credit_note",
                "{store}: account {account} owes {balance} after {kind} {reference} on {date}"
            );
        }
        let (kind, method) = methods
            .get(account)
            .and_then(|m| m.last())
            .map(|m| (m.0.as_str(), m.1.as_str()))
            .unwrap_or_default();
        if method.contains("_4242_") || method.contains("_4444_") || kind == "sepa_debit" {
            assert_eq!(
                balance, 0,
                "{store}: account {account} ({method}) still owes"
            );
        }
    }
}

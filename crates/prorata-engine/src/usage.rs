//! Usage ingestion: call records in, daily totals out, in one transaction per batch.
//!
//! Each event is checked, dated in its account's time zone, attributed to the subscription the
//! account held that day and rated against that subscription's catalog version. The good
//! events of a batch are accepted even when others are refused; each refusal names the event's
//! index, field and reason. An event id the tenant sent before is a duplicate: counted, never
//! stored or billed twice. The batch's events and the daily totals they add to are committed
//! together, so a batch acknowledged to the caller is durable and a batch cut off by a crash
//! left nothing behind (sending it again is safe).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use prorata_core::calls::{local_date, time_zone, CallError, CallRater, CallRecord, Direction};
use prorata_core::catalog::Catalog;
use prorata_core::document::Line;
use prorata_core::reconcile::{usage_in_period, Context};
use prorata_core::Period;
use prorata_store::{DailyUsage, NewCall, Tenant, Tx};
use serde::{Deserialize, Serialize};

use crate::{Engine, EngineError, Result};

/// Runs `$work`, an expression given the transaction as `$tx` (its `?` in the store's
/// errors), in a transaction of its own and commits it, from the start again (up to
/// [`BUSY_RETRIES`] times) while SQLite reports a conflicting writer: nothing was written then.
/// Evaluates to the store's `Result` of `$work`. A macro, not a function taking an async
/// closure: such a closure's future borrowing the transaction is not seen as `Send` for every
/// lifetime, which the spawned writer and fold tasks need.
macro_rules! committed {
    ($store:expr, $tx:ident => $work:expr) => {{
        let mut attempt = 0;
        loop {
            let done = async {
                let mut tx = $store.begin().await?;
                let $tx = &mut tx;
                let out = $work;
                tx.commit().await?;
                Ok::<_, prorata_store::StoreError>(out)
            }
            .await;
            match done {
                Err(e) if attempt < BUSY_RETRIES && e.is_busy() => attempt += 1,
                other => break other,
            }
        }
    }};
}

mod writer;
pub(crate) use writer::Writer;

/// The most events one batch may carry.
pub const MAX_BATCH: usize = 10_000;

/// How long what ingestion knows of an account (time zone, subscriptions) is reused. A call
/// no cached subscription covers reloads its account, so a new subscription is seen at once;
/// an edited time zone, or a later subscription replacing a current one, within this delay.
const ACCOUNT_TTL: Duration = Duration::from_secs(30);

/// Times a batch is tried again when SQLite reports a conflicting writer.
const BUSY_RETRIES: u32 = 3;

/// Partial daily totals a tenant's batches may append before ingestion folds them in the
/// background: enough that a fold walks `usage_daily` once for a hundred batches or so, few
/// enough that a reader adding them up (the usage summary) reads them quickly.
pub const FOLD_AFTER_ROWS: u64 = 500_000;

/// Per tenant: partial totals appended since the last fold, and whether one is running.
pub(crate) type PendingUsage = HashMap<i64, (u64, bool)>;

/// One refused event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejected {
    /// Position in the batch, from 0.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub field: String,
    pub reason: String,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestReport {
    /// Events stored now (free calls included).
    pub accepted: u64,
    /// Events whose id was seen before (in an earlier batch or earlier in this one).
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
}

impl IngestReport {
    pub fn add(&mut self, other: IngestReport, offset: usize) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected
            .extend(other.rejected.into_iter().map(|r| Rejected {
                index: r.index + offset,
                ..r
            }));
    }
}

/// What ingestion needs of an account.
#[derive(Debug)]
pub(crate) struct AccountUsage {
    tz: chrono_tz::Tz,
    /// (subscription id, catalog version id, start).
    subscriptions: Vec<(i64, i64, NaiveDate)>,
    loaded: Instant,
}

pub(crate) type AccountCache = HashMap<(i64, i64), Arc<AccountUsage>>;

/// Of an account's subscriptions, the one its usage on `day` belongs to: the latest started on
/// or before it (ties: the higher id). `key` gives a subscription's (start, id).
fn held_on<T>(
    subscriptions: impl IntoIterator<Item = T>,
    day: NaiveDate,
    key: impl Fn(&T) -> (NaiveDate, i64),
) -> Option<T> {
    subscriptions
        .into_iter()
        .filter(|s| key(s).0 <= day)
        .max_by_key(|s| key(s))
}

impl AccountUsage {
    /// (subscription id, catalog version id) of the subscription held on `day`.
    fn subscription_on(&self, day: NaiveDate) -> Option<(i64, i64)> {
        held_on(&self.subscriptions, day, |(id, _, start)| (*start, *id))
            .map(|(id, version, _)| (*id, *version))
    }
}

/// The usage of one subscription's period so far.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageSummary {
    pub account_id: i64,
    pub subscription_id: i64,
    pub period: Period,
    /// One line per metric (zone and direction): calls, seconds, included, amount so far.
    pub lines: Vec<Line>,
}

impl Engine {
    /// Ingests one batch of at most [`MAX_BATCH`] events. `events` holds what the caller could
    /// parse, with a [`CallError`] for what it could not.
    ///
    /// The batch is checked, dated and rated first, outside any write transaction (what it
    /// reads of accounts and catalogs is cached, and may be 30 s old anyway); only then are
    /// its calls written. On SQLite the writes of concurrent batches are queued to one writer
    /// that commits them together ([`writer`]): one transaction and one commit for several
    /// batches, and no batch ever overtaken by another's commit. Each batch is answered once
    /// the transaction holding it is committed.
    pub async fn ingest_calls(
        &self,
        tenant: &Tenant,
        events: Vec<std::result::Result<CallRecord, CallError>>,
    ) -> Result<IngestReport> {
        if events.len() > MAX_BATCH {
            return Err(crate::invalid(
                "events",
                format!("{} events: a batch holds at most {MAX_BATCH}", events.len()),
            ));
        }
        let today = Engine::today(tenant);
        let (calls, mut report) = self.prepare_calls(tenant, today, events).await?;
        let written = if calls.is_empty() {
            Written::default()
        } else if self.store.backend() == "sqlite" {
            writer::submit(self, tenant.id, today, Batch::new(calls)).await?
        } else {
            self.write_alone(tenant.id, today, &Batch::new(calls))
                .await?
        };
        self.fold_in_background(tenant.id, written.rows);
        report.accepted = written.accepted;
        report.duplicates += written.duplicates;
        Ok(report)
    }

    /// Writes one batch in a transaction of its own, tried again when SQLite reports a
    /// conflicting writer (the billing worker committing a chunk, say): nothing was written.
    async fn write_alone(&self, tenant: i64, today: NaiveDate, batch: &Batch) -> Result<Written> {
        Ok(committed!(self.store, tx => write_batch(tx, tenant, today, batch).await?)?)
    }

    /// Checks, dates, attributes and rates a batch: the calls to store, and a report holding
    /// the refusals and the duplicates within the batch. Reads only (accounts and catalogs,
    /// mostly from their caches), on a connection of its own.
    async fn prepare_calls(
        &self,
        tenant: &Tenant,
        today: NaiveDate,
        events: Vec<std::result::Result<CallRecord, CallError>>,
    ) -> Result<(Vec<NewCall>, IngestReport)> {
        let mut report = IngestReport::default();
        let mut reject = |index: usize, event_id: Option<&str>, e: CallError| {
            report.rejected.push(Rejected {
                index,
                event_id: event_id.map(str::to_string),
                field: e.field,
                reason: e.reason,
            });
        };
        // Checked, and each event id once: which events go on (the records are moved, not
        // copied, into what is stored).
        let mut keep = vec![false; events.len()];
        let mut in_batch_duplicates = 0;
        {
            let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
            for (i, e) in events.iter().enumerate() {
                match e {
                    Err(e) => reject(i, None, e.clone()),
                    Ok(call) => match call.check() {
                        Err(e) => reject(i, Some(&call.event_id), e),
                        Ok(()) if !seen.insert(&call.event_id) => in_batch_duplicates += 1,
                        Ok(()) => keep[i] = true,
                    },
                }
            }
        }
        let good: Vec<(usize, CallRecord)> = events
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| e.ok().filter(|_| keep[i]).map(|c| (i, c)))
            .collect();
        // Partitions are DDL, made on a connection of their own before the batch's
        // transaction opens: made while it is open, a pool's worth of batches at once would
        // each hold a connection and wait for a second one. A call's day in its account's
        // zone is its UTC day or a day either side.
        let days: Vec<NaiveDate> = good
            .iter()
            .flat_map(|(_, c)| {
                let utc = c.started_at.date_naive();
                [utc.pred_opt(), Some(utc), utc.succ_opt()]
            })
            .flatten()
            .collect();
        self.store.ensure_usage_partitions(&days).await;
        let mut tx = self.store.read().await?;
        let account_ids: BTreeSet<i64> = good.iter().map(|(_, c)| c.account_id).collect();
        let mut accounts = self
            .usage_accounts(&mut tx, tenant.id, &account_ids)
            .await?;
        // A cached account without a subscription on a call's day may have gained one since:
        // read those again before refusing anything.
        let stale: BTreeSet<i64> = good
            .iter()
            .filter(|(_, c)| {
                accounts
                    .get(&c.account_id)
                    .is_some_and(|a| a.subscription_on(local_date(c.started_at, a.tz)).is_none())
            })
            .map(|(_, c)| c.account_id)
            .collect();
        if !stale.is_empty() {
            if let Ok(mut cache) = self.usage_accounts.lock() {
                for id in &stale {
                    cache.remove(&(tenant.id, *id));
                }
            }
            accounts.extend(self.usage_accounts(&mut tx, tenant.id, &stale).await?);
        }
        let mut catalogs: BTreeMap<i64, Arc<Catalog>> = BTreeMap::new();
        for a in accounts.values() {
            for (_, version, _) in &a.subscriptions {
                if !catalogs.contains_key(version) {
                    let c = self.catalog(&mut tx, tenant.id, *version).await?;
                    catalogs.insert(*version, c);
                }
            }
        }
        drop(tx);
        let raters: BTreeMap<i64, CallRater<'_>> = catalogs
            .iter()
            .map(|(v, c)| (*v, CallRater::new(c)))
            .collect();
        let latest = today.succ_opt().unwrap_or(today);
        let mut calls: Vec<NewCall> = Vec::with_capacity(good.len());
        for (i, call) in good {
            let id = Some(call.event_id.as_str());
            let Some(account) = accounts.get(&call.account_id) else {
                reject(
                    i,
                    id,
                    CallError::new("account_id", format!("no account {}", call.account_id)),
                );
                continue;
            };
            let day = local_date(call.started_at, account.tz);
            // A day ahead is allowed: the account's zone may be past midnight before ours.
            if day > latest {
                reject(
                    i,
                    id,
                    CallError::new("started_at", format!("{day} is after today ({today})")),
                );
                continue;
            }
            let Some((subscription_id, version)) = account.subscription_on(day) else {
                reject(
                    i,
                    id,
                    CallError::new(
                        "started_at",
                        format!("account {} has no subscription on {day}", call.account_id),
                    ),
                );
                continue;
            };
            let rated = match raters.get(&version).map(|r| r.rate(&call)) {
                Some(Ok(rated)) => rated,
                Some(Err(e)) => {
                    reject(i, id, e);
                    continue;
                }
                None => return Err(EngineError::NotFound("catalog version")),
            };
            calls.push(NewCall {
                account_id: call.account_id,
                subscription_id,
                started_at: call.started_at,
                usage_date: day,
                outbound: call.direction == Direction::Outbound,
                toll_free: call.toll_free,
                duration_seconds: call.duration_seconds,
                metric: rated.map(|r| r.metric.to_string()),
                billable_seconds: rated.map_or(0, |r| r.seconds),
                event_id: call.event_id,
                caller: call.caller,
                callee: call.callee,
            });
        }
        report.rejected.sort_by_key(|r| r.index);
        report.duplicates = in_batch_duplicates;
        Ok((calls, report))
    }

    /// Folds the tenant's appended partial usage totals into the daily totals, in a
    /// transaction of its own (see `Store::fold_usage`: safe to cut off, safe to run again;
    /// on SQLite, sorted before it takes the write lock). Readers see the same usage before
    /// and after: it only keeps the appended rows few.
    pub async fn fold_usage(&self, tenant: i64) -> Result<()> {
        Ok(self.store.fold_usage(tenant).await?)
    }

    /// Ingestion folds a tenant's appended usage totals in the background once its batches
    /// appended `rows` of them ([`FOLD_AFTER_ROWS`] by default); 0: never, only the billing
    /// run and [`Engine::fold_usage`] do.
    pub fn with_usage_fold_after(mut self, rows: u64) -> Self {
        self.usage_fold_after = rows;
        self
    }

    /// Counts `rows` appended for `tenant` and, past the engine's threshold, folds them in a
    /// task of its own, one at a time per tenant: the batch that crosses the line is answered
    /// without waiting for it.
    fn fold_in_background(&self, tenant: i64, rows: u64) {
        let Ok(mut pending) = self.usage_pending.lock() else {
            return;
        };
        let entry = pending.entry(tenant).or_default();
        entry.0 += rows;
        if entry.1 || self.usage_fold_after == 0 || entry.0 < self.usage_fold_after {
            return;
        }
        *entry = (0, true);
        let engine = self.clone();
        tokio::spawn(async move {
            // A failed fold leaves the rows appended, still read and still folded by the
            // next fold (the billing run's, or this one's next turn).
            let mut laps = crate::phases::Laps::start("usage fold");
            if let Err(e) = engine.fold_usage(tenant).await {
                tracing::warn!(tenant, error = %e, "folding usage totals failed");
            }
            laps.lap("background fold");
            if let Ok(mut pending) = engine.usage_pending.lock() {
                pending.entry(tenant).or_default().1 = false;
            }
        });
    }

    /// Time zone and subscriptions of the accounts, from the cache or the store. Accounts of
    /// another tenant, or unknown, are absent.
    async fn usage_accounts(
        &self,
        tx: &mut Tx,
        tenant: i64,
        ids: &BTreeSet<i64>,
    ) -> Result<BTreeMap<i64, Arc<AccountUsage>>> {
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        if let Ok(cache) = self.usage_accounts.lock() {
            for id in ids {
                match cache.get(&(tenant, *id)) {
                    Some(a) if a.loaded.elapsed() < ACCOUNT_TTL => {
                        out.insert(*id, a.clone());
                    }
                    _ => missing.push(*id),
                }
            }
        } else {
            missing.extend(ids);
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let accounts = tx.accounts(tenant, &missing).await?;
        let subscriptions = tx.subscriptions_of_accounts(tenant, &missing).await?;
        let mut loaded: BTreeMap<i64, AccountUsage> = accounts
            .into_iter()
            .map(|(id, a)| {
                let usage = AccountUsage {
                    tz: time_zone(&a.time_zone).unwrap_or(chrono_tz::UTC),
                    subscriptions: Vec::new(),
                    loaded: Instant::now(),
                };
                (id, usage)
            })
            .collect();
        for s in subscriptions {
            if let Some(a) = loaded.get_mut(&s.account_id) {
                a.subscriptions
                    .push((s.id, s.catalog_version_id, s.subscription.start));
            }
        }
        let mut cache = self.usage_accounts.lock().ok();
        for (id, a) in loaded {
            let a = Arc::new(a);
            if let Some(cache) = cache.as_mut() {
                cache.insert((tenant, id), a.clone());
            }
            out.insert(id, a);
        }
        Ok(out)
    }

    /// The calls of an account's invoice period containing `date` (today when `None`), rated
    /// as they stand: what the customer sees before the invoice.
    pub async fn usage_summary(
        &self,
        tenant: &Tenant,
        account_id: i64,
        date: Option<NaiveDate>,
    ) -> Result<UsageSummary> {
        let date = date.unwrap_or_else(|| Engine::today(tenant));
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let subscriptions = tx.subscriptions_of_account(tenant.id, account_id).await?;
        let row =
            held_on(subscriptions, date, |s| (s.subscription.start, s.id)).ok_or_else(|| {
                crate::invalid(
                    "period",
                    format!("the account has no subscription on {date}"),
                )
            })?;
        let usage = tx
            .usage_of_subscriptions(tenant.id, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        tx.rollback().await?;
        let buyer = account.buyer();
        let ctx = Context {
            catalog: &catalog,
            settings: &tenant.settings,
            buyer: &buyer,
            lang: account.language,
        };
        let (period, lines) = usage_in_period(&ctx, &row.subscription, &usage, date)?
            .ok_or_else(|| crate::invalid("period", format!("{date} is in the trial")))?;
        Ok(UsageSummary {
            account_id,
            subscription_id: row.id,
            period,
            lines,
        })
    }
}

/// What writing a batch did: events stored, events already stored before (duplicates of an
/// earlier batch), partial daily totals appended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    pub accepted: u64,
    pub duplicates: u64,
    pub rows: u64,
}

/// A batch ready to be written: its calls, and their totals should all of them be new (as
/// nearly always), worked out before the batch reaches the writer, so that SQLite's one
/// writer does not wait on it.
pub(crate) struct Batch {
    calls: Vec<NewCall>,
    totals: Totals,
}

impl Batch {
    pub(crate) fn new(calls: Vec<NewCall>) -> Batch {
        let totals = Totals::of(calls.iter());
        Batch { calls, totals }
    }

    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }
}

/// What calls add: their partial daily totals, one per subscription, metric and day (free
/// calls add none), and the subscriptions these touch.
#[derive(Clone)]
struct Totals {
    daily: Vec<DailyUsage>,
    touched: Vec<i64>,
}

impl Totals {
    fn of<'a>(calls: impl Iterator<Item = &'a NewCall>) -> Totals {
        let mut sums: BTreeMap<(i64, &str, NaiveDate), (i64, i64)> = BTreeMap::new();
        for c in calls {
            if let Some(metric) = &c.metric {
                let d = sums
                    .entry((c.subscription_id, metric, c.usage_date))
                    .or_default();
                d.0 += 1;
                d.1 += c.billable_seconds;
            }
        }
        let daily: Vec<DailyUsage> = sums
            .into_iter()
            .map(|((s, m, d), (events, quantity))| DailyUsage {
                subscription_id: s,
                metric: m.to_string(),
                usage_date: d,
                events,
                quantity,
            })
            .collect();
        let touched = crate::distinct(daily.iter().map(|r| r.subscription_id));
        Totals { daily, touched }
    }
}

/// Writes one batch in `tx`: the events not stored before, the partial daily totals they
/// add, and ended subscriptions they touch made due again. The calls must not repeat an
/// event id; an id stored earlier in the same transaction (another batch of a group) counts
/// as a duplicate like any other.
pub(crate) async fn write_batch(
    tx: &mut Tx,
    tenant: i64,
    today: NaiveDate,
    batch: &Batch,
) -> prorata_store::Result<Written> {
    let mut laps = crate::phases::Laps::start("usage batch");
    let calls = &batch.calls;
    let new = tx.insert_calls(tenant, today, calls).await?;
    laps.lap("events");
    // Some calls were stored before: the totals of the new ones only.
    let totals = if new.len() == calls.len() {
        std::borrow::Cow::Borrowed(&batch.totals)
    } else {
        std::borrow::Cow::Owned(Totals::of(new.iter().map(|&i| &calls[i])))
    };
    tx.add_daily_usage(tenant, today, &totals.daily).await?;
    laps.lap("partial totals");
    tx.make_due_if_idle(tenant, &totals.touched, today).await?;
    laps.lap("ended subscriptions made due");
    Ok(Written {
        accepted: new.len() as u64,
        duplicates: (calls.len() - new.len()) as u64,
        rows: totals.daily.len() as u64,
    })
}

/// Reads one event from JSON. A bad event names its field: the fast typed parse, and when it
/// fails, a field-by-field look at what was sent.
pub fn parse_call(json: &str) -> std::result::Result<CallRecord, CallError> {
    serde_json::from_str(json).map_err(|e| diagnose(json, &e))
}

fn diagnose(json: &str, error: &serde_json::Error) -> CallError {
    use serde_json::Value;
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return CallError::new("event", format!("not a JSON object: {error}"));
    };
    fn check<T: serde::de::DeserializeOwned>(v: &Value) -> std::result::Result<(), String> {
        T::deserialize(v).map(|_| ()).map_err(|e| e.to_string())
    }
    type Check = fn(&Value) -> std::result::Result<(), String>;
    let fields: [(&str, bool, Check); 8] = [
        ("event_id", true, check::<String>),
        ("account_id", true, check::<i64>),
        ("started_at", true, check::<chrono::DateTime<chrono::Utc>>),
        ("direction", true, check::<Direction>),
        ("toll_free", false, check::<bool>),
        ("caller", true, check::<String>),
        ("callee", true, check::<String>),
        ("duration_seconds", true, check::<i64>),
    ];
    for (name, required, check) in fields {
        match map.get(name) {
            None if required => return CallError::new(name, "missing"),
            None => {}
            Some(v) => {
                if let Err(e) = check(v) {
                    return CallError::new(name, e);
                }
            }
        }
    }
    if let Some(k) = map.keys().find(|k| !fields.iter().any(|(n, _, _)| n == k)) {
        // A refusal names its field; a key without a name is named by the event (found by
        // tests/fuzz_usage.rs).
        return match k.as_str() {
            "" => CallError::new("event", "a field without a name (\"\")"),
            k => CallError::new(k, "unknown field"),
        };
    }
    CallError::new("event", error.to_string())
}

//! The billing run: every due subscription reconciled and its documents issued.
//!
//! Subscriptions are streamed in chunks of [`CHUNK`] (memory stays flat in the number of
//! accounts). Each chunk is one transaction: claim the due subscriptions, read what they were
//! billed and their accounts' balances (a few statements for the whole chunk), reconcile each,
//! take document numbers, write documents, ledger entries and outbox rows, and move each
//! subscription's next due day. A run killed at any point leaves whole chunks committed and
//! nothing of the chunk in flight; running again reconciles against what was committed, so it
//! ends in exactly the state of an uninterrupted run, numbers included.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use prorata_core::account::Account;
use prorata_core::document::{Document, DocumentKind, Draft};
use prorata_core::horizon::{reconcile_settled, Horizon};
use prorata_core::payment::{PaymentDetails, PaymentMethod};
use prorata_core::reconcile::{due_dates, Context};
use prorata_core::scenario::{document_number, series};
use prorata_core::seller::SellerSnapshot;
use prorata_core::timeline::Subscription;
use prorata_core::Money;
use prorata_store::{
    LedgerKind, NewDocument, NewLedgerEntry, NewOutbox, NewWalletEntry, Settlement,
    SubscriptionRow, Tenant, Tx, WalletKind,
};
use serde::Serialize;

use crate::phases::Laps;
use crate::{Engine, EngineError, Result};

/// Subscriptions per transaction in a billing run.
pub const CHUNK: i64 = 2000;

/// What a billing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub as_of: Option<NaiveDate>,
    pub subscriptions: u64,
    pub invoices: u64,
    pub credit_notes: u64,
    /// Totals (VAT included) by currency, in minor units.
    pub invoiced: BTreeMap<String, i64>,
    pub credited: BTreeMap<String, i64>,
}

impl RunSummary {
    pub fn add(&mut self, other: &RunSummary) {
        self.subscriptions += other.subscriptions;
        self.invoices += other.invoices;
        self.credit_notes += other.credit_notes;
        for (c, v) in &other.invoiced {
            *self.invoiced.entry(c.clone()).or_default() += v;
        }
        for (c, v) in &other.credited {
            *self.credited.entry(c.clone()).or_default() += v;
        }
    }

    pub(crate) fn count(&mut self, doc: &Document) {
        let (n, totals) = match doc.kind {
            DocumentKind::Invoice => (&mut self.invoices, &mut self.invoiced),
            DocumentKind::CreditNote => (&mut self.credit_notes, &mut self.credited),
        };
        *n += 1;
        *totals.entry(doc.currency.code().to_string()).or_default() += doc.total.minor();
    }
}

/// The next day something falls due for `sub` after `day`. Invoice days are at most a month
/// (or a week) apart from the first paid day on, so two years past the later of `day` and that
/// day always holds the next one while the subscription lives.
pub fn next_due_after(sub: &Subscription, day: NaiveDate) -> Option<NaiveDate> {
    let horizon = day
        .max(sub.billing_anchor())
        .checked_add_months(Months::new(24))?;
    due_dates(sub, day, horizon, day, None).into_iter().next()
}

/// Drafts to issue for one subscription.
pub(crate) struct Pending<'a> {
    pub row: &'a SubscriptionRow,
    pub account: &'a Account,
    pub drafts: Vec<Draft>,
}

/// Numbers, dates and writes the drafts of a transaction: documents with the buyer as it is
/// now, a ledger entry and an outbox row each. `balances` (minor units by account) is read
/// and updated, so several documents of one account chain their previous balances.
pub(crate) async fn issue(
    tx: &mut Tx,
    tenant: &Tenant,
    pending: Vec<Pending<'_>>,
    issued_on: NaiveDate,
    balances: &mut BTreeMap<i64, i64>,
    summary: &mut RunSummary,
) -> Result<Vec<Document>> {
    let mut laps = Laps::start("writer");
    let mut counts: BTreeMap<DocumentKind, i64> = BTreeMap::new();
    for p in &pending {
        for d in &p.drafts {
            *counts.entry(d.kind).or_default() += 1;
        }
    }
    let mut next: BTreeMap<DocumentKind, i64> = BTreeMap::new();
    for (kind, n) in counts {
        next.insert(kind, tx.take_numbers(tenant.id, series(kind), n).await?);
    }
    laps.lap("numbering");
    // Each invoice says how it will be paid: one statement for the chunk's accounts.
    let account_ids: Vec<i64> = crate::distinct(pending.iter().map(|p| p.row.account_id));
    let methods = tx.payment_methods(tenant.id, &account_ids).await?;
    // Prepaid credit is read only where some was ever sold: a tenant without wallets pays one
    // indexed probe per chunk.
    let mut wallets = if tx.has_wallets(tenant.id).await? {
        tx.wallet_balances(tenant.id, &account_ids).await?
    } else {
        BTreeMap::new()
    };
    laps.lap("payment methods, wallets");
    let mut drawn = Vec::new();
    let seller = tenant
        .settings
        .seller
        .snapshot(&tenant.name, &tenant.settings.tax.seller_country);
    let mut docs = Vec::new();
    let mut ledger = Vec::new();
    let mut outbox = Vec::new();
    for p in pending {
        for draft in p.drafts {
            let n = next.entry(draft.kind).or_insert(1);
            let number = document_number(draft.kind, *n);
            *n += 1;
            let balance = balances.entry(p.row.account_id).or_insert(0);
            let wallet = wallets.entry(p.row.account_id).or_insert(0);
            let method = methods.get(&p.row.account_id);
            let doc = finish(draft, number, issued_on, balance, wallet, |doc| {
                stamp(doc, tenant, p.account, &seller, method)
            })?;
            summary.count(&doc);
            ledger.push(NewLedgerEntry {
                account_id: p.row.account_id,
                entry_date: issued_on,
                kind: LedgerKind::of_document(doc.kind),
                amount: doc.total,
                reference: doc.number.clone(),
            });
            if let Some(taken) = doc.prepaid_credit {
                ledger.push(NewLedgerEntry {
                    account_id: p.row.account_id,
                    entry_date: issued_on,
                    kind: LedgerKind::PrepaidCredit,
                    amount: taken.checked_neg()?,
                    reference: doc.number.clone(),
                });
                drawn.push(NewWalletEntry {
                    account_id: p.row.account_id,
                    entry_date: issued_on,
                    kind: WalletKind::Applied,
                    amount: taken.checked_neg()?,
                    reference: doc.number.clone(),
                });
            }
            outbox.push(NewOutbox {
                topic: match doc.kind {
                    DocumentKind::Invoice => "invoice.finalized".into(),
                    DocumentKind::CreditNote => "credit_note.issued".into(),
                },
                payload: serde_json::json!({
                    "number": doc.number,
                    "account_id": p.row.account_id,
                    "subscription_id": p.row.id,
                    "total": doc.total.minor(),
                    "currency": doc.currency.code(),
                    "due_on": doc.due_on,
                }),
            });
            docs.push(NewDocument {
                account_id: p.row.account_id,
                subscription_id: p.row.id,
                document: doc,
            });
        }
    }
    laps.lap("documents made");
    tx.insert_documents(tenant.id, &docs).await?;
    laps.lap("insert documents, renders");
    tx.insert_ledger(tenant.id, &ledger).await?;
    tx.insert_wallet_entries(tenant.id, &drawn).await?;
    laps.lap("ledger, wallets");
    tx.insert_outbox(tenant.id, &outbox).await?;
    laps.lap("outbox");
    // The documents move back out of the rows written: no copy of each document is kept.
    Ok(docs.into_iter().map(|d| d.document).collect())
}

/// Issues `draft` as billing issues it: its previous balance is `balance` (the account's, in
/// minor units), an invoice draws on the prepaid credit in `wallet` ([`prorata_core::wallet`]),
/// and `stamp` writes the buyer, seller and payment details; `balance` and `wallet` are updated,
/// so the next document of the account chains from this one. The billing run and change
/// previews share it, so a preview shows the document as it would be issued.
pub(crate) fn finish(
    draft: Draft,
    number: String,
    issued_on: NaiveDate,
    balance: &mut i64,
    wallet: &mut i64,
    stamp: impl FnOnce(&mut Document),
) -> Result<Document> {
    let previous = Money::from_minor(*balance, draft.currency);
    let mut doc = draft.issue(number, issued_on, previous)?;
    let taken = prorata_core::wallet::draw(&doc, Money::from_minor(*wallet, doc.currency));
    doc.apply_prepaid(taken)?;
    stamp(&mut doc);
    *wallet -= taken.minor();
    *balance = doc.balance_after.minor();
    Ok(doc)
}

/// Writes on `doc`, issued for `account`, what billing adds to its lines and totals: the buyer
/// as it is now, the `seller`, and on an invoice how it is to be paid (by `method`, or by
/// transfer to the tenant's bank) and when. The billing run and change previews share it, so a
/// preview shows the document as it would be issued.
pub(crate) fn stamp(
    doc: &mut Document,
    tenant: &Tenant,
    account: &Account,
    seller: &SellerSnapshot,
    method: Option<&PaymentMethod>,
) {
    doc.buyer = Some(account.buyer_snapshot());
    doc.seller = Some(seller.clone());
    // An invoice with a negative total (credit_policy = same_invoice) asks for no payment: its
    // credit stays on the account's balance.
    if doc.kind == DocumentKind::Invoice && !doc.total.is_negative() {
        let bank = tenant.collection.bank_details.as_ref();
        doc.payment = Some(PaymentDetails::of(method, bank));
        doc.due_on = Some(tenant.settings.seller.due_on(doc.issued_on));
    }
}

/// A chunk read and reconciled, waiting to be numbered and written.
struct Prepared {
    rows: Vec<SubscriptionRow>,
    accounts: BTreeMap<i64, Account>,
    /// Aligned with `rows`.
    drafts: Vec<Vec<Draft>>,
    next_due: Vec<Option<NaiveDate>>,
    horizons: Vec<Option<Horizon>>,
}

impl Engine {
    /// Bills every subscription of `tenant` due on or before `as_of`. `progress` is called
    /// after each committed chunk with the subscriptions done so far.
    ///
    /// The run is a two-stage pipeline: a reader reads and reconciles chunk k+1 (on its own
    /// connection, in a read-only transaction) while the writer numbers, writes and commits
    /// chunk k. The writer locks the chunk's rows and compares each one's revision with what
    /// the reader saw: a subscription changed in between (by an API call) is reconciled again
    /// inside the writing transaction, one no longer due (billed by another worker) is skipped.
    /// So correctness never depends on the reader's snapshot being current.
    pub async fn run_billing(
        &self,
        tenant: &Tenant,
        as_of: NaiveDate,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RunSummary> {
        // The usage batches appended since the last fold, added to the daily totals first, so
        // the run's reads find them folded rather than summing them per chunk.
        let mut laps = Laps::start("start");
        self.fold_usage(tenant.id).await?;
        laps.lap("usage fold");
        let mut summary = RunSummary {
            as_of: Some(as_of),
            ..RunSummary::default()
        };
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Prepared>>(1);
        let reader = {
            let engine = self.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut after = None;
                loop {
                    let chunk = engine.prepare_chunk(&tenant, as_of, after).await;
                    let done = match &chunk {
                        Ok(Some(p)) => {
                            after = p
                                .rows
                                .last()
                                .and_then(|r| Some((r.next_due?, r.id)))
                                .or(after);
                            false
                        }
                        Ok(None) | Err(_) => true,
                    };
                    let chunk = match chunk {
                        Ok(Some(p)) => Ok(p),
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    if sender.send(chunk).await.is_err() || done {
                        break;
                    }
                }
            })
        };
        let mut laps = Laps::start("writer");
        while let Some(chunk) = receiver.recv().await {
            laps.lap("waiting for the reader");
            summary.subscriptions += self
                .write_chunk(tenant, as_of, chunk?, &mut summary)
                .await?;
            progress(summary.subscriptions);
            // The next lap is the wait for the reader alone.
            laps = Laps::start("writer");
            // What is committed so far (the clock's crash test reads where chunks end).
            tracing::debug!(
                as_of = %as_of,
                subscriptions = summary.subscriptions,
                invoices = summary.invoices,
                "chunk committed"
            );
        }
        reader
            .await
            .map_err(|e| EngineError::Conflict(format!("billing reader stopped: {e}")))?;
        Ok(summary)
    }

    /// Reads the next chunk of due subscriptions after `after` (the last due day and id of
    /// the chunk before) and reconciles each.
    async fn prepare_chunk(
        &self,
        tenant: &Tenant,
        as_of: NaiveDate,
        after: Option<(NaiveDate, i64)>,
    ) -> Result<Option<Prepared>> {
        let mut laps = Laps::start("reader");
        let mut tx = self.store.begin().await?;
        let due = tx.claim_due(tenant.id, as_of, after, CHUNK, false).await?;
        laps.lap("claim");
        if due.is_empty() {
            return Ok(None);
        }
        let (rows, mut standing): (Vec<SubscriptionRow>, Vec<Option<Horizon>>) =
            due.into_iter().map(|d| (d.row, d.horizon)).unzip();
        // Each subscription is read from its horizon on: the documents issued after it, the
        // usage from its day. The chunk is in due-day order: its ids are a list, not a range.
        let after: Vec<(i64, i64)> = rows
            .iter()
            .zip(&standing)
            .map(|(r, h)| (r.id, h.as_ref().map_or(0, |h| h.after_document)))
            .collect();
        let from: Vec<(i64, Option<NaiveDate>)> = rows
            .iter()
            .zip(&standing)
            .map(|(r, h)| (r.id, h.as_ref().map(|h| h.through)))
            .collect();
        let mut billed = tx.documents_after(tenant.id, &after).await?;
        laps.lap("documents");
        let mut usage = tx.usage_from(tenant.id, &from).await?;
        laps.lap("usage");
        // A horizon a back-dated change or late usage went behind: the whole history instead.
        let mut voided = Vec::new();
        for (row, horizon) in rows.iter().zip(standing.iter_mut()) {
            let used = usage.get(&row.id).map_or(&[][..], Vec::as_slice);
            if horizon
                .as_ref()
                .is_some_and(|h| !h.holds(&row.subscription, used))
            {
                *horizon = None;
                voided.push(row.id);
            }
        }
        if !voided.is_empty() {
            let all: Vec<(i64, i64)> = voided.iter().map(|id| (*id, 0)).collect();
            billed.extend(tx.documents_after(tenant.id, &all).await?);
            usage.extend(tx.usage_of_subscriptions(tenant.id, &voided).await?);
            laps.lap("whole histories");
        }
        let account_ids: Vec<i64> = crate::distinct(rows.iter().map(|s| s.account_id));
        let accounts = tx.accounts(tenant.id, &account_ids).await?;
        laps.lap("accounts");
        let mut drafts = Vec::with_capacity(rows.len());
        let mut next_due = Vec::with_capacity(rows.len());
        let mut horizons = Vec::with_capacity(rows.len());
        for (row, horizon) in rows.iter().zip(&standing) {
            let catalog = self
                .catalog(&mut tx, tenant.id, row.catalog_version_id)
                .await?;
            let account = accounts
                .get(&row.account_id)
                .ok_or(EngineError::NotFound("account"))?;
            let buyer = account.buyer();
            // An account stored before VAT numbers were checked may hold one that does not
            // pass, or lack its address: the core then taxes the sale as a consumer's (never
            // 0 % under reverse charge), and the operator hears why, to fix the account.
            let cross_border = prorata_core::tax::is_eu(&account.country)
                && account.country != tenant.settings.tax.seller_country;
            if let (true, Some(number), Some(why)) = (
                cross_border,
                &account.vat_number,
                buyer.reverse_charge_refusal(),
            ) {
                tracing::warn!(
                    tenant = tenant.id,
                    account = row.account_id,
                    vat_number = %number,
                    "not invoiced under reverse charge: {why}; VAT is charged as to a consumer"
                );
            }
            let ctx = Context {
                catalog: &catalog,
                settings: &tenant.settings,
                buyer: &buyer,
                lang: account.language,
            };
            let docs = billed.remove(&row.id).unwrap_or_default();
            let used = usage.get(&row.id).map_or(&[][..], Vec::as_slice);
            let settled =
                reconcile_settled(&ctx, &row.subscription, used, horizon.as_ref(), docs, as_of)?;
            drafts.push(settled.drafts);
            horizons.push(settled.horizon);
            next_due.push(next_due_after(&row.subscription, as_of));
        }
        laps.lap("reconcile");
        Ok(Some(Prepared {
            rows,
            accounts,
            drafts,
            next_due,
            horizons,
        }))
    }

    /// Numbers, writes and commits a prepared chunk; returns how many subscriptions it billed.
    async fn write_chunk(
        &self,
        tenant: &Tenant,
        as_of: NaiveDate,
        chunk: Prepared,
        summary: &mut RunSummary,
    ) -> Result<u64> {
        let Prepared {
            rows,
            accounts,
            drafts,
            next_due,
            horizons,
        } = chunk;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut laps = Laps::start("writer");
        let mut tx = self.store.begin().await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let current = tx.lock_due(tenant.id, as_of, &ids).await?;
        laps.lap("lock");
        let mut fresh_rows = Vec::new();
        let mut kept = Vec::new();
        for (((row, drafts), next), horizon) in rows.iter().zip(drafts).zip(next_due).zip(&horizons)
        {
            match current.get(&row.id) {
                None => {} // no longer due: billed by another worker in the meantime
                Some(revision) if *revision == row.revision => {
                    kept.push((row, drafts, next, horizon.as_ref()))
                }
                Some(_) => {
                    if let Some(fresh) = tx.subscription(tenant.id, row.id, true).await? {
                        fresh_rows.push(fresh);
                    }
                }
            }
        }
        let mut refreshed = Vec::with_capacity(fresh_rows.len());
        for row in &fresh_rows {
            let drafts = self
                .drafts(&mut tx, tenant, row, &row.subscription, as_of)
                .await?;
            // Reconciled from the whole history here: read it all next time too.
            refreshed.push((row, drafts, next_due_after(&row.subscription, as_of), None));
        }
        let account_ids: Vec<i64> = crate::distinct(
            kept.iter()
                .chain(&refreshed)
                .map(|(r, _, _, _)| r.account_id),
        );
        let mut balances = tx.balances(tenant.id, &account_ids).await?;
        laps.lap("balances");
        let mut fresh_accounts = BTreeMap::new();
        for (row, _, _, _) in &refreshed {
            if !accounts.contains_key(&row.account_id) {
                if let Some(a) = tx.account(tenant.id, row.account_id).await? {
                    fresh_accounts.insert(row.account_id, a);
                }
            }
        }
        let mut pending = Vec::new();
        let mut due = Vec::new();
        let billed = (kept.len() + refreshed.len()) as u64;
        for (row, drafts, next, horizon) in kept.into_iter().chain(refreshed) {
            due.push(Settlement {
                subscription_id: row.id,
                next_due: next,
                horizon,
            });
            if drafts.is_empty() {
                continue;
            }
            let account = accounts
                .get(&row.account_id)
                .or_else(|| fresh_accounts.get(&row.account_id))
                .ok_or(EngineError::NotFound("account"))?;
            pending.push(Pending {
                row,
                account,
                drafts,
            });
        }
        laps.lap("accounts refreshed");
        issue(&mut tx, tenant, pending, as_of, &mut balances, summary).await?;
        laps = Laps::start("writer");
        tx.settle(tenant.id, &due).await?;
        laps.lap("next_due, horizons");
        tx.commit().await?;
        laps.lap("commit");
        Ok(billed)
    }
}

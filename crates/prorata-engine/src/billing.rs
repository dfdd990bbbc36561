//! The billing run: every due subscription reconciled and its documents issued.
//!
//! Subscriptions are streamed in chunks of [`CHUNK`] (memory stays flat in the number of
//! accounts). Each chunk is one transaction: claim the due subscriptions, read what they were
//! billed and their accounts' balances (a few statements for the whole chunk), reconcile each,
//! take document numbers, write documents, ledger entries and outbox rows, and move each
//! subscription's next due day. A run killed at any point leaves whole chunks committed and
//! nothing of the chunk in flight; running again reconciles against what was committed, so it
//! ends in exactly the state of an uninterrupted run, numbers included.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};
use prorata_core::account::Account;
use prorata_core::document::{Document, DocumentKind, Draft};
use prorata_core::reconcile::{due_dates, reconcile, Context};
use prorata_core::scenario::{document_number, series};
use prorata_core::timeline::Subscription;
use prorata_core::Money;
use prorata_store::{
    LedgerKind, NewDocument, NewLedgerEntry, NewOutbox, SubscriptionRow, Tenant, Tx,
};
use serde::Serialize;

use crate::{Engine, EngineError, Result};

/// Subscriptions per transaction in a billing run.
pub const CHUNK: i64 = 2000;

/// What a billing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

    fn count(&mut self, doc: &Document) {
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
    let mut docs = Vec::new();
    let mut ledger = Vec::new();
    let mut outbox = Vec::new();
    let mut issued = Vec::new();
    for p in pending {
        for draft in p.drafts {
            let n = next.entry(draft.kind).or_insert(1);
            let number = document_number(draft.kind, *n);
            *n += 1;
            let balance = balances.entry(p.row.account_id).or_insert(0);
            let previous = Money::from_minor(*balance, draft.currency);
            let mut doc = draft.issue(number, issued_on, previous)?;
            doc.buyer = Some(p.account.buyer_snapshot());
            *balance = doc.balance_after.minor();
            summary.count(&doc);
            ledger.push(NewLedgerEntry {
                account_id: p.row.account_id,
                entry_date: issued_on,
                kind: LedgerKind::of_document(doc.kind),
                amount: doc.total,
                reference: doc.number.clone(),
            });
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
                }),
            });
            docs.push(NewDocument {
                account_id: p.row.account_id,
                subscription_id: p.row.id,
                document: doc.clone(),
            });
            issued.push(doc);
        }
    }
    tx.insert_documents(tenant.id, &docs).await?;
    tx.insert_ledger(tenant.id, &ledger).await?;
    tx.insert_outbox(tenant.id, &outbox).await?;
    Ok(issued)
}

impl Engine {
    /// Bills every subscription of `tenant` due on or before `as_of`. `progress` is called
    /// after each committed chunk with the subscriptions done so far.
    pub async fn run_billing(
        &self,
        tenant: &Tenant,
        as_of: NaiveDate,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RunSummary> {
        let mut summary = RunSummary {
            as_of: Some(as_of),
            ..RunSummary::default()
        };
        let mut after = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let subs = tx.claim_due(tenant.id, as_of, after, CHUNK).await?;
            let (Some(first), Some(last)) = (subs.first(), subs.last()) else {
                break;
            };
            after = last.id;
            let billed = tx
                .documents_of_subscriptions(tenant.id, first.id, last.id)
                .await?;
            let account_ids: Vec<i64> = subs
                .iter()
                .map(|s| s.account_id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let accounts = tx.accounts(tenant.id, &account_ids).await?;
            let mut balances = tx.balances(tenant.id, &account_ids).await?;
            let mut pending = Vec::with_capacity(subs.len());
            let mut next_due = Vec::with_capacity(subs.len());
            for row in &subs {
                let catalog = self
                    .catalog(&mut tx, tenant.id, row.catalog_version_id)
                    .await?;
                let account = accounts
                    .get(&row.account_id)
                    .ok_or(EngineError::NotFound("account"))?;
                let buyer = account.buyer();
                let ctx = Context {
                    catalog: &catalog,
                    settings: &tenant.settings,
                    buyer: &buyer,
                    lang: account.language,
                };
                let docs = billed.get(&row.id).map_or(&[][..], Vec::as_slice);
                let drafts = reconcile(&ctx, &row.subscription, &[], docs, as_of)?;
                next_due.push((row.id, next_due_after(&row.subscription, as_of)));
                if !drafts.is_empty() {
                    pending.push(Pending {
                        row,
                        account,
                        drafts,
                    });
                }
            }
            summary.subscriptions += subs.len() as u64;
            issue(&mut tx, tenant, pending, as_of, &mut balances, &mut summary).await?;
            tx.set_next_due(tenant.id, &next_due).await?;
            tx.commit().await?;
            progress(summary.subscriptions);
        }
        Ok(summary)
    }
}

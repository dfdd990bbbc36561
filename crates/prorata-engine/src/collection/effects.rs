//! What a standing transition asks for, written in the caller's transaction.

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::dunning::Effect;
use prorata_store::{JobKind, NewJob, NewOutbox, Tenant, Tx};
use serde_json::json;

use crate::{Engine, Result, RunSummary};

impl Engine {
    /// Writes what a standing transition asks for, in the caller's transaction; returns what
    /// it issued (the credit note of a cancellation).
    pub(super) async fn apply_effects(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        account_id: i64,
        account: &Account,
        effects: &[Effect],
        on: NaiveDate,
    ) -> Result<RunSummary> {
        let mut jobs = Vec::new();
        let mut events = Vec::new();
        let mut issued = RunSummary::default();
        for effect in effects {
            match effect {
                Effect::Retry => jobs.push(NewJob {
                    account_id: Some(account_id),
                    kind: JobKind::Charge,
                    payload: json!({ "reason": "dunning retry" }),
                }),
                Effect::Email { notice } if !account.billing_contacts.is_empty() => {
                    let balance = tx.balance(tenant.id, account_id).await?;
                    let mut data = json!({
                        "notice": notice,
                        "balance": balance,
                        "since": on,
                    });
                    if *notice != prorata_core::dunning::Notice::Reactivated {
                        let facts =
                            crate::pay_links::notice_facts(tx, tenant, account_id, balance, on)
                                .await?;
                        if let (Some(d), Some(f)) = (data.as_object_mut(), facts.as_object()) {
                            d.extend(f.clone());
                        }
                    }
                    jobs.push(email_job(account_id, account, "notice", data));
                }
                Effect::Email { .. } => {}
                // Written by the dunning pass, which holds the invoices the standing names.
                Effect::Remind => {}
                Effect::Event { topic } => events.push(NewOutbox {
                    topic: (*topic).to_string(),
                    payload: json!({ "account_id": account_id, "on": on }),
                }),
                Effect::EndSubscriptions => {
                    let at = prorata_core::timeline::start_of(on);
                    for mut row in tx.subscriptions_of_account(tenant.id, account_id).await? {
                        if row.subscription.end(on).is_some_and(|end| end <= at) {
                            continue;
                        }
                        row.subscription.events.push(prorata_core::timeline::Event {
                            recorded_on: on,
                            effective: at,
                            change: prorata_core::timeline::Change::Cancelled,
                        });
                        for doc in self.bill_one(tx, tenant, &row, on).await? {
                            issued.count(&doc);
                        }
                    }
                }
                Effect::Purge => {
                    tx.purge_account(tenant.id, account_id, &purged(account))
                        .await?;
                    events.push(NewOutbox {
                        topic: "account.purged".into(),
                        payload: json!({ "account_id": account_id, "on": on }),
                    });
                }
            }
        }
        tx.insert_jobs(tenant.id, &jobs).await?;
        tx.insert_outbox(tenant.id, &events).await?;
        Ok(issued)
    }
}

/// An account without its personal data (seed 004's purge): what the ledger and the legal
/// records still need (country, currency, language, zone) and nothing that names a person.
pub(super) fn purged(account: &Account) -> Account {
    Account {
        name: "(purged)".into(),
        website: String::new(),
        address: Address::default(),
        vat_number: None,
        billing_contacts: Vec::new(),
        // A sole trader's SIREN names a person, and so may where they have things delivered.
        siren: None,
        siret: None,
        delivery_address: None,
        ..account.clone()
    }
}

/// An e-mail to the account's billing contacts, in its language, addressed now: a contact
/// changed later does not receive what was sent before.
pub(crate) fn email_job(
    account_id: i64,
    account: &Account,
    template: &str,
    data: serde_json::Value,
) -> NewJob {
    NewJob {
        account_id: Some(account_id),
        kind: JobKind::Email,
        payload: json!({
            "template": template,
            "to": account.billing_contacts,
            "lang": account.language,
            "account_name": account.name,
            "currency": account.currency.code(),
            "data": data,
        }),
    }
}

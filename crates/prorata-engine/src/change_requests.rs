//! Contract changes asked by a customer in the portal (seeds 000 and 001).
//!
//! An upgrade is made at once and billed as the API's change is. A downgrade or a
//! cancellation (or a billing-frequency change to a shorter period) is decided by the same
//! core rule (refused after the notice deadline, with the date and the clause) and, when in
//! time, recorded as a *change request* for the vendor's account manager: seed 000 sends
//! subscription management to them, not to the billing team. In the same transaction a
//! ticket carries it to them (reason `subscription`, the account's manager else the
//! account-management queue), its first message the engine's preview in the account's
//! language: what changes, from when, the notice deadline, and each document it would issue
//! with its arithmetic.
//!
//! Applying it later judges it as of the day it was submitted, so the customer who asked in
//! time keeps the benefit of the notice rule. When even that day is past the deadline (the
//! renewal moved since, or the request was recorded late), only a tenant admin may apply it,
//! with a reason kept in the request's note and the audit trail. Applying or declining
//! answers the ticket, solves it and e-mails the customer who asked, in one transaction.

use chrono::NaiveDate;
use prorata_core::access::Role;
use prorata_core::change::{decide_waiving_notice, decide_with, Direction, Refusal, Request};
use prorata_core::document::Draft;
use prorata_core::tickets::{route, Route, Status, MAX_SUBJECT};
use prorata_docs::change_request::{self as words, Asked};
use prorata_store::{ChangeRequestRow, ChangeRequestStatus, NewTicket, Tenant, Tx};
use serde::Serialize;
use serde_json::json;

use crate::subscriptions::rules;
use crate::tickets::{open_ticket, post_message, Actor, Post, Then, Visibility};
use crate::{invalid, ChangeOutcome, Engine, EngineError, Result};

/// The contact reason a change request's ticket is filed under.
pub const CHANGE_REQUEST_REASON: &str = "subscription";

/// What became of a change asked in the portal.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Submitted {
    /// An upgrade, made and billed at once.
    Applied(ChangeOutcome),
    /// A downgrade or cancellation in time: recorded for the account manager.
    Requested {
        id: i64,
        deadline: Option<NaiveDate>,
        /// The ticket that carries it to the account manager.
        ticket_id: i64,
    },
}

/// A change's preview as the portal shows it: its direction, the documents it would issue
/// today, and the notice deadline that governs it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePreview {
    pub direction: Direction,
    pub drafts: Vec<Draft>,
    /// The last day to submit a downgrade or cancellation for the coming renewal.
    pub deadline: Option<NaiveDate>,
    pub renewal: Option<NaiveDate>,
}

/// The subscription the portal shows for an account: its latest.
pub(crate) fn latest(
    subs: Vec<prorata_store::SubscriptionRow>,
) -> Option<prorata_store::SubscriptionRow> {
    subs.into_iter().max_by_key(|s| s.id)
}

/// A cancellation reason is one short line (the tenant's list proposes them).
const MAX_REASON: usize = 500;

impl Engine {
    /// The subscription of `account_id` the portal shows (its latest).
    pub async fn account_subscription(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<Option<prorata_store::SubscriptionRow>> {
        let mut tx = self.store.begin().await?;
        Ok(latest(
            tx.subscriptions_of_account(tenant.id, account_id).await?,
        ))
    }

    /// Previews a change of the account's subscription: what it would issue and its deadline.
    pub async fn preview_account_change(
        &self,
        tenant: &Tenant,
        account_id: i64,
        request: &Request,
    ) -> Result<ChangePreview> {
        let row = self
            .account_subscription(tenant, account_id)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let (direction, drafts) = self.preview_change(tenant, row.id, request, None).await?;
        let today = Engine::today(tenant);
        let notice = row.subscription.notice_deadline_after(today);
        Ok(ChangePreview {
            direction,
            drafts,
            deadline: notice.map(|n| n.0),
            renewal: notice.map(|n| n.1),
        })
    }

    /// Submits a change asked by `user_id` of `account_id`: an upgrade is applied, a
    /// downgrade or cancellation becomes a change request with its ticket, a late one is
    /// refused. [`Engine::submit_account_change_by`] with the user's role and no address.
    pub async fn submit_account_change(
        &self,
        tenant: &Tenant,
        account_id: i64,
        user_id: Option<i64>,
        request: &Request,
        reason: Option<&str>,
    ) -> Result<Submitted> {
        let role = match user_id {
            Some(id) => {
                let mut tx = self.store.read().await?;
                tx.user(tenant.id, id).await?.map(|u| u.role)
            }
            None => None,
        };
        let actor = Actor {
            user_id,
            role,
            address: None,
        };
        self.submit_account_change_by(tenant, actor, account_id, request, reason)
            .await
    }

    /// Submits a change asked by `actor` (a person of the account) for `account_id`: an
    /// upgrade is applied; a downgrade or cancellation in time becomes a change request and,
    /// in the same transaction, a ticket for the account manager whose first message is the
    /// preview; a late one is refused with its deadline.
    pub async fn submit_account_change_by(
        &self,
        tenant: &Tenant,
        actor: Actor<'_>,
        account_id: i64,
        request: &Request,
        reason: Option<&str>,
    ) -> Result<Submitted> {
        self.submit(tenant, actor, account_id, request, reason, false)
            .await
    }

    /// A change the notice rule refuses, sent to the account manager anyway at the
    /// customer's asking: recorded as a request marked late, which only a tenant admin may
    /// apply, with a written reason ([`Engine::apply_change_request`]'s override). A change
    /// still in time is submitted as usual; any other refusal still refuses.
    pub async fn submit_late_account_change_by(
        &self,
        tenant: &Tenant,
        actor: Actor<'_>,
        account_id: i64,
        request: &Request,
        reason: Option<&str>,
    ) -> Result<Submitted> {
        self.submit(tenant, actor, account_id, request, reason, true)
            .await
    }

    async fn submit(
        &self,
        tenant: &Tenant,
        actor: Actor<'_>,
        account_id: i64,
        request: &Request,
        reason: Option<&str>,
        late_ok: bool,
    ) -> Result<Submitted> {
        if reason.is_some_and(|r| r.len() > MAX_REASON) {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON} characters"),
            ));
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let row = self
            .account_subscription(tenant, account_id)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let today = Engine::today(tenant);
        let mut tx = self.store.begin().await?;
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        let judged = decide_with(
            &row.subscription,
            &rules(tenant, &catalog),
            request,
            today,
            None,
        );
        let (accepted, missed) = match judged {
            Ok(a) => (a, None),
            Err(Refusal::NoticePeriodMissed { deadline, .. }) if late_ok => (
                decide_waiving_notice(
                    &row.subscription,
                    &rules(tenant, &catalog),
                    request,
                    today,
                    None,
                )
                .map_err(EngineError::Refused)?,
                Some(deadline),
            ),
            Err(r) => return Err(EngineError::Refused(r)),
        };
        if accepted.direction == Direction::Upgrade {
            tx.rollback().await?;
            let outcome = self.request_change(tenant, row.id, request, None).await?;
            return Ok(Submitted::Applied(outcome));
        }
        let id = tx
            .insert_change_request(
                tenant.id,
                account_id,
                row.id,
                actor.user_id,
                &serde_json::to_value(request).map_err(|e| invalid("request", e))?,
                reason,
                today,
            )
            .await?;
        // The preview, as `preview_change` computes it, in this transaction.
        let mut changed = row.subscription.clone();
        changed.events.push(accepted.event.clone());
        let drafts: Vec<Draft> = self.drafts(&mut tx, tenant, &row, &changed, today).await?;
        let lang = account_language(&mut tx, tenant, account_id).await?;
        let effective = accepted.event.effective;
        let deadline = row.subscription.notice_deadline_after(today);
        let before = row.subscription.state_at(effective, today);
        let asked = Asked {
            request,
            catalog: &catalog,
            before: &before,
            frequency_before: row.subscription.frequency_on(effective.date(), today),
            direction: accepted.direction,
            effective: effective.date(),
            deadline,
            reason,
        };
        let subject: String = words::subject(lang, &asked)
            .chars()
            .take(MAX_SUBJECT)
            .collect();
        let mut body = words::request_message(lang, &asked, &drafts, today);
        if let Some(deadline) = missed {
            body = format!("{}\n\n{body}", words::late_note(lang, deadline));
        }
        // Subscription management is the account manager's, whatever the tenant's reasons
        // route elsewhere (seed 000).
        let manager = tx.account_manager(tenant.id, account_id).await?;
        let (queue, assignee_id) = route(Route::AccountManager, manager);
        let ticket = open_ticket(
            &mut tx,
            tenant.id,
            actor,
            &NewTicket {
                account_id,
                requester_id: actor.user_id,
                reason: CHANGE_REQUEST_REASON,
                queue,
                assignee_id,
                subject: &subject,
                document_id: None,
                change_request_id: Some(id),
            },
            &body,
            &[],
        )
        .await?;
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                account_id,
                "change_request.submitted",
                format!("change_request:{id}"),
                None,
                Some(json!({"request": request, "direction": accepted.direction,
                            "effective": effective, "deadline": deadline.map(|d| d.0),
                            "reason": reason, "ticket_id": ticket.id,
                            "late": missed.is_some()})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Submitted::Requested {
            id,
            deadline: deadline.map(|n| n.0),
            ticket_id: ticket.id,
        })
    }

    pub async fn change_requests(
        &self,
        tenant: &Tenant,
        status: Option<ChangeRequestStatus>,
        account_id: Option<i64>,
    ) -> Result<Vec<ChangeRequestRow>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.change_requests(tenant.id, status, account_id).await?)
    }

    /// Applies a pending change request for `actor` (a staff member, or the API), judged as of
    /// the day it was submitted, in one transaction: the change and the documents it causes,
    /// the request marked applied, a staff reply on its ticket with each document's number and
    /// totals, the ticket solved, the customer who asked e-mailed, the audit trail written.
    ///
    /// When even its submission day is past the notice deadline, only a tenant admin may
    /// apply it, and only with an `override_reason` (kept as the request's note, in the audit
    /// trail and in the reply); anyone else is [`EngineError::Forbidden`], naming the deadline.
    pub async fn apply_change_request(
        &self,
        tenant: &Tenant,
        actor: Actor<'_>,
        id: i64,
        override_reason: Option<&str>,
    ) -> Result<ChangeOutcome> {
        let override_reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
        if override_reason.is_some_and(|r| r.len() > MAX_REASON) {
            return Err(invalid(
                "override_reason",
                format!("at most {MAX_REASON} characters"),
            ));
        }
        let today = Engine::today(tenant);
        let mut tx = self.store.begin().await?;
        let cr = pending(&mut tx, tenant, id).await?;
        let request: Request =
            serde_json::from_value(cr.request.clone()).map_err(|e| invalid("request", e))?;
        let mut row = tx
            .subscription(tenant.id, cr.subscription_id, true)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        let rules = rules(tenant, &catalog);
        // As the customer asked it: judged on its submission day.
        let on = cr.submitted_on.min(today);
        let decided = match decide_with(&row.subscription, &rules, &request, on, None) {
            Err(Refusal::NoticePeriodMissed { deadline, .. }) => {
                may_override(actor, override_reason, deadline).and_then(|reason| {
                    decide_waiving_notice(&row.subscription, &rules, &request, on, None)
                        .map(|a| (a, Some(reason)))
                        .map_err(EngineError::Refused)
                })
            }
            other => other.map(|a| (a, None)).map_err(EngineError::Refused),
        };
        let (accepted, overridden) = match decided {
            Ok(d) => d,
            Err(e) => {
                // Release the row lock now rather than when the connection is next used.
                tx.rollback().await?;
                return Err(e);
            }
        };
        let effective = accepted.event.effective;
        let before = row.subscription.state_at(effective, today);
        let frequency_before = row.subscription.frequency_on(effective.date(), today);
        let outcome = self
            .record_change(&mut tx, tenant, &mut row, accepted, today)
            .await?;
        if !tx
            .decide_change_request(tenant.id, id, ChangeRequestStatus::Applied, overridden)
            .await?
        {
            tx.rollback().await?;
            return Err(not_pending());
        }
        let lang = account_language(&mut tx, tenant, cr.account_id).await?;
        let reply = words::applied_message(lang, &outcome.documents, overridden);
        let ticket = answer(&mut tx, tenant, actor, &cr, &reply).await?;
        let after = row.subscription.state_at(effective, today);
        let documents: Vec<_> = outcome
            .documents
            .iter()
            .map(|d| json!({"number": d.number, "net_total": d.net_total, "total": d.total}))
            .collect();
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                cr.account_id,
                "change_request.applied",
                format!("change_request:{id}"),
                Some(
                    json!({"status": ChangeRequestStatus::Pending, "plan": before.plan,
                            "quantities": before.quantities, "frequency": frequency_before}),
                ),
                Some(json!({"status": ChangeRequestStatus::Applied,
                            "plan": after.plan, "quantities": after.quantities,
                            "frequency": row.subscription.frequency_on(effective.date(), today),
                            "effective": outcome.effective, "documents": documents,
                            "override_reason": overridden, "ticket_id": ticket})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Declines a pending change request for `actor`, in one transaction: the request marked
    /// refused with `message` as its note, the message (or a plain sentence) posted as a staff
    /// reply on its ticket, the ticket solved, the customer who asked e-mailed, the audit
    /// trail written.
    pub async fn refuse_change_request(
        &self,
        tenant: &Tenant,
        actor: Actor<'_>,
        id: i64,
        message: Option<&str>,
    ) -> Result<()> {
        let message = message.map(str::trim).filter(|m| !m.is_empty());
        if message.is_some_and(|m| m.chars().count() > MAX_MESSAGE) {
            return Err(invalid(
                "message",
                format!("at most {MAX_MESSAGE} characters"),
            ));
        }
        let mut tx = self.store.begin().await?;
        let cr = pending(&mut tx, tenant, id).await?;
        if !tx
            .decide_change_request(tenant.id, id, ChangeRequestStatus::Refused, message)
            .await?
        {
            tx.rollback().await?;
            return Err(not_pending());
        }
        let lang = account_language(&mut tx, tenant, cr.account_id).await?;
        let reply = words::declined_message(lang, message);
        let ticket = answer(&mut tx, tenant, actor, &cr, &reply).await?;
        tx.insert_audit(
            tenant.id,
            &actor.audit(
                cr.account_id,
                "change_request.refused",
                format!("change_request:{id}"),
                Some(json!({"status": ChangeRequestStatus::Pending})),
                Some(
                    json!({"status": ChangeRequestStatus::Refused, "message": message,
                            "ticket_id": ticket}),
                ),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The longest message a staff member declines a request with.
pub const MAX_MESSAGE: usize = 2000;

fn not_pending() -> EngineError {
    EngineError::Conflict("no pending change request with this id".into())
}

/// The change request `id`, when it is pending.
async fn pending(tx: &mut Tx, tenant: &Tenant, id: i64) -> Result<ChangeRequestRow> {
    let cr = tx
        .change_request(tenant.id, id)
        .await?
        .ok_or(EngineError::NotFound("change request"))?;
    if cr.status != ChangeRequestStatus::Pending {
        return Err(EngineError::Conflict(format!(
            "the change request is {} already",
            cr.status.as_str()
        )));
    }
    Ok(cr)
}

/// Who may apply a change past its notice deadline: a tenant admin, giving a reason.
fn may_override<'a>(
    actor: Actor<'_>,
    reason: Option<&'a str>,
    deadline: NaiveDate,
) -> Result<&'a str> {
    if actor.role != Some(Role::TenantAdmin) {
        return Err(EngineError::Forbidden(format!(
            "the notice deadline was {deadline}: only a tenant admin may apply this change now, \
             giving a reason"
        )));
    }
    reason.ok_or_else(|| {
        invalid(
            "override_reason",
            format!("the notice deadline was {deadline}: say why the change is applied anyway"),
        )
    })
}

async fn account_language(
    tx: &mut Tx,
    tenant: &Tenant,
    account_id: i64,
) -> Result<prorata_core::Lang> {
    Ok(tx
        .account(tenant.id, account_id)
        .await?
        .ok_or(EngineError::NotFound("account"))?
        .language)
}

/// Posts the staff's decision on the change request's ticket and solves it (the customer who
/// asked is e-mailed); the ticket's id, or `None` for a request filed before tickets carried
/// them. A ticket closed for good is left as it is.
async fn answer(
    tx: &mut Tx,
    tenant: &Tenant,
    actor: Actor<'_>,
    cr: &ChangeRequestRow,
    reply: &str,
) -> Result<Option<i64>> {
    let Some(id) = tx
        .change_request_ticket(tenant.id, cr.account_id, cr.id)
        .await?
    else {
        return Ok(None);
    };
    let mut ticket = tx
        .ticket(tenant.id, id)
        .await?
        .ok_or(EngineError::NotFound("ticket"))?;
    if ticket.status == Status::Closed {
        // Closed for good by the staff: the decision stands without a reply there.
        return Ok(Some(id));
    }
    let post = Post {
        body: reply,
        visibility: Visibility::Thread,
        files: &[],
        then: Then::Solved,
    };
    post_message(tx, tenant, actor, &mut ticket, &post).await?;
    Ok(Some(id))
}

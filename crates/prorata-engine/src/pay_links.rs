//! Pay links: the signed, expiring link in every e-mail about money owed (an invoice with an
//! amount due, a failed payment, a dunning notice, an overdue reminder), which opens a page
//! without sign-in where the customer pays what the account owes, with the card on file or
//! a new one.
//!
//! A link is `ACCOUNT.EXPIRES.INVOICES.MAC`: the account id, the expiry (Unix seconds), the
//! invoice numbers the e-mail named (hex of their newline-joined text) and an HMAC-SHA256,
//! under the server's [`crate::people::SecretKey`], of the tenant and all three. Nothing is
//! stored: the mail worker signs the link when it sends (so the job table never holds it),
//! and only a server holding the key can make or alter one. The tenant is not written in the
//! link but is in the MAC, so a link only opens in its own tenant's portal.
//!
//! Paying is the portal's "Pay now" ([`Engine::pay_now`]): a charge job and the collection
//! pass, which charges an account once however many jobs ask (the second finds the balance
//! paid and charges nothing). A link whose account owes nothing says so and charges nothing,
//! however often it is opened or submitted.

use std::time::Duration;

use chrono::NaiveDate;
use prorata_core::document::DocumentKind;
use prorata_core::dunning::{Schedule, Status};
use prorata_core::payment::PaymentMethod;
use prorata_core::{Lang, Money};
use prorata_store::{PaymentStatus, Tenant, Tx};

use crate::{constant_time_eq, invalid, Engine, EngineError, NewPaymentMethod, Result};

/// How long a pay link works after its e-mail is sent, at least (it ends at midnight UTC):
/// a billing period and a little.
pub const PAY_LINK_VALID: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longer than any link this module makes: refused before any work.
const MAX_TOKEN: usize = 2048;

/// Invoices an e-mail names at most (the oldest unpaid ones beyond are left out).
const MAX_NAMED: usize = 20;

/// What a valid link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayLink {
    pub account_id: i64,
    pub invoices: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why a link does not open. A link altered in any way and one made for another tenant are
/// the same case: the page says it is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayLinkRefusal {
    Invalid,
    Expired,
}

/// One invoice of a link, as the engine has it.
#[derive(Debug, Clone)]
pub struct LinkedInvoice {
    pub number: String,
    pub issued_on: NaiveDate,
    pub due_on: Option<NaiveDate>,
    pub total: Money,
}

/// What the pay page shows: every figure from here, none computed by the page.
#[derive(Debug, Clone)]
pub struct PayLinkView {
    pub account_name: String,
    pub language: Lang,
    /// The invoices the e-mail named that are the account's (others are not shown).
    pub invoices: Vec<LinkedInvoice>,
    /// What the account owes now; zero or less: nothing to pay.
    pub balance: Money,
    pub method: Option<PaymentMethod>,
    pub status: Status,
}

/// What paying through a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Charged, and the account owes nothing now.
    Paid(Money),
    /// The account owed nothing: nothing was charged.
    NothingOwed,
    /// The bank refused; the gateway's decline code when it gave one.
    Declined(Option<String>),
}

fn link_mac(engine: &Engine, tenant: i64, account: i64, expires: i64, invoices: &str) -> String {
    let mac = engine
        .secret
        .mac(&format!("pay:{tenant}:{account}:{expires}:{invoices}"));
    mac[..32.min(mac.len())].to_string()
}

/// When a link sent at `now` (Unix seconds) expires: at the end of the UTC day
/// [`PAY_LINK_VALID`] later, so that the day the e-mail names works whole.
pub fn expiry_from(now: i64) -> i64 {
    const DAY: i64 = 86_400;
    let valid = i64::try_from(PAY_LINK_VALID.as_secs()).unwrap_or(i64::MAX);
    let at = now.saturating_add(valid);
    at.saturating_sub(at.rem_euclid(DAY)).saturating_add(DAY)
}

/// The last day (UTC) a link expiring at `expires_at` works: what the e-mail and the page
/// both state.
pub fn last_day(expires_at: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(expires_at.saturating_sub(1), 0).map(|t| t.date_naive())
}

/// The decline code at the end of a stored failure (`"the card has expired (expired_card)"`).
pub fn decline_code(failure: &str) -> Option<&str> {
    let code = failure.trim_end().strip_suffix(')')?.rsplit_once('(')?.1;
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some(code)
}

impl Engine {
    /// A link for `account` naming `invoices`, working until `expires_at` (Unix seconds).
    pub fn sign_pay_link(
        &self,
        tenant: i64,
        account: i64,
        invoices: &[String],
        expires_at: i64,
    ) -> String {
        let named = crate::hex(invoices.join("\n").as_bytes());
        let mac = link_mac(self, tenant, account, expires_at, &named);
        format!("{account}.{expires_at}.{named}.{mac}")
    }

    /// Reads `token` for `tenant` at `now` (Unix seconds): its account and invoices, or why
    /// it does not open. An expired link is told apart only once its MAC holds.
    pub fn pay_link(
        &self,
        tenant: i64,
        token: &str,
        now: i64,
    ) -> std::result::Result<PayLink, PayLinkRefusal> {
        if token.len() > MAX_TOKEN {
            return Err(PayLinkRefusal::Invalid);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [account, expires, named, mac] = parts.as_slice() else {
            return Err(PayLinkRefusal::Invalid);
        };
        let (Ok(account_id), Ok(expires_at)) = (account.parse::<i64>(), expires.parse::<i64>())
        else {
            return Err(PayLinkRefusal::Invalid);
        };
        let expected = link_mac(self, tenant, account_id, expires_at, named);
        if !constant_time_eq(mac, &expected) {
            return Err(PayLinkRefusal::Invalid);
        }
        let invoices = crate::unhex(named)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(PayLinkRefusal::Invalid)?;
        if now >= expires_at {
            return Err(PayLinkRefusal::Expired);
        }
        Ok(PayLink {
            account_id,
            invoices: invoices
                .split('\n')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
            expires_at,
        })
    }

    /// What the pay page of `link` shows, read in one transaction.
    pub async fn pay_link_view(&self, tenant: &Tenant, link: &PayLink) -> Result<PayLinkView> {
        let mut tx = self.store.read().await?;
        let account = tx
            .account(tenant.id, link.account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let mut invoices = Vec::new();
        for number in &link.invoices {
            let Some(row) = tx.document_by_number(tenant.id, number).await? else {
                continue;
            };
            if row.account_id != link.account_id || row.document.kind != DocumentKind::Invoice {
                continue;
            }
            let d = row.document;
            invoices.push(LinkedInvoice {
                total: d.printed(d.total),
                number: d.number,
                issued_on: d.issued_on,
                due_on: d.due_on,
            });
        }
        let balance = tx.balance(tenant.id, link.account_id).await?;
        let method = tx.payment_method(tenant.id, link.account_id).await?;
        let standing = tx.standing(tenant.id, link.account_id).await?;
        tx.rollback().await?;
        Ok(PayLinkView {
            account_name: account.name,
            language: account.language,
            invoices,
            balance: Money::from_minor(balance, account.currency),
            method,
            status: standing.status,
        })
    }

    /// Pays what the account of `link` owes: with `card` first attached as its payment
    /// method when given (a card refused there is [`EngineError::PaymentRefused`]), else with
    /// the method on file. Owing nothing, it charges nothing.
    pub async fn pay_by_link(
        &self,
        tenant: &Tenant,
        link: &PayLink,
        card: Option<NewPaymentMethod>,
    ) -> Result<PayOutcome> {
        if let Some(card) = &card {
            self.add_payment_method(tenant, link.account_id, card)
                .await?;
        }
        let owed = self.owed(tenant, link.account_id).await?;
        if owed.minor() <= 0 {
            return Ok(PayOutcome::NothingOwed);
        }
        let method = self.payment_method(tenant, link.account_id).await?;
        if method.as_ref().and_then(PaymentMethod::token).is_none() {
            return Err(invalid("card", "no card on file: enter one"));
        }
        let summary = self.pay_now(tenant, link.account_id).await?;
        if self.owed(tenant, link.account_id).await?.minor() <= 0 {
            return Ok(PayOutcome::Paid(owed));
        }
        if summary.failed > 0 {
            let mut tx = self.store.begin().await?;
            let payments = tx.payments(tenant.id, link.account_id).await?;
            let code = payments
                .iter()
                .rev()
                .find(|p| p.status == PaymentStatus::Failed)
                .and_then(|p| p.failure.as_deref())
                .and_then(decline_code)
                .map(str::to_string);
            return Ok(PayOutcome::Declined(code));
        }
        // Another charge of the account was in flight: it settles the balance, or fails
        // and is told by e-mail; this request charged nothing.
        Err(EngineError::Unavailable(
            "a payment of this account is already in progress".into(),
        ))
    }

    async fn owed(&self, tenant: &Tenant, account_id: i64) -> Result<Money> {
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        Ok(Money::from_minor(
            tx.balance(tenant.id, account_id).await?,
            account.currency,
        ))
    }
}

/// What a dunning notice tells besides the amount: the unpaid invoices, the bank's reason
/// for the last refusal, the next automatic attempt and the day the service stops — so the
/// e-mail gives dates and numbers rather than "in the next batch".
pub(crate) async fn notice_facts(
    tx: &mut Tx,
    tenant: &Tenant,
    account_id: i64,
    balance: i64,
    on: NaiveDate,
) -> Result<serde_json::Value> {
    let schedule = &tenant.collection.dunning;
    // The case opened today when the standing read has not been saved yet.
    let since = tx
        .standing(tenant.id, account_id)
        .await?
        .since
        .unwrap_or(on);
    let reason = tx
        .payments(tenant.id, account_id)
        .await?
        .last()
        .filter(|p| p.status == PaymentStatus::Failed)
        .and_then(|p| p.failure.as_deref().and_then(decline_code))
        .map(str::to_string);
    Ok(serde_json::json!({
        "invoices": unpaid_invoices(tx, tenant, account_id, balance).await?,
        "reason": reason,
        "next_attempt": next_day(schedule, since, on, |s| s.retry),
        "stops_on": next_day(schedule, since, on, |s| {
            matches!(s.status, Some(Status::Suspended | Status::Cancelled))
        }),
    }))
}

/// The first day after `on` of a step of the case opened `since` that `wanted`.
fn next_day(
    schedule: &Schedule,
    since: NaiveDate,
    on: NaiveDate,
    wanted: impl Fn(&prorata_core::dunning::Step) -> bool,
) -> Option<NaiveDate> {
    schedule
        .steps
        .iter()
        .filter(|s| wanted(s))
        .filter_map(|s| since.checked_add_days(chrono::Days::new(u64::from(s.day))))
        .find(|d| *d > on)
}

/// The invoices that make up `balance`: payments settle the oldest first, so what is owed
/// is the newest invoices whose totals reach it. Oldest first, at most [`MAX_NAMED`].
async fn unpaid_invoices(
    tx: &mut Tx,
    tenant: &Tenant,
    account_id: i64,
    balance: i64,
) -> Result<Vec<String>> {
    let mut named = Vec::new();
    let mut covered = 0_i64;
    for row in tx.list_documents_newest(tenant.id, account_id, 200).await? {
        if covered >= balance || named.len() >= MAX_NAMED {
            break;
        }
        let d = row.document;
        if d.kind != DocumentKind::Invoice || d.total.minor() <= 0 {
            continue;
        }
        covered = covered.saturating_add(d.total.minor());
        named.push(d.number);
    }
    named.reverse();
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_until_the_end_of_the_day_it_names() {
        // Sent on 6 December 2026 at 09:00 UTC: works all of 5 January 2027.
        let sent = 1_796_547_600;
        let expires = expiry_from(sent);
        assert_eq!(last_day(expires), NaiveDate::from_ymd_opt(2027, 1, 5));
        assert_eq!(expires % 86_400, 0, "at midnight UTC");
        assert!(expires - sent >= 30 * 86_400);
    }

    #[test]
    fn a_decline_code_is_read_from_the_end_of_a_failure() {
        assert_eq!(
            decline_code("the card has expired (expired_card)"),
            Some("expired_card")
        );
        assert_eq!(decline_code("gateway down"), None);
        assert_eq!(decline_code("odd (Not A Code)"), None);
    }
}

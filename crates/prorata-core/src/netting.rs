//! Netting: a change's credit and charge on one document, and when the elapsed part of a fee
//! billed in arrears is invoiced at a plan change.
//!
//! ## `credit_policy = "same_invoice"`
//!
//! Kill Bill's repair items and Stripe's `proration_behavior = always_invoice`: a run's credit
//! lines (the unused days of the old plan) and charge lines (the new plan's days) go on ONE
//! document, issued at once. When the credits outweigh the charges the net total is negative,
//! and the tenant's [`NegativeInvoice`] says what the document is:
//!
//! - `account_credit` (default): an invoice with a negative total. The ledger adds its total to
//!   the account's balance, so the credit is carried as the next invoices' (negative) previous
//!   balance and lowers their amount due — Kill Bill's `CBA_ADJ`, Stripe's customer balance.
//!   EN 16931 allows a negative invoice total (BR-CO-25 asks for payment terms only when the
//!   amount due is positive); no net price is negative, the sign stays on the quantities.
//! - `credit_note`: the same lines as a credit note (whose printed figures are positive).
//!
//! ## `arrears_on_change`
//!
//! A plan item billed in arrears is invoiced the day after its period ends (`period_end`, the
//! default). With `at_change`, the old plan's fee for the part of the period elapsed before a
//! plan change is due on the change (Lago: upgrading or terminating a subscription paid in
//! arrears invoices the elapsed part at once); the new plan's part is still due at the period's
//! end. A subscription's end already makes its arrears fees due on the end day.
//!
//! Pure: no clock, no I/O.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::document::{DocumentKind, Draft, Line};
use crate::money::Currency;
use crate::reconcile::ReconcileError;
use crate::timeline::State;

/// What a same-invoice document whose credits outweigh its charges is issued as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeInvoice {
    /// An invoice with a negative total: the credit stays on the account's balance and the
    /// next invoices draw it down.
    #[default]
    AccountCredit,
    /// A credit note.
    CreditNote,
}

/// When the elapsed part of an arrears fee is invoiced at a plan change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrearsOnChange {
    /// With the rest of the period, the day after it ends.
    #[default]
    PeriodEnd,
    /// On the change: the old plan's part is due when the plan changes.
    AtChange,
}

/// The moment the arrears fee of `segments[i]` falls due: the end of its period (`p_end`), or
/// under [`ArrearsOnChange::AtChange`] the first later moment of the period where the plan is
/// another one. `segments` are the period's states in time order, as `Subscription::segments`
/// gives them (a quantity change starts a segment without changing the plan).
pub(crate) fn arrears_due(
    policy: ArrearsOnChange,
    segments: &[(NaiveDateTime, State)],
    i: usize,
    p_end: NaiveDateTime,
) -> NaiveDateTime {
    let Some((_, state)) = segments.get(i) else {
        return p_end;
    };
    match policy {
        ArrearsOnChange::PeriodEnd => p_end,
        ArrearsOnChange::AtChange => segments[i + 1..]
            .iter()
            .find(|(_, s)| s.plan != state.plan)
            .map_or(p_end, |(t, _)| (*t).min(p_end)),
    }
}

/// The one document of a run under `same_invoice`: every line, credits beside charges; an
/// invoice unless its net total is negative and the tenant wants a credit note then.
pub(crate) fn same_invoice(
    negative: NegativeInvoice,
    currency: Currency,
    lines: Vec<Line>,
) -> Result<Vec<Draft>, ReconcileError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let draft = Draft {
        kind: DocumentKind::Invoice,
        currency,
        lines,
    };
    let kind = match negative {
        NegativeInvoice::CreditNote if draft.net_total()?.is_negative() => DocumentKind::CreditNote,
        _ => DocumentKind::Invoice,
    };
    Ok(vec![Draft { kind, ..draft }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::collections::BTreeMap;

    fn at(d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2024, 4, d)
            .unwrap_or(NaiveDate::MIN)
            .and_time(chrono::NaiveTime::MIN)
    }

    fn state(plan: &str, users: i64) -> State {
        State {
            plan: plan.into(),
            quantities: BTreeMap::from([("user".to_string(), users)]),
        }
    }

    #[test]
    fn the_old_plans_arrears_fall_due_on_the_plan_change_not_on_a_quantity_change() {
        // basic (2 users) from 1 Apr, basic (3 users) from 5 Apr, pro from 10 Apr, period to 30.
        let segments = vec![
            (at(1), state("basic", 2)),
            (at(5), state("basic", 3)),
            (at(10), state("pro", 3)),
        ];
        let end = at(30);
        let due = |policy, i| arrears_due(policy, &segments, i, end);
        assert_eq!(due(ArrearsOnChange::AtChange, 0), at(10));
        assert_eq!(due(ArrearsOnChange::AtChange, 1), at(10));
        assert_eq!(due(ArrearsOnChange::AtChange, 2), end);
        assert_eq!(due(ArrearsOnChange::PeriodEnd, 0), end);
        assert_eq!(due(ArrearsOnChange::PeriodEnd, 1), end);
    }

    #[test]
    fn settings_read_their_names() {
        #[derive(Deserialize)]
        struct S {
            n: NegativeInvoice,
            a: ArrearsOnChange,
        }
        let s: Result<S, _> = toml::from_str("n = \"credit_note\"\na = \"at_change\"");
        assert_eq!(
            s.map(|s| (s.n, s.a)).ok(),
            Some((NegativeInvoice::CreditNote, ArrearsOnChange::AtChange))
        );
        assert!(toml::from_str::<S>("n = \"refund\"\na = \"at_change\"").is_err());
    }
}

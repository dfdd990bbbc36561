//! What is still owed on each invoice, and so its status: derived from the account's ledger,
//! never stored (issue #16, item 3).
//!
//! An account has one balance — the sum of its ledger: invoices add, credit notes, payments,
//! prepaid credit and write-offs subtract, refunds add back. What was paid or credited settles
//! the account's invoices **oldest first**, as [`crate::overdue`] reads it for dunning: so
//! whatever the balance still owes is owed on the newest invoices. Walking the invoices from
//! the newest, each takes what is left of the balance up to its own total; the older ones are
//! paid. A balance larger than all the invoices (owed from before them) is owed on none.
//!
//! An invoice is then `paid` (nothing due), `open` (all of it due), `partly_paid` (part of it)
//! or, when anything is still due after its due date, `overdue`. An invoice of nothing or less
//! (a trial, or one the account's credit covered) is `paid`. There is no `void`: a credit note
//! is credit on the account like a payment — it settles the oldest invoices first, not
//! necessarily the one it corrects — so "fully credited" cannot be told apart from "paid"
//! (docs/payments.md).
//!
//! Pure: the caller passes the balance, the invoices in issue order and the day (the tenant's
//! today, which a sandbox clock moves).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// All of it is due, and its due date has not passed.
    Open,
    /// Part of it is due, and its due date has not passed.
    PartlyPaid,
    /// Nothing is due on it.
    Paid,
    /// Something is still due on it after its due date.
    Overdue,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Open,
        InvoiceStatus::PartlyPaid,
        InvoiceStatus::Paid,
        InvoiceStatus::Overdue,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::PartlyPaid => "partly_paid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Overdue => "overdue",
        }
    }

    /// The status named `text` (as serialized), if any.
    pub fn parse(text: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An invoice of the account, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    /// What the invoice asked for, in minor units (its total).
    pub total: i64,
    /// When it is to be paid; `None`: never overdue.
    pub due_on: Option<NaiveDate>,
}

/// What is left to pay on one invoice, and so its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// In minor units, from 0 to the invoice's total.
    pub amount_due: i64,
    pub status: InvoiceStatus,
}

/// What is due on each of an account's `invoices` (all of them, oldest first), whose ledger
/// sums to `balance`, on `today`: one [`Settled`] per invoice, in the same order.
pub fn settle(invoices: &[Owed], balance: i64, today: NaiveDate) -> Vec<Settled> {
    let mut left = balance.max(0);
    let mut out: Vec<Settled> = invoices
        .iter()
        .rev()
        .map(|invoice| {
            let amount_due = if invoice.total > 0 {
                left.min(invoice.total)
            } else {
                0
            };
            left -= amount_due;
            Settled {
                amount_due,
                status: status(invoice, amount_due, today),
            }
        })
        .collect();
    out.reverse();
    out
}

/// What is due on an invoice whose newer invoices (of a positive total) sum to `newer`, of an
/// account whose ledger sums to `balance`: [`settle`] for one invoice, without the older ones
/// (which take nothing from it).
pub fn settle_one(invoice: Owed, newer: i64, balance: i64, today: NaiveDate) -> Settled {
    let left = balance.max(0).saturating_sub(newer.max(0)).max(0);
    let amount_due = if invoice.total > 0 {
        left.min(invoice.total)
    } else {
        0
    };
    Settled {
        amount_due,
        status: status(&invoice, amount_due, today),
    }
}

fn status(invoice: &Owed, amount_due: i64, today: NaiveDate) -> InvoiceStatus {
    if amount_due <= 0 {
        InvoiceStatus::Paid
    } else if invoice.due_on.is_some_and(|due| due < today) {
        InvoiceStatus::Overdue
    } else if amount_due < invoice.total {
        InvoiceStatus::PartlyPaid
    } else {
        InvoiceStatus::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 7, day).unwrap_or(NaiveDate::MIN)
    }

    fn owed(total: i64, due: u32) -> Owed {
        Owed {
            total,
            due_on: Some(d(due)),
        }
    }

    fn due_and_status(s: &[Settled]) -> Vec<(i64, &'static str)> {
        s.iter()
            .map(|s| (s.amount_due, s.status.as_str()))
            .collect()
    }

    #[test]
    fn payments_settle_the_oldest_invoices_first() {
        // Invoices of 100.00, 50.00 and 30.00; 120.00 paid of their 180.00: the balance of
        // 60.00 is owed on the newest (30.00) and on 30.00 of the one before.
        let invoices = [owed(10_000, 20), owed(5_000, 20), owed(3_000, 20)];
        let s = settle(&invoices, 6_000, d(10));
        assert_eq!(
            due_and_status(&s),
            [(0, "paid"), (3_000, "partly_paid"), (3_000, "open")]
        );
    }

    #[test]
    fn what_is_due_after_the_due_date_is_overdue_even_in_part() {
        let invoices = [owed(10_000, 5), owed(5_000, 5), owed(3_000, 25)];
        // 10 July: the first two were due on the 5th; 60.00 owed: 30.00 on the last (not
        // due yet), 30.00 on the second (past due).
        let s = settle(&invoices, 6_000, d(10));
        assert_eq!(
            due_and_status(&s),
            [(0, "paid"), (3_000, "overdue"), (3_000, "open")]
        );
        // On its due date an invoice is not overdue yet; the day after, it is.
        assert_eq!(
            settle(&[owed(100, 10)], 100, d(10))[0].status,
            InvoiceStatus::Open
        );
        assert_eq!(
            settle(&[owed(100, 10)], 100, d(11))[0].status,
            InvoiceStatus::Overdue
        );
    }

    #[test]
    fn a_credit_balance_or_nothing_owed_leaves_every_invoice_paid() {
        let invoices = [owed(10_000, 5), owed(5_000, 5)];
        for balance in [0, -2_500] {
            let s = settle(&invoices, balance, d(10));
            assert_eq!(due_and_status(&s), [(0, "paid"), (0, "paid")]);
        }
    }

    #[test]
    fn a_balance_owed_from_before_the_invoices_is_owed_on_none_of_them_past_their_totals() {
        let s = settle(&[owed(1_000, 20), owed(2_000, 20)], 9_999, d(10));
        assert_eq!(due_and_status(&s), [(1_000, "open"), (2_000, "open")]);
    }

    #[test]
    fn invoices_of_nothing_or_a_credit_are_paid_and_take_nothing_from_the_balance() {
        let invoices = [
            owed(4_000, 20),
            Owed {
                total: 0,
                due_on: None,
            },
            owed(-500, 20),
        ];
        let s = settle(&invoices, 4_000, d(10));
        assert_eq!(
            due_and_status(&s),
            [(4_000, "open"), (0, "paid"), (0, "paid")]
        );
    }

    #[test]
    fn an_invoice_without_a_due_date_is_never_overdue() {
        let s = settle(
            &[Owed {
                total: 700,
                due_on: None,
            }],
            700,
            NaiveDate::MAX,
        );
        assert_eq!(due_and_status(&s), [(700, "open")]);
    }

    #[test]
    fn settling_one_agrees_with_settling_all() {
        let invoices = [
            owed(10_000, 5),
            owed(0, 5),
            owed(5_000, 15),
            owed(3_000, 25),
        ];
        for balance in [
            -100, 0, 1, 2_999, 3_000, 7_000, 8_000, 17_999, 18_000, 50_000,
        ] {
            let all = settle(&invoices, balance, d(10));
            for (i, invoice) in invoices.iter().enumerate() {
                let newer: i64 = invoices[i + 1..]
                    .iter()
                    .map(|o| o.total)
                    .filter(|t| *t > 0)
                    .sum();
                assert_eq!(settle_one(*invoice, newer, balance, d(10)), all[i]);
            }
        }
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(InvoiceStatus::parse("void"), None);
    }
}

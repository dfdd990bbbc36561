//! Prepaid credit (Lago's wallets): money put on an account ahead of its invoices, drawn down
//! by each invoice as it is issued.
//!
//! ## Two balances
//!
//! An account's *balance* (the ledger) is what the customer owes: invoices add, payments and
//! credit notes subtract, and a negative balance is a credit in the customer's favour carried
//! to the next invoice as its previous balance. The *wallet* is kept apart, in entries of its
//! own: a top-up adds to it — credit `granted` (a commercial gesture) or `paid` (money the
//! vendor received for credit, referenced) — and nothing else does. An overpayment stays on
//! the balance; it never becomes prepaid credit, and prepaid credit never pays a previous
//! invoice: it is spent on new invoices only, as Lago spends a wallet.
//!
//! ## The draw
//!
//! Each invoice, when issued, takes from the wallet ([`draw`]) the least of
//!
//! - the wallet's balance,
//! - the invoice's total, VAT included (prepaid credit is a means of payment, not a discount:
//!   the VAT is the invoice's as it would be without it; EN 16931's "paid amount", BT-113),
//! - what the account owes once the invoice is added (`balance_after`), so a credit already on
//!   the balance is used before the wallet.
//!
//! The amount taken is written on the invoice ([`crate::document::Document::prepaid_credit`],
//! printed "Prepaid credit applied" before the amount due) and, in the issuing transaction, as
//! two entries: the wallet's draw and a ledger entry that lowers the balance like a payment.
//! An invoice is issued once, so it draws once; a credit note draws nothing, and the credit it
//! gives stays on the balance.
//!
//! Pure: no clock, no I/O.

use serde::{Deserialize, Serialize};

use crate::document::{Document, DocumentKind};
use crate::money::{Money, MoneyError};

/// How credit came onto a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TopUp {
    /// Paid for by the customer (the money received outside the engine, referenced).
    Paid,
    /// Given by the vendor.
    Granted,
}

impl TopUp {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUp::Paid => "paid",
            TopUp::Granted => "granted",
        }
    }
}

/// What `doc` takes from a wallet holding `wallet`: the least of the wallet, the invoice's
/// total and what the account owes after it; zero for a credit note, a negative invoice or an
/// empty wallet.
pub fn draw(doc: &Document, wallet: Money) -> Money {
    let zero = Money::zero(doc.currency);
    if doc.kind != DocumentKind::Invoice || wallet.currency() != doc.currency {
        return zero;
    }
    let taken = wallet
        .minor()
        .min(doc.total.minor())
        .min(doc.balance_after.minor());
    Money::from_minor(taken.max(0), doc.currency)
}

impl Document {
    /// Writes `amount` of prepaid credit on this invoice: shown beside its totals, and taken
    /// off what the account owes after it.
    pub fn apply_prepaid(&mut self, amount: Money) -> Result<(), MoneyError> {
        if amount.is_zero() {
            return Ok(());
        }
        self.balance_after = self.balance_after.checked_sub(amount)?;
        self.prepaid_credit = Some(amount);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Draft;
    use crate::money::Currency;
    use chrono::NaiveDate;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::EUR)
    }

    /// An invoice of `total` with `previous` owed before it (no lines: the draw reads totals).
    fn invoice(total: i64, previous: i64) -> Result<Document, MoneyError> {
        let mut doc = Draft {
            kind: DocumentKind::Invoice,
            currency: Currency::EUR,
            lines: Vec::new(),
        }
        .issue("INV-000001".into(), NaiveDate::MIN, eur(previous))?;
        doc.total = eur(total);
        doc.balance_after = eur(previous).checked_add(eur(total))?;
        Ok(doc)
    }

    #[test]
    fn an_invoice_takes_the_least_of_the_wallet_its_total_and_what_is_owed(
    ) -> Result<(), MoneyError> {
        // Lago, spec/services/credits/applied_prepaid_credit_service_spec.rb: a wallet of
        // 1000 cents pays an invoice of 100 whole (900 left), and 1000 of an invoice of 1500.
        assert_eq!(draw(&invoice(100, 0)?, eur(1000)), eur(100));
        assert_eq!(draw(&invoice(1500, 0)?, eur(1000)), eur(1000));
        // A credit of 30.00 on the balance is used first: 20.00 left to draw.
        assert_eq!(draw(&invoice(5000, -3000)?, eur(10_000)), eur(2000));
        // Nothing owed after the invoice: nothing drawn.
        assert_eq!(draw(&invoice(5000, -6000)?, eur(10_000)), eur(0));
        // An unpaid previous invoice is not paid from the wallet.
        assert_eq!(draw(&invoice(5000, 7000)?, eur(10_000)), eur(5000));
        assert_eq!(draw(&invoice(5000, 0)?, eur(0)), eur(0));
        assert_eq!(draw(&invoice(-5000, 0)?, eur(10_000)), eur(0));
        Ok(())
    }

    #[test]
    fn prepaid_credit_lowers_what_is_owed_and_shows_on_the_invoice() -> Result<(), MoneyError> {
        let mut doc = invoice(1500, 200)?;
        let taken = draw(&doc, eur(1000));
        doc.apply_prepaid(taken)?;
        assert_eq!(doc.prepaid_credit, Some(eur(1000)));
        assert_eq!(doc.balance_after, eur(700));
        let mut untouched = invoice(1500, 0)?;
        untouched.apply_prepaid(eur(0))?;
        assert_eq!(untouched.prepaid_credit, None);
        Ok(())
    }
}

//! Invoices and credit notes.
//!
//! A document is a list of lines in the seed's fixed sections (recurring – upcoming period;
//! prorata – past period; minutes/usage – past period), VAT per rate, a total, and on invoices
//! the previous unpaid balance and the amount due. Once issued a document never changes:
//! corrections are new documents.
//!
//! Signs: amounts are signed the way they move the customer's balance. Invoice lines are
//! positive; credit-note lines, and the credit lines an invoice may carry under the
//! account-credit policy, are negative. Reconciliation then simply sums every issued line.
//! Renderers show credit notes with positive figures, as the law prints them.
//!
//! Every line carries what it needs to be explained and reconciled: the charge it belongs to
//! ([`LineKey`]), its units, unit price, the slice of the period it covers and, when
//! prorated, the fraction with its day counts.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::account::BuyerSnapshot;
use crate::calendar::Period;
use crate::decimal::Decimal;
use crate::money::{Currency, Money, MoneyError};
use crate::proration::Fraction;
use crate::tax::{tax_totals, TaxTotal, TaxTreatment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Invoice,
    CreditNote,
}

/// The fixed sections of seed 002, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Recurring items – the period ahead.
    Recurring,
    /// Prorata – additions, removals and plan changes inside a period.
    Prorata,
    /// Minutes / usage – the period just over.
    Usage,
    /// Discounts: coupons, before VAT (negative lines on an invoice).
    Discount,
    /// The true-up of a minimum commitment, for the period just over.
    Commitment,
}

/// Which part of a plan item's price a recurring line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PriceTier {
    /// The flat price of the units included in the plan.
    Included,
    /// Each unit beyond the included ones.
    Extra,
    /// The units of a seat tier, numbered from 1 ([`crate::seat_tiers`]): under graduated
    /// pricing the units that fall in it, under volume pricing every unit while the quantity
    /// is in it. Serialized `{"tier": 2}`; documents written before it read as before.
    Tier(u32),
    /// A seat tier's flat fee: one unit while the tier is reached.
    Flat(u32),
    /// Packages of a plan item's `package_size` units, the last one started counting whole.
    Package,
}

/// The recurring charge a line belongs to: a plan item's price tier for one period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecurringKey {
    pub product: String,
    pub plan: String,
    pub tier: PriceTier,
    pub unit_price: Decimal,
    pub period: Period,
}

/// The charge a line belongs to. Lines with equal keys are summed by reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LineKey {
    Recurring(RecurringKey),
    Usage {
        metric: String,
        period: Period,
    },
    /// A coupon's discount of the lines of one licence period.
    Discount {
        coupon: String,
        period: Period,
    },
    /// The true-up of a plan's minimum commitment for one licence period.
    Commitment {
        period: Period,
    },
}

impl LineKey {
    pub fn period(&self) -> Period {
        match self {
            LineKey::Recurring(RecurringKey { period, .. })
            | LineKey::Usage { period, .. }
            | LineKey::Discount { period, .. }
            | LineKey::Commitment { period } => *period,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Line {
    pub section: Section,
    pub key: LineKey,
    pub description: String,
    /// Units billed (signed: negative on credits).
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Decimal>,
    /// The slice of the period covered, `from` inclusive, `to` exclusive.
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    /// The slice as inclusive dates, as printed: 10 Jul – 5 Aug.
    pub service: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration: Option<Fraction>,
    /// For usage: the calls (events) the quantity sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<i64>,
    /// For usage: units consumed from bundles before rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included_used: Option<i64>,
    /// Usage that arrived after its period was invoiced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// Net amount, signed.
    pub amount: Money,
    pub tax: TaxTreatment,
    /// The arithmetic, e.g. `4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR`.
    pub explanation: String,
    /// Numbers of the documents whose lines this one corrects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrects: Vec<String>,
}

/// What reconciliation proposes: a document without a number yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Draft {
    pub kind: DocumentKind,
    pub currency: Currency,
    pub lines: Vec<Line>,
}

impl Draft {
    pub fn net_total(&self) -> Result<Money, MoneyError> {
        Money::sum(self.currency, self.lines.iter().map(|l| l.amount))
    }

    /// Documents this draft corrects, each once, in order.
    pub fn corrects(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in self.lines.iter().flat_map(|l| l.corrects.iter()) {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    pub kind: DocumentKind,
    pub number: String,
    pub issued_on: NaiveDate,
    pub currency: Currency,
    pub lines: Vec<Line>,
    /// Sum of the net lines.
    pub net_total: Money,
    pub taxes: Vec<TaxTotal>,
    /// Net total plus VAT.
    pub total: Money,
    /// Balance owed before this document (invoices only; seed 002 "previous unpaid balance").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_balance: Option<Money>,
    /// Prepaid credit this invoice took from the account's wallet ([`crate::wallet`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid_credit: Option<Money>,
    /// What the customer owes after this document: previous balance plus total, less the
    /// prepaid credit applied.
    pub balance_after: Money,
    /// Invoices a credit note corrects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrects: Vec<String>,
    /// The buyer as it was when the document was issued: later edits show on later documents
    /// only (seed 004).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<BuyerSnapshot>,
    /// How an invoice is to be paid, as known when it was issued (seed 002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payment::PaymentDetails>,
    /// The seller as it was when the document was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<crate::seller::SellerSnapshot>,
    /// When an invoice is to be paid (the seller's payment terms at issue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<NaiveDate>,
}

impl Document {
    /// `m` as the document prints it: credit notes show positive figures (their title says
    /// they are credits), so their amounts, negative in the model, are negated.
    pub fn printed(&self, m: Money) -> Money {
        match self.kind {
            DocumentKind::Invoice => m,
            DocumentKind::CreditNote => m.checked_neg().unwrap_or(m),
        }
    }
}

impl Draft {
    /// Issues the draft: numbered, dated, with VAT per rate and the previous balance.
    pub fn issue(
        self,
        number: String,
        issued_on: NaiveDate,
        previous_balance: Money,
    ) -> Result<Document, MoneyError> {
        let net_total = self.net_total()?;
        let taxes = tax_totals(self.currency, self.lines.iter().map(|l| (&l.tax, l.amount)))?;
        let tax_sum = Money::sum(self.currency, taxes.iter().map(|t| t.tax))?;
        let total = net_total.checked_add(tax_sum)?;
        let corrects = self.corrects();
        Ok(Document {
            kind: self.kind,
            number,
            issued_on,
            currency: self.currency,
            net_total,
            taxes,
            total,
            previous_balance: (self.kind == DocumentKind::Invoice).then_some(previous_balance),
            prepaid_credit: None,
            balance_after: previous_balance.checked_add(total)?,
            corrects,
            buyer: None,
            payment: None,
            seller: None,
            due_on: None,
            lines: self.lines,
        })
    }
}

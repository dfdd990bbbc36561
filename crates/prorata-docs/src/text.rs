//! Plain-text rendering of a scenario's outcome: each document as a table in the seed's
//! sections, in the account's language, with each line's arithmetic beside its amount.

use std::fmt::Write as _;

use prorata_core::catalog::Lang;
use prorata_core::document::{Document, Section};
use prorata_core::payment::PaymentDetails;
use prorata_core::scenario::{Entry, Outcome};
use prorata_core::tax::TaxCategory;

use crate::words::{date, percent, t};

pub(crate) fn section_title(lang: Lang, s: Section) -> &'static str {
    match s {
        Section::Recurring => t(
            lang,
            "Recurring items – upcoming period",
            "Éléments récurrents – période à venir",
        ),
        Section::Prorata => t(lang, "Prorata – past period", "Prorata – période écoulée"),
        Section::Usage => t(lang, "Minutes – past period", "Minutes – période écoulée"),
        Section::Discount => t(lang, "Discounts", "Remises"),
        Section::Commitment => t(
            lang,
            "Minimum commitment – past period",
            "Minimum d'engagement – période écoulée",
        ),
    }
}

fn coupon_verb(r: &prorata_core::coupon::CouponRequest) -> &'static str {
    match r {
        prorata_core::coupon::CouponRequest::Apply { .. } => "applied",
        prorata_core::coupon::CouponRequest::Remove { .. } => "removed",
    }
}

pub fn outcome(o: &Outcome) -> String {
    let lang = o.account.language;
    let mut out = String::new();
    if !o.title.is_empty() {
        let _ = writeln!(out, "{}\n", o.title);
    }
    let sub = &o.subscription;
    let _ = write!(
        out,
        "{}: {} {} {}, {} {}",
        o.account.name,
        sub.plan,
        sub.frequency,
        sub.currency,
        t(lang, "from", "depuis le"),
        sub.start
    );
    if sub.trial_days > 0 {
        let _ = write!(
            out,
            " ({} {} {})",
            t(lang, "trial of", "essai de"),
            sub.trial_days,
            t(lang, "days", "jours")
        );
    }
    if let Some((deadline, renewal)) = sub.notice_deadline_after(sub.start) {
        let _ = write!(
            out,
            "; {} {renewal} ({} {deadline})",
            t(lang, "first renewal", "premier renouvellement"),
            t(lang, "notice deadline", "préavis au plus tard le")
        );
    }
    let _ = writeln!(out, "\n");
    for e in &o.entries {
        match e {
            Entry::Accepted {
                on,
                request,
                direction,
                effective,
            } => {
                let _ = writeln!(
                    out,
                    "{on}  accepted {direction:?}: {} (effective {})\n",
                    request_text(request),
                    effective.date()
                );
            }
            Entry::Refused {
                on,
                request,
                reason,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{on}  REFUSED: {}\n      {reason}\n",
                    request_text(request)
                );
            }
            Entry::Usage {
                on,
                metric,
                date,
                quantity,
            } => {
                let _ = writeln!(out, "{on}  usage recorded: {quantity} {metric} on {date}\n");
            }
            Entry::Payment {
                on,
                amount,
                balance_after,
            } => {
                let _ = writeln!(
                    out,
                    "{on}  payment received: {amount} (balance {balance_after})\n"
                );
            }
            Entry::Document(d) => out.push_str(&document(d, lang, &o.account.name)),
            Entry::TopUp {
                on,
                amount,
                kind,
                wallet_after,
            } => {
                let _ = writeln!(
                    out,
                    "{on}  prepaid credit {}: {amount} (wallet {wallet_after})\n",
                    kind.as_str()
                );
            }
            Entry::Coupon {
                on,
                request,
                effective,
            } => {
                let _ = writeln!(
                    out,
                    "{on}  coupon {}: {} (effective {})\n",
                    coupon_verb(request),
                    request.code(),
                    effective.date()
                );
            }
            Entry::CouponRefused {
                on,
                request,
                reason,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{on}  REFUSED: coupon {} {}\n      {reason}\n",
                    coupon_verb(request),
                    request.code()
                );
            }
        }
    }
    let _ = writeln!(out, "{}: {}", t(lang, "Balance", "Solde"), o.balance);
    if !o.wallet.is_zero() {
        let _ = writeln!(
            out,
            "{}: {}",
            t(lang, "Prepaid credit left", "Crédit prépayé restant"),
            o.wallet
        );
    }
    out
}

fn request_text(r: &prorata_core::change::Request) -> String {
    use prorata_core::change::Request::*;
    match r {
        SetQuantity { product, quantity } => format!("{product} → {quantity}"),
        AddAddon { product } => format!("add {product}"),
        RemoveAddon { product } => format!("remove {product}"),
        ChangePlan { plan } => format!("plan → {plan}"),
        Cancel => "cancel at renewal".into(),
        CancelImmediately => "cancel now".into(),
        ChangeFrequency {
            frequency,
            when,
            anchor,
        } => {
            let mut text = format!("billed {frequency}");
            if let Some(when) = when {
                text.push_str(&format!(", {}", when.as_str()));
            }
            if let Some(anchor) = anchor {
                text.push_str(&format!(", anchor {}", anchor.as_str()));
            }
            text
        }
    }
}

pub fn document(d: &Document, lang: Lang, buyer: &str) -> String {
    let mut out = String::new();
    let kind = crate::words::kind_title(lang, d.kind);
    // Credit notes print positive figures: the document itself says it is a credit.
    let fix = |m: prorata_core::Money| d.printed(m);
    let _ = writeln!(out, "{}", "═".repeat(96));
    let _ = writeln!(out, "{kind} {}  ·  {}  ·  {buyer}", d.number, d.issued_on);
    if !d.corrects.is_empty() {
        let _ = writeln!(
            out,
            "{} {}",
            t(lang, "Corrects invoice", "Corrige la facture"),
            d.corrects.join(", ")
        );
    }
    let mut current = None;
    for l in &d.lines {
        if current != Some(l.section) {
            current = Some(l.section);
            let _ = writeln!(out, "\n  {}", section_title(lang, l.section));
        }
        let _ = writeln!(
            out,
            "    {:<44} {} – {}  {:>14}",
            l.description,
            l.service.start,
            l.service.end,
            fix(l.amount).amount_text()
        );
        let mut why = l.explanation.clone();
        if let Some(p) = l.proration {
            let _ = write!(why, "  [{}]", p.describe(lang));
        }
        let _ = writeln!(out, "      {why}");
    }
    let _ = writeln!(
        out,
        "\n  {:<72} {:>14}",
        t(lang, "Total excl. VAT", "Total HT"),
        fix(d.net_total).amount_text()
    );
    for tax in &d.taxes {
        let label = tax_label(lang, tax);
        let _ = writeln!(out, "  {label:<72} {:>14}", fix(tax.tax).amount_text());
    }
    let _ = writeln!(
        out,
        "  {:<72} {:>14}",
        t(lang, "Total incl. VAT", "Total TTC"),
        fix(d.total).amount_text()
    );
    if let Some(prev) = d.previous_balance {
        let _ = writeln!(
            out,
            "  {:<72} {:>14}",
            t(lang, "Previous unpaid balance", "Solde impayé précédent"),
            prev.amount_text()
        );
        if let Some(prepaid) = d.prepaid_credit {
            let _ = writeln!(
                out,
                "  {:<72} {:>14}",
                t(lang, "Prepaid credit applied", "Crédit prépayé utilisé"),
                prepaid.checked_neg().unwrap_or(prepaid).amount_text()
            );
        }
        let (label, amount) = crate::words::amount_due(d, lang);
        let _ = writeln!(out, "  {label:<72} {:>14}", amount.amount_text());
    }
    if let Some(payment) = &d.payment {
        let _ = writeln!(
            out,
            "\n  {}{} {}",
            t(lang, "Payment details", "Détails du paiement"),
            t(lang, ":", " :"),
            payment_text(payment, lang, d)
        );
    }
    let _ = writeln!(out, "  {} {}\n", t(lang, "Currency", "Devise"), d.currency);
    out
}

/// The name of a VAT total: its rate, or why there is none.
pub(crate) fn tax_label(lang: Lang, tax: &prorata_core::tax::TaxTotal) -> String {
    match tax.category {
        TaxCategory::Standard => format!("{} {}", t(lang, "VAT", "TVA"), percent(lang, tax.rate)),
        TaxCategory::ReverseCharge => t(
            lang,
            "VAT 0 % – reverse charge",
            "TVA 0 % – autoliquidation",
        )
        .to_string(),
        TaxCategory::OutOfScope => t(
            lang,
            "VAT 0 % – not subject to EU VAT",
            "TVA non applicable",
        )
        .to_string(),
    }
}

/// Seed 002's payment details: how this invoice is paid.
pub fn payment_text(p: &PaymentDetails, lang: Lang, d: &Document) -> String {
    match p {
        PaymentDetails::Card { card } => format!(
            "{} {card} {} {}",
            t(lang, "card", "carte"),
            t(
                lang,
                "charged automatically on",
                "débitée automatiquement le"
            ),
            date(lang, d.issued_on)
        ),
        PaymentDetails::SepaDebit {
            account,
            mandate_reference,
        } => format!(
            "{} {account} ({} {mandate_reference})",
            t(lang, "SEPA Direct Debit from", "prélèvement SEPA sur"),
            t(lang, "mandate", "mandat")
        ),
        PaymentDetails::AchDebit { account } => format!(
            "{} {account}",
            t(lang, "ACH debit from", "prélèvement ACH sur")
        ),
        PaymentDetails::BankTransfer { bank: Some(b) } => format!(
            "{} {}, IBAN {}{}{}, {} {}",
            t(lang, "bank transfer to", "virement bancaire à"),
            b.holder,
            crate::words::iban(&b.iban),
            if b.bic.is_empty() { "" } else { ", BIC " },
            b.bic,
            t(lang, "quoting", "en indiquant"),
            d.number
        ),
        PaymentDetails::BankTransfer { bank: None } => format!(
            "{} {}",
            t(
                lang,
                "bank transfer, quoting",
                "virement bancaire, en indiquant"
            ),
            d.number
        ),
    }
}

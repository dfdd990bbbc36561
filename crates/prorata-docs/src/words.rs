//! How French and English write the small things every rendering shares: a choice of words,
//! the colon, decimal commas, amounts, dates, percentages, a document's title.

use prorata_core::document::{Document, DocumentKind};
use prorata_core::{Decimal, Lang, Money};

/// The English or the French of a phrase.
pub fn t<'a>(lang: Lang, en: &'a str, fr: &'a str) -> &'a str {
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
    }
}

/// `:` in English, ` :` (a space before) in French.
pub fn colon(lang: Lang) -> &'static str {
    t(lang, ":", " :")
}

/// French writes decimal commas: `30.00` → `30,00`, between digits only (so `27/31` and
/// sentence full stops stay as they are).
pub fn decimal(lang: Lang, text: &str) -> String {
    if lang == Lang::En {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let between_digits = i > 0
                && chars.get(i - 1).is_some_and(char::is_ascii_digit)
                && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c == '.' && between_digits {
                ','
            } else {
                c
            }
        })
        .collect()
}

/// `1234.50 EUR` in English, `1234,50 EUR` in French.
pub fn money(lang: Lang, m: Money) -> String {
    format!("{} {}", decimal(lang, &m.amount_text()), m.currency())
}

/// A date as the language writes it: `04/01/2025` in French, `2025-01-04` in English.
pub fn date(lang: Lang, d: chrono::NaiveDate) -> String {
    match lang {
        Lang::En => d.format("%Y-%m-%d").to_string(),
        Lang::Fr => d.format("%d/%m/%Y").to_string(),
    }
}

/// `12.15 %` / `12,15 %`.
pub fn percent(lang: Lang, rate: Decimal) -> String {
    format!("{} %", decimal(lang, &rate.to_string()))
}

/// The title a document is printed under.
pub fn kind_title(lang: Lang, kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => t(lang, "INVOICE", "FACTURE"),
        DocumentKind::CreditNote => t(lang, "CREDIT NOTE", "NOTE DE CRÉDIT"),
    }
}

/// The last line of an invoice's totals: what the customer owes after it, or — when the
/// balance is in their favour (a negative invoice, an overpayment) — the credit, printed
/// positive under its own label rather than as a negative amount due.
pub fn amount_due(doc: &Document, lang: Lang) -> (&'static str, Money) {
    let after = doc.balance_after;
    if after.is_negative() {
        (
            t(lang, "Credit in your favour", "Crédit en votre faveur"),
            after.checked_neg().unwrap_or(after),
        )
    } else {
        (t(lang, "Amount due", "Montant dû"), after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_commas_go_between_digits_only() {
        assert_eq!(
            decimal(Lang::Fr, "4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR."),
            "4 × 30,00 EUR × 27/31 (87%) = 104,52 EUR."
        );
        assert_eq!(decimal(Lang::En, "30.00"), "30.00");
        assert_eq!(percent(Lang::Fr, Decimal::new(55, 1).unwrap()), "5,5 %");
    }

    #[test]
    fn a_balance_in_the_customers_favour_is_a_credit_not_a_negative_amount_due() {
        use prorata_core::document::Draft;
        use prorata_core::Currency;
        let eur = |minor| Money::from_minor(minor, Currency::EUR);
        let mut doc = Draft {
            kind: DocumentKind::Invoice,
            currency: Currency::EUR,
            lines: Vec::new(),
        }
        .issue("INV-000003".into(), chrono::NaiveDate::MIN, eur(0))
        .unwrap();
        doc.balance_after = eur(-191_493);
        assert_eq!(
            amount_due(&doc, Lang::Fr),
            ("Crédit en votre faveur", eur(191_493))
        );
        doc.balance_after = eur(22_000);
        assert_eq!(amount_due(&doc, Lang::En), ("Amount due", eur(22_000)));
    }
}

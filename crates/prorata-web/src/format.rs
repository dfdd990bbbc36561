//! Amounts and dates as each language writes them: `1 234,56 €` and `10 juillet 2024` in
//! French, `€1,234.56` and `10 July 2024` in English. This formats what the engine computed;
//! it computes nothing (digits are regrouped, never rounded).

use prorata_core::Lang;

/// Amounts and dates are written one way across the product: the documents' and e-mails'
/// (`prorata_docs::words`), so that the portal and the PDF never disagree.
pub use prorata_docs::words::{date, money};

/// A stored UTC timestamp (`2026-03-10T14:05:09.123Z`) as a day and a time of day, in UTC
/// (said so: the portal does not know the reader's time zone); the text as it is when it is
/// not one.
pub fn timestamp(lang: Lang, text: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) else {
        return text.to_string();
    };
    let t = t.naive_utc();
    let day = date(lang, t.date());
    let time = t.format("%H:%M");
    match lang {
        Lang::En => format!("{day}, {time} UTC"),
        Lang::Fr => format!("{day} à {time} UTC"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use prorata_core::Currency;
    use prorata_core::Money;

    #[test]
    fn amounts_in_each_language() {
        let m = Money::from_minor(123_456, Currency::EUR);
        assert_eq!(money(Lang::Fr, m), "1\u{202f}234,56\u{a0}€");
        assert_eq!(money(Lang::En, m), "€1,234.56");
        let small = Money::from_minor(-5, Currency::USD);
        assert_eq!(money(Lang::En, small), "−$0.05");
        assert_eq!(money(Lang::Fr, small), "−0,05\u{a0}$");
        let big = Money::from_minor(100_000_000, Currency::GBP);
        assert_eq!(money(Lang::En, big), "£1,000,000.00");
    }

    #[test]
    fn dates_in_each_language() {
        let d = NaiveDate::from_ymd_opt(2024, 7, 10).unwrap_or_default();
        assert_eq!(date(Lang::En, d), "10 July 2024");
        assert_eq!(date(Lang::Fr, d), "10 juillet 2024");
        let first = NaiveDate::from_ymd_opt(2024, 8, 1).unwrap_or_default();
        assert_eq!(date(Lang::Fr, first), "1er août 2024");
    }

    #[test]
    fn timestamps_in_each_language() {
        let t = "2026-03-10T14:05:09.123Z";
        assert_eq!(timestamp(Lang::En, t), "10 March 2026, 14:05 UTC");
        assert_eq!(timestamp(Lang::Fr, t), "10 mars 2026 à 14:05 UTC");
        assert_eq!(timestamp(Lang::En, "yesterday"), "yesterday");
    }
}

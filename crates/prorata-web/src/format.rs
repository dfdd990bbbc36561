//! Amounts and dates as each language writes them: `1 234,56 €` and `10 juillet 2024` in
//! French, `€1,234.56` and `10 July 2024` in English. This formats what the engine computed;
//! it computes nothing (digits are regrouped, never rounded).

use chrono::{Datelike, NaiveDate};
use prorata_core::{Lang, Money};

/// French groups thousands with a narrow no-break space and puts a no-break space before
/// the symbol.
const NNBSP: char = '\u{202f}';
const NBSP: char = '\u{a0}';

fn symbol(code: &str) -> Option<&'static str> {
    match code {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        _ => None,
    }
}

fn group(digits: &str, sep: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

pub fn money(lang: Lang, m: Money) -> String {
    let exp = m.currency().exponent() as usize;
    let minor = m.minor();
    let digits = minor.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = exp + 1);
    let (int, frac) = digits.split_at(digits.len() - exp);
    let code = m.currency().code();
    let sign = if minor < 0 { "−" } else { "" };
    match lang {
        Lang::Fr => {
            let int = group(int, NNBSP);
            let num = if exp > 0 {
                format!("{int},{frac}")
            } else {
                int
            };
            let unit = symbol(code).unwrap_or(code);
            format!("{sign}{num}{NBSP}{unit}")
        }
        Lang::En => {
            let int = group(int, ',');
            let num = if exp > 0 {
                format!("{int}.{frac}")
            } else {
                int
            };
            match symbol(code) {
                Some(s) => format!("{sign}{s}{num}"),
                None => format!("{sign}{code}{NBSP}{num}"),
            }
        }
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

pub fn date(lang: Lang, d: NaiveDate) -> String {
    let m = d.month0() as usize;
    match lang {
        Lang::En => format!("{} {} {}", d.day(), MONTHS_EN[m], d.year()),
        Lang::Fr if d.day() == 1 => format!("1er {} {}", MONTHS_FR[m], d.year()),
        Lang::Fr => format!("{} {} {}", d.day(), MONTHS_FR[m], d.year()),
    }
}

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
    use prorata_core::Currency;

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

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

/// An amount as the language writes it: `10 224,00 €` in French (narrow no-break spaces
/// between thousands, a no-break space before the symbol), `€10,224.00` in English; a
/// negative amount with a true minus sign; a currency without a symbol by its code. Digits
/// are regrouped, never rounded.
pub fn money(lang: Lang, m: Money) -> String {
    let exp = m.currency().exponent() as usize;
    let minor = m.minor().unsigned_abs();
    let scale = 10u64.saturating_pow(exp as u32);
    let frac = format!("{:0>exp$}", minor % scale);
    let sign = if m.minor() < 0 { "−" } else { "" };
    let frac = (exp > 0).then_some(frac.as_str());
    format!(
        "{sign}{}",
        amount_text(lang, minor / scale, frac, m.currency().code())
    )
}

// CLDR's French separator may be a no-break space; the narrow one is what French typography
// wants and what the portal prints.
pub fn number(lang: Lang, n: u64) -> String {
    use num_format::{Locale, ToFormattedString};
    match lang {
        Lang::Fr => n
            .to_formatted_string(&Locale::fr)
            .replace(['\u{a0}', ' '], &NNBSP.to_string()),
        Lang::En => n.to_formatted_string(&Locale::en),
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
const MONTHS_EN_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_FR_SHORT: [&str; 12] = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
    "déc.",
];

/// A date as the language writes it in a sentence: `10 March 2026`, `10 mars 2026` (and
/// `1er mars 2026`).
pub fn date(lang: Lang, d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let m = d.month0() as usize;
    match lang {
        Lang::En => format!("{} {} {}", d.day(), MONTHS_EN[m], d.year()),
        Lang::Fr if d.day() == 1 => format!("1er {} {}", MONTHS_FR[m], d.year()),
        Lang::Fr => format!("{} {} {}", d.day(), MONTHS_FR[m], d.year()),
    }
}

/// A date where room is short (a table's period column): `6 Jul 2024`, `6 juil. 2024`.
pub fn short_date(lang: Lang, d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let m = d.month0() as usize;
    match lang {
        Lang::En => format!("{}{NBSP}{}{NBSP}{}", d.day(), MONTHS_EN_SHORT[m], d.year()),
        Lang::Fr => format!("{}{NBSP}{}{NBSP}{}", d.day(), MONTHS_FR_SHORT[m], d.year()),
    }
}

/// A service period as short as it reads unambiguously: `1–31 mars 2024`, `6 juil. – 5 août
/// 2024`, `6 déc. 2024 – 5 janv. 2025` (and the same in English).
pub fn period(lang: Lang, start: chrono::NaiveDate, end: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let months = match lang {
        Lang::En => MONTHS_EN_SHORT,
        Lang::Fr => MONTHS_FR_SHORT,
    };
    let month = |d: chrono::NaiveDate| months[d.month0() as usize];
    if start.year() != end.year() {
        return format!("{} – {}", short_date(lang, start), short_date(lang, end));
    }
    if start.month() == end.month() {
        return format!(
            "{}–{}{NBSP}{}{NBSP}{}",
            start.day(),
            end.day(),
            month(end),
            end.year()
        );
    }
    format!(
        "{}{NBSP}{} – {}",
        start.day(),
        month(start),
        short_date(lang, end)
    )
}

/// An IBAN as it is printed: in groups of four (`FR76 3000 6000 0112 3456 7890 189`), from
/// however it was typed.
pub fn iban(text: &str) -> String {
    let compact: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    compact
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A sentence the core wrote about amounts (`4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR`),
/// with each amount as the language writes it (`4 × 30,00 € × 27/31 (87%) = 104,52 €`) and
/// other decimals with the language's point. An amount is a number followed by a currency
/// code; its digits are kept (a unit price may have four decimals), only regrouped.
pub fn amounts_in(lang: Lang, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_ascii_digit() || chars[i - 1] == '.'));
        if starts_number {
            let mut end = i;
            while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                end += 1;
            }
            // A trailing full stop ends the sentence, not the number.
            let number_end = if chars[end - 1] == '.' { end - 1 } else { end };
            let number: String = chars[i..number_end].iter().collect();
            let code: String = chars
                .get(number_end + 1..number_end + 4)
                .map_or(String::new(), |c| c.iter().collect());
            let after = chars.get(number_end + 4).copied();
            let is_amount = chars.get(number_end) == Some(&' ')
                && code.parse::<prorata_core::Currency>().is_ok()
                && !after.is_some_and(char::is_alphanumeric);
            if let (true, Some((int, frac))) = (is_amount, split_number(&number)) {
                out.push_str(&amount_text(lang, int, frac, &code));
                i = number_end + 4;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    decimal(lang, &out)
}

/// `1234.5` as its integer part and its decimals.
fn split_number(number: &str) -> Option<(u64, Option<&str>)> {
    match number.split_once('.') {
        Some((int, frac)) => Some((int.parse().ok()?, Some(frac))),
        None => Some((number.parse().ok()?, None)),
    }
}

fn amount_text(lang: Lang, int: u64, frac: Option<&str>, code: &str) -> String {
    let int = number(lang, int);
    let num = match frac {
        Some(f) => format!("{int}{}{f}", t(lang, ".", ",")),
        None => int,
    };
    match (lang, symbol(code)) {
        (Lang::Fr, unit) => format!("{num}{NBSP}{}", unit.unwrap_or(code)),
        (Lang::En, Some(s)) => format!("{s}{num}"),
        (Lang::En, None) => format!("{code}{NBSP}{num}"),
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
        // In France the document is an *avoir*.
        DocumentKind::CreditNote => t(lang, "CREDIT NOTE", "AVOIR"),
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
    fn amounts_in_an_explanation_read_as_the_language_writes_them() {
        let why = "10 → 6 : 4 × 30.00 EUR × 27/31 (87%) = 1104.52 EUR.";
        assert_eq!(
            amounts_in(Lang::Fr, why),
            "10 → 6 : 4 × 30,00\u{a0}€ × 27/31 (87%) = 1\u{202f}104,52\u{a0}€."
        );
        assert_eq!(
            amounts_in(Lang::En, why),
            "10 → 6 : 4 × €30.00 × 27/31 (87%) = €1,104.52."
        );
        // Unit prices keep their digits; a code that is not a currency is left alone.
        assert_eq!(
            amounts_in(Lang::Fr, "1500 min × 0.0150 EUR · 2.5 ABCD 3 USDX"),
            "1500 min × 0,0150\u{a0}€ · 2,5 ABCD 3 USDX"
        );
        assert_eq!(amounts_in(Lang::En, "12 CHF"), "CHF\u{a0}12");
    }

    #[test]
    fn amounts_group_thousands_and_carry_the_symbol() {
        use prorata_core::Currency;
        let m = Money::from_minor(1_022_400, Currency::EUR);
        assert_eq!(money(Lang::Fr, m), "10\u{202f}224,00\u{a0}€");
        assert_eq!(money(Lang::En, m), "€10,224.00");
        let small = Money::from_minor(-5, Currency::USD);
        assert_eq!(money(Lang::En, small), "−$0.05");
        assert_eq!(money(Lang::Fr, small), "−0,05\u{a0}$");
        let big = Money::from_minor(100_000_000, Currency::GBP);
        assert_eq!(money(Lang::En, big), "£1,000,000.00");
        assert_eq!(money(Lang::Fr, big), "1\u{202f}000\u{202f}000,00\u{a0}£");
        let chf = Money::from_minor(123_456, Currency::CHF);
        assert_eq!(money(Lang::En, chf), "CHF\u{a0}1,234.56");
        assert_eq!(money(Lang::Fr, chf), "1\u{202f}234,56\u{a0}CHF");
    }

    #[test]
    fn dates_and_ibans_as_people_write_them() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(date(Lang::Fr, d), "10 mars 2026");
        assert_eq!(date(Lang::En, d), "10 March 2026");
        let first = chrono::NaiveDate::from_ymd_opt(2024, 8, 1).unwrap();
        assert_eq!(date(Lang::Fr, first), "1er août 2024");
        assert_eq!(short_date(Lang::Fr, first), "1\u{a0}août\u{a0}2024");
        assert_eq!(short_date(Lang::En, first), "1\u{a0}Aug\u{a0}2024");
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let plain = |s: String| s.replace('\u{a0}', " ");
        assert_eq!(
            plain(period(Lang::Fr, day(2024, 3, 1), day(2024, 3, 31))),
            "1–31 mars 2024"
        );
        assert_eq!(
            plain(period(Lang::Fr, day(2024, 7, 6), day(2024, 8, 5))),
            "6 juil. – 5 août 2024"
        );
        assert_eq!(
            plain(period(Lang::En, day(2024, 12, 6), day(2025, 1, 5))),
            "6 Dec 2024 – 5 Jan 2025"
        );
        assert_eq!(
            iban("fr7630006000011234567890189"),
            "FR76 3000 6000 0112 3456 7890 189"
        );
        assert_eq!(
            iban("FR76 3000 6000 0112 3456 7890 189"),
            "FR76 3000 6000 0112 3456 7890 189"
        );
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

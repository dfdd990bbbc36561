//! EU VAT identification numbers, read by country: a [`VatNumber`] exists only once its text
//! has the shape its member state gives it and, where that state defines one, its check key
//! matches.
//!
//! Reverse charge rests on the buyer's VAT number (art. 196 and 226 of Directive 2006/112/EC):
//! an invoice issued at 0 % to a number that does not exist leaves the seller owing the VAT.
//! Parsing catches the typing mistakes a person makes — a wrong prefix, a missing digit, one
//! digit wrong or two swapped where the country has a key — without calling anyone.
//!
//! - Keys checked: FR (`(12 + 3 × (SIREN mod 97)) mod 97`), DE (ISO 7064 MOD 11,10), IT (Luhn
//!   on the 11 digits), ES (the NIF letter of DNI, NIE and K/L/M numbers; the CIF control digit
//!   or letter), BE (`97 − (first 8 digits mod 97)`), NL (MOD 11 on the 9 digits, or the MOD 97
//!   of sole traders' numbers since 2020: either passes).
//! - Every other member state, Northern Ireland (`XI`) and Great Britain (`GB`): the shape only.
//! - Greece is `EL` in VAT numbers; `GR` is read as `EL`.
//! - French numbers whose key holds letters (given to businesses without a SIREN) are checked
//!   for shape only: their key's computation is not published.
//!
//! Whether the number is registered *today* is a question for the member state (VIES): the
//! [`VatNumberCheck`] seam is where such a call would plug in; [`OfflineCheck`], its default,
//! only parses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A VAT number that parsed: its canonical text, `FR40303265045` (prefix, then the national
/// number, capitals, no separators).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VatNumber(String);

/// What is wrong with a VAT number; the messages are for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VatNumberError {
    #[error("is empty")]
    Empty,
    #[error(
        "{prefix:?} is not the prefix of an EU member state's VAT numbers (FR, DE, EL, XI, ...)"
    )]
    UnknownCountry { prefix: String },
    #[error("{number}: {country} VAT numbers are {country} followed by {expected}")]
    Format {
        number: String,
        country: &'static str,
        expected: &'static str,
    },
    #[error("{number}: the check key does not match (a character is wrong or two are swapped)")]
    CheckKey {
        number: String,
        country: &'static str,
    },
}

/// One country's numbers: the prefix, the ISO 3166-1 country it stands for, the shapes
/// allowed (`#` a digit, `A` a letter, `X` a letter or digit, `+` a letter, `+` or `*`, any
/// other character itself), the shape in words, and the key check where there is one.
struct Rule {
    prefix: &'static str,
    country: &'static str,
    shapes: &'static [&'static str],
    expected: &'static str,
    check: Option<fn(&str) -> bool>,
}

const RULES: [Rule; 29] = [
    rule("AT", "AT", &["U########"], "U and 8 digits", None),
    rule(
        "BE",
        "BE",
        &["0#########", "1#########"],
        "10 digits starting with 0 or 1",
        Some(belgian),
    ),
    rule("BG", "BG", &["#########", "##########"], "9 or 10 digits", None),
    rule("CY", "CY", &["########A"], "8 digits and a letter", None),
    rule(
        "CZ",
        "CZ",
        &["########", "#########", "##########"],
        "8 to 10 digits",
        None,
    ),
    rule("DE", "DE", &["#########"], "9 digits", Some(german)),
    rule("DK", "DK", &["########"], "8 digits", None),
    rule("EE", "EE", &["#########"], "9 digits", None),
    rule("EL", "GR", &["#########"], "9 digits", None),
    rule(
        "ES",
        "ES",
        &["########A", "A#######X"],
        "9 characters: a NIF (8 digits and a letter) or a CIF (a letter, 7 digits and a digit or letter)",
        Some(spanish),
    ),
    rule("FI", "FI", &["########"], "8 digits", None),
    rule(
        "FR",
        "FR",
        &["XX#########"],
        "a 2-character key and the 9-digit SIREN",
        Some(french),
    ),
    rule(
        "GB",
        "GB",
        &["#########", "############", "GD###", "HA###"],
        "9 or 12 digits (or GD/HA and 3 digits)",
        None,
    ),
    rule("HR", "HR", &["###########"], "11 digits", None),
    rule("HU", "HU", &["########"], "8 digits", None),
    rule(
        "IE",
        "IE",
        &["#######A", "#######AA", "#+#####A"],
        "7 digits and 1 or 2 letters",
        None,
    ),
    rule("IT", "IT", &["###########"], "11 digits", Some(italian)),
    rule(
        "LT",
        "LT",
        &["#########", "############"],
        "9 or 12 digits",
        None,
    ),
    rule("LU", "LU", &["########"], "8 digits", None),
    rule("LV", "LV", &["###########"], "11 digits", None),
    rule("MT", "MT", &["########"], "8 digits", None),
    rule(
        "NL",
        "NL",
        &["#########B##"],
        "9 digits, B and 2 digits",
        Some(dutch),
    ),
    rule("PL", "PL", &["##########"], "10 digits", None),
    rule("PT", "PT", &["#########"], "9 digits", None),
    rule(
        "RO",
        "RO",
        &[
            "##",
            "###",
            "####",
            "#####",
            "######",
            "#######",
            "########",
            "#########",
            "##########",
        ],
        "2 to 10 digits",
        None,
    ),
    rule("SE", "SE", &["##########01"], "12 digits ending in 01", None),
    rule("SI", "SI", &["########"], "8 digits", None),
    rule("SK", "SK", &["##########"], "10 digits", None),
    rule(
        "XI",
        "GB",
        &["#########", "############", "GD###", "HA###"],
        "9 or 12 digits (or GD/HA and 3 digits)",
        None,
    ),
];

const fn rule(
    prefix: &'static str,
    country: &'static str,
    shapes: &'static [&'static str],
    expected: &'static str,
    check: Option<fn(&str) -> bool>,
) -> Rule {
    Rule {
        prefix,
        country,
        shapes,
        expected,
        check,
    }
}

/// Longest number accepted, prefix included, once separators are gone (NL: 14).
const MAX_LEN: usize = 14;

impl VatNumber {
    /// Reads a VAT number as a person types it: spaces, dots and dashes are dropped, letters
    /// read as capitals (`fr 40 303 265 045` is `FR40303265045`).
    pub fn parse(text: &str) -> Result<VatNumber, VatNumberError> {
        let mut s = String::with_capacity(MAX_LEN);
        for c in text.chars() {
            if c.is_whitespace() || c == '.' || c == '-' {
                continue;
            }
            // A bounded copy: a megabyte of digits is not a VAT number, and the error quotes it.
            if s.len() > MAX_LEN + 2 {
                break;
            }
            s.push(c.to_ascii_uppercase());
        }
        if s.is_empty() {
            return Err(VatNumberError::Empty);
        }
        let prefix: String = s.chars().take(2).collect();
        // Greece's numbers carry EL, but people type the ISO code.
        let prefix = if prefix == "GR" { "EL".into() } else { prefix };
        let rule = RULES.iter().find(|r| r.prefix == prefix).ok_or_else(|| {
            VatNumberError::UnknownCountry {
                prefix: prefix.clone(),
            }
        })?;
        let national = s.get(2..).unwrap_or_default();
        let number = format!("{prefix}{national}");
        let shaped = s.len() <= MAX_LEN && rule.shapes.iter().any(|p| matches_shape(national, p));
        if !shaped {
            return Err(VatNumberError::Format {
                number,
                country: rule.prefix,
                expected: rule.expected,
            });
        }
        if rule.check.is_some_and(|check| !check(national)) {
            return Err(VatNumberError::CheckKey {
                number,
                country: rule.prefix,
            });
        }
        Ok(VatNumber(number))
    }

    /// The canonical text, e.g. `FR40303265045`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix: `EL` for Greece, `XI` for Northern Ireland.
    pub fn prefix(&self) -> &str {
        self.0.get(..2).unwrap_or_default()
    }

    /// The ISO 3166-1 country the number belongs to: `GR` for `EL`, `GB` for `XI`.
    pub fn country(&self) -> &'static str {
        RULES
            .iter()
            .find(|r| r.prefix == self.prefix())
            .map_or("", |r| r.country)
    }

    /// The number a country gives to `body` (the national number without its check key, where
    /// the country has one at the end or, for France, in front): for seeding test and demo
    /// data with numbers that parse. `None` for a country without a key this module computes,
    /// or a body of the wrong shape.
    pub fn with_key(prefix: &str, body: &str) -> Option<VatNumber> {
        let national = match prefix {
            "FR" => {
                let siren: u64 = body.parse().ok().filter(|_| body.len() == 9)?;
                format!("{:02}{body}", (12 + 3 * (siren % 97)) % 97)
            }
            "DE" => format!(
                "{body}{}",
                german_key(body.get(..8).filter(|_| body.len() == 8)?)?
            ),
            "BE" => {
                let n: u64 = body.parse().ok().filter(|_| body.len() == 8)?;
                format!("{body}{:02}", 97 - n % 97)
            }
            "IT" => {
                let key = (0..10).find(|k| crate::payment::luhn_valid(&format!("{body}{k}")))?;
                format!("{body}{key}")
            }
            "NL" => {
                let key = (0..10).find(|k| dutch_mod11(&format!("{body}{k}")))?;
                format!("{body}{key}B01")
            }
            _ => return None,
        };
        VatNumber::parse(&format!("{prefix}{national}")).ok()
    }
}

impl fmt::Display for VatNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for VatNumber {
    type Err = VatNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VatNumber::parse(s)
    }
}

impl TryFrom<String> for VatNumber {
    type Error = VatNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        VatNumber::parse(&s)
    }
}

impl From<VatNumber> for String {
    fn from(v: VatNumber) -> String {
        v.0
    }
}

/// How a VAT number is checked before an account is saved with it (the engine calls it on a
/// new or changed number, after the account's own rules).
///
/// The default, [`OfflineCheck`], parses (shape and check key). A check against the member
/// state's register (the European Commission's VIES service, whose answer also gives the
/// registered name and address) would implement this trait in the engine, where I/O lives,
/// start from the offline answer and fall back to it when VIES is unavailable — it often is
/// for a member state at a time.
pub trait VatNumberCheck: Send + Sync + fmt::Debug {
    fn check(&self, text: &str) -> Result<VatNumber, VatNumberError>;
}

/// Checks shape and key, without calling anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineCheck;

impl VatNumberCheck for OfflineCheck {
    fn check(&self, text: &str) -> Result<VatNumber, VatNumberError> {
        VatNumber::parse(text)
    }
}

fn matches_shape(s: &str, shape: &str) -> bool {
    s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, p)| match p {
            b'#' => c.is_ascii_digit(),
            b'A' => c.is_ascii_uppercase(),
            b'X' => c.is_ascii_uppercase() || c.is_ascii_digit(),
            b'+' => c.is_ascii_uppercase() || c == b'+' || c == b'*',
            literal => c == literal,
        })
}

/// The value of the decimal digits of `s` (at most 18 of them), `None` if any is not one.
fn value(s: &str) -> Option<u64> {
    (s.len() <= 18 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn french(national: &str) -> bool {
    let (key, siren) = national.split_at(2.min(national.len()));
    let Some(siren) = value(siren) else {
        return false;
    };
    match value(key) {
        Some(key) => key == (12 + 3 * (siren % 97)) % 97,
        // Letter keys: shape only (see the module note), without the letters I and O.
        None => !key.contains(['I', 'O']),
    }
}

/// ISO 7064 MOD 11,10 check digit of 8 digits.
fn german_key(body: &str) -> Option<u8> {
    let mut product = 10u32;
    for b in body.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        let mut sum = (u32::from(b - b'0') + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let key = (11 - product) % 10;
    u8::try_from(key).ok()
}

fn german(national: &str) -> bool {
    let (body, key) = national.split_at(8.min(national.len()));
    german_key(body).is_some_and(|k| key.as_bytes() == [b'0' + k])
}

fn italian(national: &str) -> bool {
    crate::payment::luhn_valid(national)
}

fn belgian(national: &str) -> bool {
    let (body, key) = national.split_at(8.min(national.len()));
    match (value(body), value(key)) {
        (Some(body), Some(key)) => 97 - body % 97 == key,
        _ => false,
    }
}

/// The 9 digits weighted 9 down to 2, the last one −1: a multiple of 11.
fn dutch_mod11(digits: &str) -> bool {
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: i64 = digits
        .bytes()
        .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(b, w)| i64::from(b - b'0') * w)
        .sum();
    sum % 11 == 0
}

/// "NL" and the number, letters read as 10 to 35, is 1 modulo 97 (ISO 7064 MOD 97-10).
fn dutch_mod97(national: &str) -> bool {
    let mut rest = 0u32;
    for c in "NL".bytes().chain(national.bytes()) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rest = (rest * if v >= 10 { 100 } else { 10 } + v) % 97;
    }
    rest == 1
}

fn dutch(national: &str) -> bool {
    dutch_mod11(national.get(..9).unwrap_or_default()) || dutch_mod97(national)
}

/// The NIF's control letters, indexed by the number modulo 23.
const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn spanish(national: &str) -> bool {
    let b = national.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let nif_letter = |n: u64| {
        NIF_LETTERS
            .get(usize::try_from(n % 23).unwrap_or(0))
            .copied()
    };
    let middle = national.get(1..8).and_then(value);
    match first {
        // DNI: 8 digits and their letter.
        b'0'..=b'9' => value(national.get(..8).unwrap_or_default())
            .is_some_and(|n| nif_letter(n) == Some(last)),
        // NIE: X, Y, Z stand for 0, 1, 2 in front of the 7 digits.
        b'X' | b'Y' | b'Z' => middle
            .is_some_and(|n| nif_letter(u64::from(first - b'X') * 10_000_000 + n) == Some(last)),
        // Residents under 14, Spaniards abroad, foreigners without a NIE: the 7 digits' letter.
        b'K' | b'L' | b'M' => middle.is_some_and(|n| nif_letter(n) == Some(last)),
        // CIF: the letter says what kind of entity; the control is a digit or a letter.
        b'A'..=b'W' if b"ABCDEFGHJNPQRSUVW".contains(&first) => {
            let Some(digits) = national.get(1..8).filter(|d| value(d).is_some()) else {
                return false;
            };
            let sum: u32 = digits
                .bytes()
                .enumerate()
                .map(|(i, c)| {
                    let d = u32::from(c - b'0');
                    if i % 2 == 0 {
                        // Odd positions (1st, 3rd, ...): doubled, digits summed.
                        (2 * d) / 10 + (2 * d) % 10
                    } else {
                        d
                    }
                })
                .sum();
            let control = (10 - sum % 10) % 10;
            let digit = b'0' + u8::try_from(control).unwrap_or(0);
            let letter = b"JABCDEFGHI"
                .get(usize::try_from(control).unwrap_or(0))
                .copied();
            if b"PQRSNW".contains(&first) {
                Some(last) == letter
            } else if b"ABEH".contains(&first) {
                last == digit
            } else {
                last == digit || Some(last) == letter
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Numbers printed on published invoices and legal notices, or given by tax
    /// administrations as examples.
    const VALID: &[&str] = &[
        "FR40303265045", // INSEE's example (SIREN 303 265 045)
        "FR96552100554", // the seed's seller
        "DE136695976",   // the annual example's buyer
        "DE811569869",
        "IT00743110157",
        "ESA82018474", // a CIF (company) with a control digit
        "ESA39000013",
        "ES12345678Z",  // the AEAT's DNI example
        "ESX1234567L",  // a NIE
        "BE0403170701", // the seed's Belgian account
        "NL004495445B01",
        "NL000099998B57", // the Belastingdienst's example of the 2020 sole-trader number
        "IE6388047V",
        "ATU12345678",
        "EL094019245",
        "XI123456789",
        "SE556703748501",
        "PL5260250995",
    ];

    #[test]
    fn published_numbers_parse_to_their_canonical_text() {
        for n in VALID {
            let v = VatNumber::parse(n);
            assert_eq!(v.as_ref().map(VatNumber::as_str), Ok(*n), "{n}");
        }
    }

    #[test]
    fn one_altered_digit_is_refused_where_the_country_has_a_key() {
        for n in [
            "FR40303265045",
            "FR96552100554",
            "DE136695976",
            "DE811569869",
            "IT00743110157",
            "ESA82018474",
            "ESA39000013",
            "ES12345678Z",
            "BE0403170701",
            "NL004495445B01",
        ] {
            // The last digit before any suffix, moved by one.
            let i = n.rfind(|c: char| c.is_ascii_digit()).unwrap_or(0);
            let i = if n.starts_with("NL") { 10 } else { i };
            let mut bytes = n.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'9' { b'0' } else { bytes[i] + 1 };
            let altered = String::from_utf8(bytes).unwrap_or_default();
            assert!(
                matches!(
                    VatNumber::parse(&altered),
                    Err(VatNumberError::CheckKey { .. })
                ),
                "{altered} should fail its check key"
            );
        }
    }

    #[test]
    fn a_french_number_with_a_wrong_key_is_refused() {
        assert_eq!(
            VatNumber::parse("FR41303265045"),
            Err(VatNumberError::CheckKey {
                number: "FR41303265045".into(),
                country: "FR"
            })
        );
    }

    #[test]
    fn the_german_xx123_of_the_issue_has_an_unknown_prefix() {
        assert_eq!(
            VatNumber::parse("XX123"),
            Err(VatNumberError::UnknownCountry {
                prefix: "XX".into()
            })
        );
        assert!(matches!(
            VatNumber::parse("DE123"),
            Err(VatNumberError::Format { country: "DE", .. })
        ));
    }

    #[test]
    fn spaces_dots_dashes_and_lower_case_are_read_as_the_canonical_number() {
        for typed in [
            "fr 40 303 265 045",
            "FR40.303.265.045",
            "fr-40-303265045",
            " FR40303265045 ",
        ] {
            assert_eq!(
                VatNumber::parse(typed).map(String::from),
                Ok("FR40303265045".to_string()),
                "{typed}"
            );
        }
        assert!(matches!(
            VatNumber::parse(" - . "),
            Err(VatNumberError::Empty)
        ));
    }

    #[test]
    fn greece_is_el_whether_typed_el_or_gr_and_northern_ireland_is_gb() {
        let v = VatNumber::parse("GR094019245");
        assert_eq!(v.as_ref().map(VatNumber::as_str), Ok("EL094019245"));
        assert_eq!(v.as_ref().map(VatNumber::country), Ok("GR"));
        assert_eq!(
            VatNumber::parse("XI123456789")
                .as_ref()
                .map(VatNumber::country),
            Ok("GB")
        );
    }

    #[test]
    fn every_member_state_has_a_rule_and_a_wrong_shape_says_what_is_expected() {
        for c in [
            "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "GR", "ES", "FI", "FR", "HR", "HU",
            "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
        ] {
            assert!(crate::tax::is_eu(c), "{c}");
            assert!(RULES.iter().any(|r| r.country == c), "{c}");
        }
        let e = VatNumber::parse("ATU1234567").map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("ATU1234567: AT VAT numbers are AT followed by U and 8 digits".into())
        );
        assert!(matches!(
            VatNumber::parse("IT0074311015x"),
            Err(VatNumberError::Format { .. })
        ));
        // Ten thousand digits are refused without being copied.
        let long = format!("FR{}", "1".repeat(10_000));
        assert!(
            matches!(VatNumber::parse(&long), Err(VatNumberError::Format { number, .. }) if number.len() < 20)
        );
    }

    #[test]
    fn keys_computed_for_seeding_give_numbers_that_parse() {
        assert_eq!(
            VatNumber::with_key("FR", "303265045").map(String::from),
            Some("FR40303265045".into())
        );
        assert_eq!(
            VatNumber::with_key("DE", "13669597").map(String::from),
            Some("DE136695976".into())
        );
        assert_eq!(
            VatNumber::with_key("BE", "04031707").map(String::from),
            Some("BE0403170701".into())
        );
        assert!(VatNumber::with_key("IT", "0074311015").is_some());
        assert!(VatNumber::with_key("NL", "00449544").is_some());
        assert_eq!(VatNumber::with_key("FR", "12"), None);
        assert_eq!(VatNumber::with_key("AT", "U12345678"), None);
    }

    #[test]
    fn the_offline_check_is_the_parse() {
        let check: &dyn VatNumberCheck = &OfflineCheck;
        assert!(check.check("FR40303265045").is_ok());
        assert!(check.check("FR41303265045").is_err());
    }

    proptest! {
        #[test]
        fn altering_one_digit_of_a_valid_french_number_is_refused(
            siren in 0u64..1_000_000_000,
            position in 2usize..13,
            shift in 1u8..10,
        ) {
            let valid = VatNumber::with_key("FR", &format!("{siren:09}"));
            prop_assert!(valid.is_some());
            let mut bytes = valid.map(String::from).unwrap_or_default().into_bytes();
            bytes[position] = b'0' + (bytes[position] - b'0' + shift) % 10;
            let altered = String::from_utf8(bytes).unwrap_or_default();
            prop_assert!(
                matches!(VatNumber::parse(&altered), Err(VatNumberError::CheckKey { .. })),
                "{} was accepted", altered
            );
        }
    }
}

//! Payment methods: what is kept of them, and the checks made before a gateway sees them.
//!
//! Seed 002: a card is charged automatically on the renewal date, a SEPA or ACH account is
//! debited, a bank transfer is initiated by the customer's finance team against the tenant's
//! bank details. What we keep is only what a person needs to recognise the method (brand and
//! last four digits, a masked IBAN or account number) and the gateway's token: a card number
//! never reaches this crate's types, and [`contains_card_number`] lets callers refuse one
//! smuggled into any other field.

use serde::{Deserialize, Serialize};

/// A stored payment method. Full IBANs and account numbers live at the gateway, behind
/// `token`; the fields here are safe to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PaymentMethod {
    Card {
        token: String,
        brand: String,
        last4: String,
        exp_month: u32,
        exp_year: i32,
    },
    SepaDebit {
        token: String,
        /// e.g. `FR76 •••• 0189`.
        iban: String,
        mandate_reference: String,
    },
    AchDebit {
        token: String,
        routing_number: String,
        /// e.g. `•••• 6789`.
        account_number: String,
    },
    /// Paid by the customer's bank transfer; nothing is collected automatically.
    BankTransfer,
}

impl PaymentMethod {
    /// The gateway token of a method collected automatically; `None` for bank transfer.
    pub fn token(&self) -> Option<&str> {
        match self {
            PaymentMethod::Card { token, .. }
            | PaymentMethod::SepaDebit { token, .. }
            | PaymentMethod::AchDebit { token, .. } => Some(token),
            PaymentMethod::BankTransfer => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PaymentMethod::Card { .. } => "card",
            PaymentMethod::SepaDebit { .. } => "sepa_debit",
            PaymentMethod::AchDebit { .. } => "ach_debit",
            PaymentMethod::BankTransfer => "bank_transfer",
        }
    }

    /// One line a person recognises: `Visa •••• 4242 (12/2028)`.
    pub fn describe(&self) -> String {
        match self {
            PaymentMethod::Card {
                brand,
                last4,
                exp_month,
                exp_year,
                ..
            } => format!("{brand} •••• {last4} ({exp_month:02}/{exp_year})"),
            PaymentMethod::SepaDebit { iban, .. } => format!("SEPA {iban}"),
            PaymentMethod::AchDebit { account_number, .. } => format!("ACH {account_number}"),
            PaymentMethod::BankTransfer => "bank transfer".into(),
        }
    }
}

/// How an invoice is to be paid (seed 002's payment details), as known when it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PaymentDetails {
    /// Charged automatically on the invoice date.
    Card {
        card: String,
    },
    SepaDebit {
        account: String,
        mandate_reference: String,
    },
    AchDebit {
        account: String,
    },
    /// Paid by the customer's transfer, quoting the invoice number, to the tenant's account
    /// (when its collection settings give one).
    BankTransfer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bank: Option<BankDetails>,
    },
}

impl PaymentDetails {
    /// The details of an invoice of an account paying by `method` (none: by transfer).
    pub fn of(method: Option<&PaymentMethod>, bank: Option<&BankDetails>) -> PaymentDetails {
        match method {
            Some(m @ PaymentMethod::Card { .. }) => PaymentDetails::Card { card: m.describe() },
            Some(PaymentMethod::SepaDebit {
                iban,
                mandate_reference,
                ..
            }) => PaymentDetails::SepaDebit {
                account: iban.clone(),
                mandate_reference: mandate_reference.clone(),
            },
            Some(PaymentMethod::AchDebit {
                routing_number,
                account_number,
                ..
            }) => PaymentDetails::AchDebit {
                account: format!("{routing_number} {account_number}"),
            },
            Some(PaymentMethod::BankTransfer) | None => PaymentDetails::BankTransfer {
                bank: bank.cloned(),
            },
        }
    }
}

/// How a tenant collects: its dunning schedule, and the bank details printed on invoices for
/// customers who pay by transfer. Stored as JSON; `{}` is seed 004's schedule and no details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectionSettings {
    // Required in the document: a PUT must say both (the server refuses one without them)
    // and a GET always writes both.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub dunning: crate::dunning::Schedule,
    /// Always written (`null` when none), so what a GET answers can be PUT back whole.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub bank_details: Option<BankDetails>,
    /// Days after an invoice's due date on which an account paying by transfer is
    /// reminded that it is unpaid ([`crate::overdue`]).
    #[serde(default = "crate::overdue::default_reminder_days")]
    pub reminder_days: Vec<u32>,
}

impl Default for CollectionSettings {
    fn default() -> Self {
        CollectionSettings {
            dunning: Default::default(),
            bank_details: None,
            reminder_days: crate::overdue::default_reminder_days(),
        }
    }
}

/// The tenant's own account, which transfers are paid into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BankDetails {
    pub holder: String,
    pub iban: String,
    #[serde(default)]
    pub bic: String,
}

impl CollectionSettings {
    pub fn validate(&self) -> Result<(), MethodError> {
        self.dunning
            .validate()
            .map_err(|e| err("dunning", e.to_string()))?;
        crate::overdue::check_reminder_days(&self.reminder_days)
            .map_err(|e| err("reminder_days", e))?;
        if let Some(b) = &self.bank_details {
            if b.holder.trim().is_empty() {
                return Err(err("bank_details.holder", "cannot be empty"));
            }
            check_iban(&b.iban).map_err(|e| err("bank_details.iban", e.problem))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct MethodError {
    pub field: &'static str,
    pub problem: String,
}

fn err(field: &'static str, problem: impl Into<String>) -> MethodError {
    MethodError {
        field,
        problem: problem.into(),
    }
}

/// Checks an IBAN (ISO 13616: country, two check digits, then the national account, its
/// checksum mod 97 equal to 1) and returns it without spaces, upper case. The error never
/// repeats the number.
pub fn check_iban(input: &str) -> Result<String, MethodError> {
    let iban: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&iban.len()) {
        return Err(err("iban", "must have 15 to 34 characters"));
    }
    let bytes = iban.as_bytes();
    if !bytes[..2].iter().all(u8::is_ascii_uppercase) || !bytes[2..4].iter().all(u8::is_ascii_digit)
    {
        return Err(err(
            "iban",
            "must start with a country code and two check digits",
        ));
    }
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return Err(err("iban", "may hold only letters and digits"));
    }
    // Move the first four characters to the end, letters become 10..35, and the number
    // mod 97 must be 1; computed digit by digit so no big integer is needed.
    let mut rest: u32 = 0;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rest = if v >= 10 {
            (rest * 100 + v) % 97
        } else {
            (rest * 10 + v) % 97
        };
    }
    if rest != 1 {
        return Err(err(
            "iban",
            "its check digits do not match (a mistyped character?)",
        ));
    }
    Ok(iban)
}

/// `FR76 •••• 0189`: the country and check digits, and the last four characters.
pub fn mask_iban(iban: &str) -> String {
    let n = iban.len();
    format!(
        "{} •••• {}",
        iban.get(..4).unwrap_or(""),
        iban.get(n.saturating_sub(4)..).unwrap_or("")
    )
}

/// Checks an ABA routing number: nine digits whose weighted sum (3, 7, 1, repeated) is a
/// multiple of ten.
pub fn check_routing_number(input: &str) -> Result<String, MethodError> {
    let digits = input.trim();
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("routing_number", "must be nine digits"));
    }
    let sum: u32 = digits
        .bytes()
        .zip([3, 7, 1].iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if sum % 10 != 0 {
        return Err(err(
            "routing_number",
            "its check digit does not match (a mistyped digit?)",
        ));
    }
    Ok(digits.to_string())
}

/// Checks a US bank account number (4 to 17 digits).
pub fn check_account_number(input: &str) -> Result<String, MethodError> {
    let digits = input.trim();
    if !(4..=17).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("account_number", "must be 4 to 17 digits"));
    }
    Ok(digits.to_string())
}

/// `•••• 6789`.
pub fn mask_last4(digits: &str) -> String {
    format!(
        "•••• {}",
        digits.get(digits.len().saturating_sub(4)..).unwrap_or("")
    )
}

/// Checks a gateway token: 6 to 128 characters of `[A-Za-z0-9_-]`, and not a card number in
/// disguise.
pub fn check_token(field: &'static str, token: &str) -> Result<(), MethodError> {
    if contains_card_number(token) {
        return Err(err(
            field,
            "looks like a card number; send the gateway's token, never the card number",
        ));
    }
    if !(6..=128).contains(&token.len())
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(err(
            field,
            "must be a gateway token: 6 to 128 letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}

/// The Luhn checksum of a string of digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// Whether `text` holds a card number: what [`redact_card_numbers`] would remove.
pub fn contains_card_number(text: &str) -> bool {
    redact_card_numbers(text) != text
}

/// `text` with every card number in it replaced by `[card number removed]`: for messages
/// that may quote what a caller sent. A card number is a run of 13 to 19 digits (spaces and
/// dashes between them allowed) that passes the Luhn check.
pub fn redact_card_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run of digits (with spaces or dashes between them) starting here.
        let mut j = i;
        let mut end = i;
        let mut digits = String::new();
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == ' ' || chars[j] == '-') {
            if chars[j].is_ascii_digit() {
                digits.push(chars[j]);
                end = j + 1;
            }
            j += 1;
        }
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            out.push_str("[card number removed]");
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

/// A card's expiry month and year, checked against `today` (a card is valid through the last
/// day of its expiry month).
pub fn check_expiry(
    exp_month: u32,
    exp_year: i32,
    today: chrono::NaiveDate,
) -> Result<(), MethodError> {
    use chrono::Datelike;
    if !(1..=12).contains(&exp_month) {
        return Err(err("exp_month", "must be 1 to 12"));
    }
    if (exp_year, exp_month) < (today.year(), today.month()) {
        return Err(err("exp_year", "the card has expired"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn ibans_are_checked_by_mod_97() {
        assert_eq!(
            check_iban("fr76 3000 6000 0112 3456 7890 189").as_deref(),
            Ok("FR7630006000011234567890189")
        );
        assert!(check_iban("DE89370400440532013000").is_ok());
        assert!(check_iban("GB82WEST12345698765432").is_ok());
        // One digit changed: the checksum catches it, and the error does not repeat the number.
        let e = check_iban("DE89370400440532013001").err();
        assert_eq!(e.as_ref().map(|e| e.field), Some("iban"));
        assert!(!e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("370400"));
        assert!(check_iban("DE8937").is_err());
        assert!(check_iban("1289370400440532013000").is_err());
        assert!(check_iban("DE89 3704 0044 0532 0130 0!").is_err());
        assert_eq!(mask_iban("FR7630006000011234567890189"), "FR76 •••• 0189");
    }

    #[test]
    fn routing_numbers_are_checked_by_their_weighted_sum() {
        assert!(check_routing_number("011000015").is_ok()); // Federal Reserve Bank of Boston
        assert!(check_routing_number("021000021").is_ok()); // JPMorgan Chase
        assert!(check_routing_number("021000022").is_err());
        assert!(check_routing_number("02100002").is_err());
        assert!(check_routing_number("02100002a").is_err());
        assert!(check_account_number("000123456789").is_ok());
        assert!(check_account_number("123").is_err());
        assert_eq!(mask_last4("000123456789"), "•••• 6789");
    }

    #[test]
    fn card_numbers_are_recognised_anywhere() {
        assert!(luhn_valid("4242424242424242"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(contains_card_number("4242 4242 4242 4242"));
        assert!(contains_card_number("card=4000-0000-0000-0341;"));
        assert!(!contains_card_number("tok_sandbox_visa_4242_1228"));
        assert!(!contains_card_number("invoice F-2024-000123"));
        assert!(check_token("token", "4242424242424242").is_err());
        assert!(check_token("token", "tok_sandbox_visa_4242_1228").is_ok());
        assert!(check_token("token", "tok").is_err());
        assert!(check_token("token", "tok sandbox").is_err());
        assert_eq!(
            redact_card_numbers("invalid type: integer `4242424242424242`, expected a string"),
            "invalid type: integer `[card number removed]`, expected a string"
        );
        assert_eq!(
            redact_card_numbers("card 4000 0000 0000 0341 and invoice 2024-000123"),
            "card [card number removed] and invoice 2024-000123"
        );
    }

    #[test]
    fn the_settings_example_of_the_docs_is_valid() {
        let doc = include_str!("../../../docs/payments.md");
        let json = doc
            .split("```json")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_default();
        let settings: Result<CollectionSettings, _> = serde_json::from_str(json);
        assert!(settings.is_ok(), "{settings:?}");
        assert_eq!(settings.map(|s| s.validate()).ok(), Some(Ok(())));
    }

    #[test]
    fn expiry_is_the_end_of_the_month() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        assert!(check_expiry(12, 2026, d).is_ok());
        assert!(check_expiry(11, 2026, d).is_err());
        assert!(check_expiry(13, 2027, d).is_err());
    }
}

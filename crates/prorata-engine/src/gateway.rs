//! Payment gateways: the trait the engine charges through, and the built-in sandbox.
//!
//! Every call that moves money carries an idempotency key, and a gateway answers a repeated
//! key with the first answer without acting again — the way real gateways do, and what lets
//! a worker killed between the gateway's answer and our commit run again without charging
//! twice. The engine's keys start with `t{tenant}-`: each tenant is its own merchant at the
//! gateway, and [`merchant_of`] reads it back from a key.
//!
//! Tokens belong to the merchant that made them, as at a real gateway: a token made for one
//! tenant is unknown to every other (a caller who learnt another tenant's token cannot charge
//! the card behind it, nor read its brand and expiry).
//!
//! ## The sandbox gateway
//!
//! A deterministic stand-in for a card network, the way gateways ship a test mode. Its
//! memory (each key's answer) is the `sandbox_gateway` table, so it survives restarts as a
//! real gateway would. Test cards, turned into tokens by [`SandboxGateway::tokenize_card`]
//! (the job of the gateway's browser library in production: our server never sees a card
//! number there):
//!
//! | number | behaviour |
//! |---|---|
//! | 4242 4242 4242 4242 (Visa), 5555 5555 5555 4444 (Mastercard) | everything succeeds |
//! | 4000 0000 0000 9995 | authorisation declined: insufficient funds |
//! | 4000 0000 0000 0069 | authorisation declined: expired card |
//! | 4000 0000 0000 9979 | authorisation declined: stolen card |
//! | 4000 0000 0000 0341 | authorisation succeeds, every charge declined (insufficient funds) |
//! | 4000 0000 0000 0119 | every other charge is declined with `processing_error` (transient: retried under a new key) |
//!
//! A card past its expiry month is declined as expired. Bank accounts (SEPA IBANs, ACH
//! routing and account numbers) are accepted when their checksums hold; a debit from one whose
//! last four digits are `0002` is declined for insufficient funds, any other succeeds.

use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDate;
use prorata_core::payment::{self, check_expiry, luhn_valid};
use prorata_core::Money;
use prorata_store::Store;
use serde::{Deserialize, Serialize};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a gateway tells of a card behind a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

/// The decline code of a failure that charged nothing and may succeed when tried again.
pub const PROCESSING_ERROR: &str = "processing_error";

/// A bank account handed to the gateway, which keeps it and returns a token.
#[derive(Debug, Clone)]
pub enum BankAccount {
    Iban(String),
    Ach { routing: String, account: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum GatewayError {
    /// The bank said no; `code` is machine-readable (`insufficient_funds`, `expired_card`,
    /// `stolen_card`, …).
    #[error("declined ({code}): {message}")]
    Declined { code: String, message: String },
    /// No answer (a network error, a timeout): the operation may or may not have happened,
    /// so it is asked again under the same idempotency key.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (an unknown token).
    #[error("{0}")]
    Invalid(String),
}

impl GatewayError {
    fn declined(code: &str, message: &str) -> GatewayError {
        GatewayError::Declined {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A payment gateway. References returned identify the authorisation, charge or refund at
/// the gateway.
pub trait Gateway: Send + Sync + std::fmt::Debug {
    /// The card behind a token of `merchant` (see [`merchant`]).
    fn card<'a>(
        &'a self,
        merchant: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<CardInfo, GatewayError>>;
    /// Stores a bank account at the gateway and returns its token.
    fn attach_bank_account<'a>(
        &'a self,
        key: &'a str,
        account: &'a BankAccount,
    ) -> BoxFuture<'a, Result<String, GatewayError>>;
    fn authorise<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        amount: Money,
        on: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>>;
    fn void<'a>(
        &'a self,
        key: &'a str,
        authorisation: &'a str,
    ) -> BoxFuture<'a, Result<(), GatewayError>>;
    fn charge<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        amount: Money,
        on: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>>;
    fn refund<'a>(
        &'a self,
        key: &'a str,
        charge: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<String, GatewayError>>;
    /// Calls worth having in flight at once (a remote gateway answers in hundreds of
    /// milliseconds; its rate limit says how many it takes).
    fn max_in_flight(&self) -> usize {
        8
    }
}

/// The built-in sandbox (module docs).
#[derive(Debug, Clone)]
pub struct SandboxGateway {
    store: Store,
}

/// Test cards: number, brand, behaviour.
const TEST_CARDS: [(&str, &str, Behaviour); 7] = [
    ("4242424242424242", "Visa", Behaviour::Succeeds),
    ("5555555555554444", "Mastercard", Behaviour::Succeeds),
    ("4000000000009995", "Visa", Behaviour::InsufficientFunds),
    ("4000000000000069", "Visa", Behaviour::Expired),
    ("4000000000009979", "Visa", Behaviour::Stolen),
    ("4000000000000341", "Visa", Behaviour::ChargesDeclined),
    ("4000000000000119", "Visa", Behaviour::Intermittent),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeeds,
    InsufficientFunds,
    Expired,
    Stolen,
    ChargesDeclined,
    Intermittent,
}

/// The merchant a gateway key speaks for: its `t{tenant}` prefix.
pub fn merchant_of(key: &str) -> &str {
    key.split('-').next().unwrap_or(key)
}

/// The merchant of `tenant` at the gateway.
pub fn merchant(tenant: i64) -> String {
    format!("t{tenant}")
}

/// A sandbox token: `tok_sandbox_{merchant}_{brand}_{last4}_{MMYYYY}` for cards,
/// `ba_sandbox_{merchant}_{last4}` for bank accounts. Another merchant's token reads as
/// unknown.
fn parse_card_token(merchant: &str, token: &str) -> Option<(CardInfo, Behaviour)> {
    let rest = token.strip_prefix("tok_sandbox_")?;
    let mut parts = rest.split('_');
    if parts.next()? != merchant {
        return None;
    }
    let brand = parts.next()?;
    let last4 = parts.next()?;
    let exp = parts.next()?;
    if parts.next().is_some() || exp.len() != 6 {
        return None;
    }
    let (number, brand, behaviour) = TEST_CARDS
        .iter()
        .find(|(n, b, _)| n.ends_with(last4) && b.eq_ignore_ascii_case(brand))?;
    let _ = number;
    Some((
        CardInfo {
            brand: brand.to_string(),
            last4: last4.to_string(),
            exp_month: exp.get(..2)?.parse().ok()?,
            exp_year: exp.get(2..)?.parse().ok()?,
        },
        *behaviour,
    ))
}

impl SandboxGateway {
    pub fn new(store: Store) -> SandboxGateway {
        SandboxGateway { store }
    }

    /// Turns a test card into a token for `tenant`'s merchant account, as a gateway's browser
    /// library would. Only the test cards of the table are accepted; the number is not kept.
    pub fn tokenize_card(
        tenant: i64,
        number: &str,
        exp_month: u32,
        exp_year: i32,
    ) -> Result<String, GatewayError> {
        let digits: String = number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !luhn_valid(&digits) {
            return Err(GatewayError::Invalid(
                "not a card number (its checksum fails)".into(),
            ));
        }
        let (_, brand, _) = TEST_CARDS
            .iter()
            .find(|(n, _, _)| *n == digits)
            .ok_or_else(|| {
                GatewayError::Invalid(
                    "the sandbox accepts only its test cards (see the sandbox gateway's documentation)"
                        .into(),
                )
            })?;
        if !(1..=12).contains(&exp_month) || !(2000..=2099).contains(&exp_year) {
            return Err(GatewayError::Invalid(
                "expiry month 1-12 and a four-digit year".into(),
            ));
        }
        Ok(format!(
            "tok_sandbox_{}_{}_{}_{exp_month:02}{exp_year}",
            merchant(tenant),
            brand.to_lowercase(),
            &digits[digits.len() - 4..]
        ))
    }

    /// Answers `key` from memory, or computes the answer, remembers it and returns it.
    /// `compute` gets how many `operation` calls this tenant made on `token` before, when
    /// `count_before` asks for it (only the intermittent card needs it: test cards are shared
    /// by many accounts, and counting for every call would grow with the sandbox's memory).
    async fn once<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        key: &str,
        (operation, token): (&str, &str),
        amount: i64,
        count_before: bool,
        compute: impl FnOnce(i64) -> Result<T, GatewayError>,
    ) -> Result<T, GatewayError> {
        let unavailable = |e: prorata_store::StoreError| GatewayError::Unavailable(e.to_string());
        let memory =
            |e: serde_json::Error| GatewayError::Unavailable(format!("sandbox memory: {e}"));
        let before = if count_before {
            let mut tx = self.store.begin().await.map_err(unavailable)?;
            tx.sandbox_count(merchant_of(key), token, operation)
                .await
                .map_err(unavailable)?
        } else {
            0
        };
        // Computing is pure: for a key seen before, the answer kept is the first one.
        let text = serde_json::to_string(&compute(before)).map_err(memory)?;
        let kept = self
            .store
            .sandbox_remember(key, (operation, token), amount, &text)
            .await
            .map_err(unavailable)?;
        serde_json::from_str::<Result<T, GatewayError>>(&kept).map_err(memory)?
    }

    fn reference(prefix: &str, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{prefix}_{hex}")
    }
}

/// Why the bank refuses `info` on `on`, if it does: the card's behaviour, or its expiry.
fn card_decline(info: &CardInfo, behaviour: Behaviour, on: NaiveDate) -> Option<GatewayError> {
    let expired = || GatewayError::declined("expired_card", "the card has expired");
    if check_expiry(info.exp_month, info.exp_year, on).is_err() {
        return Some(expired());
    }
    match behaviour {
        Behaviour::InsufficientFunds => Some(GatewayError::declined(
            "insufficient_funds",
            "the card has insufficient funds",
        )),
        Behaviour::Expired => Some(expired()),
        Behaviour::Stolen => Some(GatewayError::declined(
            "stolen_card",
            "the card was reported stolen",
        )),
        Behaviour::Succeeds | Behaviour::ChargesDeclined | Behaviour::Intermittent => None,
    }
}

fn bank_declines(token: &str) -> bool {
    token.ends_with("_0002")
}

/// Whether `token` is a bank account `merchant` attached.
fn is_bank_token(merchant: &str, token: &str) -> bool {
    token
        .strip_prefix("ba_sandbox_")
        .and_then(|rest| rest.strip_prefix(merchant))
        .is_some_and(|rest| rest.starts_with('_'))
}

impl Gateway for SandboxGateway {
    /// The sandbox writes its memory in the same database: SQLite has one writer.
    fn max_in_flight(&self) -> usize {
        if self.store.backend() == "sqlite" {
            1
        } else {
            8
        }
    }

    fn card<'a>(
        &'a self,
        merchant: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<CardInfo, GatewayError>> {
        Box::pin(async move {
            parse_card_token(merchant, token)
                .map(|(info, _)| info)
                .ok_or_else(|| GatewayError::Invalid("unknown card token".into()))
        })
    }

    fn attach_bank_account<'a>(
        &'a self,
        key: &'a str,
        account: &'a BankAccount,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move {
            let digits = match account {
                BankAccount::Iban(iban) => {
                    payment::check_iban(iban).map_err(|e| GatewayError::Invalid(e.to_string()))?
                }
                BankAccount::Ach { routing, account } => {
                    payment::check_routing_number(routing)
                        .map_err(|e| GatewayError::Invalid(e.to_string()))?;
                    payment::check_account_number(account)
                        .map_err(|e| GatewayError::Invalid(e.to_string()))?
                }
            };
            Ok(format!(
                "ba_sandbox_{}_{}",
                merchant_of(key),
                &digits[digits.len() - 4..]
            ))
        })
    }

    fn authorise<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        amount: Money,
        on: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move {
            let (info, behaviour) = parse_card_token(merchant_of(key), token)
                .ok_or_else(|| GatewayError::Invalid("unknown card token".into()))?;
            self.once(
                key,
                ("authorise", token),
                amount.minor(),
                false,
                |_| match card_decline(&info, behaviour, on) {
                    Some(decline) => Err(decline),
                    None => Ok(Self::reference("auth", key)),
                },
            )
            .await
        })
    }

    fn void<'a>(
        &'a self,
        key: &'a str,
        authorisation: &'a str,
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            self.once(key, ("void", authorisation), 0, false, |_| Ok(()))
                .await
        })
    }

    fn charge<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        amount: Money,
        on: NaiveDate,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move {
            if amount.minor() <= 0 {
                return Err(GatewayError::Invalid("a charge must be positive".into()));
            }
            let card = parse_card_token(merchant_of(key), token);
            if card.is_none() && !is_bank_token(merchant_of(key), token) {
                return Err(GatewayError::Invalid("unknown payment token".into()));
            }
            let intermittent = matches!(card, Some((_, Behaviour::Intermittent)));
            self.once(
                key,
                ("charge", token),
                amount.minor(),
                intermittent,
                |before| {
                    let Some((info, behaviour)) = card else {
                        return if bank_declines(token) {
                            Err(GatewayError::declined(
                                "insufficient_funds",
                                "the bank refused the debit: insufficient funds",
                            ))
                        } else {
                            Ok(Self::reference("ch", key))
                        };
                    };
                    match behaviour {
                        Behaviour::Intermittent if before % 2 == 0 => Err(GatewayError::declined(
                            PROCESSING_ERROR,
                            "processing error, try again",
                        )),
                        Behaviour::ChargesDeclined => Err(GatewayError::declined(
                            "insufficient_funds",
                            "the card has insufficient funds",
                        )),
                        _ => match card_decline(&info, behaviour, on) {
                            Some(decline) => Err(decline),
                            None => Ok(Self::reference("ch", key)),
                        },
                    }
                },
            )
            .await
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        charge: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(async move {
            self.once(key, ("refund", charge), amount.minor(), false, |_| {
                Ok(Self::reference("re", key))
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_tokenize_without_keeping_the_number() {
        let t = SandboxGateway::tokenize_card(7, "4242 4242 4242 4242", 12, 2030).unwrap();
        assert_eq!(t, "tok_sandbox_t7_visa_4242_122030");
        assert!(!prorata_core::payment::contains_card_number(&t));
        let (info, b) = parse_card_token("t7", &t).unwrap();
        assert_eq!(
            (info.last4.as_str(), info.exp_month, info.exp_year),
            ("4242", 12, 2030)
        );
        assert_eq!(b, Behaviour::Succeeds);
        assert!(SandboxGateway::tokenize_card(7, "4242 4242 4242 4241", 12, 2030).is_err());
        // A real-looking card that is not a test card is refused by the sandbox.
        assert!(SandboxGateway::tokenize_card(7, "4111 1111 1111 1111", 12, 2030).is_err());
        assert!(parse_card_token("t7", "tok_sandbox_t7_visa_1111_122030").is_none());
    }

    #[test]
    fn a_token_is_unknown_to_every_other_merchant() {
        let t = SandboxGateway::tokenize_card(7, "4242424242424242", 12, 2030).unwrap();
        assert!(parse_card_token("t8", &t).is_none());
        assert!(parse_card_token("t70", &t).is_none());
        // Without a merchant, as tokens were made before they were scoped: unknown.
        assert!(parse_card_token("t7", "tok_sandbox_visa_4242_122030").is_none());
        assert_eq!(merchant_of("t7-charge-12-0"), "t7");
        assert!(is_bank_token("t7", "ba_sandbox_t7_0002"));
        assert!(!is_bank_token("t7", "ba_sandbox_t70_0002"));
        assert!(!is_bank_token("t8", "ba_sandbox_t7_0002"));
    }
}

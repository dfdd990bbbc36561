//! Collection: payment methods, charges, transfers, refunds and dunning (seeds 002 and 004).
//!
//! The collection pass of a tenant on a business day ([`Engine::collect`]) does, in order:
//!
//! 1. **dispatch**: outbox events become jobs — an invoice e-mail to the billing contacts, a
//!    charge when the account pays by card, SEPA or ACH, a webhook per subscribed endpoint —
//!    and the event is marked processed in the same transaction, so each is dispatched once;
//! 2. **dunning**: every account whose schedule has a step due takes it
//!    ([`prorata_core::dunning`]), its effects written as jobs and events; an account paying
//!    by transfer is looked at the day after each invoice's
//!    due date instead, reminded and dunned from that date ([`prorata_core::overdue`]);
//! 3. **charges**: each pending charge fixes its amount (the balance then) and its gateway
//!    idempotency key in a first commit, calls the gateway, and records the outcome — payment,
//!    ledger entry, event, standing — in a second. A process killed between the gateway's
//!    answer and the second commit runs the job again with the same key, and the gateway
//!    answers from memory: the customer is charged once.
//!
//! E-mails and webhooks are delivered by the server's workers (at least once; each carries an
//! id receivers can deduplicate on).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::dunning::{Notice, Standing};
use serde::{Deserialize, Serialize};

use crate::gateway::GatewayError;
use crate::{invalid, EngineError};

/// Events and standings handled per transaction.
pub(super) const BATCH: i64 = 500;
/// Processing errors (transient declines) tolerated before a charge counts as failed.
pub(super) const MAX_CHARGE_ATTEMPTS: i64 = 3;

/// A payment method as the API receives it. A card arrives as the gateway's token (made in
/// the customer's browser); bank details are checked here, handed to the gateway and kept
/// only masked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewPaymentMethod {
    Card {
        token: String,
    },
    SepaDebit {
        iban: String,
        /// The mandate the customer signed; one is made up when absent.
        #[serde(default)]
        mandate_reference: Option<String>,
    },
    AchDebit {
        routing_number: String,
        account_number: String,
    },
    BankTransfer,
}

/// A payment received, to record.
pub(super) struct Received {
    pub account_id: i64,
    /// How it was paid, as shown to people.
    pub method: String,
    pub amount: prorata_core::Money,
    /// The gateway's charge id, or the transfer's reference.
    pub reference: String,
    pub key: String,
}

/// What a collection pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectSummary {
    pub events: u64,
    pub dunning_steps: u64,
    pub charges: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// What the dunning steps issued (an account cancelled at +29 gets its credit note).
    pub issued: crate::RunSummary,
}

/// An account's standing as people see it: status, the case, the banner and sign-in rights
/// of each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StandingView {
    pub standing: Standing,
    pub next_step_on: Option<NaiveDate>,
    pub balance: i64,
    pub currency: String,
    pub banners: BTreeMap<String, Notice>,
    pub access: BTreeMap<String, prorata_core::dunning::Access>,
}

/// Stops the process at a named point when `PRORATA_FAILPOINT` names it: how the crash tests
/// kill a worker at the worst moment. Read on each call; costs an environment lookup.
pub fn failpoint(name: &str) {
    if std::env::var("PRORATA_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

pub(super) fn gateway_error(e: GatewayError) -> EngineError {
    match e {
        GatewayError::Declined { code, message } => {
            EngineError::PaymentRefused(format!("{message} ({code})"))
        }
        GatewayError::Invalid(m) => invalid("token", m),
        GatewayError::Unavailable(m) => EngineError::Unavailable(m),
    }
}

mod charges;
pub(crate) mod effects;
mod methods;
mod payments;

//! # prorata-core: the rules of billing, as pure functions of data and a date
//!
//! This crate owns money, the catalog, subscription timelines, billing periods, proration,
//! usage rating, VAT, contract-change rules and the reconciliation that turns all of them into
//! invoices and credit notes. It does no I/O, is not async and never reads a clock: every
//! function that depends on time takes the date as an argument (chrono is built without its
//! `clock` feature, so `Utc::now()` does not even exist here). Storage, HTTP and the terminal
//! live in other crates and call into this one.
//!
//! The central call is [`reconcile::reconcile`]: for a subscription, its usage, the documents
//! already issued and a date, it returns the documents now due — and nothing when run again on
//! its own output. A preview is the same call without saving.
//!
//! Invariants held throughout: amounts are integer minor units with checked arithmetic
//! ([`money`]); sub-cent prices are exact [`decimal::Decimal`]s; every line is rounded once,
//! half-up ([`money::round_half_up`]); documents never change once issued.

// No floats on any amount path, and no panics on any input: errors are values.
#![deny(
    clippy::float_arithmetic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo
)]

pub mod access;
pub mod account;
pub mod alignment;
pub mod cadence;
pub mod calendar;
pub mod calls;
pub mod catalog;
pub mod change;
pub mod charge;
pub mod commitment;
pub mod coupon;
pub mod decimal;
pub mod destination;
pub mod document;
pub mod dunning;
pub mod entitlements;
pub mod horizon;
pub mod licences;
pub mod money;
pub mod netting;
pub mod overdue;
pub mod payment;
pub mod percentage;
pub mod proration;
pub mod reconcile;
pub mod scenario;
pub mod seat_tiers;
pub mod seller;
pub mod settlement;
pub mod tax;
pub mod terms;
pub mod tickets;
pub mod timeline;
pub mod trial;
pub mod vat_number;
pub mod wallet;

pub use calendar::{Frequency, Period, Schedule};
pub use catalog::{Catalog, Lang};
pub use decimal::Decimal;
pub use document::{Document, DocumentKind, Draft, Line, Section};
pub use money::{Currency, Money};
pub use proration::DayCount;
pub use reconcile::{reconcile, Settings};
pub use timeline::Subscription;

//! # prorata-docs: what customers read
//!
//! Renderings of invoices and credit notes ([`text`]: the plain-text form, in the seed's
//! sections with each line's arithmetic) and the e-mails sent to billing contacts ([`mail`]:
//! a text part and an HTML part from `templates/mail.html`), in French and English. Pure: no database, no network; the server's workers send what this
//! crate writes. The Factur-X files ([`files`], [`pdf`], [`cii`]) print the seller's logo when
//! given it ([`logo`]: a PNG checked and prepared for the PDF).

// No panics on any input outside tests: errors are values.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod change_request;
pub mod cii;
pub mod countries;
pub mod files;
pub mod legal;
pub mod logo;
pub mod mail;
pub mod pdf;
pub mod quote;
pub mod text;
pub mod words;

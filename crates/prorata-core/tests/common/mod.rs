//! Helpers shared by the core's scenario tests: reading a played scenario's documents.
// Each test binary uses part of this module.
#![allow(dead_code)]

use prorata_core::document::Document;
use prorata_core::scenario::Outcome;

/// `(number, issued on, net total in minor units)` of every document, in issue order.
pub fn summary(o: &Outcome) -> Vec<(String, String, i64)> {
    o.documents()
        .map(|d| {
            (
                d.number.clone(),
                d.issued_on.to_string(),
                d.net_total.minor(),
            )
        })
        .collect()
}

/// The document numbered `number`.
pub fn doc<'a>(o: &'a Outcome, number: &str) -> &'a Document {
    o.documents()
        .find(|d| d.number == number)
        .unwrap_or_else(|| panic!("no document {number}"))
}

//! The mentions French law wants on a document, in its language, shared by the PDF and the
//! structured XML so both say the same thing. Since the 2026 e-invoicing reform they include
//! the category of the operation and the option for VAT on debits (French sellers), and the
//! buyer's SIREN and SIRET ([`buyer_ids`]), which the PDF prints in the buyer block and the
//! XML carries in the buyer's own fields.

use prorata_core::account::BuyerSnapshot;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::seller::{OperationCategory, RECOVERY_INDEMNITY_EUR};
use prorata_core::tax::TaxCategory;
use prorata_core::Lang;

use crate::words::{percent, t};

/// A mention, with the EN 16931 note subject code it travels under in the XML (UNTDID 4451).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub subject: &'static str,
    pub text: String,
}

/// A business buyer (one with a VAT number) owes penalties and the recovery indemnity when
/// paying late (art. L441-10, D441-5 of the Code de commerce).
pub fn is_business(doc: &Document) -> bool {
    doc.buyer.as_ref().is_some_and(|b| b.vat_number.is_some())
}

/// The mentions of `doc`, in print order. The articles of French law are cited for French
/// sellers only; the payment-term mentions go on invoices (a credit note asks for nothing).
pub fn mentions(doc: &Document, lang: Lang) -> Vec<Mention> {
    let mut out = Vec::new();
    let has = |c: TaxCategory| doc.taxes.iter().any(|tax| tax.category == c);
    let french = doc.seller.as_ref().is_some_and(|s| s.country == "FR");
    if has(TaxCategory::ReverseCharge) {
        out.push(Mention {
            subject: "AAI",
            text: match (french, lang) {
                (true, Lang::Fr) => "Autoliquidation : TVA due par le preneur (art. 283-2 du CGI, art. 196 de la directive 2006/112/CE).",
                (true, Lang::En) => "Reverse charge: VAT to be accounted for by the customer (art. 283-2 of the French tax code, Article 196, Directive 2006/112/EC).",
                (false, _) => t(
                    lang,
                    "Reverse charge: VAT to be accounted for by the customer (Article 196, Directive 2006/112/EC).",
                    "Autoliquidation : TVA due par le preneur (art. 196 de la directive 2006/112/CE).",
                ),
            }
            .into(),
        });
    }
    if has(TaxCategory::OutOfScope) {
        let buyer_outside = doc
            .buyer
            .as_ref()
            .is_some_and(|b| !prorata_core::tax::is_eu(&b.country));
        out.push(Mention {
            subject: "AAI",
            text: match (buyer_outside, french) {
                (true, true) => t(
                    lang,
                    "VAT not applicable: service supplied to a customer established outside the European Union (art. 259-1 of the French tax code).",
                    "TVA non applicable : prestation de services à un preneur établi hors de l'Union européenne (art. 259-1 du CGI).",
                ),
                (true, false) => t(
                    lang,
                    "VAT not applicable: service supplied to a customer established outside the European Union.",
                    "TVA non applicable : prestation de services à un preneur établi hors de l'Union européenne.",
                ),
                (false, _) => t(
                    lang,
                    "Not subject to EU VAT: the seller is established outside the European Union.",
                    "Non soumis à la TVA de l'Union européenne : le prestataire est établi hors de l'Union.",
                ),
            }
            .into(),
        });
    }
    if is_business(doc) && french && doc.kind == DocumentKind::Invoice {
        if let Some(seller) = &doc.seller {
            out.push(Mention {
                subject: "PMD",
                text: format!(
                    "{} {} {}",
                    t(
                        lang,
                        "Late payment: penalties at the annual rate of",
                        "Retard de paiement : pénalités au taux annuel de"
                    ),
                    percent(lang, seller.late_penalty_rate),
                    t(
                        lang,
                        "(art. L441-10 of the French Commercial Code).",
                        "(art. L441-10 du Code de commerce)."
                    ),
                ),
            });
        }
        // Its own note: the French reform's rules (BR-FR-05) look for the discount terms under
        // AAB, apart from the penalties.
        out.push(Mention {
            subject: "AAB",
            text: t(
                lang,
                "No discount for early payment.",
                "Pas d'escompte pour paiement anticipé.",
            )
            .into(),
        });
        out.push(Mention {
            subject: "PMT",
            text: format!(
                "{} {RECOVERY_INDEMNITY_EUR} € {}",
                t(
                    lang,
                    "Fixed indemnity for recovery costs owed by a business customer paying late:",
                    "Indemnité forfaitaire pour frais de recouvrement due en cas de retard de paiement :"
                ),
                t(lang, "(art. D441-5).", "(art. D441-5 du Code de commerce)."),
            ),
        });
    }
    if let Some(category) = operation_category(doc) {
        out.push(Mention {
            subject: "AAI",
            text: format!(
                "{}{} {}.",
                t(
                    lang,
                    "Category of the operation",
                    "Catégorie de l'opération"
                ),
                crate::words::colon(lang),
                match category {
                    OperationCategory::Goods => t(lang, "supply of goods", "livraison de biens"),
                    OperationCategory::Services =>
                        t(lang, "supply of services", "prestation de services"),
                    OperationCategory::Mixed => t(
                        lang,
                        "supply of goods and services",
                        "livraison de biens et prestation de services"
                    ),
                }
            ),
        });
    }
    if vat_on_debits(doc) {
        out.push(Mention {
            subject: "AAI",
            text: t(
                lang,
                "Option for payment of VAT on debits (VAT due on invoicing).",
                "Option pour le paiement de la taxe d'après les débits.",
            )
            .into(),
        });
    }
    if let Some(seller) = &doc.seller {
        let mut id = vec![seller.legal_name.clone()];
        if !seller.legal_form.is_empty() {
            id.push(seller.legal_form.clone());
        }
        if !seller.siren.is_empty() {
            id.push(format!("SIREN {}", seller.siren));
        }
        if !seller.vat_number.is_empty() {
            id.push(format!("{} {}", t(lang, "VAT", "TVA"), seller.vat_number));
        }
        out.push(Mention {
            subject: "REG",
            text: id.join(" · "),
        });
    }
    out
}

/// The category of the operation a French seller's document states (2026 reform, art. 242
/// nonies A of annex II to the CGI): `None` for other sellers and for documents issued before
/// snapshots carried it.
pub fn operation_category(doc: &Document) -> Option<OperationCategory> {
    doc.seller
        .as_ref()
        .filter(|s| s.country == "FR")
        .and_then(|s| s.operation_category)
}

/// Whether the document states the seller's option for VAT on debits: a French seller that
/// chose it, on a document charging French VAT (under reverse charge or out of scope the
/// seller owes none, so when it is due is not the seller's to say).
pub fn vat_on_debits(doc: &Document) -> bool {
    doc.seller
        .as_ref()
        .is_some_and(|s| s.country == "FR" && s.vat_on_debits)
        && doc
            .taxes
            .iter()
            .any(|tax| tax.category == TaxCategory::Standard)
}

/// The buyer's French identifiers as printed: `SIREN 303265045 · SIRET 30326504500011`.
pub fn buyer_ids(buyer: &BuyerSnapshot) -> Option<String> {
    let ids: Vec<String> = [("SIREN", &buyer.siren), ("SIRET", &buyer.siret)]
        .into_iter()
        .filter_map(|(name, id)| id.as_deref().map(|id| format!("{name} {id}")))
        .collect();
    (!ids.is_empty()).then(|| ids.join(" · "))
}

//! EN 16931 electronic invoices: an issued document as a UN/CEFACT Cross Industry Invoice
//! (CII D16B), the XML a Factur-X PDF of profile "EN 16931" embeds.
//!
//! What a reader of the XML should know:
//! - Signs: a credit note (type code 381) reads positive, its type carrying the sign. On an
//!   invoice (380) a credit line stays negative, the sign on its quantity: EN 16931 forbids a
//!   negative net price (BR-27).
//! - Each line's quantity × price ÷ base quantity is its amount before its one rounding:
//!   a prorated line bills days (4 users × 27 days = 108 days at 30.00 per 31 days), usage
//!   counted in seconds and priced per minute bills minutes, or seconds at the minute price per
//!   60 seconds. Where no such reading rounds exactly to the line's amount (a credit limited
//!   to what is left of the line it takes back, graduated tiers, a late correction), the line is 1 × its amount. The
//!   line's own explanation always travels in its note.
//! - EN 16931 has no previous balance: the amount due is this document's total (BR-CO-16),
//!   and the previous unpaid balance and what is owed in all are stated in a note.
//! - The document notes carry the legal mentions of [`crate::legal`], as the PDF prints them,
//!   under their UNTDID 4451 subject codes. The 2026 reform's mentions also go where EN 16931
//!   has a field: the category of the operation as the billing framework (BT-23: S1, B1, M1),
//!   VAT on debits as the VAT point date code 5 (BT-8), the buyer's SIREN (BT-47, scheme
//!   0002) and SIRET (BT-46, scheme 0009), the delivery address (BG-15).
//! - No element is ever empty (PEPPOL-EN16931-R008): optional text is left out, not blank.
//!
//! `scripts/facturx-check.py` checks the output against the official Factur-X schema and the
//! EN 16931 arithmetic (and, with `--schematron`, the official EN 16931 rules).

use std::fmt;

use chrono::NaiveDate;
use prorata_core::account::Address;
use prorata_core::decimal::Decimal;
use prorata_core::document::{Document, DocumentKind, Line, LineKey};
use prorata_core::money::round_half_up;
use prorata_core::payment::PaymentDetails;
use prorata_core::proration::FractionUnit;
use prorata_core::tax::TaxCategory;
use prorata_core::{Currency, Lang, Money};

use crate::words::{colon, date, money, t};

/// EN 16931 itself, no CIUS or extension: what Factur-X calls its profile "EN 16931".
pub const GUIDELINE_ID: &str = "urn:cen.eu:en16931:2017";

const NAMESPACES: [(&str, &str); 4] = [
    (
        "xmlns:rsm",
        "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    ),
    (
        "xmlns:ram",
        "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    ),
    (
        "xmlns:qdt",
        "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    ),
    (
        "xmlns:udt",
        "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    ),
];

/// Why a document cannot be written as EN 16931.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiiError {
    /// Documents issued before seller snapshots existed name no seller; EN 16931 requires one.
    NoSeller {
        number: String,
    },
    NoBuyer {
        number: String,
    },
    /// EN 16931 requires at least one line (BR-16).
    NoLines {
        number: String,
    },
    /// An amount overflows, or is not in the document's currency.
    Amount {
        number: String,
    },
}

impl fmt::Display for CiiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CiiError::NoSeller { number } => write!(
                f,
                "{number}: the document has no seller snapshot, which EN 16931 requires"
            ),
            CiiError::NoBuyer { number } => write!(
                f,
                "{number}: the document has no buyer snapshot, which EN 16931 requires"
            ),
            CiiError::NoLines { number } => {
                write!(f, "{number}: EN 16931 requires at least one line")
            }
            CiiError::Amount { number } => write!(
                f,
                "{number}: an amount overflows or is not in the document's currency"
            ),
        }
    }
}

impl std::error::Error for CiiError {}

/// `doc` as an EN 16931 CII XML document, its notes in `lang`.
pub fn invoice_xml(doc: &Document, lang: Lang) -> Result<String, CiiError> {
    let number = || doc.number.clone();
    let seller = doc
        .seller
        .as_ref()
        .ok_or_else(|| CiiError::NoSeller { number: number() })?;
    let buyer = doc
        .buyer
        .as_ref()
        .ok_or_else(|| CiiError::NoBuyer { number: number() })?;
    if doc.lines.is_empty() {
        return Err(CiiError::NoLines { number: number() });
    }
    let overflow = |_| CiiError::Amount { number: number() };
    let credit_note = doc.kind == DocumentKind::CreditNote;
    let sign: i64 = if credit_note { -1 } else { 1 };
    let shown = |m: Money| m.checked_mul(sign).map_err(overflow);

    let mut lines = Vec::with_capacity(doc.lines.len());
    for l in &doc.lines {
        let amount = shown(l.amount)?;
        lines.push((l, amount, priced(l, amount, sign)));
    }
    let mut taxes = Vec::with_capacity(doc.taxes.len());
    for tax in &doc.taxes {
        taxes.push((tax, shown(tax.base)?, shown(tax.tax)?));
    }
    // Totals are sums of what is printed, so BR-CO-10/13/14/15 hold by construction.
    let line_total =
        Money::sum(doc.currency, lines.iter().map(|(_, a, _)| *a)).map_err(overflow)?;
    let tax_total = Money::sum(doc.currency, taxes.iter().map(|(_, _, a)| *a)).map_err(overflow)?;
    let grand_total = line_total.checked_add(tax_total).map_err(overflow)?;
    // BR-O-02: a document with "not subject to VAT" lines carries no seller or buyer VAT
    // identifier; the seller's number then goes as its tax registration (BT-32).
    let out_of_scope = doc
        .lines
        .iter()
        .any(|l| l.tax.category == TaxCategory::OutOfScope);

    let mut x = Xml::default();
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.open_with("rsm:CrossIndustryInvoice", &NAMESPACES);

    x.open("rsm:ExchangedDocumentContext");
    // BT-23: the French reform's billing framework, whose letter is the category of the
    // operation (S1: services, B1: goods, M1: both).
    if let Some(category) = crate::legal::operation_category(doc) {
        x.open("ram:BusinessProcessSpecifiedDocumentContextParameter");
        x.leaf("ram:ID", category.billing_framework());
        x.close("ram:BusinessProcessSpecifiedDocumentContextParameter");
    }
    x.open("ram:GuidelineSpecifiedDocumentContextParameter");
    x.leaf("ram:ID", GUIDELINE_ID);
    x.close("ram:GuidelineSpecifiedDocumentContextParameter");
    x.close("rsm:ExchangedDocumentContext");

    x.open("rsm:ExchangedDocument");
    x.leaf("ram:ID", &doc.number);
    x.leaf("ram:TypeCode", if credit_note { "381" } else { "380" });
    x.date("ram:IssueDateTime", doc.issued_on);
    for (subject, text) in notes(doc, lang) {
        x.open("ram:IncludedNote");
        x.leaf("ram:Content", &text);
        x.leaf("ram:SubjectCode", subject);
        x.close("ram:IncludedNote");
    }
    x.close("rsm:ExchangedDocument");

    x.open("rsm:SupplyChainTradeTransaction");
    for (i, (l, amount, p)) in lines.iter().enumerate() {
        line_item(&mut x, i + 1, l, *amount, p);
    }

    x.open("ram:ApplicableHeaderTradeAgreement");
    let seller_vat = (!seller.vat_number.trim().is_empty()).then(|| {
        (
            seller.vat_number.trim(),
            if out_of_scope { "FC" } else { "VA" },
        )
    });
    party(
        &mut x,
        "ram:SellerTradeParty",
        &Party {
            name: &seller.legal_name,
            siret: None,
            siren: Some(seller.siren.trim()).filter(|s| !s.is_empty()),
            address: &seller.address,
            country: &seller.country,
            email: Some(seller.email.trim()).filter(|s| !s.is_empty()),
            tax_id: seller_vat,
        },
    );
    let buyer_vat = buyer
        .vat_number
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && !out_of_scope)
        .map(|v| (v, "VA"));
    party(
        &mut x,
        "ram:BuyerTradeParty",
        &Party {
            name: &buyer.name,
            // BT-46 (the establishment, ICD 0009: SIRET) and BT-47 (the company: SIREN).
            siret: buyer
                .siret
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            siren: buyer
                .siren
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            address: &buyer.address,
            country: &buyer.country,
            email: None,
            tax_id: buyer_vat,
        },
    );
    x.close("ram:ApplicableHeaderTradeAgreement");

    // BG-13/BG-15: where the supply goes. A separate delivery address when the account has
    // one; otherwise the buyer's own address, which is where a subscription is supplied. The
    // element is never left empty (PEPPOL-EN16931-R008), and no delivery date is claimed:
    // the billing periods say when the services were supplied.
    x.open("ram:ApplicableHeaderTradeDelivery");
    let delivery = buyer.delivery_address.as_ref();
    let delivery_address = delivery.map(|d| d.address());
    party(
        &mut x,
        "ram:ShipToTradeParty",
        &Party {
            name: &buyer.name,
            siret: None,
            siren: None,
            address: delivery_address.as_ref().unwrap_or(&buyer.address),
            country: delivery.map_or(&buyer.country, |d| &d.country),
            email: None,
            tax_id: None,
        },
    );
    x.close("ram:ApplicableHeaderTradeDelivery");

    x.open("ram:ApplicableHeaderTradeSettlement");
    if matches!(doc.payment, Some(PaymentDetails::BankTransfer { .. })) {
        x.leaf("ram:PaymentReference", &doc.number);
    }
    x.leaf("ram:InvoiceCurrencyCode", doc.currency.code());
    let vat_on_debits = crate::legal::vat_on_debits(doc);
    if let Some(p) = &doc.payment {
        payment_means(&mut x, p, doc, lang);
    }
    for (tax, base, amount) in &taxes {
        x.open("ram:ApplicableTradeTax");
        x.leaf("ram:CalculatedAmount", &amount.amount_text());
        x.leaf("ram:TypeCode", "VAT");
        let exemption = match tax.category {
            TaxCategory::Standard => None,
            TaxCategory::ReverseCharge => {
                Some((t(lang, "Reverse charge", "Autoliquidation"), "VATEX-EU-AE"))
            }
            TaxCategory::OutOfScope => Some((
                t(lang, "Not subject to VAT", "Non soumis à la TVA"),
                "VATEX-EU-O",
            )),
        };
        if let Some((reason, _)) = exemption {
            x.leaf("ram:ExemptionReason", reason);
        }
        x.leaf("ram:BasisAmount", &base.amount_text());
        x.leaf("ram:CategoryCode", tax.category.code());
        if let Some((_, code)) = exemption {
            x.leaf("ram:ExemptionReasonCode", code);
        }
        // BT-8: VAT on debits is due when invoiced, code 5 (date of invoice, UNTDID 2475).
        if tax.category == TaxCategory::Standard && vat_on_debits {
            x.leaf("ram:DueDateTypeCode", "5");
        }
        // BR-O-05/BR-48: "not subject to VAT" has no rate at all, not even 0.
        if tax.category != TaxCategory::OutOfScope {
            x.leaf("ram:RateApplicablePercent", &tax.rate.to_string());
        }
        x.close("ram:ApplicableTradeTax");
    }
    let start = doc.lines.iter().map(|l| l.service.start).min();
    let end = doc.lines.iter().map(|l| l.service.end).max();
    if let (Some(start), Some(end)) = (start, end) {
        period(&mut x, start, end);
    }
    x.open("ram:SpecifiedTradePaymentTerms");
    x.leaf("ram:Description", &payment_terms(doc, lang));
    if let Some(due) = doc.due_on {
        x.date("ram:DueDateDateTime", due);
    }
    if let Some(PaymentDetails::SepaDebit {
        mandate_reference, ..
    }) = &doc.payment
    {
        if !mandate_reference.trim().is_empty() {
            x.leaf("ram:DirectDebitMandateID", mandate_reference.trim());
        }
    }
    x.close("ram:SpecifiedTradePaymentTerms");
    x.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    x.leaf("ram:LineTotalAmount", &line_total.amount_text());
    x.leaf("ram:TaxBasisTotalAmount", &line_total.amount_text());
    x.leaf_with(
        "ram:TaxTotalAmount",
        &[("currencyID", doc.currency.code())],
        &tax_total.amount_text(),
    );
    x.leaf("ram:GrandTotalAmount", &grand_total.amount_text());
    // BT-113/BR-CO-16: prepaid credit is paid ahead; the amount due is what remains.
    let prepaid = doc.prepaid_credit.filter(|p| !p.is_zero());
    let due = match prepaid {
        Some(p) => {
            x.leaf("ram:TotalPrepaidAmount", &p.amount_text());
            grand_total.checked_sub(p).map_err(overflow)?
        }
        None => grand_total,
    };
    x.leaf("ram:DuePayableAmount", &due.amount_text());
    x.close("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    // One preceding invoice: older Factur-X schemas allow no more; others are in a note.
    if let Some(first) = doc.corrects.first().filter(|_| credit_note) {
        x.open("ram:InvoiceReferencedDocument");
        x.leaf("ram:IssuerAssignedID", first);
        x.close("ram:InvoiceReferencedDocument");
    }
    x.close("ram:ApplicableHeaderTradeSettlement");

    x.close("rsm:SupplyChainTradeTransaction");
    x.close("rsm:CrossIndustryInvoice");
    Ok(x.out)
}

/// The document notes, `(UNTDID 4451 subject code, text)`: the legal mentions the PDF prints
/// too, then what EN 16931's fields cannot hold.
fn notes(doc: &Document, lang: Lang) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = crate::legal::mentions(doc, lang)
        .into_iter()
        .map(|m| (m.subject, m.text))
        .collect();
    if let Some(previous) = doc.previous_balance.filter(|p| !p.is_zero()) {
        let colon = colon(lang);
        out.push((
            "AAI",
            format!(
                "{}{colon} {}. {}{colon} {}.",
                t(lang, "Previous unpaid balance", "Solde impayé précédent"),
                money(lang, previous),
                t(
                    lang,
                    "Amount due, this invoice included",
                    "Montant dû, cette facture comprise"
                ),
                money(lang, doc.balance_after)
            ),
        ));
    }
    if doc.kind == DocumentKind::CreditNote && doc.corrects.len() > 1 {
        out.push((
            "AAI",
            format!(
                "{} {}",
                t(lang, "Corrects invoices", "Corrige les factures"),
                doc.corrects.join(", ")
            ),
        ));
    }
    out
}

/// BT-20: when and how the amount is settled (BR-CO-25 wants it whenever something is due).
fn payment_terms(doc: &Document, lang: Lang) -> String {
    // A credit note, or an invoice whose credits outweigh its charges (same_invoice netting).
    if doc.kind == DocumentKind::CreditNote || doc.total.is_negative() {
        return t(
            lang,
            "Credited to the customer's account balance.",
            "Porté au crédit du compte du client.",
        )
        .to_string();
    }
    match doc.due_on.filter(|due| *due > doc.issued_on) {
        Some(due) => format!(
            "{} {}.",
            t(lang, "Payable by", "À payer au plus tard le"),
            date(lang, due)
        ),
        None => t(lang, "Payable on receipt.", "Payable à réception.").to_string(),
    }
}

fn payment_means(x: &mut Xml, p: &PaymentDetails, doc: &Document, lang: Lang) {
    let info = crate::text::payment_text(p, lang, doc);
    let bank = match p {
        PaymentDetails::BankTransfer { bank } => bank
            .as_ref()
            .map(|b| (b, compact(&b.iban)))
            .filter(|(_, iban)| !iban.is_empty()),
        _ => None,
    };
    // UNTDID 4461. A transfer code (30, 58) promises the payee's account (BR-50/BR-61), so
    // without one it is 42, "payment to bank account"; a SEPA credit transfer is in euros.
    let code = match p {
        PaymentDetails::Card { .. } => "48",
        PaymentDetails::SepaDebit { .. } => "59",
        PaymentDetails::AchDebit { .. } => "49",
        PaymentDetails::BankTransfer { .. } => match &bank {
            Some(_) if doc.currency == Currency::EUR => "58",
            Some(_) => "30",
            None => "42",
        },
    };
    x.open("ram:SpecifiedTradeSettlementPaymentMeans");
    x.leaf("ram:TypeCode", code);
    x.leaf("ram:Information", &info);
    if let Some(last_digits) = match p {
        PaymentDetails::Card { card } => card_last_digits(card),
        _ => None,
    } {
        x.open("ram:ApplicableTradeSettlementFinancialCard");
        x.leaf("ram:ID", last_digits);
        x.close("ram:ApplicableTradeSettlementFinancialCard");
    }
    // The debited account is known only masked (FR76 •••• 0189): it stays in the text above
    // rather than pass for an IBAN.
    if let Some((b, iban)) = bank {
        x.open("ram:PayeePartyCreditorFinancialAccount");
        x.leaf("ram:IBANID", &iban);
        if !b.holder.trim().is_empty() {
            x.leaf("ram:AccountName", b.holder.trim());
        }
        x.close("ram:PayeePartyCreditorFinancialAccount");
        let bic = compact(&b.bic);
        if !bic.is_empty() {
            x.open("ram:PayeeSpecifiedCreditorFinancialInstitution");
            x.leaf("ram:BICID", &bic);
            x.close("ram:PayeeSpecifiedCreditorFinancialInstitution");
        }
    }
    x.close("ram:SpecifiedTradeSettlementPaymentMeans");
}

/// The digits after the mask of `Visa •••• 4242 (12/2028)`: BT-87 may show at most the last
/// digits of a card (BR-51: 10 characters at most).
fn card_last_digits(card: &str) -> Option<&str> {
    let (_, after) = card.split_once('•')?;
    let digits = after.trim_start_matches(['•', ' ']);
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    Some(&digits[..end]).filter(|d| (4..=6).contains(&d.len()))
}

fn compact(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

struct Party<'a> {
    name: &'a str,
    /// A French establishment's SIRET, the party's global identifier (BT-29/46, ICD 0009).
    siret: Option<&'a str>,
    siren: Option<&'a str>,
    address: &'a Address,
    country: &'a str,
    email: Option<&'a str>,
    /// The identifier and its scheme: `VA` (VAT number, BT-31/48) or `FC` (BT-32).
    tax_id: Option<(&'a str, &'a str)>,
}

fn party(x: &mut Xml, tag: &str, p: &Party<'_>) {
    x.open(tag);
    if let Some(siret) = p.siret {
        x.leaf_with("ram:GlobalID", &[("schemeID", "0009")], siret);
    }
    x.leaf("ram:Name", p.name);
    if let Some(siren) = p.siren {
        x.open("ram:SpecifiedLegalOrganization");
        // ISO 6523 ICD 0002: the French SIRENE register.
        x.leaf_with("ram:ID", &[("schemeID", "0002")], siren);
        x.close("ram:SpecifiedLegalOrganization");
    }
    x.open("ram:PostalTradeAddress");
    let a = p.address;
    for (tag, value) in [
        ("ram:PostcodeCode", &a.postcode),
        ("ram:LineOne", &a.line1),
        ("ram:LineTwo", &a.line2),
        ("ram:CityName", &a.city),
    ] {
        if !value.trim().is_empty() {
            x.leaf(tag, value.trim());
        }
    }
    x.leaf("ram:CountryID", p.country);
    if !a.state.trim().is_empty() {
        x.leaf("ram:CountrySubDivisionName", a.state.trim());
    }
    x.close("ram:PostalTradeAddress");
    if let Some(email) = p.email {
        x.open("ram:URIUniversalCommunication");
        x.leaf_with("ram:URIID", &[("schemeID", "EM")], email);
        x.close("ram:URIUniversalCommunication");
    }
    if let Some((id, scheme)) = p.tax_id {
        x.open("ram:SpecifiedTaxRegistration");
        x.leaf_with("ram:ID", &[("schemeID", scheme)], id);
        x.close("ram:SpecifiedTaxRegistration");
    }
    x.close(tag);
}

fn period(x: &mut Xml, start: NaiveDate, end: NaiveDate) {
    x.open("ram:BillingSpecifiedPeriod");
    x.date("ram:StartDateTime", start);
    x.date("ram:EndDateTime", end);
    x.close("ram:BillingSpecifiedPeriod");
}

fn line_item(x: &mut Xml, id: usize, l: &Line, amount: Money, p: &Priced) {
    x.open("ram:IncludedSupplyChainTradeLineItem");
    x.open("ram:AssociatedDocumentLineDocument");
    x.leaf("ram:LineID", &id.to_string());
    if !l.explanation.trim().is_empty() {
        x.open("ram:IncludedNote");
        x.leaf("ram:Content", &l.explanation);
        x.close("ram:IncludedNote");
    }
    x.close("ram:AssociatedDocumentLineDocument");
    x.open("ram:SpecifiedTradeProduct");
    let code = match &l.key {
        LineKey::Recurring(k) => &k.product,
        LineKey::Usage { metric, .. } => metric,
        LineKey::Discount { coupon, .. } => coupon,
        LineKey::Commitment { .. } => "minimum-commitment",
    };
    x.leaf("ram:SellerAssignedID", code);
    x.leaf("ram:Name", &l.description);
    x.close("ram:SpecifiedTradeProduct");
    x.open("ram:SpecifiedLineTradeAgreement");
    x.open("ram:NetPriceProductTradePrice");
    x.leaf("ram:ChargeAmount", &p.price);
    if let Some(basis) = &p.basis {
        x.leaf_with("ram:BasisQuantity", &[("unitCode", p.unit)], basis);
    }
    x.close("ram:NetPriceProductTradePrice");
    x.close("ram:SpecifiedLineTradeAgreement");
    x.open("ram:SpecifiedLineTradeDelivery");
    x.leaf_with("ram:BilledQuantity", &[("unitCode", p.unit)], &p.quantity);
    x.close("ram:SpecifiedLineTradeDelivery");
    x.open("ram:SpecifiedLineTradeSettlement");
    x.open("ram:ApplicableTradeTax");
    x.leaf("ram:TypeCode", "VAT");
    x.leaf("ram:CategoryCode", l.tax.category.code());
    if l.tax.category != TaxCategory::OutOfScope {
        x.leaf("ram:RateApplicablePercent", &l.tax.rate.to_string());
    }
    x.close("ram:ApplicableTradeTax");
    period(x, l.service.start, l.service.end);
    x.open("ram:SpecifiedTradeSettlementLineMonetarySummation");
    x.leaf("ram:LineTotalAmount", &amount.amount_text());
    x.close("ram:SpecifiedTradeSettlementLineMonetarySummation");
    x.close("ram:SpecifiedLineTradeSettlement");
    x.close("ram:IncludedSupplyChainTradeLineItem");
}

/// A line's quantity and price as printed: `quantity × price ÷ basis` rounds to its amount.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Priced {
    /// Signed: negative for a credit line on an invoice.
    quantity: String,
    /// UN/ECE Recommendation 20 unit, of the quantity and of the price basis.
    unit: &'static str,
    /// Never negative (BR-27).
    price: String,
    basis: Option<String>,
}

/// A reading of a line: `qty` units of `unit` at `price` per `basis` units.
struct Candidate {
    qty: Decimal,
    unit: &'static str,
    price: Decimal,
    basis: i64,
}

fn abs(d: Decimal) -> Option<Decimal> {
    Decimal::new(d.mantissa().checked_abs()?, d.scale())
}

fn int(v: i128) -> Option<Decimal> {
    Decimal::new(v, 0)
}

/// The readings of a line that may explain its amount, best first, and the signed units
/// they count (whose sign must agree with the amount's).
fn candidates(l: &Line) -> (i64, Vec<Candidate>) {
    let Some(price) = l.unit_price.and_then(abs) else {
        return (l.quantity, Vec::new());
    };
    let units = i128::from(l.quantity).abs();
    let mut out = Vec::new();
    match (&l.key, l.proration) {
        (_, Some(f)) if f.den > 0 && f.num >= 0 && !f.is_whole() => {
            let unit = match f.unit {
                FractionUnit::Days => "DAY",
                FractionUnit::Seconds => "SEC",
            };
            if let Some(qty) = units.checked_mul(i128::from(f.num)).and_then(int) {
                out.push(Candidate {
                    qty,
                    unit,
                    price,
                    basis: f.den,
                });
            }
            // actual-days rounds the ratio to 9 decimals before the amount: units × ratio.
            if let Some(qty) = f
                .ratio
                .and_then(|r| Decimal::new(units.checked_mul(r.mantissa())?, r.scale()))
            {
                out.push(Candidate {
                    qty,
                    unit: "C62",
                    price,
                    basis: 1,
                });
            }
            (l.quantity, out)
        }
        (LineKey::Usage { .. }, _) => {
            // Rated on what the bundles left; the line's quantity includes what they took.
            let billable = l.quantity.saturating_sub(l.included_used.unwrap_or(0));
            let n = i128::from(billable).abs();
            // The document does not say the metric's unit: seconds priced per minute show
            // because the amount is n × price / 60; anything else counts in plain units.
            if n % 60 == 0 {
                if let Some(qty) = int(n / 60) {
                    out.push(Candidate {
                        qty,
                        unit: "MIN",
                        price,
                        basis: 1,
                    });
                }
            } else if let Some(qty) = int(n) {
                out.push(Candidate {
                    qty,
                    unit: "SEC",
                    price,
                    basis: 60,
                });
            }
            if let Some(qty) = int(n) {
                out.push(Candidate {
                    qty,
                    unit: "C62",
                    price,
                    basis: 1,
                });
            }
            (billable, out)
        }
        _ => {
            if let Some(qty) = int(units) {
                out.push(Candidate {
                    qty,
                    unit: "C62",
                    price,
                    basis: 1,
                });
            }
            (l.quantity, out)
        }
    }
}

/// Whether `c` rounds, half-up as the engine does, to `target` minor units of `currency`.
fn fits(c: &Candidate, target: i128, currency: Currency) -> bool {
    let num = c
        .qty
        .mantissa()
        .checked_mul(c.price.mantissa())
        .and_then(|v| v.checked_mul(10_i128.pow(currency.exponent())));
    let den = c
        .qty
        .denominator()
        .checked_mul(c.price.denominator())
        .and_then(|v| v.checked_mul(i128::from(c.basis)));
    match (num, den) {
        (Some(n), Some(d)) => round_half_up(n, d) == Some(target),
        _ => false,
    }
}

/// How line `l`, printed as `amount` (already in the document's sign), shows its quantity and
/// price. `sign` is the document's: -1 on a credit note.
fn priced(l: &Line, amount: Money, sign: i64) -> Priced {
    let (units, candidates) = candidates(l);
    let units_sign = units.signum() * sign;
    let negative = amount.is_negative() || (amount.is_zero() && units_sign < 0);
    let agrees = amount.is_zero() || units_sign == 0 || (units_sign < 0) == negative;
    let target = i128::from(amount.minor()).abs();
    let signed = |q: Decimal| {
        if negative && !q.is_zero() {
            format!("-{q}")
        } else {
            q.to_string()
        }
    };
    if agrees {
        if let Some(c) = candidates
            .iter()
            .find(|c| fits(c, target, amount.currency()))
        {
            return Priced {
                quantity: signed(c.qty),
                unit: c.unit,
                price: c.price.to_string(),
                basis: (c.basis != 1).then(|| c.basis.to_string()),
            };
        }
    }
    Priced {
        quantity: if negative { "-1" } else { "1" }.to_string(),
        unit: "C62",
        price: Money::from_minor(amount.minor().saturating_abs(), amount.currency()).amount_text(),
        basis: None,
    }
}

/// An indented XML writer; every text and attribute value goes through [`escape_into`].
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
    }

    fn open(&mut self, tag: &str) {
        self.open_with(tag, &[]);
    }

    fn open_with(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.leaf_with(tag, &[], text);
    }

    fn leaf_with(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(tag, attrs);
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    /// A date as CII writes it: `udt:DateTimeString` in format 102, `YYYYMMDD`.
    fn date(&mut self, tag: &str, date: NaiveDate) {
        self.open(tag);
        self.leaf_with(
            "udt:DateTimeString",
            &[("format", "102")],
            &date.format("%Y%m%d").to_string(),
        );
        self.close(tag);
    }
}

/// `text` as XML (and HTML) character data or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` escaped for XML text and attribute values. Control characters that XML 1.0
/// cannot carry at all, even as references, are dropped so the output stays well-formed.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A raw CR or TAB would be normalised away by the reader (in attributes too).
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push('\n'),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::str::FromStr;

    use chrono::NaiveDate;
    use prorata_core::account::{Address, DeliveryAddress};
    use prorata_core::calendar::Period;
    use prorata_core::catalog::Catalog;
    use prorata_core::document::{Document, DocumentKind, Draft, Line, LineKey, PriceTier};
    use prorata_core::document::{RecurringKey, Section};
    use prorata_core::payment::{BankDetails, PaymentDetails};
    use prorata_core::proration::{Fraction, FractionUnit};
    use prorata_core::scenario::{self, Scenario};
    use prorata_core::seller::{OperationCategory, Seller};
    use prorata_core::tax::{TaxCategory, TaxTreatment};
    use prorata_core::{Currency, Decimal, Lang, Money};

    use super::{invoice_xml, CiiError};

    const SEED_CREDIT_NOTE: &str = include_str!("../../../examples/seed-credit-note.toml");
    const ANNUAL_WITH_USAGE: &str = include_str!("../../../examples/annual-with-usage.toml");
    const CATALOG: &str = include_str!("../../../catalog/default.toml");

    fn seller() -> Seller {
        Seller {
            legal_name: "Prorata SAS".into(),
            legal_form: "SAS au capital de 10 000 €".into(),
            address: Address {
                line1: "12 rue de la Paix".into(),
                postcode: "75002".into(),
                city: "Paris".into(),
                ..Address::default()
            },
            siren: "123456782".into(),
            vat_number: "FR11123456782".into(),
            email: "factures@prorata.example".into(),
            payment_terms_days: 30,
            ..Seller::default()
        }
    }

    /// Plays an example with a complete seller, the buyer in `country` with `vat`.
    fn play(toml: &str, country: &str, vat: Option<&str>) -> Vec<Document> {
        let mut s = Scenario::from_toml(toml).unwrap();
        s.settings.seller = seller();
        s.account.country = country.into();
        s.account.vat_number = vat.map(String::from);
        s.account.address = Address {
            line1: "3 place Bellecour".into(),
            postcode: "69002".into(),
            city: "Lyon".into(),
            ..Address::default()
        };
        let catalog = Catalog::from_toml(CATALOG).unwrap();
        scenario::run(&s, &catalog)
            .unwrap()
            .documents()
            .cloned()
            .collect()
    }

    fn find<'a>(docs: &'a [Document], number: &str) -> &'a Document {
        docs.iter().find(|d| d.number == number).unwrap()
    }

    /// The texts of every `<tag>` element (attributes ignored), in document order.
    fn values(xml: &str, tag: &str) -> Vec<String> {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        let mut out = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find(&open) {
            rest = &rest[i + open.len()..];
            if !rest.starts_with(['>', ' ']) {
                continue;
            }
            let body = &rest[rest.find('>').unwrap() + 1..];
            out.push(body[..body.find(&close).unwrap()].trim().to_string());
        }
        out
    }

    /// The payment means type code (UNTDID 4461).
    fn means_code(xml: &str) -> String {
        let means = values(xml, "ram:SpecifiedTradeSettlementPaymentMeans");
        values(&means[0], "ram:TypeCode")[0].clone()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn standard() -> TaxTreatment {
        TaxTreatment {
            category: TaxCategory::Standard,
            rate: Decimal::from_int(20),
        }
    }

    fn recurring(product: &str, quantity: i64, price: &str, minor: i64) -> Line {
        let period = Period {
            start: date("2024-07-06"),
            end: date("2024-08-05"),
        };
        Line {
            section: Section::Recurring,
            key: LineKey::Recurring(RecurringKey {
                product: product.into(),
                plan: "essentials".into(),
                tier: PriceTier::Extra,
                unit_price: dec(price),
                period,
            }),
            description: format!("{product} – Essentials"),
            quantity,
            unit_price: Some(dec(price)),
            from: period.start.and_hms_opt(0, 0, 0).unwrap(),
            to: date("2024-08-06").and_hms_opt(0, 0, 0).unwrap(),
            service: period,
            proration: None,
            events: None,
            included_used: None,
            late: false,
            amount: Money::from_minor(minor, Currency::EUR),
            tax: standard(),
            explanation: format!("{} × {price} EUR", quantity.abs()),
            corrects: Vec::new(),
        }
    }

    fn usage(metric: &str, seconds: i64, included: i64, price: Option<&str>, minor: i64) -> Line {
        let mut l = recurring("x", 0, "0", minor);
        l.section = Section::Usage;
        l.key = LineKey::Usage {
            metric: metric.into(),
            period: l.service,
        };
        l.description = format!("Calls {metric}");
        l.quantity = seconds;
        l.included_used = Some(included);
        l.unit_price = price.map(dec);
        l
    }

    /// An invoice of `lines`, issued the way the engine issues it.
    fn invoice(lines: Vec<Line>, previous: i64) -> Document {
        let currency = lines.first().map_or(Currency::EUR, |l| l.amount.currency());
        let draft = Draft {
            kind: DocumentKind::Invoice,
            currency,
            lines,
        };
        let mut doc = draft
            .issue(
                "INV-000042".into(),
                date("2024-08-06"),
                Money::from_minor(previous, currency),
            )
            .unwrap();
        // Through serde, so fields the snapshot gains later keep their defaults here.
        doc.buyer = Some(
            serde_json::from_value(serde_json::json!({
                "name": "Lumen Conseil SAS",
                "address": {"line1": "3 place Bellecour", "postcode": "69002", "city": "Lyon"},
                "country": "FR",
                "vat_number": "FR40303265045",
            }))
            .unwrap(),
        );
        doc.payment = Some(PaymentDetails::BankTransfer { bank: None });
        doc.seller = Some(seller().snapshot("Prorata", "FR"));
        doc.due_on = Some(date("2024-09-05"));
        doc
    }

    /// credit_policy = same_invoice: 1 × 30.00 charged and 4 × 30.00 credited on one invoice,
    /// 30.00 − 120.00 = −90.00 net, −108.00 with 20 % VAT; billing stamps no payment on it.
    fn netted_invoice() -> Document {
        let mut credit = recurring("user", -4, "30.00", -12000);
        credit.explanation = "4 × 30.00 EUR = 120.00 EUR".into();
        let mut doc = invoice(vec![recurring("user", 1, "30.00", 3000), credit], 0);
        doc.payment = None;
        doc.due_on = None;
        doc
    }

    #[test]
    fn a_netted_invoice_may_total_a_negative_amount_and_asks_for_no_payment() {
        // EN 16931 allows a negative total; no net price is negative (BR-27), the credit's
        // sign is on its quantity; with nothing due, no payment means nor due date (BR-CO-25).
        let xml = invoice_xml(&netted_invoice(), Lang::En).unwrap();
        assert_eq!(values(&xml, "ram:TypeCode")[0], "380");
        assert_eq!(values(&xml, "ram:BilledQuantity"), ["1", "-4"]);
        assert_eq!(values(&xml, "ram:ChargeAmount"), ["30.00", "30.00"]);
        assert_eq!(values(&xml, "ram:GrandTotalAmount"), ["-108.00"]);
        assert_eq!(values(&xml, "ram:DuePayableAmount"), ["-108.00"]);
        assert_eq!(
            values(&xml, "ram:Description"),
            ["Credited to the customer&apos;s account balance."]
        );
        assert!(!xml.contains("SpecifiedTradeSettlementPaymentMeans"));
    }

    #[test]
    fn the_seed_credit_note_reads_positive_and_bills_days() {
        let docs = play(SEED_CREDIT_NOTE, "FR", Some("FR40303265045"));
        let cn = find(&docs, "CN-000001");
        assert_eq!(
            cn.total.minor(),
            -12542,
            "the model signs a credit note negative"
        );
        let xml = invoice_xml(cn, Lang::Fr).unwrap();
        assert_eq!(values(&xml, "ram:TypeCode")[0], "381");
        assert_eq!(
            values(&xml, "ram:GuidelineSpecifiedDocumentContextParameter")[0],
            "<ram:ID>urn:cen.eu:en16931:2017</ram:ID>"
        );
        assert!(xml.contains("<ram:BilledQuantity unitCode=\"DAY\">108</ram:BilledQuantity>"));
        assert!(xml.contains("<ram:BasisQuantity unitCode=\"DAY\">31</ram:BasisQuantity>"));
        assert_eq!(values(&xml, "ram:ChargeAmount"), ["30.00"]);
        assert_eq!(values(&xml, "ram:LineTotalAmount"), ["104.52", "104.52"]);
        assert_eq!(values(&xml, "ram:TaxBasisTotalAmount"), ["104.52"]);
        assert_eq!(values(&xml, "ram:CalculatedAmount"), ["20.90"]);
        assert_eq!(values(&xml, "ram:TaxTotalAmount"), ["20.90"]);
        assert!(xml.contains("<ram:TaxTotalAmount currencyID=\"EUR\">20.90</ram:TaxTotalAmount>"));
        assert_eq!(values(&xml, "ram:GrandTotalAmount"), ["125.42"]);
        assert_eq!(values(&xml, "ram:DuePayableAmount"), ["125.42"]);
        assert_eq!(values(&xml, "ram:IssuerAssignedID"), ["INV-000002"]);
        assert_eq!(values(&xml, "ram:CategoryCode"), ["S", "S"]);
        assert_eq!(values(&xml, "ram:RateApplicablePercent"), ["20", "20"]);
        // 10 July – 5 August, both included.
        assert!(xml.contains("<udt:DateTimeString format=\"102\">20240710</udt:DateTimeString>"));
        assert!(xml.contains("<udt:DateTimeString format=\"102\">20240805</udt:DateTimeString>"));
        assert!(xml.contains("4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR"));
        // No amount of a credit note is negative: the type code carries the sign.
        assert!(!xml.contains(">-"), "{xml}");
        // A credit note asks for no payment: no late-payment terms (PMD, PMT), the seller's
        // registration (REG) still.
        let subjects = values(&xml, "ram:SubjectCode");
        assert!(!subjects.contains(&"PMD".to_string()) && !subjects.contains(&"PMT".to_string()));
        assert!(subjects.contains(&"REG".to_string()));
        assert!(!xml.contains("40 €"));
        assert!(xml.contains("<ram:ID schemeID=\"0002\">123456782</ram:ID>"));
        assert!(xml.contains("<ram:ID schemeID=\"VA\">FR11123456782</ram:ID>"));
        assert!(xml.contains("<ram:ID schemeID=\"VA\">FR40303265045</ram:ID>"));
        assert!(xml.contains("<ram:URIID schemeID=\"EM\">factures@prorata.example</ram:URIID>"));
    }

    #[test]
    fn an_eu_business_buyer_is_reverse_charged() {
        let docs = play(SEED_CREDIT_NOTE, "DE", Some("DE136695976"));
        let cn = find(&docs, "CN-000001");
        for (lang, reason) in [(Lang::Fr, "Autoliquidation"), (Lang::En, "Reverse charge")] {
            let xml = invoice_xml(cn, lang).unwrap();
            assert_eq!(values(&xml, "ram:CategoryCode"), ["AE", "AE"]);
            assert_eq!(values(&xml, "ram:ExemptionReason"), [reason]);
            assert_eq!(values(&xml, "ram:ExemptionReasonCode"), ["VATEX-EU-AE"]);
            assert_eq!(values(&xml, "ram:RateApplicablePercent"), ["0", "0"]);
            assert_eq!(values(&xml, "ram:CalculatedAmount"), ["0.00"]);
            assert_eq!(values(&xml, "ram:GrandTotalAmount"), ["104.52"]);
            // BR-AE-02: both VAT numbers.
            assert!(xml.contains("<ram:ID schemeID=\"VA\">DE136695976</ram:ID>"));
            assert!(xml.contains("<ram:ID schemeID=\"VA\">FR11123456782</ram:ID>"));
        }
        let xml = invoice_xml(cn, Lang::En).unwrap();
        assert!(xml.contains("Reverse charge: VAT to be accounted for by the customer"));
    }

    #[test]
    fn a_buyer_outside_the_eu_is_not_subject_to_vat() {
        let docs = play(SEED_CREDIT_NOTE, "US", None);
        let cn = find(&docs, "CN-000001");
        let xml = invoice_xml(cn, Lang::En).unwrap();
        assert_eq!(values(&xml, "ram:CategoryCode"), ["O", "O"]);
        assert_eq!(values(&xml, "ram:ExemptionReason"), ["Not subject to VAT"]);
        assert_eq!(values(&xml, "ram:ExemptionReasonCode"), ["VATEX-EU-O"]);
        // BR-O-05 and BR-48: no rate at all; BR-O-02: no VAT identifier (BT-31/48).
        assert!(values(&xml, "ram:RateApplicablePercent").is_empty());
        assert!(!xml.contains("schemeID=\"VA\""));
        assert!(xml.contains("<ram:ID schemeID=\"FC\">FR11123456782</ram:ID>"));
        let xml = invoice_xml(cn, Lang::Fr).unwrap();
        assert_eq!(values(&xml, "ram:ExemptionReason"), ["Non soumis à la TVA"]);
        // A consumer: no penalties or indemnity owed.
        assert!(!values(&xml, "ram:SubjectCode").contains(&"PMT".to_string()));
    }

    #[test]
    fn a_credit_line_on_an_invoice_stays_negative_and_the_balance_is_a_note() {
        let mut credit = recurring("user", -2, "30.00", -6000);
        credit.explanation = "2 × 30.00 EUR = 60.00 EUR".into();
        let doc = invoice(vec![recurring("user", 4, "30.00", 12000), credit], 5000);
        let xml = invoice_xml(&doc, Lang::En).unwrap();
        assert_eq!(values(&xml, "ram:TypeCode")[0], "380");
        assert_eq!(values(&xml, "ram:BilledQuantity"), ["4", "-2"]);
        assert_eq!(values(&xml, "ram:ChargeAmount"), ["30.00", "30.00"]);
        assert_eq!(
            values(&xml, "ram:LineTotalAmount"),
            ["120.00", "-60.00", "60.00"]
        );
        assert_eq!(values(&xml, "ram:GrandTotalAmount"), ["72.00"]);
        // BR-CO-16: due is this invoice's total; the older balance is only told.
        assert_eq!(values(&xml, "ram:DuePayableAmount"), ["72.00"]);
        assert!(xml.contains(
            "Previous unpaid balance: €50.00. Amount due, this invoice included: €122.00."
        ));
        assert_eq!(values(&xml, "ram:PaymentReference"), ["INV-000042"]);
        // A transfer with no account to name is not a "credit transfer" (BR-61).
        assert_eq!(means_code(&xml), "42");
        assert_eq!(
            values(&xml, "ram:Description"),
            ["Payable by 5 September 2024."]
        );
        assert!(xml.contains("<udt:DateTimeString format=\"102\">20240905</udt:DateTimeString>"));
    }

    #[test]
    fn usage_bills_minutes_or_seconds_at_the_minute_price() {
        let doc = invoice(
            vec![
                // 1,500 min, 1,000 in the bundle: 30,000 s × 0.0150 / 60 = 7.50.
                usage("outbound_fr_fixed", 90_000, 60_000, Some("0.0150"), 750),
                // 12 min 34 s × 0.0200 = 0.2513… -> 0.25.
                usage("outbound_us_ca", 754, 0, Some("0.0200"), 25),
                // Graduated tiers: no one price.
                usage("outbound_world", 72_000, 0, None, 28_500),
                // A late correction whose cent differs from its own seconds' rounding.
                usage("outbound_eu", 10, 0, Some("0.0400"), 2),
            ],
            0,
        );
        let xml = invoice_xml(&doc, Lang::En).unwrap();
        assert_eq!(values(&xml, "ram:BilledQuantity"), ["500", "754", "1", "1"]);
        assert!(xml.contains("<ram:BilledQuantity unitCode=\"MIN\">500</ram:BilledQuantity>"));
        assert!(xml.contains("<ram:BilledQuantity unitCode=\"SEC\">754</ram:BilledQuantity>"));
        assert!(xml.contains("<ram:BasisQuantity unitCode=\"SEC\">60</ram:BasisQuantity>"));
        assert_eq!(
            values(&xml, "ram:ChargeAmount"),
            ["0.0150", "0.0200", "285.00", "0.02"]
        );
        assert!(xml.contains("<ram:SellerAssignedID>outbound_us_ca</ram:SellerAssignedID>"));
        // No previous balance: no note about it.
        assert!(!xml.contains("Previous unpaid balance"));
    }

    #[test]
    fn prorated_lines_fall_back_to_their_amount_when_the_days_do_not_round_to_it() {
        let mut l = recurring("user", 4, "30.00", 10452);
        l.proration = Some(Fraction {
            num: 27,
            den: 31,
            unit: FractionUnit::Days,
            ratio: None,
        });
        let mut off = l.clone();
        // Cumulative rounding may move a slice by a cent.
        off.amount = Money::from_minor(10453, Currency::EUR);
        let xml = invoice_xml(&invoice(vec![l, off], 0), Lang::En).unwrap();
        assert_eq!(values(&xml, "ram:BilledQuantity"), ["108", "1"]);
        assert_eq!(values(&xml, "ram:ChargeAmount"), ["30.00", "104.53"]);
        assert_eq!(values(&xml, "ram:BasisQuantity"), ["31"]);
    }

    #[test]
    fn payment_means_follow_untdid_4461() {
        let mut doc = invoice(vec![recurring("user", 4, "30.00", 12000)], 0);
        let cases = [
            (
                PaymentDetails::Card {
                    card: "Visa •••• 4242 (12/2028)".into(),
                },
                "48",
            ),
            (
                PaymentDetails::SepaDebit {
                    account: "FR76 •••• 0189".into(),
                    mandate_reference: "MD-7".into(),
                },
                "59",
            ),
            (
                PaymentDetails::AchDebit {
                    account: "011000015 •••• 6789".into(),
                },
                "49",
            ),
            (
                PaymentDetails::BankTransfer {
                    bank: Some(BankDetails {
                        holder: "Prorata SAS".into(),
                        iban: "FR76 3000 6000 0112 3456 7890 189".into(),
                        bic: "AGRIFRPP".into(),
                    }),
                },
                "58",
            ),
        ];
        for (payment, code) in cases {
            doc.payment = Some(payment);
            let xml = invoice_xml(&doc, Lang::Fr).unwrap();
            assert_eq!(means_code(&xml), code, "{xml}");
        }
        let xml = invoice_xml(&doc, Lang::Fr).unwrap();
        assert_eq!(values(&xml, "ram:IBANID"), ["FR7630006000011234567890189"]);
        assert_eq!(values(&xml, "ram:BICID"), ["AGRIFRPP"]);
        assert_eq!(values(&xml, "ram:PaymentReference"), ["INV-000042"]);
        doc.payment = Some(PaymentDetails::SepaDebit {
            account: "FR76 •••• 0189".into(),
            mandate_reference: "MD-7".into(),
        });
        let xml = invoice_xml(&doc, Lang::Fr).unwrap();
        assert_eq!(values(&xml, "ram:DirectDebitMandateID"), ["MD-7"]);
        assert!(
            values(&xml, "ram:IBANID").is_empty(),
            "a masked IBAN is no IBAN"
        );
        assert!(values(&xml, "ram:PaymentReference").is_empty());
        doc.payment = Some(PaymentDetails::Card {
            card: "Visa •••• 4242 (12/2028)".into(),
        });
        let xml = invoice_xml(&doc, Lang::Fr).unwrap();
        let card = values(&xml, "ram:ApplicableTradeSettlementFinancialCard");
        assert_eq!(values(&card[0], "ram:ID"), ["4242"]);
        assert!(
            xml.contains("carte Visa •••• 4242 (12/2028) débitée automatiquement le 6 août 2024")
        );
    }

    #[test]
    fn text_is_escaped_and_documents_without_parties_are_refused() {
        let mut l = recurring("user", 1, "30.00", 3000);
        l.description = "R&D <\"pro\"> l'offre\u{1}".into();
        let mut doc = invoice(vec![l], 0);
        if let Some(b) = doc.buyer.as_mut() {
            b.name = "Smith & Sons".into();
        }
        let xml = invoice_xml(&doc, Lang::En).unwrap();
        assert!(xml.contains("<ram:Name>R&amp;D &lt;&quot;pro&quot;&gt; l&apos;offre</ram:Name>"));
        assert!(xml.contains("<ram:Name>Smith &amp; Sons</ram:Name>"));
        let mut no_seller = doc.clone();
        no_seller.seller = None;
        assert_eq!(
            invoice_xml(&no_seller, Lang::En),
            Err(CiiError::NoSeller {
                number: "INV-000042".into()
            })
        );
        let mut no_buyer = doc.clone();
        no_buyer.buyer = None;
        assert!(matches!(
            invoice_xml(&no_buyer, Lang::En),
            Err(CiiError::NoBuyer { .. })
        ));
        doc.lines.clear();
        assert!(matches!(
            invoice_xml(&doc, Lang::En),
            Err(CiiError::NoLines { .. })
        ));
    }

    /// Every kind of document the tests build, named for the checker's report.
    /// The minimum-commitment example's documents, with a complete seller and a French buyer.
    fn minimum_commitment() -> Vec<Document> {
        let mut s =
            Scenario::from_toml(include_str!("../../../examples/minimum-commitment.toml")).unwrap();
        s.settings.seller = seller();
        s.account.address = Address {
            line1: "3 place Bellecour".into(),
            postcode: "69002".into(),
            city: "Lyon".into(),
            ..Address::default()
        };
        let catalog = Catalog::from_toml(include_str!(
            "../../../examples/catalogs/minimum-commitment.toml"
        ))
        .unwrap();
        scenario::run(&s, &catalog)
            .unwrap()
            .documents()
            .cloned()
            .collect()
    }

    #[test]
    fn a_true_up_line_reads_as_one_unit_of_its_amount() {
        let docs = minimum_commitment();
        // examples/minimum-commitment.toml: January's true-up, 100.00 × 17/31 = 54.84 −
        // charges 25.97 = 28.87, beside February's fee 20.00 and January's 150 calls, 15.00.
        let xml = invoice_xml(find(&docs, "INV-000002"), Lang::En).unwrap();
        let ids = values(&xml, "ram:SellerAssignedID");
        let at = ids.iter().position(|i| i == "minimum-commitment").unwrap();
        assert_eq!(values(&xml, "ram:LineTotalAmount")[at], "28.87");
        assert_eq!(values(&xml, "ram:BilledQuantity")[at], "1");
        assert_eq!(values(&xml, "ram:TaxBasisTotalAmount"), ["63.87"]);
        // The credit note taking 30.00 of February's true-up back reads positive.
        let xml = invoice_xml(find(&docs, "CN-000001"), Lang::En).unwrap();
        // The line's total, then the document's sum of lines.
        assert_eq!(values(&xml, "ram:LineTotalAmount"), ["30.00", "30.00"]);
        assert_eq!(values(&xml, "ram:TaxBasisTotalAmount"), ["30.00"]);
    }

    /// The seed's documents for a company (when French, known by its SIREN and SIRET),
    /// delivered in Lyon away from its billing address, from a seller of `category` that opted (or not) for VAT on debits.
    fn reform(category: OperationCategory, debits: bool, buyer_country: &str) -> Vec<Document> {
        // A number of the buyer's own country: reverse charge wants one (issue #17).
        let vat = if buyer_country == "DE" {
            "DE136695976"
        } else {
            "FR40303265045"
        };
        let mut docs = play(SEED_CREDIT_NOTE, buyer_country, Some(vat));
        for d in &mut docs {
            if let Some(s) = d.seller.as_mut() {
                s.operation_category = Some(category);
                s.vat_on_debits = debits;
            }
            if let Some(b) = d.buyer.as_mut() {
                if buyer_country == "FR" {
                    b.siren = Some("303265045".into());
                    b.siret = Some("30326504500011".into());
                }
                b.delivery_address = Some(DeliveryAddress {
                    line1: "8 quai Saint-Vincent".into(),
                    postcode: "69001".into(),
                    city: "Lyon".into(),
                    country: "FR".into(),
                    ..DeliveryAddress::default()
                });
            }
        }
        docs
    }

    #[test]
    fn the_2026_mentions_go_in_the_fields_en_16931_has_for_them() {
        let docs = reform(OperationCategory::Services, true, "FR");
        for number in ["INV-000002", "CN-000001"] {
            let xml = invoice_xml(find(&docs, number), Lang::Fr).unwrap();
            // BT-23: services, S1; BT-8: VAT on debits, code 5 (on the French VAT only).
            let context = values(&xml, "rsm:ExchangedDocumentContext");
            assert_eq!(
                values(&context[0], "ram:ID"),
                ["S1", super::GUIDELINE_ID],
                "{xml}"
            );
            assert_eq!(values(&xml, "ram:DueDateTypeCode"), ["5"]);
            // BT-46 SIRET (ICD 0009) and BT-47 SIREN (ICD 0002) of the buyer.
            let buyer = values(&xml, "ram:BuyerTradeParty");
            assert!(
                buyer[0].contains("<ram:GlobalID schemeID=\"0009\">30326504500011</ram:GlobalID>")
            );
            assert!(buyer[0].contains("<ram:ID schemeID=\"0002\">303265045</ram:ID>"));
            // BG-13/15: the delivery address, with the buyer's name.
            let ship_to = values(&xml, "ram:ShipToTradeParty");
            assert_eq!(values(&ship_to[0], "ram:LineOne"), ["8 quai Saint-Vincent"]);
            assert_eq!(values(&ship_to[0], "ram:PostcodeCode"), ["69001"]);
            assert_eq!(values(&ship_to[0], "ram:Name"), ["Lumen Conseil SAS"]);
            // BR-FR-05: the discount terms in their own note (invoices to businesses).
            let subjects = values(&xml, "ram:SubjectCode");
            assert_eq!(subjects.contains(&"AAB".into()), number.starts_with("INV"));
            let notes = values(&xml, "ram:Content");
            for mention in [
                "Catégorie de l'opération : prestation de services.",
                "Option pour le paiement de la taxe d'après les débits.",
            ] {
                assert!(notes.contains(&super::escape(mention)), "{notes:?}");
            }
        }
        let xml = invoice_xml(
            find(&reform(OperationCategory::Mixed, false, "FR"), "INV-000002"),
            Lang::En,
        )
        .unwrap();
        assert!(xml.contains("<ram:ID>M1</ram:ID>"));
        assert!(values(&xml, "ram:DueDateTypeCode").is_empty());
        assert!(xml.contains("Category of the operation: supply of goods and services."));
        assert!(!xml.contains("debits"));
        // Reverse charge: the seller owes no VAT, so when it falls due is not its to say.
        let xml = invoice_xml(
            find(&reform(OperationCategory::Goods, true, "DE"), "INV-000002"),
            Lang::En,
        )
        .unwrap();
        assert!(xml.contains("<ram:ID>B1</ram:ID>"));
        assert!(values(&xml, "ram:DueDateTypeCode").is_empty());
    }

    #[test]
    fn without_a_delivery_address_the_buyer_is_delivered_and_no_element_is_empty() {
        for (tag, xml) in samples() {
            // An element opened and closed at once, or with nothing but blanks inside.
            let mut rest = xml.as_str();
            assert!(!xml.contains("/>"), "{tag}: an empty element\n{xml}");
            while let Some(i) = rest.find("></") {
                let open = rest[..i].rfind('<').unwrap();
                assert!(
                    rest[open..].starts_with("</"),
                    "{tag}: empty element {}",
                    &rest[open..i + 1]
                );
                rest = &rest[i + 3..];
            }
        }
        let docs = play(SEED_CREDIT_NOTE, "FR", Some("FR40303265045"));
        let xml = invoice_xml(find(&docs, "INV-000002"), Lang::Fr).unwrap();
        let ship_to = values(&xml, "ram:ShipToTradeParty");
        assert_eq!(values(&ship_to[0], "ram:LineOne"), ["3 place Bellecour"]);
        // A buyer with no SIREN or SIRET; a seller of services by default.
        assert!(values(&xml, "ram:GlobalID").is_empty());
        assert!(xml.contains("<ram:ID>S1</ram:ID>"));
        // A document issued before snapshots carried the category states none.
        let mut older = invoice(vec![recurring("user", 1, "30.00", 3000)], 0);
        if let Some(s) = older.seller.as_mut() {
            s.operation_category = None;
        }
        let xml = invoice_xml(&older, Lang::Fr).unwrap();
        assert!(!xml.contains("BusinessProcessSpecifiedDocumentContextParameter"));
    }

    fn samples() -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |tag: &str, doc: &Document, lang: Lang| {
            let xml = invoice_xml(doc, lang).unwrap();
            out.push((format!("{tag}-{}.xml", doc.number), xml));
        };
        for d in &play(SEED_CREDIT_NOTE, "FR", Some("FR40303265045")) {
            add("seed-fr", d, Lang::Fr);
        }
        for d in &play(SEED_CREDIT_NOTE, "DE", Some("DE136695976")) {
            add("seed-de", d, Lang::En);
        }
        for d in &play(SEED_CREDIT_NOTE, "US", None) {
            add("seed-us", d, Lang::En);
        }
        for d in &play(ANNUAL_WITH_USAGE, "DE", Some("DE136695976")) {
            add("annual-de", d, Lang::En);
        }
        for d in &play(ANNUAL_WITH_USAGE, "FR", Some("FR40303265045")) {
            add("annual-fr", d, Lang::Fr);
        }
        for d in &minimum_commitment() {
            add("minimum", d, Lang::En);
        }
        for (tag, category, debits, country, lang) in [
            (
                "reform-services-fr",
                OperationCategory::Services,
                true,
                "FR",
                Lang::Fr,
            ),
            (
                "reform-goods-en",
                OperationCategory::Goods,
                false,
                "FR",
                Lang::En,
            ),
            (
                "reform-mixed-de",
                OperationCategory::Mixed,
                true,
                "DE",
                Lang::En,
            ),
        ] {
            for d in &reform(category, debits, country) {
                add(tag, d, lang);
            }
        }
        let mut credit = recurring("user", -2, "30.00", -6000);
        credit.description = "R&D <\"pro\"> l'offre".into();
        let mut doc = invoice(
            vec![
                recurring("user", 4, "30.00", 12000),
                credit,
                usage("outbound_us_ca", 754, 0, Some("0.0200"), 25),
                usage("outbound_world", 72_000, 0, None, 28_500),
            ],
            5000,
        );
        add("mixed", &doc, Lang::En);
        add("netted", &netted_invoice(), Lang::En);
        doc.payment = Some(PaymentDetails::BankTransfer {
            bank: Some(BankDetails {
                holder: "Prorata SAS".into(),
                iban: "FR76 3000 6000 0112 3456 7890 189".into(),
                bic: "AGRIFRPP".into(),
            }),
        });
        add("transfer", &doc, Lang::Fr);
        doc.payment = Some(PaymentDetails::SepaDebit {
            account: "FR76 •••• 0189".into(),
            mandate_reference: "MD-7".into(),
        });
        add("sepa", &doc, Lang::Fr);
        doc.payment = Some(PaymentDetails::Card {
            card: "Visa •••• 4242 (12/2028)".into(),
        });
        add("card", &doc, Lang::En);
        let mut yen = recurring("user", 3, "1500", 4500);
        yen.amount = Money::from_minor(4500, Currency::JPY);
        let mut doc = invoice(vec![yen], 0);
        doc.payment = Some(PaymentDetails::AchDebit {
            account: "011000015 •••• 6789".into(),
        });
        add("jpy", &doc, Lang::En);
        out
    }

    /// The official Factur-X schema and the script's own EN 16931 arithmetic, on every sample.
    /// Outside CI a machine without python3 or factur-x skips it; in CI that is a failure.
    #[test]
    fn every_sample_passes_the_factur_x_checker() {
        let script = prorata_testkit::checks::facturx_script();
        assert!(script.is_file(), "{} is missing", script.display());
        let dir = std::env::temp_dir().join(format!("prorata-cii-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files: Vec<PathBuf> = Vec::new();
        for (name, xml) in samples() {
            let path = dir.join(name);
            std::fs::write(&path, xml).unwrap();
            files.push(path);
        }
        prorata_testkit::checks::facturx_check(&files);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

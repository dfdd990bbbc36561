//! The seller: who issues the documents, as French law and EN 16931 want it printed.
//!
//! A tenant's settings hold its seller identity; every document copies it when issued
//! ([`Seller::snapshot`]), like the buyer, so a later change of address or name shows on later
//! documents only. The legal mentions printed on French business invoices come from here: legal
//! name and form, SIREN, VAT number, payment terms, the late-payment penalty rate, and the
//! fixed 40 € recovery indemnity (Code de commerce, art. L441-10 and D441-5). The 2026
//! e-invoicing reform adds two of the seller's choices: the category of its operations (goods,
//! services or both, [`OperationCategory`]) and the option to pay VAT on debits.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::account::Address;
use crate::decimal::Decimal;
use crate::tax;

/// The fixed recovery indemnity owed by a business customer paying late, in euros
/// (art. D441-5 of the Code de commerce).
pub const RECOVERY_INDEMNITY_EUR: i64 = 40;

/// A tenant's seller identity (part of its settings). Omitted fields keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Seller {
    /// Registered name; empty means "the tenant's name".
    pub legal_name: String,
    /// Legal form and capital as printed, e.g. "SAS au capital de 10 000 €".
    pub legal_form: String,
    pub address: Address,
    /// SIREN, 9 digits (French sellers).
    pub siren: String,
    /// Intra-community VAT number, e.g. FR40303265045.
    pub vat_number: String,
    /// Where customers write about invoices.
    pub email: String,
    /// Days between issue and due date; 0 means payable on receipt.
    pub payment_terms_days: u32,
    /// Late-payment penalty rate, percent a year (by default the ECB rate plus 10 points).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "12.15"))]
    pub late_penalty_rate: Decimal,
    /// What the seller supplies, printed on every document since the 2026 reform (services
    /// by default: a SaaS vendor's subscriptions and usage are services).
    pub operation_category: OperationCategory,
    /// The seller opted to pay VAT on debits (art. 269-2-c of the CGI): VAT on its services is
    /// due when invoiced rather than when paid, and its invoices must say so.
    pub vat_on_debits: bool,
    /// The SHA-256 (hex) of the tenant's logo, printed top left on every document: set and
    /// removed with its own call (which stores the picture), never with the rest of the seller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

/// The category of the operations a document bills (the 2026 reform's *catégorie de
/// l'opération*): it travels in the XML as the French billing framework (BT-23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationCategory {
    /// Supplies of goods (*livraisons de biens*).
    Goods,
    /// Supplies of services (*prestations de services*).
    #[default]
    Services,
    /// Both, neither ancillary to the other.
    Mixed,
}

impl OperationCategory {
    /// The French billing framework (BT-23) of a plain invoice or credit note, not yet paid:
    /// B1 goods, S1 services, M1 mixed.
    pub fn billing_framework(self) -> &'static str {
        match self {
            OperationCategory::Goods => "B1",
            OperationCategory::Services => "S1",
            OperationCategory::Mixed => "M1",
        }
    }
}

impl Default for Seller {
    fn default() -> Self {
        Seller {
            legal_name: String::new(),
            legal_form: String::new(),
            address: Address::default(),
            siren: String::new(),
            vat_number: String::new(),
            email: String::new(),
            payment_terms_days: 0,
            // 2.15 % (ECB main refinancing rate, 2026) + 10 points.
            late_penalty_rate: Decimal::new(1215, 2).unwrap_or_else(|| Decimal::from_int(12)),
            operation_category: OperationCategory::default(),
            vat_on_debits: false,
            logo: None,
        }
    }
}

/// What a document copies of its seller when issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SellerSnapshot {
    pub legal_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub legal_form: String,
    pub address: Address,
    /// ISO 3166-1 alpha-2 (the tax rules' seller country).
    pub country: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub siren: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vat_number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    pub late_penalty_rate: Decimal,
    /// `None` on documents issued before snapshots carried it: they print no category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_category: Option<OperationCategory>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vat_on_debits: bool,
    /// The SHA-256 (hex) of the logo the document was issued with: a later logo never
    /// changes it, so a re-render gives the same bytes. `None`: no logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

impl Seller {
    /// The seller as a document prints it: `tenant_name` stands in for an empty legal name,
    /// `country` is the tax rules' seller country.
    pub fn snapshot(&self, tenant_name: &str, country: &str) -> SellerSnapshot {
        SellerSnapshot {
            legal_name: if self.legal_name.trim().is_empty() {
                tenant_name.to_string()
            } else {
                self.legal_name.clone()
            },
            legal_form: self.legal_form.clone(),
            address: self.address.clone(),
            country: country.to_string(),
            siren: self.siren.clone(),
            vat_number: self.vat_number.clone(),
            email: self.email.clone(),
            late_penalty_rate: self.late_penalty_rate,
            operation_category: Some(self.operation_category),
            vat_on_debits: self.vat_on_debits,
            logo: self.logo.clone(),
        }
    }

    /// The due date of a document issued on `issued_on`.
    pub fn due_on(&self, issued_on: NaiveDate) -> NaiveDate {
        issued_on
            .checked_add_days(chrono::Days::new(u64::from(self.payment_terms_days)))
            .unwrap_or(issued_on)
    }

    /// Checks what a person types; the error names the field.
    pub fn validate(&self, country: &str) -> Result<(), (String, String)> {
        let bad = |field: &str, problem: String| Err((format!("seller.{field}"), problem));
        for (field, value, max) in [
            ("legal_name", &self.legal_name, 200),
            ("legal_form", &self.legal_form, 100),
            ("email", &self.email, 254),
            ("address.line1", &self.address.line1, 200),
            ("address.line2", &self.address.line2, 200),
            ("address.postcode", &self.address.postcode, 20),
            ("address.city", &self.address.city, 100),
            ("address.state", &self.address.state, 100),
        ] {
            if value.len() > max {
                return bad(field, format!("is longer than {max} characters"));
            }
        }
        if !self.siren.is_empty() && !siren_valid(&self.siren) {
            return bad(
                "siren",
                format!(
                    "{:?} is not a SIREN (9 digits with a Luhn check)",
                    self.siren
                ),
            );
        }
        if !self.vat_number.is_empty() {
            let v = &self.vat_number;
            let shaped = v.len() >= 4
                && v.len() <= 16
                && v.bytes().all(|b| b.is_ascii_alphanumeric())
                && v.as_bytes()[..2].iter().all(u8::is_ascii_uppercase);
            if !shaped {
                return bad(
                    "vat_number",
                    "expected a country prefix and digits, e.g. FR40303265045".into(),
                );
            }
            if v.starts_with("FR") && !self.siren.is_empty() && *v != french_vat_number(&self.siren)
            {
                return bad(
                    "vat_number",
                    format!(
                        "{v} does not match SIREN {} (expected {})",
                        self.siren,
                        french_vat_number(&self.siren)
                    ),
                );
            }
        }
        if self.payment_terms_days > 60 {
            // Art. L441-10: at most 60 days from the invoice date.
            return bad(
                "payment_terms_days",
                "French law allows at most 60 days".into(),
            );
        }
        if self.late_penalty_rate.is_negative()
            || self
                .late_penalty_rate
                .cmp_value(Decimal::from_int(100))
                .is_gt()
        {
            return bad(
                "late_penalty_rate",
                format!(
                    "{} is not a percentage between 0 and 100",
                    self.late_penalty_rate
                ),
            );
        }
        tax::country_code(country).map_err(|e| ("tax.seller_country".to_string(), e))?;
        Ok(())
    }
}

/// A SIREN is 9 digits whose Luhn sum is a multiple of 10.
pub fn siren_valid(siren: &str) -> bool {
    siren.len() == 9
        && siren.bytes().all(|b| b.is_ascii_digit())
        && crate::payment::luhn_valid(siren)
}

/// La Poste's SIREN: its thousands of establishments outgrew the Luhn key, so INSEE may number
/// their SIRETs so that the sum of the digits is a multiple of 5 instead.
const LA_POSTE_SIREN: &str = "356000000";

/// A SIRET is 14 digits, the SIREN followed by the establishment's number, whose Luhn sum is
/// a multiple of 10 (La Poste's may instead follow [`LA_POSTE_SIREN`]'s rule).
pub fn siret_valid(siret: &str) -> bool {
    if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) || !siren_valid(&siret[..9])
    {
        return false;
    }
    let la_poste = siret.starts_with(LA_POSTE_SIREN)
        && siret.bytes().map(|b| u32::from(b - b'0')).sum::<u32>() % 5 == 0;
    la_poste || crate::payment::luhn_valid(siret)
}

/// The French VAT number of a SIREN: FR, a two-digit key (12 + 3 × (SIREN mod 97)) mod 97,
/// and the SIREN.
pub fn french_vat_number(siren: &str) -> String {
    let n: u64 = siren.parse().unwrap_or(0);
    format!("FR{:02}{siren}", (12 + 3 * (n % 97)) % 97)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_and_its_vat_number() {
        // INSEE's own example: SIREN 303 265 045, VAT FR40303265045.
        assert!(siren_valid("303265045"));
        assert!(!siren_valid("303265046"));
        assert!(!siren_valid("30326504"));
        assert_eq!(french_vat_number("303265045"), "FR40303265045");
    }

    #[test]
    fn a_siret_is_its_siren_and_an_establishment_with_a_luhn_key() {
        // INSEE's headquarters in Montrouge: SIREN 120 027 016, SIRET 120 027 016 00019.
        assert!(siret_valid("12002701600019"));
        assert!(!siret_valid("12002701600018"), "wrong key");
        assert!(!siret_valid("1200270160001"), "13 digits");
        assert!(!siret_valid("1200270160001A"));
        // La Poste: its head office has a Luhn key; an establishment may instead have digits
        // summing to a multiple of 5.
        assert!(siret_valid("35600000000048"));
        assert!(siret_valid("35600000000051"));
        assert!(!siret_valid("35600000000052"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = Seller {
            siren: "303265045".into(),
            vat_number: "FR40303265045".into(),
            ..Seller::default()
        };
        assert_eq!(s.validate("FR"), Ok(()));
        s.vat_number = "FR41303265045".into();
        assert_eq!(
            s.validate("FR").map_err(|e| e.0),
            Err("seller.vat_number".to_string())
        );
        s.vat_number = String::new();
        s.siren = "123".into();
        assert_eq!(
            s.validate("FR").map_err(|e| e.0),
            Err("seller.siren".to_string())
        );
        s.siren = String::new();
        s.payment_terms_days = 90;
        assert_eq!(
            s.validate("FR").map_err(|e| e.0),
            Err("seller.payment_terms_days".to_string())
        );
    }

    #[test]
    fn snapshot_falls_back_to_the_tenant_name_and_due_date_follows_terms() {
        let s = Seller {
            payment_terms_days: 30,
            ..Seller::default()
        };
        let snap = s.snapshot("Acme", "FR");
        assert_eq!(
            (snap.legal_name.as_str(), snap.country.as_str()),
            ("Acme", "FR")
        );
        let d = NaiveDate::from_ymd_opt(2024, 7, 10).unwrap_or_default();
        assert_eq!(s.due_on(d).to_string(), "2024-08-09");
    }
}

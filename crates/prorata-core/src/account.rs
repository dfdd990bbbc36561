//! Customer accounts and who may change what (seed 003, seed 004).
//!
//! - During the trial the owner may change every billing detail.
//! - After the trial the owner may change the address, postcode and city only; the state,
//!   country and VAT number go through the billing team, because they change the VAT.
//! - Only the owner (and the billing team) see invoices and the billing tab.
//! - A changed buyer address shows on future documents only: documents copy the buyer when
//!   they are issued ([`Account::buyer_snapshot`]).
//! - The 2026 e-invoicing reform's buyer mentions live here too: the buyer's SIREN (and the
//!   SIRET of the establishment billed, where known), checked by their keys, and the delivery
//!   address, which documents carry only when it differs from the billing address.
//! - A VAT number must parse ([`crate::vat_number`]: shape and check key), be of the account's
//!   country when that is a member state, and come with an address line, postcode and city:
//!   an account that could not be invoiced lawfully under reverse charge is refused, the error
//!   naming the field, at creation and at every change of the number, the country or the
//!   address. One stored before these rules keeps taking other changes (contacts, name).

use serde::{Deserialize, Serialize};

use crate::catalog::Lang;
use crate::money::Currency;
use crate::tax::{self, Buyer};
use crate::vat_number::{VatNumber, VatNumberError};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
    /// State or region (shown for the United States).
    #[serde(default)]
    pub state: String,
}

/// Where the services or goods are delivered, when not at the billing address (EN 16931
/// BG-15): an address with its own country.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({
        "line1": "8 quai Saint-Vincent", "postcode": "69001", "city": "Lyon", "country": "FR"
    }))
)]
#[serde(deny_unknown_fields)]
pub struct DeliveryAddress {
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: String,
}

impl DeliveryAddress {
    /// The address part, as documents print addresses.
    pub fn address(&self) -> Address {
        Address {
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            postcode: self.postcode.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
        }
    }

    /// Whether it names no place at all (a patch's way of removing it).
    pub fn is_empty(&self) -> bool {
        [
            &self.line1,
            &self.line2,
            &self.postcode,
            &self.city,
            &self.state,
            &self.country,
        ]
        .iter()
        .all(|f| f.trim().is_empty())
    }

    /// Whether it is `address` in `country`, blanks and letter case aside: then it is no
    /// separate delivery address and documents do not repeat it.
    pub fn is_at(&self, address: &Address, country: &str) -> bool {
        let same = |a: &str, b: &str| {
            let words = |s: &str| {
                s.split_whitespace()
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            };
            words(a) == words(b)
        };
        same(&self.line1, &address.line1)
            && same(&self.line2, &address.line2)
            && same(&self.postcode, &address.postcode)
            && same(&self.city, &address.city)
            && same(&self.state, &address.state)
            && same(&self.country, country)
    }
}

impl Address {
    /// The first part an invoice to a business cannot go without (line, postcode, city), as
    /// the field an error names; `None` when the address is complete.
    pub fn first_missing(&self) -> Option<&'static str> {
        [
            ("address.line1", &self.line1),
            ("address.postcode", &self.postcode),
            ("address.city", &self.city),
        ]
        .into_iter()
        .find(|(_, v)| v.trim().is_empty())
        .map(|(field, _)| field)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({
        "name": "Lumen SAS",
        "website": "https://lumen.example",
        "address": {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris"},
        "country": "FR",
        "vat_number": "FR40303265045",
        "currency": "EUR",
        "language": "fr",
        "time_zone": "Europe/Paris",
        "billing_contacts": ["billing@lumen.example"]
    }))
)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub address: Address,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Intra-community VAT number, checked by country (shape and, for FR, DE, IT, ES, BE and
    /// NL, the check key) and stored in its canonical form; it requires `address.line1`,
    /// `address.postcode` and `address.city`.
    #[serde(default)]
    pub vat_number: Option<String>,
    pub currency: Currency,
    #[serde(default)]
    pub language: Lang,
    /// IANA zone name; billing dates are local dates in it.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Who receives invoices by e-mail (seed 004's billing-contact list).
    #[serde(default)]
    pub billing_contacts: Vec<String>,
    /// The buyer's SIREN, 9 digits (French companies): a mandatory mention from the 2026
    /// reform, EN 16931 BT-47.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren: Option<String>,
    /// The SIRET of the establishment billed, 14 digits starting with the SIREN (BT-46).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    /// Where the supply is delivered, when not at the billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<DeliveryAddress>,
}

fn default_time_zone() -> String {
    "Europe/Paris".into()
}

/// What a document copies of its buyer when issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuyerSnapshot {
    pub name: String,
    pub address: Address,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    /// The language the document is written in: the account's when it was issued (`None` on
    /// documents issued before snapshots carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Lang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    /// Only when it differs from the billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<DeliveryAddress>,
}

/// Who is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The customer's account owner.
    Owner,
    /// The vendor's billing team (or its API).
    BillingTeam,
}

/// A change to an account: absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub website: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    /// `Some("")` removes the VAT number.
    pub vat_number: Option<String>,
    pub language: Option<Lang>,
    pub billing_contacts: Option<Vec<String>>,
    /// `Some("")` removes the SIREN (and a SIRET then has nothing to start with).
    pub siren: Option<String>,
    /// `Some("")` removes the SIRET.
    pub siret: Option<String>,
    /// An address with every field empty removes the delivery address.
    pub delivery_address: Option<DeliveryAddress>,
}

/// The problem an address part is refused with when a VAT number needs it (the portal words
/// it in the viewer's language when it sees this one).
pub const ADDRESS_REQUIRED: &str =
    "is required with a VAT number: an invoice to a business prints its address, and reverse \
     charge needs it";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: only the billing team can change it after the trial (seed 003: contact the billing team)")]
    BillingTeamOnly { field: &'static str },
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

impl Account {
    /// Checks the fields a person types, the VAT rules included; the error names the field.
    pub fn validate(&self) -> Result<(), AccountError> {
        self.validate_details()?;
        if let Some(v) = &self.vat_number {
            self.check_vat_number(v)?;
            self.check_address_for_vat()?;
        }
        Ok(())
    }

    /// [`Account::validate`] without the VAT rules.
    fn validate_details(&self) -> Result<(), AccountError> {
        let invalid = |field, problem: &str| AccountError::Invalid {
            field,
            problem: problem.into(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "cannot be empty"));
        }
        if self.name.len() > 200 {
            return Err(invalid("name", "is longer than 200 characters"));
        }
        // Every free-text field is bounded: a megabyte of address is nobody's address.
        for (field, value, max) in [
            ("website", &self.website, 500),
            ("address.line1", &self.address.line1, 200),
            ("address.line2", &self.address.line2, 200),
            ("address.postcode", &self.address.postcode, 20),
            ("address.city", &self.address.city, 100),
            ("address.state", &self.address.state, 100),
        ] {
            if value.len() > max {
                return Err(AccountError::Invalid {
                    field,
                    problem: format!("is longer than {max} characters"),
                });
            }
        }
        tax::country_code(&self.country).map_err(|p| AccountError::Invalid {
            field: "country",
            problem: p,
        })?;
        self.validate_french_ids()?;
        if let Some(d) = &self.delivery_address {
            validate_delivery(d)?;
        }
        if crate::calls::time_zone(&self.time_zone).is_none() {
            return Err(invalid(
                "time_zone",
                "expected an IANA time zone name, e.g. Europe/Paris",
            ));
        }
        for c in &self.billing_contacts {
            let at = c.find('@');
            if !at.is_some_and(|i| i > 0 && i + 1 < c.len()) || c.len() > 254 {
                return Err(invalid(
                    "billing_contacts",
                    "each contact must be an e-mail address",
                ));
            }
        }
        if self.billing_contacts.len() > 50 {
            return Err(invalid("billing_contacts", "at most 50 contacts"));
        }
        Ok(())
    }

    /// SIREN and SIRET: digits only, with their keys, the SIRET within the SIREN.
    fn validate_french_ids(&self) -> Result<(), AccountError> {
        let invalid = |field, problem: String| Err(AccountError::Invalid { field, problem });
        if let Some(siren) = &self.siren {
            if !crate::seller::siren_valid(siren) {
                return invalid(
                    "siren",
                    format!("{siren:?} is not a SIREN: 9 digits with a valid key, e.g. 303265045"),
                );
            }
        }
        if let Some(siret) = &self.siret {
            if !crate::seller::siret_valid(siret) {
                return invalid(
                    "siret",
                    format!(
                        "{siret:?} is not a SIRET: 14 digits with a valid key, e.g. 30326504500011"
                    ),
                );
            }
            match &self.siren {
                None => return invalid("siret", "needs the account's SIREN".into()),
                Some(siren) if !siret.starts_with(siren.as_str()) => {
                    return invalid("siret", format!("does not start with the SIREN {siren}"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A VAT number makes the account a business buyer, invoiced under reverse charge from
    /// another member state: the number must parse and belong to the account's country (a
    /// number of another member state would move the sale there).
    fn check_vat_number(&self, text: &str) -> Result<(), AccountError> {
        let number = VatNumber::parse(text).map_err(|e| AccountError::Invalid {
            field: "vat_number",
            problem: e.to_string(),
        })?;
        let country = self.country.to_ascii_uppercase();
        if tax::is_eu(&country) && number.country() != country {
            return Err(AccountError::Invalid {
                field: "vat_number",
                problem: format!(
                    "{number} is a VAT number of {}, not of the account's country {country}",
                    number.country()
                ),
            });
        }
        Ok(())
    }

    /// With a VAT number, the address an invoice to a business prints (art. 226 of Directive
    /// 2006/112/EC): line, postcode and city.
    fn check_address_for_vat(&self) -> Result<(), AccountError> {
        match self.address.first_missing() {
            Some(field) if self.vat_number.is_some() => Err(AccountError::Invalid {
                field,
                problem: ADDRESS_REQUIRED.into(),
            }),
            _ => Ok(()),
        }
    }

    /// The account as stored: the country in capitals, the VAT number in its canonical form
    /// (`fr 40 303 265 045` is `FR40303265045`), a blank one removed. Values that do not parse
    /// are left for [`Account::validate`] to refuse.
    pub fn normalised(mut self) -> Account {
        if let Ok(c) = tax::country_code(&self.country) {
            self.country = c;
        }
        match self.vat_number.as_deref().map(VatNumber::parse) {
            Some(Ok(number)) => self.vat_number = Some(number.into()),
            Some(Err(VatNumberError::Empty)) => self.vat_number = None,
            _ => {}
        }
        self
    }

    /// The buyer as tax rules see it.
    pub fn buyer(&self) -> Buyer {
        Buyer {
            country: self.country.clone(),
            vat_number: self.vat_number.clone(),
            address_complete: self.address.first_missing().is_none(),
        }
    }

    pub fn buyer_snapshot(&self) -> BuyerSnapshot {
        BuyerSnapshot {
            name: self.name.clone(),
            address: self.address.clone(),
            country: self.country.clone(),
            vat_number: self.vat_number.clone(),
            language: Some(self.language),
            siren: self.siren.clone(),
            siret: self.siret.clone(),
            delivery_address: self
                .delivery_address
                .clone()
                .filter(|d| !d.is_at(&self.address, &self.country)),
        }
    }

    /// Applies `patch` as `actor`, with the seed's rules on who may change what.
    pub fn patched(
        &self,
        patch: &AccountPatch,
        actor: Actor,
        in_trial: bool,
    ) -> Result<Account, AccountError> {
        let restricted = actor == Actor::Owner && !in_trial;
        if restricted {
            for (field, set) in [
                ("state", patch.state.is_some()),
                ("country", patch.country.is_some()),
                ("vat_number", patch.vat_number.is_some()),
            ] {
                if set {
                    return Err(AccountError::BillingTeamOnly { field });
                }
            }
        }
        let mut a = self.clone();
        let set = |target: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                target.clone_from(v);
            }
        };
        set(&mut a.name, &patch.name);
        set(&mut a.website, &patch.website);
        set(&mut a.address.line1, &patch.line1);
        set(&mut a.address.line2, &patch.line2);
        set(&mut a.address.postcode, &patch.postcode);
        set(&mut a.address.city, &patch.city);
        set(&mut a.address.state, &patch.state);
        if let Some(c) = &patch.country {
            a.country = tax::country_code(c).map_err(|p| AccountError::Invalid {
                field: "country",
                problem: p,
            })?;
        }
        if let Some(v) = &patch.vat_number {
            a.vat_number = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(l) = patch.language {
            a.language = l;
        }
        if let Some(c) = &patch.billing_contacts {
            a.billing_contacts.clone_from(c);
        }
        let id = |v: &String| {
            let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            (!v.is_empty()).then_some(v)
        };
        if let Some(v) = &patch.siren {
            a.siren = id(v);
        }
        if let Some(v) = &patch.siret {
            a.siret = id(v);
        }
        if let Some(d) = &patch.delivery_address {
            a.delivery_address = (!d.is_empty()).then(|| d.clone());
        }
        let a = a.normalised();
        a.validate_details()?;
        // The VAT rules bind what the patch touches: an account stored before they existed,
        // with a number that does not pass, can still have its contacts or name changed (its
        // sales are taxed as a consumer's meanwhile, see `tax::Buyer`); its number is checked
        // as soon as it or the country changes, the address as soon as a part of it does.
        let number_touched = patch.vat_number.is_some() || patch.country.is_some();
        let address_touched = number_touched
            || patch.line1.is_some()
            || patch.postcode.is_some()
            || patch.city.is_some();
        if let (Some(v), true) = (&a.vat_number, number_touched) {
            a.check_vat_number(v)?;
        }
        if address_touched {
            a.check_address_for_vat()?;
        }
        Ok(a)
    }
}

/// A delivery address names a country and a place, each field bounded like the billing
/// address's.
fn validate_delivery(d: &DeliveryAddress) -> Result<(), AccountError> {
    for (field, value, max) in [
        ("delivery_address.line1", &d.line1, 200),
        ("delivery_address.line2", &d.line2, 200),
        ("delivery_address.postcode", &d.postcode, 20),
        ("delivery_address.city", &d.city, 100),
        ("delivery_address.state", &d.state, 100),
    ] {
        if value.len() > max {
            return Err(AccountError::Invalid {
                field,
                problem: format!("is longer than {max} characters"),
            });
        }
    }
    if d.city.trim().is_empty() {
        return Err(AccountError::Invalid {
            field: "delivery_address.city",
            problem: "a delivery address needs its city".into(),
        });
    }
    // BR-57: a delivery address always has its country, given as a code.
    tax::country_code(&d.country).map_err(|problem| AccountError::Invalid {
        field: "delivery_address.country",
        problem,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            name: "Lumen Conseil SAS".into(),
            website: String::new(),
            address: Address {
                line1: "1 rue de Rivoli".into(),
                postcode: "75001".into(),
                city: "Paris".into(),
                ..Address::default()
            },
            country: "FR".into(),
            vat_number: Some("FR40303265045".into()),
            currency: Currency::EUR,
            language: Lang::Fr,
            time_zone: default_time_zone(),
            billing_contacts: vec!["compta@lumen.example".into()],
            siren: None,
            siret: None,
            delivery_address: None,
        }
    }

    #[test]
    fn siren_and_siret_are_checked_by_their_keys_and_the_field_is_named() -> Result<(), AccountError>
    {
        let a = account();
        let patch = |siren: &str, siret: &str| AccountPatch {
            siren: Some(siren.into()),
            siret: Some(siret.into()),
            ..AccountPatch::default()
        };
        let ok = a.patched(&patch("303 265 045", "30326504500011"), Actor::Owner, false)?;
        assert_eq!(ok.siren.as_deref(), Some("303265045"));
        assert_eq!(ok.buyer_snapshot().siret.as_deref(), Some("30326504500011"));
        for (siren, siret, field) in [
            ("303265046", "", "siren"),
            ("30326504", "", "siren"),
            ("303265045", "30326504500012", "siret"),
            // A valid SIRET of another company.
            ("303265045", "12002701600019", "siret"),
            ("", "30326504500011", "siret"),
        ] {
            let e = a.patched(&patch(siren, siret), Actor::BillingTeam, false);
            assert!(
                matches!(e, Err(AccountError::Invalid { field: f, .. }) if f == field),
                "{siren} {siret}: {e:?}"
            );
        }
        let cleared = ok.patched(&patch("", ""), Actor::Owner, false)?;
        assert_eq!((cleared.siren, cleared.siret), (None, None));
        Ok(())
    }

    #[test]
    fn a_delivery_address_shows_on_documents_only_when_it_differs_from_the_billing_one(
    ) -> Result<(), AccountError> {
        let mut a = account();
        a.address = Address {
            line1: "1 rue de Rivoli".into(),
            postcode: "75001".into(),
            city: "Paris".into(),
            ..Address::default()
        };
        let same = DeliveryAddress {
            line1: "1  Rue de Rivoli".into(),
            postcode: "75001".into(),
            city: "PARIS".into(),
            country: "FR".into(),
            ..DeliveryAddress::default()
        };
        let patch = |d: &DeliveryAddress| AccountPatch {
            delivery_address: Some(d.clone()),
            ..AccountPatch::default()
        };
        let a = a.patched(&patch(&same), Actor::Owner, false)?;
        assert_eq!(a.buyer_snapshot().delivery_address, None);
        let lyon = DeliveryAddress {
            line1: "8 quai Saint-Vincent".into(),
            postcode: "69001".into(),
            city: "Lyon".into(),
            country: "FR".into(),
            ..DeliveryAddress::default()
        };
        let a = a.patched(&patch(&lyon), Actor::Owner, false)?;
        assert_eq!(a.buyer_snapshot().delivery_address, Some(lyon.clone()));
        let e = a.patched(
            &patch(&DeliveryAddress {
                country: "France".into(),
                ..lyon.clone()
            }),
            Actor::Owner,
            false,
        );
        assert!(matches!(
            e,
            Err(AccountError::Invalid {
                field: "delivery_address.country",
                ..
            })
        ));
        let a = a.patched(&patch(&DeliveryAddress::default()), Actor::Owner, false)?;
        assert_eq!(a.delivery_address, None, "an empty address removes it");
        Ok(())
    }

    #[test]
    fn after_the_trial_the_owner_may_change_address_postcode_and_city_only() {
        let a = account();
        let ok = AccountPatch {
            line1: Some("3 rue de la Paix".into()),
            postcode: Some("75002".into()),
            city: Some("Paris".into()),
            ..AccountPatch::default()
        };
        assert!(a.patched(&ok, Actor::Owner, false).is_ok());
        for patch in [
            AccountPatch {
                country: Some("BE".into()),
                vat_number: Some("BE0403170701".into()),
                ..AccountPatch::default()
            },
            AccountPatch {
                vat_number: Some("FR96552100554".into()),
                ..AccountPatch::default()
            },
            AccountPatch {
                state: Some("CA".into()),
                ..AccountPatch::default()
            },
        ] {
            let e = a.patched(&patch, Actor::Owner, false);
            assert!(
                matches!(e, Err(AccountError::BillingTeamOnly { .. })),
                "{e:?}"
            );
            assert!(a.patched(&patch, Actor::BillingTeam, false).is_ok());
            assert!(
                a.patched(&patch, Actor::Owner, true).is_ok(),
                "anything goes in trial"
            );
        }
    }

    #[test]
    fn a_bad_country_or_contact_names_the_field() {
        let a = account();
        let e = a.patched(
            &AccountPatch {
                country: Some("France".into()),
                ..AccountPatch::default()
            },
            Actor::BillingTeam,
            false,
        );
        assert!(matches!(
            e,
            Err(AccountError::Invalid {
                field: "country",
                ..
            })
        ));
        let e = a.patched(
            &AccountPatch {
                billing_contacts: Some(vec!["nobody".into()]),
                ..AccountPatch::default()
            },
            Actor::Owner,
            false,
        );
        assert!(matches!(
            e,
            Err(AccountError::Invalid {
                field: "billing_contacts",
                ..
            })
        ));
    }

    fn field_of(e: Result<Account, AccountError>) -> Option<&'static str> {
        match e {
            Err(AccountError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn the_german_xx123_account_without_an_address_is_refused_on_its_vat_number() {
        let mut a = account();
        a.country = "DE".into();
        a.address = Address::default();
        a.vat_number = Some("XX123".into());
        assert!(matches!(
            a.validate(),
            Err(AccountError::Invalid {
                field: "vat_number",
                ..
            })
        ));
    }

    #[test]
    fn a_french_number_with_a_wrong_key_is_refused_at_change() {
        let e = account().patched(
            &AccountPatch {
                vat_number: Some("FR41303265045".into()),
                ..AccountPatch::default()
            },
            Actor::BillingTeam,
            false,
        );
        assert_eq!(field_of(e), Some("vat_number"));
    }

    #[test]
    fn a_vat_number_needs_a_complete_address_and_the_error_names_the_missing_part() {
        let a = account();
        for (patch, field) in [
            (
                AccountPatch {
                    line1: Some(" ".into()),
                    ..AccountPatch::default()
                },
                "address.line1",
            ),
            (
                AccountPatch {
                    postcode: Some(String::new()),
                    ..AccountPatch::default()
                },
                "address.postcode",
            ),
            (
                AccountPatch {
                    city: Some(String::new()),
                    ..AccountPatch::default()
                },
                "address.city",
            ),
        ] {
            assert_eq!(
                field_of(a.patched(&patch, Actor::Owner, false)),
                Some(field)
            );
        }
        // Without the VAT number, the same address is fine: a consumer is invoiced with VAT.
        let no_vat = AccountPatch {
            vat_number: Some(String::new()),
            city: Some(String::new()),
            ..AccountPatch::default()
        };
        assert!(a.patched(&no_vat, Actor::BillingTeam, false).is_ok());
    }

    #[test]
    fn a_vat_number_of_another_member_state_is_refused() {
        let e = account().patched(
            &AccountPatch {
                country: Some("DE".into()),
                ..AccountPatch::default()
            },
            Actor::BillingTeam,
            false,
        );
        assert_eq!(field_of(e), Some("vat_number"));
    }

    #[test]
    fn a_typed_number_is_stored_in_its_canonical_form_and_gets_reverse_charge() {
        let a = account().patched(
            &AccountPatch {
                country: Some("de".into()),
                vat_number: Some("de 136.695.976".into()),
                ..AccountPatch::default()
            },
            Actor::BillingTeam,
            false,
        );
        assert_eq!(
            a.as_ref()
                .map(|a| (a.country.as_str(), a.vat_number.as_deref())),
            Ok(("DE", Some("DE136695976")))
        );
        let t = a.map(|a| tax::TaxRules::default().treatment(&a.buyer()).category);
        assert_eq!(t, Ok(tax::TaxCategory::ReverseCharge));
    }

    #[test]
    fn an_account_stored_with_a_bad_number_still_takes_changes_that_do_not_touch_it() {
        let mut legacy = account();
        legacy.vat_number = Some("FR41303265045".into());
        let contacts = AccountPatch {
            billing_contacts: Some(vec!["compta@lumen.example".into()]),
            name: Some("Lumen SAS".into()),
            ..AccountPatch::default()
        };
        assert!(legacy.patched(&contacts, Actor::Owner, false).is_ok());
        let number = AccountPatch {
            vat_number: Some("FR41303265045".into()),
            ..AccountPatch::default()
        };
        assert_eq!(
            field_of(legacy.patched(&number, Actor::BillingTeam, false)),
            Some("vat_number")
        );
    }
}

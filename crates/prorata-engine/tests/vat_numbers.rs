//! VAT numbers before reverse charge (issue 17): an account that could not be invoiced
//! lawfully is refused at creation and at change, the error naming the field; a valid number of
//! another member state with a complete address is reverse-charged; and an account stored
//! before the check, with a bad number, is billed with VAT, never at 0 % under reverse charge.

#[macro_use]
mod common;

use common::*;
use prorata_core::account::{Account, AccountPatch, Actor, Address};
use prorata_core::tax::TaxCategory;
use prorata_core::Document;
use prorata_engine::{Engine, EngineError};

/// The German account: a made-up number, no address.
fn xx123() -> Account {
    Account {
        name: "Nordlicht GmbH".into(),
        address: Address::default(),
        country: "DE".into(),
        vat_number: Some("XX123".into()),
        ..french_account("Nordlicht GmbH")
    }
}

fn german(vat: &str) -> Account {
    Account {
        address: Address {
            line1: "Friedrichstraße 68".into(),
            postcode: "10117".into(),
            city: "Berlin".into(),
            ..Address::default()
        },
        country: "DE".into(),
        vat_number: Some(vat.into()),
        ..french_account("Nordlicht GmbH")
    }
}

fn field_of<T: std::fmt::Debug>(r: Result<T, EngineError>) -> String {
    match r {
        Err(EngineError::Invalid { field, .. }) => field,
        other => format!("not an invalid field: {other:?}"),
    }
}

fn categories(docs: &[Document]) -> Vec<TaxCategory> {
    docs.iter()
        .flat_map(|d| d.taxes.iter().map(|t| t.category))
        .collect()
}

async fn the_german_xx123_account_and_a_french_number_with_a_wrong_key_are_refused_naming_the_field(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, _) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    assert_eq!(
        field_of(engine.create_account(&tenant, &xx123()).await),
        "vat_number"
    );
    let wrong_key = Account {
        vat_number: Some("FR41303265045".into()),
        ..french_account("Lumen Conseil SAS")
    };
    assert_eq!(
        field_of(engine.create_account(&tenant, &wrong_key).await),
        "vat_number"
    );
    // A valid German number without its address: the missing part is named.
    let no_address = Account {
        address: Address::default(),
        ..german("DE136695976")
    };
    assert_eq!(
        field_of(engine.create_account(&tenant, &no_address).await),
        "address.line1"
    );

    // At change: the same number, and an address emptied under a VAT number.
    let id = engine
        .create_account(&tenant, &german("de 136 695 976"))
        .await
        .expect("a valid number with its address is accepted");
    let stored = engine.account(&tenant, id).await.expect("account");
    assert_eq!(stored.vat_number.as_deref(), Some("DE136695976"));
    for (patch, field) in [
        (
            AccountPatch {
                vat_number: Some("XX123".into()),
                ..AccountPatch::default()
            },
            "vat_number",
        ),
        (
            AccountPatch {
                country: Some("FR".into()),
                vat_number: Some("FR41303265045".into()),
                ..AccountPatch::default()
            },
            "vat_number",
        ),
        (
            AccountPatch {
                postcode: Some(String::new()),
                ..AccountPatch::default()
            },
            "address.postcode",
        ),
    ] {
        let r = engine
            .update_account(&tenant, id, &patch, Actor::BillingTeam)
            .await;
        assert_eq!(field_of(r), field, "{patch:?}");
    }
    let unchanged = engine.account(&tenant, id).await.expect("account");
    assert_eq!(unchanged, stored, "a refused change changes nothing");
}

async fn a_valid_german_number_with_a_complete_address_is_reverse_charged(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &german("DE136695976"))
        .await
        .expect("account");
    let (_, docs) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription");
    assert_eq!(categories(&docs), [TaxCategory::ReverseCharge]);
    assert!(docs.iter().all(|d| d.taxes.iter().all(|t| t.tax.is_zero())));
}

/// An account stored before numbers were checked (written straight to the store, as an older
/// version did): its invoices carry German VAT, as a consumer's would.
async fn no_document_is_issued_under_reverse_charge_without_a_valid_number(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let mut ids = Vec::new();
    for account in [
        xx123(),
        german("DE136695977"),
        Account {
            address: Address::default(),
            ..german("DE136695976")
        },
    ] {
        let mut tx = engine.store.begin().await.expect("tx");
        ids.push(
            tx.insert_account(tenant.id, &account)
                .await
                .expect("stored"),
        );
        tx.commit().await.expect("commit");
    }
    for id in &ids {
        engine
            .create_subscription(&tenant, *id, catalog.id, &essentials(d(2024, 6, 6), 10))
            .await
            .expect("subscription");
    }
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("billing");
    let issued = all_documents(&engine, &tenant).await;
    // 6 June, 6 July, 6 August for each of the three accounts.
    assert_eq!(issued.len(), 9);
    for doc in &issued {
        for t in &doc.taxes {
            assert_eq!(
                (t.category, t.rate.to_string()),
                (TaxCategory::Standard, "19".to_string()),
                "{}",
                doc.number
            );
        }
    }
}

async fn all_documents(engine: &Engine, tenant: &prorata_store::Tenant) -> Vec<Document> {
    let mut tx = engine.store.begin().await.expect("tx");
    tx.list_documents(tenant.id, None, None, 0, 1000)
        .await
        .expect("documents")
        .items
        .into_iter()
        .map(|row| row.document)
        .collect()
}

/// A register that knows one number is not (or no longer) registered, as VIES may answer.
#[derive(Debug)]
struct Register;

impl prorata_core::vat_number::VatNumberCheck for Register {
    fn check(
        &self,
        text: &str,
    ) -> Result<prorata_core::vat_number::VatNumber, prorata_core::vat_number::VatNumberError> {
        let number = prorata_core::vat_number::OfflineCheck.check(text)?;
        if number.as_str() == "DE811569869" {
            // No such registration: the closest error the offline vocabulary has.
            return Err(prorata_core::vat_number::VatNumberError::CheckKey {
                number: number.into(),
                country: "DE",
            });
        }
        Ok(number)
    }
}

async fn the_vat_number_check_is_a_seam_another_register_plugs_into(url: &str) {
    let engine = open(url)
        .await
        .with_vat_number_check(std::sync::Arc::new(Register));
    let (tenant, _) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    assert_eq!(
        field_of(engine.create_account(&tenant, &german("DE811569869")).await),
        "vat_number"
    );
    let id = engine
        .create_account(&tenant, &german("DE136695976"))
        .await
        .expect("a registered number");
    let change = AccountPatch {
        vat_number: Some("DE811569869".into()),
        ..AccountPatch::default()
    };
    assert_eq!(
        field_of(
            engine
                .update_account(&tenant, id, &change, Actor::BillingTeam)
                .await
        ),
        "vat_number"
    );
}

on_both_stores!(
    the_german_xx123_account_and_a_french_number_with_a_wrong_key_are_refused_naming_the_field,
    a_valid_german_number_with_a_complete_address_is_reverse_charged,
    no_document_is_issued_under_reverse_charge_without_a_valid_number,
    the_vat_number_check_is_a_seam_another_register_plugs_into,
);

//! Documents' files: made once after issue, stored with their SHA-256, never rewritten, and
//! what a later seller or address change does (nothing to issued documents).

use prorata_core::account::AccountPatch;
use prorata_core::account::Actor;
use prorata_core::document::DocumentKind;
use prorata_store::{FileFormat, NewFile};

#[macro_use]
mod common;

use common::*;

/// Lumen Conseil SAS, on Essentials with 10 users from 6 June 2024: the account, the
/// subscription and the invoice issued on creation.
async fn lumen(
    engine: &prorata_engine::Engine,
    tenant: &prorata_store::Tenant,
    catalog: i64,
) -> (i64, i64, Vec<prorata_core::Document>) {
    let account = engine
        .create_account(tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account");
    let (sub, docs) = engine
        .create_subscription(tenant, account, catalog, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription");
    (account, sub, docs)
}

on_both_stores!(
    issued_documents_get_their_files_once_and_keep_them,
    a_changed_seller_or_address_shows_on_later_documents_only,
    a_document_that_cannot_be_rendered_stays_queued_without_holding_up_the_others,
);

async fn a_document_that_cannot_be_rendered_stays_queued_without_holding_up_the_others(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let (account, sub, docs) = lumen(&engine, &tenant, catalog.id).await;
    // A stored document EN 16931 cannot express (no lines), queued before a good one; and a
    // document as issued before snapshots carried the seller and the buyer's language.
    let mut broken = docs[0].clone();
    broken.number = "INV-BROKEN".into();
    broken.lines.clear();
    let mut old = docs[0].clone();
    old.number = "INV-OLD".into();
    old.seller = None;
    old.buyer.as_mut().expect("buyer").language = None;
    let mut tx = engine.store.begin().await.expect("tx");
    tx.insert_documents(
        tenant.id,
        &[broken, old].map(|document| prorata_store::NewDocument {
            account_id: account,
            subscription_id: sub,
            document,
        }),
    )
    .await
    .expect("insert");
    tx.commit().await.expect("commit");
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock");
    let pass = engine.render_documents(&tenant).await.expect("render");
    // INV-000001, INV-OLD, INV-000002, and the credit note reconciliation issues for the
    // lines INV-OLD billed twice.
    assert_eq!(pass.documents, 4, "{pass:?}");
    assert_eq!(pass.failed.len(), 1);
    assert_eq!(pass.failed[0].0, "INV-BROKEN");
    // The old one reads in its account's language (French), sold by the tenant.
    let mut tx = engine.store.begin().await.expect("tx");
    let old = tx
        .document_by_number(tenant.id, "INV-OLD")
        .await
        .expect("read")
        .expect("INV-OLD");
    let xml = tx
        .document_file(tenant.id, old.id, FileFormat::Xml)
        .await
        .expect("read")
        .expect("stored xml");
    tx.rollback().await.expect("rollback");
    let xml = String::from_utf8(xml.body).expect("utf-8");
    assert!(xml.contains("Payable à réception."), "{xml}");
    assert!(
        xml.contains(&format!("<ram:Name>{}</ram:Name>", tenant.name)),
        "{xml}"
    );
    // Still queued for the next pass, alone.
    let mut tx = engine.store.begin().await.expect("tx");
    let queued = tx.pending_renders(tenant.id, 0, 100).await.expect("queue");
    tx.rollback().await.expect("rollback");
    let numbers: Vec<&str> = queued.iter().map(|r| r.document.number.as_str()).collect();
    assert_eq!(numbers, ["INV-BROKEN"]);
    // Asked for directly, it is a server-side error, not a file.
    let id = queued[0].id;
    assert!(engine
        .document_file(&tenant, id, DocumentKind::Invoice, FileFormat::Pdf)
        .await
        .is_err());
}

async fn issued_documents_get_their_files_once_and_keep_them(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    lumen(&engine, &tenant, catalog.id).await;
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("clock");
    // Issuing queued the three invoices; the pass renders them, and again finds nothing.
    let mut tx = engine.store.begin().await.expect("tx");
    let queued = tx.pending_renders(tenant.id, 0, 100).await.expect("queue");
    tx.rollback().await.expect("rollback");
    assert_eq!(queued.len(), 3);
    // Asked for under the wrong kind, an invoice is not found and nothing is made.
    assert!(engine
        .document_file(
            &tenant,
            queued[0].id,
            DocumentKind::CreditNote,
            FileFormat::Pdf
        )
        .await
        .expect("read")
        .is_none());
    let mut tx = engine.store.begin().await.expect("tx");
    assert_eq!(
        tx.pending_renders(tenant.id, 0, 100)
            .await
            .expect("queue")
            .len(),
        3
    );
    tx.rollback().await.expect("rollback");
    let pass = engine.render_documents(&tenant).await.expect("render");
    assert_eq!(pass.documents, 3);
    assert_eq!(
        engine
            .render_documents(&tenant)
            .await
            .expect("again")
            .documents,
        0
    );

    let mut tx = engine.store.begin().await.expect("tx");
    let doc = tx
        .document_by_number(tenant.id, "INV-000002")
        .await
        .expect("read")
        .expect("INV-000002");
    let pdf = tx
        .document_file(tenant.id, doc.id, FileFormat::Pdf)
        .await
        .expect("read")
        .expect("stored pdf");
    let xml = tx
        .document_file(tenant.id, doc.id, FileFormat::Xml)
        .await
        .expect("read")
        .expect("stored xml");
    assert_eq!(prorata_engine::sha256_hex(&pdf.body), pdf.sha256);
    assert_eq!(prorata_engine::sha256_hex(&xml.body), xml.sha256);
    // A second writer (a racing render, a bug) cannot replace a stored file.
    tx.store_files(
        tenant.id,
        &[NewFile {
            document_id: doc.id,
            format: FileFormat::Pdf,
            sha256: prorata_engine::sha256_hex(b"other"),
            body: b"other".to_vec(),
        }],
    )
    .await
    .expect("store");
    let kept = tx
        .document_file(tenant.id, doc.id, FileFormat::Pdf)
        .await
        .expect("read")
        .expect("stored pdf");
    assert_eq!(kept, pdf);
    tx.commit().await.expect("commit");
    // Another tenant reads nothing by this id.
    let other = sandbox(&engine, "Other", d(2024, 6, 6)).await;
    let mut tx = engine.store.begin().await.expect("tx");
    assert!(tx
        .document_file(other.id, doc.id, FileFormat::Pdf)
        .await
        .expect("read")
        .is_none());
    tx.rollback().await.expect("rollback");
    assert!(engine
        .document_file(&other, doc.id, DocumentKind::Invoice, FileFormat::Pdf)
        .await
        .expect("read")
        .is_none());
    // Made again from the immutable document, the file is the same bytes.
    let again = prorata_docs::files::make(&doc.document).expect("render");
    assert_eq!(again.pdf, pdf.body);
    assert_eq!(again.xml, xml.body);
}

async fn a_changed_seller_or_address_shows_on_later_documents_only(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let seller = prorata_core::seller::Seller {
        legal_name: "Vendor SAS".into(),
        siren: "552100554".into(),
        vat_number: "FR96552100554".into(),
        payment_terms_days: 10,
        ..Default::default()
    };
    engine.set_seller(&tenant, &seller).await.expect("seller");
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    let (account, _, docs) = lumen(&engine, &tenant, catalog.id).await;
    let first = &docs[0];
    let printed = first.seller.as_ref().expect("seller snapshot");
    assert_eq!(
        (printed.legal_name.as_str(), printed.siren.as_str()),
        ("Vendor SAS", "552100554")
    );
    assert_eq!(first.due_on, Some(d(2024, 6, 16)));

    // The vendor renames itself and the customer moves.
    engine
        .set_seller(
            &tenant,
            &prorata_core::seller::Seller {
                legal_name: "Vendor Group SAS".into(),
                ..seller
            },
        )
        .await
        .expect("seller");
    engine
        .update_account(
            &tenant,
            account,
            &AccountPatch {
                line1: Some("9 avenue Nouvelle".into()),
                ..AccountPatch::default()
            },
            Actor::Owner,
        )
        .await
        .expect("address");
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock");
    engine.render_documents(&tenant).await.expect("render");
    let mut tx = engine.store.begin().await.expect("tx");
    let mut read = Vec::new();
    for number in ["INV-000001", "INV-000002"] {
        let row = tx
            .document_by_number(tenant.id, number)
            .await
            .expect("read");
        read.push(row.expect("issued").document);
    }
    tx.rollback().await.expect("rollback");
    let (june, july) = (&read[0], &read[1]);
    assert_eq!(june.seller.as_ref().unwrap().legal_name, "Vendor SAS");
    assert_eq!(
        june.buyer.as_ref().unwrap().address.line1,
        "1 rue de la Paix"
    );
    assert_eq!(july.seller.as_ref().unwrap().legal_name, "Vendor Group SAS");
    assert_eq!(
        july.buyer.as_ref().unwrap().address.line1,
        "9 avenue Nouvelle"
    );
}

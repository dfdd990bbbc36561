//! The tenant's logo on its documents (issue #17, item 3): set from a PNG, printed on the
//! documents issued while it is set, kept by each document through later changes (a
//! re-render gives the same bytes), gone from documents issued after its removal.

use prorata_engine::{EngineError, Logos};
use prorata_store::FileFormat;

#[macro_use]
mod common;

use common::*;

on_both_stores!(
    each_document_prints_the_logo_it_was_issued_with_forever,
    a_file_that_is_not_a_png_logo_is_refused_and_the_logo_kept,
);

/// A 60 × 20 PNG in one colour, half transparent on its left half.
fn logo(rgb: [u8; 3]) -> Vec<u8> {
    let mut pixels = Vec::new();
    for _ in 0..20 {
        for x in 0..60 {
            pixels.extend(rgb);
            pixels.push(if x < 30 { 128 } else { 255 });
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 60, 20);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().expect("header");
    w.write_image_data(&pixels).expect("pixels");
    w.finish().expect("png");
    out
}

fn seller() -> prorata_core::seller::Seller {
    prorata_core::seller::Seller {
        legal_name: "Vendor SAS".into(),
        siren: "552100554".into(),
        vat_number: "FR96552100554".into(),
        ..Default::default()
    }
}

/// The stored PDF of document `number` and the logo its seller snapshot names.
async fn stored_pdf(
    engine: &prorata_engine::Engine,
    tenant: &prorata_store::Tenant,
    number: &str,
) -> (prorata_core::Document, Vec<u8>) {
    let mut tx = engine.store.begin().await.expect("tx");
    let row = tx
        .document_by_number(tenant.id, number)
        .await
        .expect("read")
        .expect("issued");
    let pdf = tx
        .document_file(tenant.id, row.id, FileFormat::Pdf)
        .await
        .expect("read")
        .expect("rendered");
    tx.rollback().await.expect("rollback");
    (row.document, pdf.body)
}

fn has_image(pdf: &[u8]) -> bool {
    pdf.windows(15).any(|w| w == b"/Subtype /Image")
}

async fn each_document_prints_the_logo_it_was_issued_with_forever(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    engine.set_seller(&tenant, &seller()).await.expect("seller");
    let (blue, red) = (logo([30, 110, 235]), logo([220, 40, 40]));
    let first = engine
        .set_seller_logo(&tenant, Some(&blue))
        .await
        .expect("logo");
    assert_eq!(first, Some(prorata_engine::sha256_hex(&blue)));
    // Saving the rest of the seller keeps the logo, whatever the body says of it.
    engine
        .set_seller(
            &tenant,
            &prorata_core::seller::Seller {
                logo: None,
                ..seller()
            },
        )
        .await
        .expect("seller");
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    assert_eq!(tenant.settings.seller.logo, first);

    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account");
    engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription");
    engine.render_documents(&tenant).await.expect("render");
    let (june, june_pdf) = stored_pdf(&engine, &tenant, "INV-000001").await;
    assert_eq!(june.seller.as_ref().and_then(|s| s.logo.clone()), first);
    assert!(has_image(&june_pdf), "the June invoice shows the blue logo");

    // A new logo: July's invoice prints it, June's re-rendered is the same bytes as stored.
    let second = engine
        .set_seller_logo(&tenant, Some(&red))
        .await
        .expect("logo");
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock");
    engine.render_documents(&tenant).await.expect("render");
    let (july, july_pdf) = stored_pdf(&engine, &tenant, "INV-000002").await;
    assert_eq!(july.seller.as_ref().and_then(|s| s.logo.clone()), second);
    assert!(has_image(&july_pdf));
    let mut logos = Logos::new();
    engine
        .load_logos(&tenant, [&june, &july], &mut logos)
        .await
        .expect("logos");
    assert_eq!(logos.len(), 2, "both logos are kept");
    let june_logo = first.as_ref().and_then(|h| logos.get(h)).map(|l| &**l);
    let again = prorata_docs::files::make_with_logo(&june, june_logo).expect("render");
    assert_eq!(
        again.pdf, june_pdf,
        "June keeps the logo it was issued with"
    );
    assert_ne!(again.pdf, july_pdf);

    // Removed: August's invoice has no logo.
    assert_eq!(
        engine.set_seller_logo(&tenant, None).await.expect("remove"),
        None
    );
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("clock");
    engine.render_documents(&tenant).await.expect("render");
    let (august, august_pdf) = stored_pdf(&engine, &tenant, "INV-000003").await;
    assert_eq!(august.seller.as_ref().and_then(|s| s.logo.clone()), None);
    assert!(!has_image(&august_pdf));
}

async fn a_file_that_is_not_a_png_logo_is_refused_and_the_logo_kept(url: &str) {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", d(2024, 6, 6)).await;
    let png = logo([0, 0, 0]);
    engine
        .set_seller_logo(&tenant, Some(&png))
        .await
        .expect("logo");
    for bad in [b"GIF89a".to_vec(), vec![0x89; 1024 * 1024 + 1]] {
        match engine.set_seller_logo(&tenant, Some(&bad)).await {
            Err(EngineError::Invalid { field, .. }) => assert_eq!(field, "logo"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let tenant = engine.tenant(tenant.id).await.expect("tenant");
    assert_eq!(
        tenant.settings.seller.logo,
        Some(prorata_engine::sha256_hex(&png))
    );
    // A hash alone names no picture: a tenant is not created with one.
    let mut settings = prorata_core::reconcile::Settings::default();
    settings.seller.logo = Some("00".repeat(32));
    match engine
        .create_tenant("Other", prorata_store::TenantMode::Sandbox, None, &settings)
        .await
    {
        Err(EngineError::Invalid { field, .. }) => assert_eq!(field, "seller.logo"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

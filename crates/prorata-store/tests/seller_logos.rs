//! Sellers' logos on both stores (issue #17, item 3): kept by their SHA-256, stored once,
//! read back many at a time, and never across tenants.

use prorata_core::reconcile::Settings;
use prorata_store::{Store, TenantMode};
use prorata_testkit::both_stores;

async fn a_logo_is_kept_by_its_hash_read_in_one_query_and_only_by_its_tenant(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("tx");
    let mut ids = Vec::new();
    for name in ["Vendor", "Other"] {
        let id = tx
            .create_tenant(name, TenantMode::Live, None, &Settings::default())
            .await
            .expect("tenant");
        ids.push(id);
    }
    let (t, other) = (ids[0], ids[1]);
    tx.put_seller_logo(t, "aa", b"old").await.expect("put");
    tx.put_seller_logo(t, "bb", b"new").await.expect("put");
    // The same logo again: nothing changes, no error.
    tx.put_seller_logo(t, "aa", b"old")
        .await
        .expect("put again");
    tx.put_seller_logo(other, "cc", b"theirs")
        .await
        .expect("put");
    let wanted = ["aa".to_string(), "bb".into(), "cc".into(), "zz".into()];
    let found = tx.seller_logos(t, &wanted).await.expect("read");
    assert_eq!(
        found,
        [
            ("aa".to_string(), b"old".to_vec()),
            ("bb".to_string(), b"new".to_vec())
        ],
        "both of the tenant's logos, not the other tenant's, not an unknown one"
    );
    assert!(tx.seller_logos(t, &[]).await.expect("read").is_empty());
    tx.commit().await.expect("commit");
}
both_stores!(
    logos,
    a_logo_is_kept_by_its_hash_read_in_one_query_and_only_by_its_tenant
);

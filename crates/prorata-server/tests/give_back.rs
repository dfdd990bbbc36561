//! A worker stopping gives back the jobs it claimed and had not started: the next worker
//! takes them at once (not when their lease runs out), and the claim is not counted as an
//! attempt (backoff and giving up count real attempts only).

use std::time::Duration;

use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_store::{JobKind, NewJob, Store, TenantMode};

use prorata_testkit::both_stores;

both_stores!(released_jobs_are_due_at_once_with_their_attempts, released);
async fn released(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store.clone());
    let tenant = engine
        .create_tenant("Vendor", TenantMode::Live, None, &Settings::default())
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let jobs: Vec<NewJob> = (0..3)
        .map(|n| NewJob {
            account_id: None,
            kind: JobKind::Email,
            payload: serde_json::json!({ "n": n }),
        })
        .collect();
    tx.insert_jobs(tenant.id, &jobs).await.unwrap();
    tx.commit().await.unwrap();

    let lease = Duration::from_secs(300);
    let claimed = engine.claim_jobs(JobKind::Email, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|j| j.attempts == 1));
    // Leased: nobody else gets them...
    assert!(engine
        .claim_jobs(JobKind::Email, 10, lease)
        .await
        .unwrap()
        .is_empty());
    // ...until the stopping worker gives back the two it did not start.
    engine.job_done(&claimed[0], "sent").await.unwrap();
    engine.release_jobs(&claimed[1..]).await.unwrap();
    let again = engine.claim_jobs(JobKind::Email, 10, lease).await.unwrap();
    let ids = |jobs: &[prorata_store::Job]| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&claimed[1..]));
    assert!(again.iter().all(|j| j.attempts == 1), "{again:?}");
    // A job done is not given back by a late release.
    engine.release_jobs(&claimed[..1]).await.unwrap();
    engine.release_jobs(&again).await.unwrap();
    let last = engine.claim_jobs(JobKind::Email, 10, lease).await.unwrap();
    assert_eq!(ids(&last), ids(&claimed[1..]));
    store.close().await;
}

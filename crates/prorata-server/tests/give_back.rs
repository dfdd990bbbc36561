//! A worker stopping gives back the jobs it claimed and had not started: the next worker
//! takes them at once (not when their lease runs out), and the claim is not counted as an
//! attempt (backoff and giving up count real attempts only).
//!
//! A worker whose claim on a job was lost (its lease ran out while it was still busy with the
//! batch, and another worker claimed the job) leaves the job alone: only the latest claim
//! renews the lease, which each delivery does before it starts. Regression test for the
//! e-mails sent twice in prorata's `tests/scale_out.rs` under load (2008 for 2004).

use std::time::Duration;

use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_store::{JobKind, NewJob, Store, TenantMode};

use prorata_testkit::both_stores;

/// A store with `n` e-mail jobs of one tenant, due now.
async fn with_email_jobs(url: &str, n: usize) -> (Store, Engine) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store.clone());
    let tenant = engine
        .create_tenant("Vendor", TenantMode::Live, None, &Settings::default())
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let jobs: Vec<NewJob> = (0..n)
        .map(|n| NewJob {
            account_id: None,
            kind: JobKind::Email,
            payload: serde_json::json!({ "n": n }),
        })
        .collect();
    tx.insert_jobs(tenant.id, &jobs).await.unwrap();
    tx.commit().await.unwrap();
    (store, engine)
}

fn ids(jobs: &[prorata_store::Job]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

both_stores!(released_jobs_are_due_at_once_with_their_attempts, released);
async fn released(url: &str) {
    let (store, engine) = with_email_jobs(url, 3).await;
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
    assert_eq!(ids(&again), ids(&claimed[1..]));
    assert!(again.iter().all(|j| j.attempts == 1), "{again:?}");
    // A job done is not given back by a late release.
    engine.release_jobs(&claimed[..1]).await.unwrap();
    engine.release_jobs(&again).await.unwrap();
    let last = engine.claim_jobs(JobKind::Email, 10, lease).await.unwrap();
    assert_eq!(ids(&last), ids(&claimed[1..]));
    store.close().await;
}

both_stores!(a_claim_lost_to_another_worker_cannot_be_renewed, lost);
async fn lost(url: &str) {
    let (store, engine) = with_email_jobs(url, 2).await;
    let lease = Duration::from_secs(300);

    // Worker A claims both under a lease already over, as a slow batch's is by its end.
    let a = engine
        .claim_jobs(JobKind::Email, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    // A starts the first: nobody claimed it meanwhile, so it is still A's, held anew.
    assert!(engine.renew_lease(&a[0], lease).await.unwrap());
    // Worker B claims what is due: the second only, its attempt counted again.
    let b = engine.claim_jobs(JobKind::Email, 10, lease).await.unwrap();
    assert_eq!(ids(&b), ids(&a[1..]));
    assert_eq!(b[0].attempts, 2);
    // A's turn comes for the second: the claim is B's, A leaves it (no second e-mail).
    assert!(!engine.renew_lease(&a[1], lease).await.unwrap());
    assert!(engine.renew_lease(&b[0], lease).await.unwrap());
    // A job done is held by nobody.
    engine.job_done(&b[0], "sent").await.unwrap();
    assert!(!engine.renew_lease(&b[0], lease).await.unwrap());
    // And A's renewed job is nobody else's to claim.
    assert!(engine
        .claim_jobs(JobKind::Email, 10, lease)
        .await
        .unwrap()
        .is_empty());
    store.close().await;
}

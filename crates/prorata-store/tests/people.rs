//! Users, sessions, single-use links, sign-in failures, change requests, logos and tenant
//! slugs, on both stores: each test body runs once on a throwaway SQLite file and once on a
//! fresh PostgreSQL database.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::access::{Role, UserStatus};
use prorata_core::account::{Account, Address};
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Currency, Frequency, Lang};
use prorata_store::{
    ChangeRequestStatus, NewUser, Store, StoreError, TenantMode, TokenPurpose, Tx,
};

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (url, _dir) = prorata_testkit::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    super::$name(&url).await;
                }
            )*
        }
    };
}

on_both_stores!(
    users_are_unique_by_email_and_an_account_has_one_owner,
    tokens_are_used_once_and_sessions_end,
    change_requests_are_decided_once,
    tenants_are_found_by_slug_and_a_taken_slug_is_refused,
    sign_in_failures_are_counted_and_logos_replaced,
);

async fn store(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        website: String::new(),
        address: Address::default(),
        country: "FR".into(),
        vat_number: None,
        currency: Currency::EUR,
        language: Lang::Fr,
        time_zone: "Europe/Paris".into(),
        billing_contacts: vec![],
        siren: None,
        siret: None,
        delivery_address: None,
    }
}

/// A tenant and one account of it.
async fn tenant_and_account(tx: &mut Tx, name: &str) -> (i64, i64) {
    let tenant = tx
        .create_tenant(
            name,
            TenantMode::Sandbox,
            Some(day(2025, 7, 1)),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let account = tx
        .insert_account(tenant, &account(name))
        .await
        .expect("account");
    (tenant, account)
}

fn new_user<'a>(account_id: Option<i64>, role: Role, email: &'a str) -> NewUser<'a> {
    NewUser {
        account_id,
        role,
        email,
        name: "Someone",
        language: Lang::En,
        status: UserStatus::Invited,
        password_hash: None,
    }
}

fn conflict(r: Result<i64, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn users_are_unique_by_email_and_an_account_has_one_owner(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("begin");
    let (tenant, acc) = tenant_and_account(&mut tx, "Acme").await;
    let (other_tenant, other_acc) = tenant_and_account(&mut tx, "Other").await;

    let owner = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Owner, "owner@example.com"),
        )
        .await
        .expect("owner");
    let agent = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Agent, "agent@example.com"),
        )
        .await
        .expect("agent");
    let admin = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Admin, "admin@example.com"),
        )
        .await
        .expect("admin");
    let staff = tx
        .insert_user(
            tenant,
            &new_user(None, Role::BillingTeam, "billing@vendor.example"),
        )
        .await
        .expect("staff");

    // Conflicts are reported before writing, so the transaction goes on (PostgreSQL too).
    let dup = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Agent, "owner@example.com"),
        )
        .await;
    assert_eq!(conflict(dup), "a user with this e-mail exists");
    let second_owner = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Owner, "owner2@example.com"),
        )
        .await;
    assert_eq!(conflict(second_owner), "the account has an owner");
    // A disabled owner does not count.
    tx.insert_user(
        tenant,
        &NewUser {
            status: UserStatus::Disabled,
            ..new_user(Some(acc), Role::Owner, "former@example.com")
        },
    )
    .await
    .expect("a disabled former owner");
    // Another tenant's account cannot be named, the same e-mail in another tenant is fine.
    let foreign = tx
        .insert_user(
            tenant,
            &new_user(Some(other_acc), Role::Agent, "x@example.com"),
        )
        .await;
    assert_eq!(conflict(foreign), "no such account");
    tx.insert_user(
        other_tenant,
        &new_user(Some(other_acc), Role::Owner, "owner@example.com"),
    )
    .await
    .expect("the same e-mail in another tenant");
    let staff_with_account = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::TenantAdmin, "y@example.com"),
        )
        .await;
    conflict(staff_with_account);

    let u = tx.user(tenant, owner).await.expect("read").expect("owner");
    assert_eq!(
        (u.role, u.status, u.account_id),
        (Role::Owner, UserStatus::Invited, Some(acc))
    );
    assert_eq!(u.email, "owner@example.com");
    assert_eq!(u.language, Lang::En);
    assert!(u.password_hash.is_none());
    assert!(tx.user(other_tenant, owner).await.expect("read").is_none());
    assert_eq!(
        tx.user_by_email(tenant, "agent@example.com")
            .await
            .expect("read")
            .map(|u| u.id),
        Some(agent)
    );

    let ids: Vec<i64> = tx
        .users_of_account(tenant, acc)
        .await
        .expect("users")
        .iter()
        .filter(|u| u.status != UserStatus::Disabled)
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, vec![owner, admin, agent]);
    let staff_ids: Vec<i64> = tx
        .staff_users(tenant)
        .await
        .expect("staff")
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(staff_ids, vec![staff]);
    assert_eq!(
        tx.account_owner(tenant, acc)
            .await
            .expect("owner")
            .map(|u| u.id),
        Some(owner)
    );

    // The password activates an invited user and is never printed.
    tx.set_password(tenant, owner, "$argon2id$secret")
        .await
        .expect("password");
    let u = tx.user(tenant, owner).await.expect("read").expect("owner");
    assert_eq!(u.status, UserStatus::Active);
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$secret"));
    let printed = format!("{u:?}");
    assert!(
        printed.contains("<set>") && !printed.contains("argon2id"),
        "{printed}"
    );
    assert!(!serde_json::to_string(&u)
        .expect("json")
        .contains("argon2id"));

    // Ownership moves only once the owner is demoted.
    assert_eq!(
        tx.set_user_role(tenant, admin, Role::Owner)
            .await
            .map_err(|e| e.to_string()),
        Err("the account has an owner".to_string())
    );
    assert!(tx
        .set_user_role(tenant, owner, Role::Admin)
        .await
        .expect("demote"));
    assert!(tx
        .set_user_role(tenant, admin, Role::Owner)
        .await
        .expect("promote"));
    assert_eq!(
        tx.account_owner(tenant, acc)
            .await
            .expect("owner")
            .map(|u| u.id),
        Some(admin)
    );
    assert!(!tx
        .set_user_role(other_tenant, admin, Role::Agent)
        .await
        .expect("other tenant"));

    assert!(tx
        .set_user_status(tenant, agent, UserStatus::Disabled)
        .await
        .expect("disable"));
    assert!(!tx
        .set_user_status(other_tenant, agent, UserStatus::Active)
        .await
        .expect("other"));
    tx.set_user_language(tenant, agent, Lang::Fr)
        .await
        .expect("language");
    let u = tx.user(tenant, agent).await.expect("read").expect("agent");
    assert_eq!((u.status, u.language), (UserStatus::Disabled, Lang::Fr));
    // A disabled user keeps its status when a password is set.
    tx.set_password(tenant, agent, "h").await.expect("password");
    assert_eq!(
        tx.user(tenant, agent)
            .await
            .expect("read")
            .expect("agent")
            .status,
        UserStatus::Disabled
    );

    tx.commit().await.expect("commit");
    store.close().await;
}

async fn tokens_are_used_once_and_sessions_end(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("begin");
    let (tenant, acc) = tenant_and_account(&mut tx, "Acme").await;
    let (other_tenant, _) = tenant_and_account(&mut tx, "Other").await;
    let user = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Owner, "owner@example.com"),
        )
        .await
        .expect("user");

    let now = 1_750_000_000;
    let invitation = tx
        .insert_token(
            tenant,
            user,
            TokenPurpose::Invitation,
            "n1",
            None,
            now,
            now + 3600,
        )
        .await
        .expect("token");
    let portal = tx
        .insert_token(
            tenant,
            user,
            TokenPurpose::PortalSession,
            "n2",
            Some("https://vendor.example/back"),
            now,
            now + 60,
        )
        .await
        .expect("token");
    assert!(matches!(
        tx.insert_token(
            other_tenant,
            user,
            TokenPurpose::Invitation,
            "n3",
            None,
            now,
            now + 1
        )
        .await,
        Err(StoreError::Conflict(_))
    ));

    let t = tx
        .token(tenant, portal)
        .await
        .expect("read")
        .expect("token");
    assert_eq!(t.purpose, TokenPurpose::PortalSession);
    assert_eq!(t.nonce, "n2");
    assert_eq!(t.return_url.as_deref(), Some("https://vendor.example/back"));
    assert_eq!(
        (t.user_id, t.created_at, t.expires_at, t.used_at),
        (user, now, now + 60, None)
    );
    assert!(tx
        .token(other_tenant, portal)
        .await
        .expect("read")
        .is_none());

    assert!(!tx
        .use_token(other_tenant, invitation, now + 1)
        .await
        .expect("other tenant"));
    assert!(tx
        .use_token(tenant, invitation, now + 1)
        .await
        .expect("first use"));
    assert!(!tx
        .use_token(tenant, invitation, now + 2)
        .await
        .expect("second use"));
    assert_eq!(
        tx.token(tenant, invitation)
            .await
            .expect("read")
            .expect("t")
            .used_at,
        Some(now + 1)
    );
    // Expired: refused.
    assert!(!tx
        .use_token(tenant, portal, now + 60)
        .await
        .expect("expired"));

    tx.insert_session(tenant, user, "hash-a", now, now + 86400)
        .await
        .expect("session");
    tx.insert_session(tenant, user, "hash-b", now, now + 86400)
        .await
        .expect("session");
    assert!(matches!(
        tx.insert_session(other_tenant, user, "hash-c", now, now + 1)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let s = tx
        .session(tenant, "hash-a")
        .await
        .expect("read")
        .expect("session");
    assert_eq!(
        (
            s.tenant_id,
            s.user_id,
            s.created_at,
            s.last_seen,
            s.expires_at
        ),
        (tenant, user, now, now, now + 86400)
    );
    assert!(tx
        .session(other_tenant, "hash-a")
        .await
        .expect("read")
        .is_none());
    tx.touch_session(tenant, "hash-a", now + 10)
        .await
        .expect("touch");
    assert_eq!(
        tx.session(tenant, "hash-a")
            .await
            .expect("read")
            .expect("s")
            .last_seen,
        now + 10
    );
    tx.delete_session(tenant, "hash-a").await.expect("delete");
    assert!(tx.session(tenant, "hash-a").await.expect("read").is_none());
    tx.insert_session(tenant, user, "hash-d", now, now + 86400)
        .await
        .expect("session");
    assert_eq!(
        tx.delete_sessions_of_user(tenant, user)
            .await
            .expect("delete all"),
        2
    );
    assert!(tx.session(tenant, "hash-b").await.expect("read").is_none());
    tx.commit().await.expect("commit");
    store.close().await;
}

async fn change_requests_are_decided_once(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("begin");
    let (tenant, acc) = tenant_and_account(&mut tx, "Acme").await;
    let (other_tenant, other_acc) = tenant_and_account(&mut tx, "Other").await;
    let user = tx
        .insert_user(
            tenant,
            &new_user(Some(acc), Role::Owner, "owner@example.com"),
        )
        .await
        .expect("user");
    let catalog = tx
        .insert_catalog(tenant, "# catalog")
        .await
        .expect("catalog");
    let subscription = Subscription {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start: day(2025, 1, 1),
        trial_days: 0,
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([("user".to_string(), 10)]),
        events: vec![],
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    };
    let sub = tx
        .insert_subscription(tenant, acc, catalog.id, &subscription, None)
        .await
        .expect("subscription");

    let request = serde_json::json!({"quantities": {"user": 6}});
    let first = tx
        .insert_change_request(
            tenant,
            acc,
            sub,
            Some(user),
            &request,
            None,
            day(2025, 7, 10),
        )
        .await
        .expect("request");
    let second = tx
        .insert_change_request(
            tenant,
            acc,
            sub,
            None,
            &serde_json::json!({"cancel": true}),
            Some("too dear"),
            day(2025, 7, 11),
        )
        .await
        .expect("request");
    // Not the account's subscription, not the tenant's: refused.
    assert!(matches!(
        tx.insert_change_request(
            tenant,
            other_acc,
            sub,
            None,
            &request,
            None,
            day(2025, 7, 10)
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        tx.insert_change_request(
            other_tenant,
            acc,
            sub,
            None,
            &request,
            None,
            day(2025, 7, 10)
        )
        .await,
        Err(StoreError::Conflict(_))
    ));

    let cr = tx
        .change_request(tenant, first)
        .await
        .expect("read")
        .expect("request");
    assert_eq!(
        (cr.account_id, cr.subscription_id, cr.user_id),
        (acc, sub, Some(user))
    );
    assert_eq!(cr.request, request);
    assert_eq!(cr.status, ChangeRequestStatus::Pending);
    assert_eq!(cr.submitted_on, day(2025, 7, 10));
    assert_eq!((cr.reason, cr.note, cr.decided_at), (None, None, None));
    assert!(tx
        .change_request(other_tenant, first)
        .await
        .expect("read")
        .is_none());

    let all: Vec<i64> = tx
        .change_requests(tenant, None, None)
        .await
        .expect("list")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, vec![second, first]);

    assert!(tx
        .decide_change_request(tenant, first, ChangeRequestStatus::Refused, Some("no"))
        .await
        .expect("decide"));
    assert!(!tx
        .decide_change_request(tenant, first, ChangeRequestStatus::Applied, None)
        .await
        .expect("decided already"));
    assert!(!tx
        .decide_change_request(other_tenant, second, ChangeRequestStatus::Applied, None)
        .await
        .expect("other tenant"));
    let cr = tx
        .change_request(tenant, first)
        .await
        .expect("read")
        .expect("request");
    assert_eq!(cr.status, ChangeRequestStatus::Refused);
    assert_eq!(cr.note.as_deref(), Some("no"));
    assert!(cr.decided_at.is_some());

    let pending = tx
        .change_requests(tenant, Some(ChangeRequestStatus::Pending), Some(acc))
        .await
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id, pending[0].reason.as_deref()),
        (second, Some("too dear"))
    );
    assert!(tx
        .change_requests(tenant, None, Some(other_acc))
        .await
        .expect("list")
        .is_empty());
    tx.commit().await.expect("commit");
    store.close().await;
}

async fn tenants_are_found_by_slug_and_a_taken_slug_is_refused(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("begin");
    let (a, _) = tenant_and_account(&mut tx, "Acme").await;
    let (b, _) = tenant_and_account(&mut tx, "Other").await;
    assert_eq!(
        tx.tenant(a).await.expect("read").expect("a").slug,
        format!("t{a}")
    );

    assert!(tx.set_tenant_slug(a, "acme").await.expect("slug"));
    assert!(tx
        .set_tenant_slug(a, "acme")
        .await
        .expect("its own slug again"));
    assert!(!tx.set_tenant_slug(b, "acme").await.expect("taken"));
    // The transaction is still usable after a refusal (PostgreSQL included).
    let found = tx
        .tenant_by_slug("acme")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        (found.id, found.name.as_str(), found.slug.as_str()),
        (a, "Acme", "acme")
    );
    assert_eq!(
        tx.tenant_by_slug(&format!("t{b}"))
            .await
            .expect("read")
            .map(|t| t.id),
        Some(b)
    );
    assert!(tx.tenant_by_slug("nobody").await.expect("read").is_none());

    // A tenant that chose the provisional slug of a future tenant does not block its creation.
    let next = b + 1;
    assert!(tx
        .set_tenant_slug(b, &format!("t{next}"))
        .await
        .expect("slug"));
    let (c, _) = tenant_and_account(&mut tx, "Third").await;
    let slug = tx.tenant(c).await.expect("read").expect("c").slug;
    if c == next {
        assert!(slug.starts_with(&format!("t{c}-")), "{slug}");
    } else {
        assert_eq!(slug, format!("t{c}"));
    }

    tx.insert_api_key(a, "pk_1", "secret-hash")
        .await
        .expect("key");
    let (by_key, _) = tx
        .tenant_by_key_hash("secret-hash")
        .await
        .expect("read")
        .expect("tenant");
    assert_eq!(by_key.slug, "acme");
    tx.commit().await.expect("commit");
    store.close().await;
}

async fn sign_in_failures_are_counted_and_logos_replaced(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("begin");
    let (tenant, acc) = tenant_and_account(&mut tx, "Acme").await;
    let (other_tenant, _) = tenant_and_account(&mut tx, "Other").await;

    for at in [100, 200, 300] {
        tx.record_sign_in_failure(tenant, "email:a@example.com", at)
            .await
            .expect("record");
    }
    tx.record_sign_in_failure(tenant, "ip:192.0.2.1", 300)
        .await
        .expect("record");
    assert_eq!(
        tx.count_sign_in_failures(tenant, "email:a@example.com", 200)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        tx.count_sign_in_failures(tenant, "email:a@example.com", 0)
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        tx.count_sign_in_failures(other_tenant, "email:a@example.com", 0)
            .await
            .expect("count"),
        0
    );
    tx.clear_sign_in_failures(tenant, "email:a@example.com")
        .await
        .expect("clear");
    assert_eq!(
        tx.count_sign_in_failures(tenant, "email:a@example.com", 0)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        tx.count_sign_in_failures(tenant, "ip:192.0.2.1", 0)
            .await
            .expect("count"),
        1
    );

    assert!(tx.logo(tenant, acc).await.expect("read").is_none());
    tx.set_logo(tenant, acc, &[0x89, b'P', b'N', b'G', 0], "h1")
        .await
        .expect("logo");
    tx.set_logo(tenant, acc, &[0x89, b'P', b'N', b'G', 1, 2], "h2")
        .await
        .expect("logo again");
    assert_eq!(
        tx.logo(tenant, acc).await.expect("read"),
        Some((vec![0x89, b'P', b'N', b'G', 1, 2], "h2".to_string()))
    );
    assert!(tx.logo(other_tenant, acc).await.expect("read").is_none());
    tx.commit().await.expect("commit");
    store.close().await;
}

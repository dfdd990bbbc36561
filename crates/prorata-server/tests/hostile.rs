//! Hostile input against the API (issue 13's findings), on SQLite and PostgreSQL: each test
//! failed on the main branch before its fix.

mod portal_common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portal_common::*;
use serde_json::{json, Value};

/// An API request signed with `api_key`, with its JSON body when it has one.
fn request(method: Method, path: &str, api_key: &str, body: Option<&Value>) -> Request<Body> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {api_key}"));
    match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request")
}

/// Calls the API of the world's tenant.
async fn api(
    w: &World,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let mut req = request(method, path, &w.api_key, body.as_ref());
    if let Some(k) = key {
        req.headers_mut().insert(
            "idempotency-key",
            header::HeaderValue::from_str(k).expect("a header value"),
        );
    }
    let r = c.send(req).await;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

async fn secrets_shown_once_are_not_kept_for_idempotent_replays(url: &str) {
    let w = world(url).await;
    let (status, first) = api(&w, Method::POST, "/v1/api-keys", None, Some("mint-1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = first["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_string();
    let (status, replay) = api(&w, Method::POST, "/v1/api-keys", None, Some("mint-1")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the replay answers as the first time"
    );
    assert_eq!(replay["id"], first["id"], "the same key, not a second one");
    assert_ne!(
        replay["secret"].as_str(),
        Some(secret.as_str()),
        "without the secret"
    );
    // The idempotency table holds no secret either.
    let (status, hook) = api(
        &w,
        Method::POST,
        "/v1/webhook-endpoints",
        Some(json!({"url": "https://hooks.example.com/prorata"})),
        Some("hook-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_secret = hook["secret"].as_str().expect("signing secret").to_string();
    let mut tx = w.engine.store.begin().await.expect("tx");
    for key in ["mint-1", "hook-1"] {
        let saved = tx
            .idempotent_response(w.tenant.id, key)
            .await
            .expect("read")
            .expect("saved");
        assert!(
            !saved.body.contains(&secret) && !saved.body.contains(&hook_secret),
            "{key}: {}",
            saved.body
        );
    }
}

async fn the_last_key_cannot_lock_the_tenant_out(url: &str) {
    let w = world(url).await;
    let (_, keys) = api(&w, Method::GET, "/v1/api-keys", None, None).await;
    let id = keys["data"][0]["id"].as_i64().expect("key");
    let (status, problem) = api(
        &w,
        Method::DELETE,
        &format!("/v1/api-keys/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = api(&w, Method::GET, "/v1/accounts", None, None).await;
    assert_eq!(status, StatusCode::OK, "still in");
}

async fn a_refund_must_say_how_much(url: &str) {
    let w = world(url).await;
    let (status, payment) = api(
        &w,
        Method::POST,
        &format!("/v1/accounts/{}/payments", w.a),
        Some(json!({"amount": 36720, "reference": "VIR INV-000001"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let id = payment["id"].as_i64().expect("payment id");
    for body in [json!([]), json!({})] {
        let (status, problem) = api(
            &w,
            Method::POST,
            &format!("/v1/payments/{id}/refund"),
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
    }
    let (_, after) = api(
        &w,
        Method::GET,
        &format!("/v1/accounts/{}/payments", w.a),
        None,
        None,
    )
    .await;
    assert_eq!(
        after["data"][0]["refunded"]["minor"], 0,
        "nothing refunded: {after}"
    );
}

async fn dates_and_amounts_out_of_bounds_are_refused_naming_the_field(url: &str) {
    let w = world(url).await;
    let catalog = w.engine.catalogs(&w.tenant).await.expect("catalogs")[0].id;
    for start in ["0001-01-01", "9999-12-31"] {
        let (status, problem) = api(
            &w,
            Method::POST,
            "/v1/subscriptions",
            Some(json!({
                "account_id": w.b,
                "catalog_version_id": catalog,
                "plan": "essentials",
                "frequency": "monthly",
                "currency": "EUR",
                "start": start,
                "quantities": {"user": 3}
            })),
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{start}: {problem}"
        );
        assert_eq!(problem["field"], "start", "{problem}");
    }
    let (status, problem) = api(
        &w,
        Method::POST,
        &format!("/v1/accounts/{}/payments", w.a),
        Some(json!({"amount": i64::MAX, "reference": "VIR huge"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "amount");
    let (status, problem) = api(
        &w,
        Method::POST,
        "/v1/clock/advance",
        Some(json!({"to": "9999-12-31"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "to");
    let subscription = w
        .engine
        .account_subscription(&w.tenant, w.a)
        .await
        .expect("read")
        .expect("A's subscription")
        .id;
    let (status, problem) = api(
        &w,
        Method::GET,
        &format!("/v1/subscriptions/{subscription}/preview?as_of=9999-12-31"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "as_of");
}

async fn card_numbers_are_refused_in_every_free_text_field(url: &str) {
    let w = world(url).await;
    let card = "4242 4242 4242 4242";
    for (method, path, body, field) in [
        (
            Method::POST,
            "/v1/accounts".to_string(),
            json!({"name": card, "country": "FR", "currency": "EUR"}),
            "name",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{}", w.a),
            json!({"billing_contacts": ["ok@example.com", format!("{card}@example.com")]}),
            "billing_contacts[1]",
        ),
        (
            Method::PATCH,
            format!("/v1/accounts/{}", w.a),
            json!({"website": format!("https://x.example/{card}")}),
            "website",
        ),
        (
            Method::POST,
            "/v1/webhook-endpoints".to_string(),
            json!({"url": format!("https://hooks.example.com/{}", card.replace(' ', ""))}),
            "url",
        ),
    ] {
        let (status, problem) = api(&w, method, &path, Some(body), None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            !problem.to_string().contains("4242 4242"),
            "not echoed: {problem}"
        );
    }
    // The sandbox's test-card tokenization still takes a number: that is its purpose.
    let (status, token) = api(
        &w,
        Method::POST,
        "/v1/sandbox/card-tokens",
        Some(json!({"number": card, "exp_month": 12, "exp_year": 2030})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
}

async fn unknown_routes_and_methods_answer_problem_documents(url: &str) {
    let w = world(url).await;
    let mut c = Client::new(&w.router, &w.tenant.slug);
    for (method, path, status) in [
        (Method::GET, "/v1/no-such-thing", StatusCode::NOT_FOUND),
        (Method::GET, "/nowhere", StatusCode::NOT_FOUND),
        (Method::PUT, "/health", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let r = c
            .send(request(method.clone(), path, &w.api_key, None))
            .await;
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
        let v: Value = serde_json::from_slice(&r.body).expect("a problem document");
        assert!(v["code"].is_string() && v["detail"].is_string(), "{v}");
    }
}

async fn webhooks_never_reach_inside_the_network(url: &str) {
    let w = world(url).await;
    for inside in [
        "http://127.0.0.1:9/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
    ] {
        let (status, problem) = api(
            &w,
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": inside})),
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{inside}: {problem}"
        );
        assert_eq!(problem["field"], "url");
    }
    // A sandbox may list its own test receiver; delisted later, deliveries to it stop.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { StatusCode::OK }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let set_list = |hosts: Vec<String>| {
        let engine = w.engine.clone();
        let tenant = w.tenant.clone();
        async move {
            let mut settings = engine.tenant(tenant.id).await.expect("tenant").settings;
            settings.webhooks.sandbox_private_hosts = hosts;
            let mut tx = engine.store.begin().await.expect("tx");
            tx.set_settings(tenant.id, &settings)
                .await
                .expect("settings");
            tx.commit().await.expect("commit");
            engine.tenant(tenant.id).await.expect("tenant")
        }
    };
    let listed = set_list(vec!["127.0.0.1".into()]).await;
    w.engine
        .create_webhook_endpoint(&listed, &hook, &[])
        .await
        .expect("a listed receiver is accepted");
    let sender = prorata_server::webhooks::Sender::new(std::time::Duration::from_secs(5));
    // Something to send: an invoice of a new subscription.
    let catalog = w.engine.catalogs(&w.tenant).await.expect("catalogs")[0].id;
    w.engine
        .create_subscription(&listed, w.b, catalog, &seed_subscription())
        .await
        .expect("subscription");
    w.engine
        .collect(&listed, d(2024, 7, 6))
        .await
        .expect("dispatch");
    let sent = prorata_server::worker::deliver_webhooks(&w.engine, &sender)
        .await
        .expect("deliver");
    assert!(sent >= 1 && hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    let delisted = set_list(Vec::new()).await;
    w.engine
        .create_subscription(&delisted, w.a, catalog, &seed_subscription())
        .await
        .expect("subscription");
    w.engine
        .collect(&delisted, d(2024, 7, 6))
        .await
        .expect("dispatch");
    prorata_server::worker::deliver_webhooks(&w.engine, &sender)
        .await
        .expect("deliver");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "nothing reaches a delisted inside host"
    );
}

async fn a_put_without_its_parts_wipes_nothing(url: &str) {
    let w = world(url).await;
    let (_, mut settings) = api(&w, Method::GET, "/v1/collection-settings", None, None).await;
    settings["bank_details"] =
        json!({"holder": "Vendor SAS", "iban": "FR76 3000 6000 0112 3456 7890 189"});
    let (status, _) = api(
        &w,
        Method::PUT,
        "/v1/collection-settings",
        Some(settings),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = api(
        &w,
        Method::PUT,
        "/v1/collection-settings",
        Some(json!({})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (_, kept) = api(&w, Method::GET, "/v1/collection-settings", None, None).await;
    assert_eq!(
        kept["bank_details"]["holder"], "Vendor SAS",
        "the bank details stay"
    );
    // Long or missing seller details are refused, naming the field.
    let (_, mut seller) = api(&w, Method::GET, "/v1/seller", None, None).await;
    seller["legal_name"] = json!("x".repeat(1_000_000));
    let (status, problem) = api(&w, Method::PUT, "/v1/seller", Some(seller.clone()), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "seller.legal_name");
    seller["legal_name"] = json!("Vendor SAS");
    seller["siren"] = json!("");
    let (status, problem) = api(&w, Method::PUT, "/v1/seller", Some(seller), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "seller.siren");
    let (status, problem) = api(
        &w,
        Method::PATCH,
        &format!("/v1/accounts/{}", w.a),
        Some(json!({"line1": "y".repeat(1_000_000)})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "address.line1");
}

/// A sandbox card token belongs to the tenant that made it, as a gateway's token belongs to its
/// merchant: another tenant can neither save it for its accounts nor read the card behind it.
async fn card_tokens_belong_to_their_tenant(url: &str) {
    let w = world(url).await;
    let path = format!("/v1/accounts/{}/payment-method", w.a);
    let foreign = prorata_engine::gateway::SandboxGateway::tokenize_card(
        w.other_tenant.id,
        "4242424242424242",
        12,
        2030,
    )
    .expect("token");
    let (status, body) = api(
        &w,
        Method::PUT,
        &path,
        Some(json!({"type": "card", "token": foreign})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "token", "{body}");
    // The tenant's own token for the same card is taken.
    let (status, made) = api(
        &w,
        Method::POST,
        "/v1/sandbox/card-tokens",
        Some(json!({"number": "4242424242424242", "exp_month": 12, "exp_year": 2030})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, body) = api(
        &w,
        Method::PUT,
        &path,
        Some(json!({"type": "card", "token": made["token"]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// One tenant cannot starve the others: past its rate a tenant is answered 429 with
/// `Retry-After` while another tenant goes on; a request past the time limit is stopped and
/// answered 504, both as problem documents.
async fn rates_and_time_are_limited_per_tenant(url: &str) {
    use prorata_server::limits::LimitConfig;
    use std::time::Duration;
    let w = world(url).await;
    let limited = |config: LimitConfig| {
        prorata_server::app(prorata_server::AppState::with_limits(
            w.engine.clone(),
            config,
        ))
    };
    let get = |router: &axum::Router, key: &str, path: &str| {
        let mut c = Client::new(router, &w.tenant.slug);
        let req = request(Method::GET, path, key, None);
        async move { c.send(req).await }
    };
    let other_key = w
        .engine
        .create_api_key(&w.other_tenant)
        .await
        .expect("key")
        .secret;
    let router = limited(LimitConfig {
        rate: 1,
        burst: 5,
        ..LimitConfig::default()
    });
    for i in 0..5 {
        let r = get(&router, &w.api_key, "/v1/accounts").await;
        assert_eq!(r.status, StatusCode::OK, "request {i} of the burst");
    }
    let r = get(&router, &w.api_key, "/v1/accounts").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    let r = get(&router, &other_key, "/v1/accounts").await;
    assert_eq!(r.status, StatusCode::OK, "another tenant is not held up");

    let router = limited(LimitConfig {
        timeout: Duration::from_millis(1),
        ..LimitConfig::default()
    });
    // Five years of a sandbox's billing take far longer than a millisecond: the advance is
    // stopped, and since it is resumable, advancing again finishes it.
    let start = w.tenant.clock.expect("a sandbox clock");
    let to = start + chrono::Days::new(5 * 365);
    let mut c = Client::new(&router, &w.tenant.slug);
    let r = c
        .send(request(
            Method::POST,
            "/v1/clock/advance",
            &w.api_key,
            Some(&json!({ "to": to })),
        ))
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    let problem: Value = serde_json::from_slice(&r.body).expect("a problem document");
    assert_eq!(problem["code"], "timeout");
    let (status, clock) = api(&w, Method::GET, "/v1/clock", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let stopped_at: chrono::NaiveDate =
        serde_json::from_value(clock["today"].clone()).expect("the clock's date");
    assert!(start <= stopped_at && stopped_at < to, "{clock}");
    let (status, done) = api(
        &w,
        Method::POST,
        "/v1/clock/advance",
        Some(json!({ "to": to })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["today"], json!(to));
}

/// Tickets through the API: files told by their content and bounded, served only from their
/// own ticket as attachments the browser will not sniff, and an audit trail nothing can
/// change.
async fn ticket_files_and_the_audit_trail_hold(url: &str) {
    use base64::Engine as _;
    let w = world(url).await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let new = |files: Value| {
        json!({"account_id": w.a, "reason": "billing", "subject": "Virement de juillet",
               "body": "Voici la preuve.", "files": files})
    };
    // An executable named .png, a file over 10 MB, a sixth file: refused, nothing stored.
    let elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    let big = [b"%PDF-".to_vec(), vec![b' '; 10 * 1024 * 1024]].concat();
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("{i}.png"), "content_base64": b64(&png)}))
        .collect();
    for (files, field) in [
        (
            json!([{"name": "photo.png", "content_base64": b64(&elf)}]),
            "files[0]",
        ),
        (
            json!([{"name": "big.pdf", "content_base64": b64(&big)}]),
            "files[0]",
        ),
        (json!(six), "files"),
        (
            json!([{"name": "x.png", "content_base64": "%%%"}]),
            "files[0].content_base64",
        ),
    ] {
        let (status, problem) = api(&w, Method::POST, "/v1/tickets", Some(new(files)), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, none) = api(&w, Method::GET, "/v1/tickets", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["data"], json!([]), "nothing stored");

    let (status, first) = api(
        &w,
        Method::POST,
        "/v1/tickets",
        Some(new(
            json!([{"name": "../reçu.exe", "content_base64": b64(&png)}]),
        )),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["queue"], "billing_team");
    assert_eq!(first["files"][0]["name"], "reçu.png", "named by what it is");
    let (ticket, file) = (
        first["id"].as_i64().expect("id"),
        first["files"][0]["id"].as_i64().expect("file"),
    );
    let (_, second) = api(&w, Method::POST, "/v1/tickets", Some(new(json!([]))), None).await;
    let other = second["id"].as_i64().expect("id");
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let get = |path: String| request(Method::GET, &path, &w.api_key, None);
    let r = c
        .send(get(format!("/v1/tickets/{ticket}/files/{file}")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, png);
    assert_eq!(r.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"re_u.png\"; filename*=UTF-8''re%C3%A7u.png"
    );
    let r = c
        .send(get(format!("/v1/tickets/{other}/files/{file}")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not from another ticket");

    // The trail shows the filing; no method changes it.
    let trail = format!("/v1/accounts/{}/audit", w.a);
    let (status, lines) = api(&w, Method::GET, &trail, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines["data"][0]["action"], "ticket.created");
    assert_eq!(lines["data"][0]["actor"], "api");
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let (status, _) = api(&w, method.clone(), &trail, Some(json!({})), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let (_, again) = api(&w, Method::GET, &trail, None, None).await;
    assert_eq!(again["data"], lines["data"]);
}

/// 50 callers at once, each posting small usage batches and creating accounts: every answer
/// is a success (on SQLite, writers wait their turn instead of failing).
async fn concurrent_writers_never_get_a_server_error(url: &str) {
    let w = world(url).await;
    let subscription = w
        .engine
        .account_subscription(&w.tenant, w.a)
        .await
        .expect("read")
        .expect("A's subscription")
        .id;
    let mut tasks = Vec::new();
    for caller in 0..50 {
        let router = w.router.clone();
        let key = w.api_key.clone();
        let (account, slug) = (w.a, w.tenant.slug.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..6 {
                let (path, body) = if n % 3 == 2 {
                    // An upgrade: reads the timeline, then bills and writes (a prorated invoice).
                    (
                        format!("/v1/subscriptions/{subscription}/changes"),
                        json!({"request": {"type": "set_quantity", "product": "user",
                                           "quantity": 11 + caller * 6 + n}}),
                    )
                } else if n % 3 == 0 {
                    let events: Vec<Value> = (0..5)
                        .map(|i| {
                            json!({"event_id": format!("c{caller}-{n}-{i}"), "account_id": account,
                                   "started_at": "2024-07-06T10:00:00Z", "direction": "outbound",
                                   "caller": "+33145678900", "callee": "+12125550100",
                                   "duration_seconds": 30 + i})
                        })
                        .collect();
                    ("/v1/usage".to_string(), json!({ "events": events }))
                } else {
                    (
                        "/v1/accounts".to_string(),
                        json!({"name": format!("Busy {caller}-{n}"), "country": "FR", "currency": "EUR"}),
                    )
                };
                let mut c = Client::new(&router, &slug);
                let r = c
                    .send(request(Method::POST, &path, &key, Some(&body)))
                    .await;
                statuses.push((r.status, r.text()));
            }
            statuses
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        for (status, body) in t.await.expect("task") {
            if !status.is_success() {
                failures.push(format!("{status}: {body}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 300 failed: {:?}",
        failures.len(),
        failures.first()
    );
    // Every call was taken (the batches were answered 200, and rejected none).
    let stored: i64 = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_events")
            .fetch_one(&pool)
            .await
            .expect("count")
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_events")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(stored, 50 * 2 * 5, "every call stored");
    // On PostgreSQL the first batches of a month make its partition. Made while their
    // transactions were open, a pool's worth of them each waited for a second connection
    // until the pool gave up (30 s), the partition was not made, and the month's calls went
    // to the default partition for good.
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let stray: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_events_default")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(stray, 0, "calls in the default partition");
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_events_2024_07")
            .fetch_one(&pool)
            .await
            .expect("the month's partition");
        assert_eq!(kept, 50 * 2 * 5, "every call in its month's partition");
    }
}

/// The writers on a multi-threaded runtime, as a server runs them.
mod concurrent {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_sqlite() {
        let (url, _guard) = prorata_testkit::sqlite_url();
        super::concurrent_writers_never_get_a_server_error(&url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_postgres() {
        let url = prorata_testkit::fresh_database().await;
        super::concurrent_writers_never_get_a_server_error(&url).await;
    }
}

on_both_stores!(
    a_put_without_its_parts_wipes_nothing,
    webhooks_never_reach_inside_the_network,
    secrets_shown_once_are_not_kept_for_idempotent_replays,
    the_last_key_cannot_lock_the_tenant_out,
    a_refund_must_say_how_much,
    dates_and_amounts_out_of_bounds_are_refused_naming_the_field,
    card_numbers_are_refused_in_every_free_text_field,
    unknown_routes_and_methods_answer_problem_documents,
    card_tokens_belong_to_their_tenant,
    rates_and_time_are_limited_per_tenant,
    ticket_files_and_the_audit_trail_hold,
);

//! Fuzzing the API (issue 13): every operation of `/openapi.json` that takes a JSON body gets
//! generated bodies, and every `GET` generated query strings and path ids, against the app
//! built in-process on SQLite (the portal tests' world: a sandbox tenant on 6 July 2024, two
//! accounts on Essentials, people, an API key).
//!
//! Bodies are mostly mutants of a valid body of the operation (a field dropped, retyped,
//! replaced by an extreme value — `9223372036854775807`, `-1`, `1e400`, `0001-01-01`,
//! `9999-12-31`, 100 kB strings, unicode, deep nesting — or an unknown field added), then
//! arbitrary JSON, then text cut short or not JSON at all, sometimes under another content
//! type, sometimes with an `Idempotency-Key`. Path ids are the world's real ones (so the
//! handlers get past their 404), sometimes another tenant's or nonsense.
//!
//! Every reply must be: no 5xx (not even 503: one client never loses SQLite's write race), a
//! problem document (`application/problem+json` with its `status` and `code`) for a 4xx,
//! JSON (or the document's PDF or XML) for a 2xx; and within [`LIMIT`] — each request runs as
//! its own task under a timeout, so "no hang" is checked. A panic in a handler would surface
//! as a failed request (axum does not catch it) and fails the case.
//!
//! The operations with a body in the OpenAPI document must be exactly those with a valid
//! body below, so a new operation cannot go unfuzzed. Case counts: [`BODY_CASES`] and
//! [`QUERY_CASES`]; `PROPTEST_CASES=5000 cargo test -p prorata-server --test fuzz_bodies`
//! runs more (both harnesses take the count).

mod portal_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use portal_common::*;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use prorata_core::change::Request as Change;
use prorata_engine::Submitted;
use prorata_testkit::fuzz::{config, json_input, shown, JsonInput};
use serde_json::{json, Value};
use tower::ServiceExt;

/// Generated requests with a body, over all operations.
const BODY_CASES: u32 = 2_000;
/// Generated query strings and path ids, over the `GET` operations.
const QUERY_CASES: u32 = 1_000;
/// The longest one request may take. The slowest legitimate one moves the sandbox clock years
/// ahead, billing every subscription the run has created on the way: about 36 s in a debug
/// build for 46 subscriptions over ten years (a hunt of 5,000 cases), well under a second in
/// the default run.
const LIMIT: Duration = Duration::from_secs(120);

/// A PNG's first bytes, base64: a file the ticket routes take.
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUg==";

/// The ids a path parameter may take.
#[derive(Debug, Clone)]
struct Ids {
    account: i64,
    other_account: i64,
    foreign_account: i64,
    subscription: i64,
    invoice: i64,
    payment: i64,
    webhook: i64,
    change_request: i64,
    ticket: i64,
    user: i64,
    catalog: i64,
    /// A sandbox card token of the tenant.
    card_token: String,
}

/// The app, its key, and what exists in it.
struct Fuzzed {
    router: Router,
    key: String,
    ids: Ids,
    /// Operations of the OpenAPI document: (method, path template) → its document.
    operations: BTreeMap<(String, String), Value>,
    world: World,
    _guard: prorata_testkit::TempDirGuard,
    /// Dropped last: the world's pool closes inside it.
    rt: tokio::runtime::Runtime,
}

/// What came back.
struct Reply {
    status: StatusCode,
    content_type: String,
    /// `X-Content-Type-Options: nosniff`.
    nosniff: bool,
    /// `Content-Disposition: attachment…`.
    attachment: bool,
    body: Vec<u8>,
}

async fn send(router: Router, req: Request<Body>) -> Reply {
    let res = router.oneshot(req).await.expect("a response");
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (nosniff, attachment) = {
        let header_is = |name: header::HeaderName, prefix: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(prefix))
        };
        (
            header_is(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            header_is(header::CONTENT_DISPOSITION, "attachment"),
        )
    };
    let body = res
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        content_type,
        nosniff,
        attachment,
        body,
    }
}

impl Fuzzed {
    fn new() -> Fuzzed {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (url, guard) = prorata_testkit::sqlite_url();
        let w = rt.block_on(world(&url));
        let mut f = Fuzzed {
            router: w.router.clone(),
            key: w.api_key.clone(),
            ids: Ids {
                account: w.a,
                other_account: w.b,
                foreign_account: w.c,
                subscription: 0,
                invoice: w.a_invoice,
                payment: 0,
                webhook: 0,
                change_request: 0,
                ticket: 0,
                user: 0,
                catalog: 0,
                card_token: String::new(),
            },
            operations: BTreeMap::new(),
            world: w,
            _guard: guard,
            rt,
        };
        f.setup();
        f
    }

    /// Sends one request; the reply, or a failure if it took longer than [`LIMIT`] or the
    /// handler panicked.
    fn call(
        &self,
        method: &Method,
        uri: &str,
        body: Option<(String, Option<&str>)>,
        idempotency_key: Option<&str>,
        actor: Option<&str>,
    ) -> Result<(Reply, Duration), String> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key));
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        if let Some(a) = actor {
            req = req.header("x-prorata-actor", a);
        }
        let body = match body {
            None => Body::empty(),
            Some((text, content_type)) => {
                if let Some(ct) = content_type {
                    req = req.header(header::CONTENT_TYPE, ct);
                }
                Body::from(text)
            }
        };
        let req = req.body(body).map_err(|e| format!("cannot build: {e}"))?;
        let router = self.router.clone();
        let started = Instant::now();
        self.rt.block_on(async move {
            let task = tokio::spawn(send(router, req));
            match tokio::time::timeout(LIMIT, task).await {
                Err(_) => Err(format!("no answer after {LIMIT:?} (a hang)")),
                Ok(Err(e)) if e.is_panic() => Err(format!(
                    "the handler panicked: {}",
                    prorata_testkit::fuzz::panic_message(e.into_panic().as_ref())
                )),
                Ok(Err(e)) => Err(format!("the request task failed: {e}")),
                Ok(Ok(reply)) => Ok((reply, started.elapsed())),
            }
        })
    }

    fn json(&self, method: Method, uri: &str, body: Option<Value>) -> Value {
        let (r, _) = self
            .call(
                &method,
                uri,
                body.map(|b| (b.to_string(), Some("application/json"))),
                None,
                None,
            )
            .expect("setup request");
        assert!(
            r.status.is_success(),
            "{method} {uri}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        serde_json::from_slice(&r.body).expect("JSON")
    }

    /// Reads the OpenAPI document and makes one of everything a path may name.
    fn setup(&mut self) {
        let doc = self.json(Method::GET, "/openapi.json", None);
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    self.operations
                        .insert((method.to_uppercase(), path.clone()), op.clone());
                }
            }
        }
        let a = self.ids.account;
        self.ids.catalog = self.json(Method::GET, "/v1/catalogs", None)["data"][0]["id"]
            .as_i64()
            .expect("catalog");
        self.ids.subscription = self
            .rt
            .block_on(
                self.world
                    .engine
                    .account_subscription(&self.world.tenant, a),
            )
            .expect("read")
            .expect("A's subscription")
            .id;
        self.ids.payment = self.json(
            Method::POST,
            &format!("/v1/accounts/{a}/payments"),
            Some(json!({"amount": 36720, "reference": "VIR INV-000001"})),
        )["id"]
            .as_i64()
            .expect("payment");
        self.ids.webhook = self.json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.example.com/prorata"})),
        )["id"]
            .as_i64()
            .expect("webhook");
        self.ids.user = self.json(Method::GET, &format!("/v1/accounts/{a}/users"), None)["data"][0]
            ["id"]
            .as_i64()
            .expect("user");
        self.ids.card_token = self.json(
            Method::POST,
            "/v1/sandbox/card-tokens",
            Some(json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030})),
        )["token"]
            .as_str()
            .expect("token")
            .to_string();
        let b = self.ids.other_account;
        let submitted = self.rt.block_on(self.world.engine.submit_account_change(
            &self.world.tenant,
            b,
            None,
            &Change::SetQuantity {
                product: "user".into(),
                quantity: 5,
            },
            Some("fuzz"),
        ));
        self.ids.ticket = self.json(
            Method::POST,
            "/v1/tickets",
            Some(
                json!({"account_id": a, "reason": "billing", "subject": "Virement",
                        "body": "Voici la preuve.",
                        "files": [{"name": "preuve.png", "content_base64": PNG_BASE64}]}),
            ),
        )["id"]
            .as_i64()
            .expect("ticket");
        self.ids.change_request = match submitted {
            Ok(Submitted::Requested { id, .. }) => id,
            other => panic!("a change request: {other:?}"),
        };
    }

    /// The id a `{id}` of `path` names in the world.
    fn real_id(&self, path: &str, other: bool) -> i64 {
        let ids = &self.ids;
        match path.split('/').nth(2).unwrap_or_default() {
            "accounts" if other => ids.other_account,
            "accounts" => ids.account,
            "subscriptions" => ids.subscription,
            "invoices" => ids.invoice,
            "credit-notes" => 1,
            "payments" => ids.payment,
            "webhook-endpoints" => ids.webhook,
            "change-requests" => ids.change_request,
            "tickets" => ids.ticket,
            // Never one of the tenant's keys: revoking them is not what is fuzzed here.
            "api-keys" => 999_999,
            _ => 1,
        }
    }

    /// A valid body for each operation that takes one; several for some.
    fn valid_bodies(&self) -> BTreeMap<(String, String), Vec<Value>> {
        let Ids {
            account,
            other_account,
            catalog,
            user,
            ref card_token,
            ..
        } = self.ids;
        let call = |id: &str, callee: &str, secs: i64| {
            json!({"event_id": id, "account_id": account, "started_at": "2024-07-07T10:00:00Z",
                   "direction": "outbound", "caller": "+33145678900", "callee": callee,
                   "duration_seconds": secs})
        };
        let change =
            |request: Value| json!({"request": request, "effective": "2024-07-10T00:00:00"});
        let changes = vec![
            change(json!({"type": "set_quantity", "product": "user", "quantity": 12})),
            json!({"request": {"type": "set_quantity", "product": "number", "quantity": 3}}),
            change(json!({"type": "add_addon", "product": "bundle_europe"})),
            json!({"request": {"type": "change_plan", "plan": "professional"}}),
        ];
        let seller = json!({"legal_name": "Vendor SAS", "legal_form": "SAS au capital de 10 000 €",
            "address": {"line1": "1 rue du Test", "line2": "", "postcode": "75001",
                        "city": "Paris", "state": ""},
            "siren": "552100554", "vat_number": "FR96552100554", "email": "billing@vendor.example",
            "payment_terms_days": 30, "late_penalty_rate": "12.15"});
        let mut settings = self.json(Method::GET, "/v1/collection-settings", None);
        settings["bank_details"] =
            json!({"holder": "Vendor SAS", "iban": "FR76 3000 6000 0112 3456 7890 189", "bic": ""});
        let ticket_rules = self.json(Method::GET, "/v1/ticket-settings", None);
        let p = |m: &str, path: &str| (m.to_string(), path.to_string());
        BTreeMap::from([
            (p("POST", "/v1/catalogs"), vec![json!({"source": CATALOG})]),
            (
                p("POST", "/v1/accounts"),
                vec![
                    json!({"name": "Fuzz SARL", "website": "https://fuzz.example",
                    "address": {"line1": "2 rue Neuve", "postcode": "69001", "city": "Lyon"},
                    "country": "FR", "vat_number": "FR40303265045", "currency": "EUR",
                    "language": "fr", "time_zone": "Europe/Paris",
                    "billing_contacts": ["compta@fuzz.example"]}),
                ],
            ),
            (
                p("PATCH", "/v1/accounts/{id}"),
                vec![
                    json!({"line1": "3 rue Haute", "postcode": "75003", "city": "Paris"}),
                    json!({"name": "Lumen", "website": "", "line2": "", "state": "", "country": "FR",
                        "vat_number": "", "language": "en",
                        "billing_contacts": ["a@example.com", "b@example.com"]}),
                ],
            ),
            (
                p("POST", "/v1/subscriptions"),
                vec![
                    json!({"account_id": other_account, "catalog_version_id": catalog,
                    "plan": "essentials", "frequency": "monthly", "currency": "EUR",
                    "start": "2024-07-06", "trial_days": 0, "term_months": 12, "notice_days": 30,
                    "quantities": {"user": 3, "number": 1}}),
                ],
            ),
            (p("POST", "/v1/subscriptions/{id}/changes"), changes.clone()),
            (p("POST", "/v1/subscriptions/{id}/changes/preview"), changes),
            (
                p("POST", "/v1/subscriptions/{id}/coupons"),
                vec![
                    json!({"code": "WELCOME10"}),
                    json!({"code": "WELCOME10", "effective": "2024-07-10T00:00:00"}),
                ],
            ),
            (p("PUT", "/v1/seller"), vec![seller]),
            (
                p("POST", "/v1/clock/advance"),
                vec![json!({"to": "2024-07-07"}), json!({"to": "2024-08-06"})],
            ),
            (
                p("POST", "/v1/usage"),
                vec![json!({"events": [
                    call("c1", "+12125550100", 61),
                    call("c2", "+33612345678", 5),
                    {"event_id": "c3", "account_id": account, "started_at": "2024-07-08T23:30:00+02:00",
                     "direction": "inbound", "toll_free": true, "caller": "+4930123456",
                     "callee": "+33800123456", "duration_seconds": 86400},
                ]})],
            ),
            (
                p("PUT", "/v1/accounts/{id}/payment-method"),
                vec![
                    json!({"type": "sepa_debit", "iban": "FR76 3000 6000 0112 3456 7890 189",
                           "mandate_reference": "MANDATE-1"}),
                    json!({"type": "ach_debit", "routing_number": "021000021",
                           "account_number": "000123456789"}),
                    json!({"type": "card", "token": card_token}),
                    json!({"type": "bank_transfer"}),
                ],
            ),
            (
                p("POST", "/v1/accounts/{id}/payments"),
                vec![json!({"amount": 100, "reference": "VIR INV-000001"})],
            ),
            (
                p("POST", "/v1/accounts/{id}/wallet/top-ups"),
                vec![
                    json!({"amount": 50000, "kind": "paid", "reference": "order 117"}),
                    json!({"amount": 1, "kind": "granted", "reference": "gesture"}),
                ],
            ),
            (
                p("POST", "/v1/transfers"),
                vec![json!({"amount": 100, "reference": "INV-000001"})],
            ),
            (
                p("POST", "/v1/payments/{id}/refund"),
                vec![json!({"amount": 1})],
            ),
            (p("PUT", "/v1/collection-settings"), vec![settings]),
            (
                p("POST", "/v1/sandbox/card-tokens"),
                vec![json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030})],
            ),
            (
                p("POST", "/v1/webhook-endpoints"),
                vec![json!({"url": "https://hooks.example.com/fuzz",
                            "events": ["invoice.finalized", "payment.failed"]})],
            ),
            (
                p("POST", "/v1/accounts/{id}/users"),
                vec![
                    json!({"email": "new.agent@lumen.example", "name": "New Agent",
                            "role": "agent", "language": "en"}),
                ],
            ),
            (
                p("POST", "/v1/portal-sessions"),
                vec![json!({"user_id": user, "return_url": "https://app.acme.example/"})],
            ),
            (
                p("POST", "/v1/change-requests/{id}/refuse"),
                vec![json!({"note": "Not this month"})],
            ),
            (
                p("POST", "/v1/tickets"),
                vec![
                    json!({"account_id": account, "reason": "subscription",
                           "subject": "Passer en annuel", "body": "Est-ce possible ?"}),
                    json!({"account_id": account, "reason": "billing", "subject": "Facture",
                           "body": "Ci-joint.", "document_id": self.ids.invoice,
                           "files": [{"name": "a.png", "content_base64": PNG_BASE64}]}),
                ],
            ),
            (
                p("POST", "/v1/tickets/{id}/messages"),
                vec![
                    json!({"body": "Reçu, merci."}),
                    json!({"body": "À vérifier", "internal": true,
                           "files": [{"name": "b.png", "content_base64": PNG_BASE64}]}),
                ],
            ),
            (
                p("POST", "/v1/tickets/{id}/status"),
                vec![json!({"status": "solved"}), json!({"status": "open"})],
            ),
            (
                p("POST", "/v1/tickets/{id}/assignment"),
                vec![json!({"queue": "billing_team", "assignee_id": null})],
            ),
            (
                p("PUT", "/v1/accounts/{id}/manager"),
                vec![json!({"manager_id": null})],
            ),
            (p("PUT", "/v1/ticket-settings"), vec![ticket_rules]),
        ])
    }
}

/// A reply as the API promises: no 5xx, problems for errors, JSON (or a document) otherwise.
fn check_reply(path: &str, r: &Reply) -> Result<(), String> {
    let text = || shown(&String::from_utf8_lossy(&r.body), 2000);
    if r.status.is_server_error() {
        return Err(format!("{}: {}", r.status, text()));
    }
    if r.status == StatusCode::NO_CONTENT {
        return if r.body.is_empty() {
            Ok(())
        } else {
            Err(format!("204 with a body: {}", text()))
        };
    }
    if r.status.is_client_error() {
        if r.content_type != "application/problem+json" {
            return Err(format!(
                "{} as {:?}, not a problem document: {}",
                r.status,
                r.content_type,
                text()
            ));
        }
        let problem: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("{}: a problem that is not JSON ({e}): {}", r.status, text()))?;
        if problem["status"].as_u64() != Some(u64::from(r.status.as_u16()))
            || !problem["code"].is_string()
            || !problem["type"].is_string()
            || !problem["title"].is_string()
        {
            return Err(format!("{}: a malformed problem: {problem}", r.status));
        }
        return Ok(());
    }
    let document = path.starts_with("/v1/invoices/") || path.starts_with("/v1/credit-notes/");
    match r.content_type.as_str() {
        "application/json" => serde_json::from_slice::<Value>(&r.body)
            .map(|_| ())
            .map_err(|e| format!("{}: not JSON ({e}): {}", r.status, text())),
        "application/pdf" | "application/xml" if document => Ok(()),
        // A ticket's file: as sent, and only as an attachment the browser will not sniff.
        "application/pdf" | "image/png" | "image/jpeg" if path.contains("/files/") => {
            if r.nosniff && r.attachment {
                Ok(())
            } else {
                Err(format!("a file served inline or sniffable: {}", r.status))
            }
        }
        other => Err(format!("{} as {other:?}: {}", r.status, text())),
    }
}

/// A path id: the world's (mostly), another of its ids, another tenant's, or nonsense.
#[derive(Debug, Clone)]
enum PathId {
    Real,
    OtherReal,
    Foreign,
    Text(String),
}

fn path_id() -> impl Strategy<Value = PathId> {
    prop_oneof![
        12 => Just(PathId::Real),
        2 => Just(PathId::OtherReal),
        1 => Just(PathId::Foreign),
        2 => prop::sample::select(vec![
            "0", "-1", "9223372036854775807", "9223372036854775808", "1e3", "0x10", "abc",
            "1.pdf", "1.xml", "1.PDF", "1.pdf.pdf", "%00", "%2e%2e", "%F0%9F%A6%80", "1%20",
            "99999999999999999999999999999",
        ])
        .prop_map(|s| PathId::Text(s.to_string())),
    ]
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Fuzzed {
    fn uri(&self, path: &str, id: &PathId) -> String {
        let id = match id {
            PathId::Real => self.real_id(path, false).to_string(),
            PathId::OtherReal => self.real_id(path, true).to_string(),
            PathId::Foreign => self.ids.foreign_account.to_string(),
            PathId::Text(t) => t.clone(),
        };
        // A ticket's file: the first one of the world's ticket.
        path.replace("{id}", &id)
            .replace("{file}", "1")
            .replace("{code}", "WELCOME10")
    }
}

/// One generated request with a body.
#[derive(Debug, Clone)]
struct BodyCase {
    operation: usize,
    base: usize,
    input: JsonInput,
    id: PathId,
    /// 0: `application/json`; then with a charset, none, `text/plain`.
    content_type: u8,
    idempotency_key: Option<String>,
    actor: Option<&'static str>,
}

fn body_case() -> impl Strategy<Value = BodyCase> {
    (
        any::<usize>(),
        any::<usize>(),
        json_input(),
        path_id(),
        prop_oneof![20 => Just(0_u8), 1 => Just(1_u8), 1 => Just(2_u8), 1 => Just(3_u8)],
        prop::option::weighted(0.15, "[A-Za-z0-9-]{1,40}"),
        prop::option::weighted(
            0.15,
            prop::sample::select(vec!["owner", "billing_team", "agent", ""]),
        ),
    )
        .prop_map(
            |(operation, base, input, id, content_type, idempotency_key, actor)| BodyCase {
                operation,
                base,
                input,
                id,
                content_type,
                idempotency_key,
                actor,
            },
        )
}

/// The slowest request and how many of each status, printed at the end (`--nocapture`).
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(String, u16), u32>,
    slowest: (Duration, String),
}

impl Tally {
    fn add(&mut self, what: &str, status: StatusCode, took: Duration) {
        *self
            .statuses
            .entry((what.to_string(), status.as_u16()))
            .or_default() += 1;
        if took > self.slowest.0 {
            self.slowest = (took, what.to_string());
        }
    }

    fn print(&self, harness: &str) {
        eprintln!(
            "{harness}: slowest request {:?} ({})",
            self.slowest.0, self.slowest.1
        );
        for ((what, status), n) in &self.statuses {
            eprintln!("  {what} → {status}: {n}");
        }
    }
}

#[test]
fn every_body_of_every_operation_is_answered_without_a_server_error() {
    let f = Fuzzed::new();
    let bodies = f.valid_bodies();
    let with_body: BTreeSet<(String, String)> = f
        .operations
        .iter()
        // JSON bodies: the logo's PNG bytes are checked by prorata_docs::logo's own tests.
        .filter(|(_, op)| {
            op["requestBody"]["content"]
                .get("application/json")
                .is_some()
        })
        .map(|(k, _)| k.clone())
        .collect();
    let covered: BTreeSet<(String, String)> = bodies.keys().cloned().collect();
    assert_eq!(
        with_body, covered,
        "the operations taking a body (left) and those fuzzed (right) differ: give the new one a valid body"
    );
    // Each valid body is valid (or refused for what it asks, never for its shape). Changes
    // are tried through their preview, which saves nothing.
    for ((method, path), list) in &bodies {
        if path == "/v1/subscriptions/{id}/changes" {
            continue;
        }
        for b in list {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let (r, _) = f
                .call(
                    &method,
                    &f.uri(path, &PathId::Real),
                    Some((b.to_string(), Some("application/json"))),
                    None,
                    None,
                )
                .expect("no hang");
            check_reply(path, &r).expect("a good reply");
            // Refused for what it asks in the state the world is in (a change already made,
            // an e-mail taken), never for its shape.
            let code = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .map(|p| p["code"].clone());
            assert!(
                r.status.is_success()
                    || r.status == StatusCode::CONFLICT
                    || code == Some(json!("change_refused")),
                "{method} {path} {b}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    let targets: Vec<((String, String), Vec<Value>)> = bodies.into_iter().collect();
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let mut runner = TestRunner::new(config(BODY_CASES));
    let result = runner.run(&body_case(), |case| {
        let ((method, path), bases) = &targets[case.operation % targets.len()];
        let base = &bases[case.base % bases.len()];
        let text = case.input.text(base);
        let content_type = match case.content_type {
            0 => Some("application/json"),
            1 => Some("application/json; charset=utf-8"),
            2 => None,
            _ => Some("text/plain"),
        };
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let uri = f.uri(path, &case.id);
        let what = format!("{method} {path}");
        let fail = |e: String| {
            TestCaseError::fail(format!(
                "{what} ({uri}, {content_type:?}): {e}\nbody: {}",
                shown(&text, 2000)
            ))
        };
        let (r, took) = f
            .call(
                &method,
                &uri,
                Some((text.clone(), content_type)),
                case.idempotency_key.as_deref(),
                case.actor,
            )
            .map_err(fail)?;
        if let Ok(mut t) = tally.lock() {
            t.add(&what, r.status, took);
        }
        check_reply(path, &r).map_err(fail)
    });
    if let Ok(t) = tally.lock() {
        t.print("bodies");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// One generated `GET`: a path id and query parameters (the declared ones, and others).
#[derive(Debug, Clone)]
struct QueryCase {
    operation: usize,
    id: PathId,
    /// For each declared parameter in turn: absent, or a value.
    values: Vec<Option<String>>,
    extra: Option<(String, String)>,
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "0", "1", "-1", "100", "101", "50", "9223372036854775807", "9223372036854775808",
            "1e3", "abc", "true", "null", "2024-07-06", "2024-07-31", "2024-02-30", "0001-01-01",
            "9999-12-31", "2034-07-05", "+262143-01-01", "pending", "applied", "refused",
            "Pending", "🦀", "%", "%00", "a&b=c", "[]", "{}",
        ])
        .prop_map(String::from),
        1 => "\\PC{0,20}",
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => (0_usize..20_000).prop_map(|n| "9".repeat(n)),
    ]
}

fn query_case() -> impl Strategy<Value = QueryCase> {
    (
        any::<usize>(),
        path_id(),
        prop::collection::vec(prop::option::weighted(0.7, query_value()), 4),
        prop::option::weighted(0.2, ("[a-z_]{1,10}", query_value())),
    )
        .prop_map(|(operation, id, values, extra)| QueryCase {
            operation,
            id,
            values,
            extra,
        })
}

#[test]
fn every_query_string_and_path_id_of_every_get_is_answered_without_a_server_error() {
    let f = Fuzzed::new();
    // (path, its query parameters) of each GET.
    let gets: Vec<(String, Vec<String>)> = f
        .operations
        .iter()
        .filter(|((method, _), _)| method == "GET")
        .map(|((_, path), op)| {
            let params = op["parameters"]
                .as_array()
                .map(|ps| {
                    // Query parameters: those said to be in the query, and those said to be in
                    // the path that the path does not hold (utoipa writes `IntoParams` structs
                    // without `parameter_in = Query` as path parameters).
                    ps.iter()
                        .filter(|p| {
                            p["in"] == "query"
                                || p["name"]
                                    .as_str()
                                    .is_some_and(|n| !path.contains(&format!("{{{n}}}")))
                        })
                        .filter_map(|p| p["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (path.clone(), params)
        })
        .collect();
    for (path, param) in [
        ("/v1/subscriptions/{id}/preview", "as_of"),
        ("/v1/accounts/{id}/usage", "period"),
        ("/v1/accounts", "limit"),
        ("/v1/change-requests", "status"),
    ] {
        assert!(
            gets.iter()
                .any(|(p, params)| p == path && params.iter().any(|n| n == param)),
            "{path}: {param} is not documented"
        );
    }
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let mut runner = TestRunner::new(config(QUERY_CASES));
    let result = runner.run(&query_case(), |case| {
        let (path, params) = &gets[case.operation % gets.len()];
        let mut query: Vec<String> = params
            .iter()
            .zip(&case.values)
            .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name}={}", percent_encode(v))))
            .collect();
        if let Some((k, v)) = &case.extra {
            query.push(format!("{k}={}", percent_encode(v)));
        }
        let mut uri = f.uri(path, &case.id);
        if !query.is_empty() {
            uri = format!("{uri}?{}", query.join("&"));
        }
        let what = format!("GET {path}");
        let fail = |e: String| TestCaseError::fail(format!("GET {}: {e}", shown(&uri, 2000)));
        let (r, took) = f.call(&Method::GET, &uri, None, None, None).map_err(fail)?;
        if let Ok(mut t) = tally.lock() {
            t.add(&what, r.status, took);
        }
        check_reply(path, &r).map_err(fail)
    });
    if let Ok(t) = tally.lock() {
        t.print("queries");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ------------------------------------------------------------------ what the harness found

/// Found by the body harness: inviting an e-mail already taken in the tenant, or a second
/// owner, answered 500 (the store's `Conflict` was not mapped); the API documents 409.
#[test]
fn a_taken_email_or_a_second_owner_is_a_conflict() {
    let f = Fuzzed::new();
    let a = f.ids.account;
    let invite = |email: &str, role: &str| {
        f.call(
            &Method::POST,
            &format!("/v1/accounts/{a}/users"),
            Some((
                json!({"email": email, "name": "Someone", "role": role}).to_string(),
                Some("application/json"),
            )),
            None,
            None,
        )
        .expect("no hang")
        .0
    };
    let first = invite("taken@lumen.example", "agent");
    assert_eq!(first.status, StatusCode::CREATED);
    for (email, role) in [
        ("taken@lumen.example", "agent"),
        ("second.owner@lumen.example", "owner"),
    ] {
        let r = invite(email, role);
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "{email} as {role}: {}",
            String::from_utf8_lossy(&r.body)
        );
        check_reply("/v1/accounts/{id}/users", &r).expect("a problem document");
    }
}

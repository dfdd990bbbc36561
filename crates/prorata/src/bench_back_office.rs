//! `prorata bench back-office`: the back office's pages on a large help desk (issue #14).
//!
//! Setup (timed apart): a sandbox tenant with the default catalog; one long-standing account
//! billed through the sandbox clock for five years (monthly invoices, an upgrade invoice and a
//! downgrade's credit note each year, paid by card), with its users and a few hundred lines of
//! audit trail; N/10 other accounts written in bulk; the staff (billing team, account
//! managers, a tenant admin); and N tickets written in bulk ([`prorata_store::Tx::load_tickets`],
//! a thousand a statement), each with its message, oldest first over the five years: most
//! closed, the recent ones solved, about 3 % still waiting (mostly recent, a few stuck), a
//! quarter in account management's queue, those handled assigned. PostgreSQL's tables are then
//! analyzed, as autovacuum would after such a load; SQLite gets no statistics (the server never
//! runs `ANALYZE`), so its plans must be good without them.
//!
//! Then the whole server (`prorata_server::app_with`) serves on loopback in this process and
//! one client, on one keep-alive connection with a verified billing-team session (opened
//! through the store, as the second factor would leave it), asks each page in turn, R times
//! (after a few unmeasured warm-up rounds): the default queue, all queues' waiting tickets,
//! deep pages of `?queue=all&status=all` and of the closed tickets at random `after` cursors, a
//! random ticket, the five-year account's page, and the account search (a name, an e-mail, an
//! invoice number in turn). Each answer must be a 200 carrying the page's marker; latency is
//! send to last byte.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::NaiveDate;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prorata_core::access::Role;
use prorata_core::catalog::Lang;
use prorata_core::change::Request;
use prorata_core::payment::PaymentMethod;
use prorata_core::reconcile::Settings;
use prorata_core::tickets::{Queue, Status};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::people::{hash_password, PersonSpec};
use prorata_store::{LoadedTicket, NewAudit, NewTicket, TenantMode};

use crate::bench::{drop_fresh, fresh_url};
use crate::bench_portal::{ms, percentile};
use crate::db::open;
use prorata_testkit::bulk;

const PASSWORD: &str = "bench-back-office-password";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Unmeasured rounds before the measured ones (connections, caches, the tenant cache).
const WARM_UP: usize = 10;
/// Tickets per bulk transaction.
const TICKET_BATCH: usize = 10_000;

pub struct Args {
    pub tickets: usize,
    /// Measured requests of each page.
    pub requests: usize,
}

pub async fn back_office(store: &str, args: Args, database_url: Option<String>) -> Result<()> {
    if args.tickets < 100 || args.requests == 0 {
        bail!("--tickets must be at least 100 and --requests at least 1");
    }
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(&url, store, &args).await;
    drop_fresh(&url, cleanup).await?;
    result
}

/// A small deterministic generator (xorshift64*): the same help desk on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).context("a date")
}

/// What the setup leaves for the measures.
struct Seeded {
    cookie: String,
    long_account: i64,
    ticket_ids: Vec<i64>,
    search_terms: Vec<String>,
}

async fn run(url: &str, store: &str, args: &Args) -> Result<()> {
    let n = args.tickets;
    let engine = open(url).await?;
    let setup = Instant::now();
    let (tenant, seeded) = seed(&engine, url, store, n).await?;
    eprintln!("setup: {:.1} s in all", setup.elapsed().as_secs_f64());

    // The server, in this process.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = prorata_server::app_with(
        prorata_server::AppState::new(engine.clone()),
        prorata_web::WebConfig::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });

    let base = format!("/portal/{}/staff", tenant.slug);
    let (first, last) = match (seeded.ticket_ids.first(), seeded.ticket_ids.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => bail!("no tickets"),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut client = Client::connect(addr, &seeded.cookie).await?;
    let pages = Page::ALL;
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); pages.len()];
    for round in 0..WARM_UP + args.requests {
        for (k, page) in pages.iter().enumerate() {
            // Closed tickets are the older nine tenths: a cursor among them.
            let span = match page {
                Page::DeepClosed => (last - first) * 9 / 10,
                _ => last - first,
            };
            let after = first + rng.below(span as usize) as i64;
            let path = match page {
                Page::Queue => base.clone(),
                Page::AllWaiting => format!("{base}?queue=all"),
                Page::DeepAll => format!("{base}?queue=all&status=all&after={after}"),
                Page::DeepClosed => {
                    format!("{base}?queue=billing_team&status=closed&after={after}")
                }
                Page::Ticket => format!(
                    "{base}/tickets/{}",
                    seeded.ticket_ids[rng.below(seeded.ticket_ids.len())]
                ),
                Page::Account => format!("{base}/accounts/{}", seeded.long_account),
                Page::Search => format!(
                    "{base}/accounts?q={}",
                    query_encode(&seeded.search_terms[round % seeded.search_terms.len()])
                ),
            };
            let (us, status, body) = client.get(&path).await?;
            if status != hyper::StatusCode::OK || !page.markers().iter().any(|m| body.contains(m)) {
                let head: String = body.chars().take(300).collect();
                bail!("{path}: {status}: {head}");
            }
            if round >= WARM_UP {
                latencies[k].push(us);
            }
        }
    }
    let _ = stop.send(());
    server.await.context("the server task panicked")??;
    engine.store.close().await;

    println!(
        "back office on {store}: {n} tickets, {} requests of each page, one client, one connection",
        args.requests
    );
    println!(
        "  {:<34} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (page, lat) in pages.iter().zip(latencies.iter_mut()) {
        lat.sort_unstable();
        println!(
            "  {:<34} {:>9} {:>9} {:>9} {:>9}",
            page.label(),
            ms(percentile(lat, 50)),
            ms(percentile(lat, 95)),
            ms(percentile(lat, 99)),
            ms(lat.last().copied().unwrap_or(0))
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Page {
    Queue,
    AllWaiting,
    DeepAll,
    DeepClosed,
    Ticket,
    Account,
    Search,
}

impl Page {
    const ALL: [Page; 7] = [
        Page::Queue,
        Page::AllWaiting,
        Page::DeepAll,
        Page::DeepClosed,
        Page::Ticket,
        Page::Account,
        Page::Search,
    ];

    fn label(self) -> &'static str {
        match self {
            Page::Queue => "queue (billing team, waiting)",
            Page::AllWaiting => "queue ?queue=all (waiting)",
            Page::DeepAll => "queue ?queue=all&status=all&after=",
            Page::DeepClosed => "queue billing team, closed, after=",
            Page::Ticket => "ticket",
            Page::Account => "account (5 years)",
            Page::Search => "account search",
        }
    }

    /// What the answer must contain (any of).
    fn markers(self) -> &'static [&'static str] {
        match self {
            Page::Queue | Page::AllWaiting | Page::DeepAll | Page::DeepClosed => &[r#"id="queue""#],
            Page::Ticket => &[r#"id="thread""#],
            Page::Account => &[r#"id="documents""#],
            Page::Search => &[r#"id="results""#],
        }
    }
}

/// `text` for a URL's query string.
fn query_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn seed(
    engine: &prorata_engine::Engine,
    url: &str,
    store: &str,
    n: usize,
) -> Result<(prorata_store::Tenant, Seeded)> {
    let start = date(2021, 1, 6)?;
    let (tenant, catalog) = bulk::tenant_with_catalog(
        engine,
        "bench-back-office",
        TenantMode::Sandbox,
        Some(start),
        &Settings::default(),
    )
    .await?;

    // 1. The long-standing account: five years of billing through the sandbox clock.
    let t = Instant::now();
    let sub = bulk::monthly("professional", start, &[("user", 5), ("number", 3)]);
    let long_account = bulk::subscriptions(engine, tenant.id, catalog, 1, &sub).await?[0];
    let subscription = {
        let mut tx = engine.store.begin().await?;
        let token = SandboxGateway::tokenize_card(tenant.id, "4242424242424242", 12, 2030)?;
        tx.attach_payment_method(
            tenant.id,
            long_account,
            &PaymentMethod::Card {
                token,
                brand: "Visa".into(),
                last4: "4242".into(),
                exp_month: 12,
                exp_year: 2030,
            },
        )
        .await?;
        let subs = tx.subscriptions_of_account(tenant.id, long_account).await?;
        tx.commit().await?;
        subs.first().context("the subscription")?.id
    };
    let mut tenant = tenant;
    let (mut invoices, mut credit_notes) = (0, 0);
    for year in 2021..2026 {
        // An upgrade in spring (billed at once), a downgrade in summer (credited), then on.
        for (day, users) in [(date(year, 4, 20)?, 8), (date(year, 7, 20)?, 5)] {
            let (t2, s) = engine.advance_clock(&tenant, day, &mut |_, _| {}).await?;
            tenant = t2;
            invoices += s.invoices;
            credit_notes += s.credit_notes;
            let request = Request::SetQuantity {
                product: "user".into(),
                quantity: users,
            };
            let outcome = engine
                .request_change(&tenant, subscription, &request, None)
                .await
                .with_context(|| format!("{users} users on {day}"))?;
            for d in &outcome.documents {
                match d.kind {
                    prorata_core::document::DocumentKind::Invoice => invoices += 1,
                    _ => credit_notes += 1,
                }
            }
        }
    }
    let (t2, s) = engine
        .advance_clock(&tenant, date(2026, 1, 6)?, &mut |_, _| {})
        .await?;
    tenant = t2;
    invoices += s.invoices;
    credit_notes += s.credit_notes;
    eprintln!(
        "setup: 5 years of one account ({invoices} invoices, {credit_notes} credit notes) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 2. People: the account's users, the staff; a verified billing-team session.
    let t = Instant::now();
    let hash = hash_password(PASSWORD).await?;
    let mut customers = Vec::new();
    let people: Vec<(Role, String)> = [(Role::Owner, 1), (Role::Admin, 2), (Role::Agent, 6)]
        .into_iter()
        .flat_map(|(role, k)| (0..k).map(move |i| (role, format!("{}{i}", role.as_str()))))
        .collect();
    for (role, name) in &people {
        let user = engine
            .create_user_with_hash(
                &tenant,
                &PersonSpec {
                    account_id: Some(long_account),
                    role: *role,
                    email: format!("{name}@long-standing.example"),
                    name: format!("Long-standing {name}"),
                    language: Lang::En,
                },
                &hash,
            )
            .await?;
        customers.push(user.id);
    }
    let mut staff = Vec::new();
    for (role, k) in [
        (Role::BillingTeam, 4),
        (Role::AccountManager, 3),
        (Role::TenantAdmin, 1),
    ] {
        let mut ids = Vec::new();
        for i in 0..k {
            let name = format!("{}{i}", role.as_str());
            let user = engine
                .create_user_with_hash(
                    &tenant,
                    &PersonSpec {
                        account_id: None,
                        role,
                        email: format!("{name}@vendor.example"),
                        name: format!("Staff {name}"),
                        language: Lang::En,
                    },
                    &hash,
                )
                .await?;
            ids.push(user.id);
        }
        staff.push(ids);
    }
    let (billing_team, managers) = (staff[0].clone(), staff[1].clone());
    let session_id = format!("{:064x}", Rng(0xC0FFEE).next());
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    {
        let mut tx = engine.store.begin().await?;
        tx.insert_session_with(
            tenant.id,
            billing_team[0],
            &prorata_engine::sha256_hex(session_id.as_bytes()),
            now,
            now + 12 * 3600,
            true,
        )
        .await?;
        // A few hundred lines of the account's audit trail.
        for i in 0..300i64 {
            let actor = customers[(i as usize) % customers.len()];
            tx.insert_audit(
                tenant.id,
                &NewAudit {
                    account_id: Some(long_account),
                    actor_id: Some(actor),
                    actor: if i % 3 == 0 { "billing_team" } else { "owner" },
                    address: Some("192.0.2.10"),
                    action: ["account.address", "user.invited", "ticket.created"][i as usize % 3],
                    subject: Some(format!("account:{long_account}")),
                    before: Some(serde_json::json!({ "city": "Lyon", "line": i })),
                    after: Some(serde_json::json!({ "city": "Paris", "line": i })),
                },
            )
            .await?;
        }
        tx.commit().await?;
    }
    eprintln!(
        "setup: {} users, 8 staff, 300 audit lines in {:.1} s",
        customers.len(),
        t.elapsed().as_secs_f64()
    );

    // 3. The other accounts, in bulk.
    let t = Instant::now();
    let others = (n / 10).max(10);
    let accounts = bulk::accounts(engine, tenant.id, others, &bulk::customer).await?;
    eprintln!(
        "setup: {others} accounts in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 4. The tickets, oldest first over the five years.
    let t = Instant::now();
    let mut rng = Rng(0x5EED);
    let span_secs: i64 = 5 * 365 * 86_400;
    let origin = start.and_hms_opt(8, 0, 0).context("a time")?.and_utc();
    let body = "Hello, we were charged for eight users on our last invoice but we only have five \
                people using the service since the summer. Could you check and correct it? Thanks.";
    let subjects = [
        "Question about an invoice",
        "Card declined",
        "VAT number to change",
        "Fewer users next month",
        "Transfer sent",
    ];
    let mut ticket_ids = Vec::with_capacity(n);
    let mut waiting = 0usize;
    let mut done = 0;
    while done < n {
        let batch = TICKET_BATCH.min(n - done);
        let mut rows = Vec::with_capacity(batch);
        for i in done..done + batch {
            let created = origin + chrono::Duration::seconds(span_secs * i as i64 / n as i64);
            // Recent tickets are mostly being worked; a few old ones are stuck.
            let recent = i >= n - n / 20;
            let status = if rng.chance(if recent { 500 } else { 5 }) {
                [Status::New, Status::Open, Status::PendingCustomer][rng.below(3)]
            } else if i >= n - n / 10 {
                Status::Solved
            } else {
                Status::Closed
            };
            if !matches!(status, Status::Solved | Status::Closed) {
                waiting += 1;
            }
            let queue = if rng.chance(250) {
                Queue::AccountManagement
            } else {
                Queue::BillingTeam
            };
            let assignee = match (queue, status) {
                (Queue::AccountManagement, _) => Some(managers[rng.below(managers.len())]),
                (_, Status::New) => None,
                _ => Some(billing_team[rng.below(billing_team.len())]),
            };
            // One ticket in 500 is the long-standing account's, filed by one of its users.
            let (account_id, requester) = if i % 500 == 0 {
                (long_account, Some(customers[rng.below(customers.len())]))
            } else {
                (accounts[rng.below(accounts.len())], None)
            };
            let handled = status != Status::New;
            let solved = matches!(status, Status::Solved | Status::Closed);
            let stamp =
                |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            let solved_at = created + chrono::Duration::hours(50);
            rows.push(LoadedTicket {
                ticket: NewTicket {
                    account_id,
                    requester_id: requester,
                    reason: match queue {
                        Queue::AccountManagement => "subscription",
                        Queue::BillingTeam if i % 7 == 0 => "tax_details",
                        Queue::BillingTeam => "billing",
                    },
                    queue,
                    assignee_id: assignee,
                    subject: subjects[i % subjects.len()],
                    document_id: None,
                    change_request_id: None,
                },
                status,
                created_at: stamp(created),
                first_response_at: handled.then(|| stamp(created + chrono::Duration::hours(2))),
                solved_on: solved.then(|| solved_at.date_naive()),
                solved_at: solved.then(|| stamp(solved_at)),
                body,
            });
        }
        let mut tx = engine.store.begin().await?;
        ticket_ids.extend(tx.load_tickets(tenant.id, &rows).await?);
        tx.commit().await?;
        done += batch;
    }
    eprintln!(
        "setup: {n} tickets ({waiting} waiting) with their messages in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if store == "postgres" {
        let t = Instant::now();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        eprintln!("setup: ANALYZE in {:.1} s", t.elapsed().as_secs_f64());
    }

    let number = {
        let mut tx = engine.store.read().await?;
        let docs = tx.list_documents_newest(tenant.id, long_account, 1).await?;
        docs.first()
            .map(|d| d.document.number.clone())
            .context("an invoice of the long-standing account")?
    };
    Ok((
        tenant,
        Seeded {
            cookie: format!(
                "{}={session_id}; {}={:032x}",
                prorata_web::SESSION_COOKIE,
                prorata_web::CSRF_COOKIE,
                7
            ),
            long_account,
            ticket_ids,
            search_terms: vec![
                format!("customer {}", others / 2),
                "owner0@long-standing.example".into(),
                number,
            ],
        },
    ))
}

/// One keep-alive HTTP/1.1 connection with the staff member's cookies.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
    cookie: String,
}

impl Client {
    async fn connect(addr: SocketAddr, cookie: &str) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Client {
            sender,
            host: addr.to_string(),
            cookie: cookie.to_string(),
        })
    }

    /// Latency (µs), status and body of `GET path`.
    async fn get(&mut self, path: &str) -> Result<(u64, hyper::StatusCode, String)> {
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::COOKIE, &self.cookie)
            .body(Empty::<Bytes>::new())?;
        let t = Instant::now();
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        })
        .await
        .with_context(|| format!("{path}: no answer in 10 s"))??;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        Ok((us, status, String::from_utf8_lossy(&body).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::query_encode;

    #[test]
    fn search_terms_are_encoded_for_the_query_string() {
        assert_eq!(query_encode("customer 12"), "customer+12");
        assert_eq!(query_encode("a@b.example"), "a%40b.example");
    }
}

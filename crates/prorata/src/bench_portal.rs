//! `prorata bench portal`: the customer portal's Plan and Billing pages under load.
//!
//! Setup (timed apart): a sandbox tenant with the default catalog and N accounts on a monthly
//! plan (half Essentials: 3 users, 1 number; half Professional: 5 users, 3 numbers), written in
//! bulk, and one billing run that issues each its first invoice. For `sessions` of those
//! accounts, spread over the range, an owner (one Argon2 hash, made once) signed in through
//! `Engine::sign_in`, as the sign-in form does.
//!
//! Then the whole server (`prorata_server::app_with`) is served on loopback in this process and
//! `sessions` clients, one keep-alive HTTP/1.1 connection each, alternate
//! `GET /portal/{slug}/plan` and `GET /portal/{slug}/billing` with their own session cookie
//! (and a CSRF cookie, as a browser sends back) until the deadline or the request cap. Every
//! answer must be a 200 carrying the page's marker; latency is measured around each request
//! (send to last byte of the body). Server and clients share the machine's cores.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::NaiveDate;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prorata_core::access::Role;
use prorata_core::catalog::Lang;
use prorata_core::reconcile::Settings;
use prorata_engine::people::{hash_password, PersonSpec};
use prorata_store::TenantMode;

use crate::bench::{drop_fresh, fresh_url};
use crate::db::open;
use prorata_testkit::bulk;

const PASSWORD: &str = "bench-portal-password";

/// The two pages: path under the tenant, and what each answer must contain.
const PAGES: [(&str, &[&str]); 2] = [
    ("plan", &[r#"id="licences""#, r#"id="plan-total""#]),
    ("billing", &[r#"id="standing""#, r#"id="documents""#]),
];

/// One request never waits longer than this (a stuck server fails the run, not hangs it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Args {
    pub accounts: usize,
    pub sessions: usize,
    pub seconds: u64,
    pub max_requests: u64,
}

pub async fn portal(store: &str, args: Args, database_url: Option<String>) -> Result<()> {
    if args.sessions == 0 || args.sessions > args.accounts {
        bail!(
            "--sessions must be between 1 and --accounts ({})",
            args.accounts
        );
    }
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(&url, store, &args).await;
    drop_fresh(&url, cleanup).await?;
    result
}

/// What one client saw: latencies (µs) per page, and failures.
#[derive(Default)]
struct Tally {
    latencies: [Vec<u64>; 2],
    failures: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }
}

async fn run(url: &str, store: &str, args: &Args) -> Result<()> {
    let n = args.accounts;
    let engine = open(url).await?;
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 6).context("a date")?;

    // 1. Setup.
    let setup = Instant::now();
    let (tenant, catalog) = bulk::tenant_with_catalog(
        &engine,
        "bench-portal",
        TenantMode::Sandbox,
        Some(as_of),
        &Settings::default(),
    )
    .await?;
    let essentials = bulk::monthly("essentials", as_of, &[("user", 3), ("number", 1)]);
    let professional = bulk::monthly("professional", as_of, &[("user", 5), ("number", 3)]);
    let mut ids = bulk::subscriptions(&engine, tenant.id, catalog, n - n / 2, &essentials).await?;
    ids.extend(bulk::subscriptions(&engine, tenant.id, catalog, n / 2, &professional).await?);
    let accounts_secs = setup.elapsed();
    let billed = engine.run_billing(&tenant, as_of, &mut |_| {}).await?;
    if billed.invoices < n as u64 {
        bail!(
            "the billing run issued {} invoices for {n} accounts",
            billed.invoices
        );
    }
    let billing_secs = setup.elapsed() - accounts_secs;

    let people = Instant::now();
    let hash = hash_password(PASSWORD).await?;
    let stride = n / args.sessions;
    let mut cookies = Vec::with_capacity(args.sessions);
    for k in 0..args.sessions {
        let account_id = ids[k * stride + stride / 2];
        let email = format!("owner{k}@bench.example");
        engine
            .create_user_with_hash(
                &tenant,
                &PersonSpec {
                    account_id: Some(account_id),
                    role: Role::Owner,
                    email: email.clone(),
                    name: format!("Owner {k}"),
                    language: if k % 2 == 0 { Lang::En } else { Lang::Fr },
                },
                &hash,
            )
            .await?;
        let signed = match engine
            .sign_in(&tenant, &email, PASSWORD, "127.0.0.1")
            .await?
        {
            Ok(s) => s,
            Err(e) => bail!("{email} cannot sign in: {e:?}"),
        };
        // A browser sends the CSRF cookie back too; without it every answer would make one.
        cookies.push(format!(
            "{}={}; {}={k:032x}",
            prorata_web::SESSION_COOKIE,
            signed.session_id,
            prorata_web::CSRF_COOKIE
        ));
    }
    let people_secs = people.elapsed();
    eprintln!(
        "setup: {n} accounts and subscriptions in {:.1} s, billing run ({} invoices) in {:.1} s, \
         {} owners signed in in {:.1} s; {:.1} s in all",
        accounts_secs.as_secs_f64(),
        billed.invoices,
        billing_secs.as_secs_f64(),
        args.sessions,
        people_secs.as_secs_f64(),
        setup.elapsed().as_secs_f64()
    );

    // 2. The server, in this process.
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

    // 3. The clients.
    let base = format!("/portal/{}", tenant.slug);
    let host = addr.to_string();
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::with_capacity(args.sessions);
    for (k, cookie) in cookies.into_iter().enumerate() {
        let (base, host, issued) = (base.clone(), host.clone(), issued.clone());
        let max = args.max_requests;
        tasks.push(tokio::spawn(async move {
            client(k, addr, &host, &base, &cookie, deadline, &issued, max).await
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let t = task.await.context("a client task panicked")?;
        for (all, mine) in tally.latencies.iter_mut().zip(t.latencies) {
            all.extend(mine);
        }
        tally.failures += t.failures;
        if tally.first_failure.is_none() {
            tally.first_failure = t.first_failure;
        }
    }
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let _ = stop.send(());
    server.await.context("the server task panicked")??;
    engine.store.close().await;

    // 4. Figures.
    let ok: u64 = tally.latencies.iter().map(|l| l.len() as u64).sum();
    let total = ok + tally.failures;
    println!(
        "portal on {store}: {n} accounts, {} sessions, {} connections, {} s",
        args.sessions, args.sessions, args.seconds
    );
    println!(
        "requests: {total} in {} s ({} ok, {} failed) = {} pages/s",
        ms(elapsed_us / 1000),
        ok,
        tally.failures,
        total * 1_000_000 / elapsed_us.max(1)
    );
    for ((page, _), lat) in PAGES.iter().zip(tally.latencies.iter_mut()) {
        lat.sort_unstable();
        println!(
            "  {page:<8} {:>8} requests  p50 {} ms  p95 {} ms  p99 {} ms  max {} ms",
            lat.len(),
            ms(percentile(lat, 50)),
            ms(percentile(lat, 95)),
            ms(percentile(lat, 99)),
            ms(lat.last().copied().unwrap_or(0))
        );
    }
    let mut all: Vec<u64> = tally.latencies.concat();
    all.sort_unstable();
    println!(
        "  {:<8} {:>8} requests  p50 {} ms  p95 {} ms  p99 {} ms  max {} ms",
        "both",
        all.len(),
        ms(percentile(&all, 50)),
        ms(percentile(&all, 95)),
        ms(percentile(&all, 99)),
        ms(all.last().copied().unwrap_or(0))
    );
    if tally.failures > 0 {
        bail!(
            "{} of {total} requests failed; the first: {}",
            tally.failures,
            tally.first_failure.unwrap_or_default()
        );
    }
    if total == 0 {
        bail!("no request was made");
    }
    Ok(())
}

/// One signed-in visitor on one keep-alive connection, alternating the two pages.
#[allow(clippy::too_many_arguments)]
async fn client(
    k: usize,
    addr: SocketAddr,
    host: &str,
    base: &str,
    cookie: &str,
    deadline: Instant,
    issued: &AtomicU64,
    max: u64,
) -> Tally {
    let mut tally = Tally::default();
    let connected = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        anyhow::Ok(sender)
    };
    let mut sender = match connected.await {
        Ok(s) => s,
        Err(e) => {
            tally.fail(format!("client {k}: cannot connect: {e:#}"));
            return tally;
        }
    };
    let paths = PAGES.map(|(page, _)| format!("{base}/{page}"));
    let mut i = k;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        let which = i % 2;
        i += 1;
        let request = hyper::Request::get(paths[which].as_str())
            .header(hyper::header::HOST, host)
            .header(hyper::header::COOKIE, cookie)
            .body(Empty::<Bytes>::new());
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                tally.fail(format!("client {k}: request: {e}"));
                break;
            }
        };
        let t = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        })
        .await;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (status, body) = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tally.fail(format!("client {k}: {}: {e:#}", paths[which]));
                break;
            }
            Err(_) => {
                tally.fail(format!("client {k}: {}: no answer in 10 s", paths[which]));
                break;
            }
        };
        let text = String::from_utf8_lossy(&body);
        let markers = PAGES[which].1;
        if status != hyper::StatusCode::OK || !markers.iter().all(|m| text.contains(m)) {
            let head: String = text.chars().take(300).collect();
            tally.fail(format!("client {k}: {}: {status}: {head}", paths[which]));
            continue;
        }
        tally.latencies[which].push(us);
    }
    tally
}

/// The nearest-rank percentile `q` of sorted `values` (0 when empty).
pub(crate) fn percentile(values: &[u64], q: usize) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let rank = (values.len() * q).div_ceil(100).max(1);
    values[rank - 1]
}

/// Microseconds as milliseconds with three decimals; or milliseconds as seconds likewise.
pub(crate) fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::{ms, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(ms(12_345), "12.345");
        assert_eq!(ms(7), "0.007");
    }
}

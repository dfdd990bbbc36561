//! `prorata bench api`: the REST API under concurrent load, over loopback, with the server's
//! real limits (`prorata_server::limits`).
//!
//! Setup (timed apart): three sandbox tenants on the default catalog — *writers* with N
//! accounts on a monthly plan (written in bulk), *heavy* and *normal* with one customer each.
//!
//! 1. **Writers**: `writers` clients of the writers tenant, one keep-alive HTTP/1.1 connection
//!    each, post small usage batches (5 calls of their own account, each call new) as fast as
//!    they are answered, for `seconds`. Every answer must be 200 with 5 calls accepted; a 429
//!    is counted apart (the tenant's limits answering, with `Retry-After`) and the client
//!    waits as told; anything else — a 5xx, a broken connection — is an error.
//! 2. **A heavy tenant beside a normal one**: the normal tenant's 8 clients read its account,
//!    balance and invoices and post a usage batch, in turn, for `seconds` — alone first, then
//!    again while the heavy tenant's 8 clients ask for previews ten years ahead (the longest
//!    allowed: 120 monthly periods). The normal tenant's p99 both times is the figure: what one
//!    tenant's heavy calls cost another.
//!
//! Server and clients share the machine's cores.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{Days, NaiveDate};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_server::limits::LimitConfig;
use prorata_store::{Tenant, TenantMode};

use crate::bench::{drop_fresh, fresh_url};
use crate::bench_portal::{ms, percentile};
use crate::db::open;
use prorata_testkit::bulk;

/// One request never waits longer than this (a stuck server fails the run, not hangs it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls per usage batch.
const CALLS: usize = 5;
/// Clients of the heavy and of the normal tenant.
const SIDE_CLIENTS: usize = 8;

pub struct Args {
    pub accounts: usize,
    pub writers: usize,
    pub seconds: u64,
    pub limits: LimitConfig,
}

pub async fn api(store: &str, args: Args, database_url: Option<String>) -> Result<()> {
    if args.writers == 0 || args.writers > args.accounts {
        bail!(
            "--writers must be between 1 and --accounts ({})",
            args.accounts
        );
    }
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(&url, store, &args).await;
    drop_fresh(&url, cleanup).await?;
    result
}

/// One request a client sends: method, path, body.
#[derive(Clone)]
struct Call {
    method: hyper::Method,
    path: String,
    body: Option<String>,
}

/// What a client must be told for a call to count as done.
type Check = fn(&str) -> bool;

/// What the clients of one phase saw: latencies (µs) of answered requests, the 429s, and
/// failures.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    throttled: u64,
    failures: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.throttled += other.throttled;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    /// Prints the line of `what` and returns its p99 (µs).
    fn report(&mut self, what: &str, elapsed: Duration) -> u64 {
        self.latencies.sort_unstable();
        let lat = &self.latencies;
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        println!(
            "  {what:<34} {:>7} ok ({:>6}/s)  {} throttled  {} failed  p50 {} ms  p95 {} ms  \
             p99 {} ms  max {} ms",
            lat.len(),
            lat.len() as u64 * 1_000_000 / us,
            self.throttled,
            self.failures,
            ms(percentile(lat, 50)),
            ms(percentile(lat, 95)),
            ms(percentile(lat, 99)),
            ms(lat.last().copied().unwrap_or(0))
        );
        percentile(lat, 99)
    }
}

async fn customer(engine: &Engine, name: &str, as_of: NaiveDate) -> Result<(Tenant, String, i64)> {
    let (tenant, catalog) = bulk::tenant_with_catalog(
        engine,
        name,
        TenantMode::Sandbox,
        Some(as_of),
        &Settings::default(),
    )
    .await?;
    let sub = bulk::monthly("professional", as_of, &[("user", 5), ("number", 3)]);
    let ids = bulk::subscriptions(engine, tenant.id, catalog, 1, &sub).await?;
    let key = engine.create_api_key(&tenant).await?.secret;
    Ok((tenant, key, ids[0]))
}

async fn run(url: &str, store: &str, args: &Args) -> Result<()> {
    let n = args.accounts;
    let engine = open(url).await?;
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 6).context("a date")?;

    // Setup.
    let setup = Instant::now();
    let (writers, catalog) = bulk::tenant_with_catalog(
        &engine,
        "bench-api-writers",
        TenantMode::Sandbox,
        Some(as_of),
        &Settings::default(),
    )
    .await?;
    let sub = bulk::monthly("essentials", as_of, &[("user", 3), ("number", 1)]);
    let accounts = bulk::subscriptions(&engine, writers.id, catalog, n, &sub).await?;
    let writers_key = engine.create_api_key(&writers).await?.secret;
    let (heavy, heavy_key, _) = customer(&engine, "bench-api-heavy", as_of).await?;
    let (_, normal_key, normal_account) = customer(&engine, "bench-api-normal", as_of).await?;
    let heavy_subscription = engine
        .account_subscription(
            &heavy,
            engine.list_accounts(&heavy, 0, 1).await?.items[0].id,
        )
        .await?
        .context("the heavy tenant's subscription")?
        .id;
    eprintln!(
        "setup: {n} accounts and 2 tenants in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = prorata_server::app(prorata_server::AppState::with_limits(
        engine.clone(),
        args.limits,
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let seconds = Duration::from_secs(args.seconds);
    let limits = args.limits;
    println!(
        "api on {store}: {n} accounts; limits per tenant: {}/s (bursts of {}), {} running at once, \
         {} s to run",
        limits.rate,
        limits.burst,
        limits.concurrent,
        limits.timeout.as_secs()
    );

    // 1. Writers.
    let usage = |client: usize, account: i64, day: NaiveDate| {
        move |i: u64| {
            let events: Vec<String> = (0..CALLS as u64)
                .map(|c| {
                    format!(
                        r#"{{"event_id":"b{client}-{i}-{c}","account_id":{account},"started_at":"{day}T10:{:02}:{:02}Z","direction":"outbound","caller":"+33145678900","callee":"+33612345678","duration_seconds":{}}}"#,
                        (i / 60) % 60,
                        i % 60,
                        30 + c
                    )
                })
                .collect();
            Call {
                method: hyper::Method::POST,
                path: "/v1/usage".into(),
                body: Some(format!(r#"{{"events":[{}]}}"#, events.join(","))),
            }
        }
    };
    let accepted: Check = |body| body.contains(&format!(r#""accepted":{CALLS}"#));
    let started = Instant::now();
    let deadline = started + seconds;
    let mut tasks = Vec::new();
    let stride = n / args.writers;
    for k in 0..args.writers {
        let make = usage(k, accounts[k * stride], as_of);
        let key = writers_key.clone();
        tasks.push(tokio::spawn(async move {
            client(addr, &key, deadline, make, accepted).await
        }));
    }
    let mut written = Tally::default();
    for task in tasks {
        written.merge(task.await.context("a client panicked")?);
    }
    println!(
        "1. {} writers of one tenant, {} s:",
        args.writers, args.seconds
    );
    written.report("usage batches (5 calls each)", started.elapsed());

    // 2. The normal tenant alone, then beside the heavy one.
    let normal = move |k: usize| {
        let post = usage(1000 + k, normal_account, as_of);
        move |i: u64| match i % 4 {
            0 => Call {
                method: hyper::Method::GET,
                path: format!("/v1/accounts/{normal_account}"),
                body: None,
            },
            1 => Call {
                method: hyper::Method::GET,
                path: format!("/v1/accounts/{normal_account}/balance"),
                body: None,
            },
            2 => Call {
                method: hyper::Method::GET,
                path: "/v1/invoices?limit=10".into(),
                body: None,
            },
            _ => post(i),
        }
    };
    let any: Check = |_| true;
    let far = as_of + Days::new(3650);
    let mut p99 = [0u64; 2];
    for (round, with_heavy) in [false, true].into_iter().enumerate() {
        let started = Instant::now();
        let deadline = started + seconds;
        let mut normal_tasks = Vec::new();
        for k in 0..SIDE_CLIENTS {
            let key = normal_key.clone();
            let make = normal(k + round * SIDE_CLIENTS);
            normal_tasks.push(tokio::spawn(async move {
                client(addr, &key, deadline, make, any).await
            }));
        }
        let mut heavy_tasks = Vec::new();
        if with_heavy {
            for _ in 0..SIDE_CLIENTS {
                let key = heavy_key.clone();
                let path = format!("/v1/subscriptions/{heavy_subscription}/preview?as_of={far}");
                let make = move |_| Call {
                    method: hyper::Method::GET,
                    path: path.clone(),
                    body: None,
                };
                heavy_tasks.push(tokio::spawn(async move {
                    client(addr, &key, deadline, make, any).await
                }));
            }
        }
        let mut normal_tally = Tally::default();
        for task in normal_tasks {
            normal_tally.merge(task.await.context("a client panicked")?);
        }
        let mut heavy_tally = Tally::default();
        for task in heavy_tasks {
            heavy_tally.merge(task.await.context("a client panicked")?);
        }
        let elapsed = started.elapsed();
        if with_heavy {
            println!(
                "2b. the normal tenant's {SIDE_CLIENTS} clients beside {SIDE_CLIENTS} of a heavy \
                 tenant's, {} s:",
                args.seconds
            );
            p99[1] = normal_tally.report("normal: reads and usage batches", elapsed);
            heavy_tally.report("heavy: previews 10 years ahead", elapsed);
        } else {
            println!(
                "2a. the normal tenant's {SIDE_CLIENTS} clients alone, {} s:",
                args.seconds
            );
            p99[0] = normal_tally.report("normal: reads and usage batches", elapsed);
        }
        written.merge(Tally {
            failures: normal_tally.failures + heavy_tally.failures,
            first_failure: normal_tally.first_failure.or(heavy_tally.first_failure),
            ..Tally::default()
        });
    }
    println!(
        "the heavy tenant raised the normal tenant's p99 from {} ms to {} ms",
        ms(p99[0]),
        ms(p99[1])
    );

    let _ = stop.send(());
    server.await.context("the server task panicked")??;
    engine.store.close().await;
    if written.failures > 0 {
        bail!(
            "{} requests failed; the first: {}",
            written.failures,
            written.first_failure.unwrap_or_default()
        );
    }
    Ok(())
}

/// One API client on one keep-alive connection: sends `make(i)` for i = 0, 1, … until the
/// deadline; an answer counts when it is a 2xx passing `check`. A 429 is waited out as its
/// `Retry-After` says.
async fn client(
    addr: SocketAddr,
    key: &str,
    deadline: Instant,
    make: impl Fn(u64) -> Call,
    check: Check,
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
            tally.fail(format!("cannot connect: {e:#}"));
            return tally;
        }
    };
    let host = addr.to_string();
    let authorization = format!("Bearer {key}");
    let mut i = 0;
    while Instant::now() < deadline {
        let call = make(i);
        i += 1;
        let mut request = hyper::Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(hyper::header::HOST, &host)
            .header(hyper::header::AUTHORIZATION, &authorization);
        if call.body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = match request.body(Full::new(Bytes::from(call.body.unwrap_or_default()))) {
            Ok(r) => r,
            Err(e) => {
                tally.fail(format!("request: {e}"));
                break;
            }
        };
        let t = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let retry = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, retry, body))
        })
        .await;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (status, retry, body) = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tally.fail(format!("{}: {e:#}", call.path));
                break;
            }
            Err(_) => {
                tally.fail(format!("{}: no answer in 30 s", call.path));
                break;
            }
        };
        let text = String::from_utf8_lossy(&body);
        if status == hyper::StatusCode::TOO_MANY_REQUESTS {
            tally.throttled += 1;
            tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1))).await;
            continue;
        }
        if !status.is_success() || !check(&text) {
            let head: String = text.chars().take(300).collect();
            tally.fail(format!("{}: {status}: {head}", call.path));
            continue;
        }
        tally.latencies.push(us);
    }
    tally
}

//! `prorata bench scale-out`: several `prorata serve` processes on one PostgreSQL database
//! bill, collect and e-mail N subscriptions spread over a few live tenants, due today.
//!
//! The processes are this binary, started as a user would start them (`serve --workers
//! billing,collection,delivery`), each with its own JSON log; the benchmark only seeds the
//! database, watches it until every subscription is billed, every charge made and every
//! e-mail sent, and reads from the logs what each process did. With `--kill-one`, the first
//! process is SIGKILLed a third of the way through the billing and started again, which is
//! how `tests/scale_out.rs` checks that nothing is billed, charged or e-mailed twice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_store::TenantMode;
use serde_json::{json, Value};

use crate::bench::{drop_fresh, fresh_url};
use prorata_testkit::bulk;

/// What `prorata bench scale-out` runs.
pub struct ScaleOut {
    pub accounts: usize,
    pub processes: usize,
    pub tenants: usize,
    pub kill_one: bool,
    /// One account in this many has a billing contact (and gets its invoice by e-mail).
    pub mail_every: usize,
    /// Where the processes send their e-mails; a folder of `.eml` files when `None`.
    pub smtp_url: Option<String>,
    /// Leave the database (and the logs) for inspection, printing where they are.
    pub keep: bool,
    pub json: bool,
    pub database_url: Option<String>,
}

/// How long the benchmark waits for the work to be done before it gives up.
const DEADLINE: Duration = Duration::from_secs(900);

pub async fn scale_out(opts: ScaleOut) -> Result<()> {
    if opts.processes == 0 || opts.tenants == 0 || opts.accounts < opts.tenants {
        bail!("--processes and --tenants must be at least 1, and --accounts at least --tenants");
    }
    let (url, cleanup) = fresh_url("postgres", opts.database_url.clone()).await?;
    let dir = std::env::temp_dir().join(format!("prorata-scale-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&opts, &url, &dir).await;
    if opts.keep {
        eprintln!("kept: database {url}, logs in {}", dir.display());
    } else {
        drop_fresh(&url, cleanup).await?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run(opts: &ScaleOut, url: &str, dir: &Path) -> Result<()> {
    let today = seed(url, opts).await?;
    let secret = prorata_engine::people::SecretKey::random()?.to_hex();
    let pool = sqlx::PgPool::connect(url).await?;

    let started = Instant::now();
    let mut slots: Vec<Slot> = (0..opts.processes)
        .map(|i| Slot::start(i, url, dir, &secret, opts.smtp_url.as_deref()))
        .collect::<Result<_>>()?;
    let n = opts.accounts as i64;
    let mut killed = !opts.kill_one;
    let mut billed_after = None;
    let progress = loop {
        let p = Progress::read(&pool, today).await?;
        if !killed && p.invoices >= n / 3 {
            slots[0].kill_and_restart(url, dir, &secret, opts.smtp_url.as_deref())?;
            killed = true;
        }
        if billed_after.is_none() && p.invoices >= n && p.due == 0 {
            billed_after = Some(started.elapsed());
        }
        if billed_after.is_some() && p.open_jobs == 0 && p.pending_events == 0 {
            break p;
        }
        for slot in &mut slots {
            if let Some(status) = slot.child.try_wait()? {
                bail!(
                    "process {} exited ({status}) before the work was done; its log: {}",
                    slot.index,
                    slot.logs
                        .last()
                        .map(|l| l.display().to_string())
                        .unwrap_or_default()
                );
            }
        }
        if started.elapsed() > DEADLINE {
            bail!("not done after {} s: {p:?}", DEADLINE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all_done = started.elapsed();
    for slot in &mut slots {
        slot.stop()?;
    }
    pool.close().await;
    let billed = billed_after.unwrap_or(all_done).as_secs_f64();
    let done = all_done.as_secs_f64();
    let work: Vec<Value> = slots.iter().map(Slot::work).collect::<Result<_>>()?;
    let report = json!({
        "database_url": url,
        "accounts": opts.accounts,
        "tenants": opts.tenants,
        "processes": opts.processes,
        "killed_one": opts.kill_one,
        "mail_every": opts.mail_every,
        "invoices": progress.invoices,
        "billed_s": billed,
        "invoices_per_s": progress.invoices as f64 / billed,
        "done_s": done,
        "end_to_end_per_s": progress.invoices as f64 / done,
        "per_process": work,
    });
    if opts.json {
        println!("{report}");
    } else {
        println!(
            "scale-out on postgres: {} subscriptions in {} live tenants, {} process(es){}: \
             billed in {billed:.1} s = {:.0} invoices/s; billed, charged and e-mailed in \
             {done:.1} s = {:.0}/s",
            opts.accounts,
            opts.tenants,
            opts.processes,
            if opts.kill_one {
                ", the first SIGKILLed and restarted"
            } else {
                ""
            },
            progress.invoices as f64 / billed,
            progress.invoices as f64 / done,
        );
        for w in &work {
            println!(
                "  process {}: {} invoices billed, {} charges, {} e-mails sent",
                w["process"], w["invoices"], w["charges"], w["emails"]
            );
        }
    }
    Ok(())
}

/// Creates the tenants, their customers (one billing contact and the sandbox's good Visa
/// each) and their subscriptions, all due today; returns today.
async fn seed(url: &str, opts: &ScaleOut) -> Result<NaiveDate> {
    let engine: Engine = crate::db::open(url).await?;
    let mut today = None;
    for t in 0..opts.tenants {
        let (tenant, catalog) = bulk::tenant_with_catalog(
            &engine,
            &format!("Scale {t}"),
            TenantMode::Live,
            None,
            &Settings::default(),
        )
        .await?;
        let on = Engine::today(&tenant);
        today = Some(on);
        let sub = bulk::monthly("essentials", on, &[("user", 5), ("number", 1)]);
        // The accounts spread evenly, the first tenants taking the remainder.
        let n = opts.accounts / opts.tenants + usize::from(t < opts.accounts % opts.tenants);
        let account = |i: usize| prorata_core::account::Account {
            billing_contacts: (i % opts.mail_every.max(1) == 0)
                .then(|| format!("billing-{t}-{i}@customer.example"))
                .into_iter()
                .collect(),
            ..bulk::customer(i)
        };
        let ids =
            bulk::customers(&engine, tenant.id, catalog, n, &account, &|_| sub.clone()).await?;
        crate::bench::attach_good_visa(&engine, tenant.id, &ids).await?;
    }
    engine.store.close().await;
    today.context("no tenant")
}

/// Where the work stands, read from the database.
#[derive(Debug)]
struct Progress {
    invoices: i64,
    due: i64,
    open_jobs: i64,
    pending_events: i64,
}

impl Progress {
    async fn read(pool: &sqlx::PgPool, today: NaiveDate) -> Result<Progress> {
        let (invoices, due, open_jobs, pending_events): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM documents WHERE kind = 'invoice'), \
                    (SELECT COUNT(*) FROM subscriptions WHERE next_due <= $1), \
                    (SELECT COUNT(*) FROM jobs WHERE done_at IS NULL), \
                    (SELECT COUNT(*) FROM outbox WHERE processed_at IS NULL)",
        )
        .bind(today)
        .fetch_one(pool)
        .await?;
        Ok(Progress {
            invoices,
            due,
            open_jobs,
            pending_events,
        })
    }
}

/// One of the processes, and the logs of each of its lives.
struct Slot {
    index: usize,
    child: Child,
    logs: Vec<PathBuf>,
}

impl Slot {
    fn start(
        index: usize,
        url: &str,
        dir: &Path,
        secret: &str,
        smtp_url: Option<&str>,
    ) -> Result<Slot> {
        let mut slot = Slot {
            index,
            child: spawn(index, 0, url, dir, secret, smtp_url)?.0,
            logs: Vec::new(),
        };
        slot.logs.push(log_path(dir, index, 0));
        Ok(slot)
    }

    /// SIGKILL (no chance to finish or give anything back), then the same command again.
    fn kill_and_restart(
        &mut self,
        url: &str,
        dir: &Path,
        secret: &str,
        smtp_url: Option<&str>,
    ) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        let life = self.logs.len();
        let (child, log) = spawn(self.index, life, url, dir, secret, smtp_url)?;
        self.child = child;
        self.logs.push(log);
        Ok(())
    }

    /// SIGTERM, and the clean exit it should bring.
    fn stop(&mut self) -> Result<()> {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !signalled.success() {
            bail!("could not signal process {}", self.index);
        }
        let status = self.child.wait()?;
        if !status.success() {
            bail!("process {} exited with {status} after SIGTERM", self.index);
        }
        Ok(())
    }

    /// What the process's lives logged: invoices billed, charges made, e-mails sent.
    fn work(&self) -> Result<Value> {
        let (mut invoices, mut charges, mut emails) = (0, 0, 0);
        for log in &self.logs {
            let text = std::fs::read_to_string(log)
                .with_context(|| format!("cannot read {}", log.display()))?;
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let n = |field: &str| v[field].as_u64().unwrap_or(0);
                match v["message"].as_str() {
                    Some("billing run done") => invoices += n("invoices"),
                    Some("collection done") => charges += n("charges"),
                    Some("e-mails sent") => emails += n("sent"),
                    _ => {}
                }
            }
        }
        Ok(json!({
            "process": self.index,
            "lives": self.logs.len(),
            "invoices": invoices,
            "charges": charges,
            "emails": emails,
            "logs": self.logs,
        }))
    }
}

fn log_path(dir: &Path, index: usize, life: usize) -> PathBuf {
    dir.join(format!("serve-{index}-{life}.log"))
}

fn spawn(
    index: usize,
    life: usize,
    url: &str,
    dir: &Path,
    secret: &str,
    smtp_url: Option<&str>,
) -> Result<(Child, PathBuf)> {
    let log = log_path(dir, index, life);
    let out = std::fs::File::create(&log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--database-url", url, "--log-format", "json", "serve"])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--workers", "billing,collection,delivery"])
        .args(["--worker-interval", "1"])
        // A batch of 50 e-mails goes out in well under this; what a killed process had
        // claimed is taken by another this soon.
        .args(["--delivery-lease", "20"])
        // Every process of a deployment signs with the same key.
        .env("PRORATA_SECRET_KEY", secret)
        // No prorata.toml of the caller's folder is read.
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    match smtp_url {
        Some(smtp) => command.arg("--smtp-url").arg(smtp),
        None => command.arg("--mail-dir").arg(dir.join("mail")),
    };
    let child = command
        .spawn()
        .with_context(|| format!("cannot start process {index}"))?;
    Ok((child, log))
}

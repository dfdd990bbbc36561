//! `prorata`: the command line. From files, with no database: check a catalog, quote a plan,
//! play a scenario. On a database (SQLite by default, PostgreSQL with `--database-url`):
//! migrate, bill, move a sandbox clock, run the demo, benchmark. It holds no billing logic of
//! its own: it reads arguments, calls the core or the engine and prints.

mod bench;
mod bench_api;
mod bench_back_office;
mod bench_collection;
mod bench_documents;
mod bench_history;
mod bench_portal;
mod bench_profile;
mod bench_scale_out;
mod bench_usage;
mod bench_yardstick;
mod callgen;
mod config;
mod db;
mod demo;
mod documents;
mod logging;
mod progress;
mod quote;
mod tenants;

mod usage;

use prorata_server::limits::LimitConfig;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use prorata_core::catalog::Catalog;
use prorata_core::scenario::{self, Scenario};

#[derive(Parser)]
#[command(name = "prorata", version, about = "Subscription billing engine")]
struct Cli {
    /// The store: sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "PRORATA_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// The configuration file (default: ./prorata.toml when it exists); its keys are the
    /// flags' names, overridden by their PRORATA_* variables and by the flags.
    #[arg(long, global = true, env = "PRORATA_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines on standard error: pretty (for people) or json (one object a line).
    #[arg(
        long,
        global = true,
        env = "PRORATA_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    log_format: logging::LogFormat,
    /// Which log lines: a level (error, warn, info, debug, trace), optionally per crate
    /// (`warn,prorata_server=debug`).
    #[arg(long, global = true, env = "PRORATA_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_DATABASE_URL: &str = "sqlite://data/prorata.db";

#[derive(Subcommand)]
enum Command {
    /// Catalog files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Price a plan and quantities over dates, showing every line and its derivation.
    Quote(quote::QuoteArgs),
    /// Play a scenario file (a catalog plus dated actions) and print each document.
    Simulate {
        /// The scenario file (TOML), e.g. examples/seed-credit-note.toml.
        scenario: PathBuf,
        /// Print the outcome as JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Also write each document's Factur-X PDF and CII XML into this folder.
        #[arg(long)]
        documents: Option<PathBuf>,
    },
    /// Apply the database migrations (also done by every command that opens the store).
    Migrate,
    /// Print the REST API's OpenAPI document (what `/openapi.json` serves), for a client
    /// generator; no database.
    Openapi,
    /// Bill every subscription due on or before a date (all tenants, or one).
    Bill {
        #[arg(long)]
        as_of: NaiveDate,
        #[arg(long)]
        tenant: Option<i64>,
    },
    /// Tenants (the companies billing with this server): create, list, set their logo.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// A tenant's API keys: create (the secret is shown once), list, revoke.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sandbox test clocks.
    Clock {
        #[command(subcommand)]
        command: ClockCommand,
    },
    /// Create a sandbox tenant with about fifty companies, play fourteen months of billing,
    /// print a summary, then keep serving the API with the demo's key.
    Demo {
        #[arg(long, default_value_t = 50)]
        companies: usize,
        /// Exit after the summary instead of serving.
        #[arg(long)]
        no_serve: bool,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[command(flatten)]
        mail: MailArgs,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        scan: ScanArgs,
        /// Where the demo writes its documents (Factur-X PDF, CII XML) and an index.html.
        #[arg(long, default_value = "data/documents")]
        documents_dir: PathBuf,
    },
    /// Serve the REST API (/v1, /openapi.json) and bill live tenants in the background.
    Serve {
        #[arg(long, env = "PRORATA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Seconds between two passes of the billing worker, and of the collection worker.
        #[arg(long, env = "PRORATA_WORKER_INTERVAL", default_value_t = 60)]
        worker_interval: u64,
        /// The background workers this process runs: any of billing, collection, delivery,
        /// comma-separated, or `none` for a node that only serves the API and the portal.
        /// Any number of processes may run any of them on one PostgreSQL database: each
        /// tenant is billed and collected by one of them at a time, and each e-mail and
        /// webhook is claimed by one (docs/operations.md, "Several servers").
        #[arg(
            long,
            env = "PRORATA_WORKERS",
            default_value = "billing,collection,delivery"
        )]
        workers: prorata_server::worker::Workers,
        /// Seconds a delivery worker holds the e-mails and webhooks it claims (50 at a time)
        /// before another process may take them: what a process that died had claimed waits
        /// this long.
        #[arg(long, env = "PRORATA_DELIVERY_LEASE", default_value_t = 300)]
        delivery_lease: u64,
        /// Opens the operator's admin API (/admin/v1: tenants and their keys) to requests
        /// bearing this token. Without it that API does not exist (404). Prefer the
        /// environment variable: a flag shows in the process list.
        #[arg(long, env = "PRORATA_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        /// Seconds given, after SIGTERM or SIGINT, to the requests in flight and the jobs in
        /// hand before the process stops anyway (billing resumes and leases run out, so a
        /// forced stop costs time, not correctness).
        #[arg(long, env = "PRORATA_SHUTDOWN_GRACE", default_value_t = DEFAULT_GRACE_SECS)]
        shutdown_grace: u64,
        #[command(flatten)]
        mail: MailArgs,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Deliver the e-mails and webhooks due now, once, and exit (`serve` does it every few
    /// seconds).
    Deliver {
        #[command(flatten)]
        mail: MailArgs,
    },
    /// Invoices and credit notes as files.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
    /// Usage: call records.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// Per-tenant limits of API requests (prorata_server::limits).
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Requests a second a tenant may sustain on the API.
    #[arg(long, env = "PRORATA_RATE_LIMIT", default_value_t = LimitConfig::default().rate)]
    rate_limit: u32,
    /// Requests a tenant may send at once above its rate.
    #[arg(long, env = "PRORATA_BURST", default_value_t = LimitConfig::default().burst)]
    burst: u32,
    /// Requests of a tenant running at once; the next ones wait their turn.
    #[arg(long, env = "PRORATA_CONCURRENT_REQUESTS", default_value_t = LimitConfig::default().concurrent)]
    concurrent_requests: u32,
    /// Seconds a request may run before it is stopped (504).
    #[arg(long, env = "PRORATA_REQUEST_TIMEOUT", default_value_t = LimitConfig::default().timeout.as_secs())]
    request_timeout: u64,
}

impl LimitArgs {
    fn config(&self) -> Result<LimitConfig> {
        anyhow::ensure!(
            self.rate_limit > 0 && self.burst > 0 && self.concurrent_requests > 0,
            "--rate-limit, --burst and --concurrent-requests must be at least 1"
        );
        anyhow::ensure!(
            self.request_timeout > 0,
            "--request-timeout must be at least 1 second"
        );
        Ok(LimitConfig {
            rate: self.rate_limit,
            burst: self.burst,
            concurrent: self.concurrent_requests,
            timeout: std::time::Duration::from_secs(self.request_timeout),
            ..LimitConfig::default()
        })
    }
}

/// Virus scanning of uploaded files (issue 14).
#[derive(clap::Args, Clone)]
struct ScanArgs {
    /// A ClamAV daemon that scans every uploaded file before it is accepted: its socket
    /// (Debian's clamav-daemon: /run/clamav/clamd.ctl) or HOST:PORT. Without it files are not
    /// scanned; with it, an upload is refused (503) while the daemon cannot answer.
    #[arg(long, env = "PRORATA_CLAMD")]
    clamd: Option<String>,
}

impl ScanArgs {
    /// `engine` scanning with the daemon, if one is given; a daemon that does not answer yet
    /// is reported, not fatal (it may still be loading its database).
    async fn apply(&self, engine: prorata_engine::Engine) -> prorata_engine::Engine {
        let Some(address) = &self.clamd else {
            return engine;
        };
        let scanner = prorata_engine::scan::Scanner::new(address);
        if let Err(e) = scanner.ping().await {
            eprintln!("warning: {e}; uploads are refused until it answers");
        }
        engine.with_scanner(scanner)
    }
}

/// Where e-mail goes: an SMTP server, or `.eml` files in a folder when none is configured.
#[derive(clap::Args, Clone)]
struct MailArgs {
    /// smtp://HOST:PORT, smtp://HOST:587?tls=required (STARTTLS) or smtps://USER:PASSWORD@HOST:465.
    #[arg(long, env = "PRORATA_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    #[arg(
        long,
        env = "PRORATA_MAIL_FROM",
        default_value = "Prorata billing <billing@localhost>"
    )]
    mail_from: String,
    /// Folder for `.eml` files when no SMTP server is configured.
    #[arg(long, env = "PRORATA_MAIL_DIR", default_value = "data/mail")]
    mail_dir: PathBuf,
    /// The address people reach this server at: links in e-mails (invitations, password
    /// resets) point there, and an https:// address marks the portal's cookies `Secure`.
    #[arg(long, env = "PRORATA_PUBLIC_URL", default_value = prorata_server::mail::DEFAULT_PUBLIC_URL)]
    public_url: String,
    /// The server's secret key (64 hex characters), which signs single-use links and CSRF
    /// tokens; every server of one deployment needs the same. Read from
    /// PRORATA_SECRET_KEY, else from this file, which is created (mode 0600) when missing.
    #[arg(
        long,
        env = "PRORATA_SECRET_KEY_FILE",
        default_value = "data/secret.key"
    )]
    secret_key_file: PathBuf,
}

impl MailArgs {
    /// The deployment's secret key: `PRORATA_SECRET_KEY`, else the key file (made once).
    fn secret_key(&self) -> Result<prorata_engine::people::SecretKey> {
        use prorata_engine::people::SecretKey;
        if let Ok(hex) = std::env::var("PRORATA_SECRET_KEY") {
            return SecretKey::from_hex(&hex)
                .map_err(|e| anyhow::anyhow!("PRORATA_SECRET_KEY: {e}"));
        }
        let path = &self.secret_key_file;
        match std::fs::read_to_string(path) {
            Ok(hex) => {
                SecretKey::from_hex(&hex).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::random()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                write_private(path, &key.to_hex())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(key)
            }
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    fn web(&self) -> prorata_web::WebConfig {
        prorata_web::WebConfig {
            secure_cookies: self.public_url.starts_with("https://"),
        }
    }

    fn mailer(&self) -> Result<prorata_server::mail::Mailer> {
        Ok(self.transport()?.with_links(&self.public_url))
    }

    fn transport(&self) -> Result<prorata_server::mail::Mailer> {
        match &self.smtp_url {
            Some(url) => prorata_server::mail::Mailer::smtp(url, &self.mail_from),
            None => prorata_server::mail::Mailer::folder(self.mail_dir.clone(), &self.mail_from),
        }
        .map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(Subcommand)]
enum DocumentsCommand {
    /// Write every document of a tenant (its stored Factur-X PDF and CII XML) to a folder,
    /// with an index.html to browse them.
    Export {
        #[arg(long)]
        tenant: i64,
        #[arg(long, default_value = "data/documents")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsageCommand {
    /// Import call records from a CSV file (with a header row: event_id, account_id,
    /// started_at, direction, toll_free, caller, callee, duration_seconds) or an NDJSON file
    /// (one JSON object a line, same fields). Streamed in batches of 10,000.
    Import {
        file: PathBuf,
        #[arg(long)]
        tenant: i64,
        /// csv or ndjson; from the file's extension when absent.
        #[arg(long)]
        format: Option<String>,
        /// Fold the appended per-batch usage totals into the daily totals in the background
        /// once this many wait (0: never; the billing run folds what is left).
        #[arg(long, default_value_t = prorata_engine::FOLD_AFTER_ROWS)]
        fold_after: u64,
    },
    /// Fold a tenant's appended per-batch usage totals into its daily totals now (the billing
    /// run and ingestion do it on their own; reads see the same usage either way).
    Fold {
        #[arg(long)]
        tenant: i64,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a live tenant (billing on the calendar, real invoices) or a sandbox one (a test
    /// clock starting today).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with = "sandbox", required_unless_present = "sandbox")]
        live: bool,
        #[arg(long)]
        sandbox: bool,
        /// A TOML file shaped like the tenant's settings: `[seller]` (legal name, SIREN,
        /// address…), `[tax]`, and so on; what it leaves out keeps its default. A live
        /// tenant needs its seller.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Every tenant: id, mode, slug, name (and a sandbox's clock).
    List,
    /// Set the logo printed top left on the tenant's next documents, from a PNG (at most 1 MB
    /// and 2048 px a side), or remove it; issued documents keep theirs.
    Logo {
        /// The tenant's id or slug.
        #[arg(long)]
        tenant: String,
        /// The PNG file.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        file: Option<PathBuf>,
        /// No logo on the next documents.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Mint a key (pk_live_… or pk_test_…) and print its secret, once.
    Create {
        /// The tenant's id or slug.
        #[arg(long)]
        tenant: String,
    },
    /// The tenant's keys: id, prefix, when created and revoked.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key at once (even the last one: `keys create` mints another).
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key's id, from `keys list`.
        id: i64,
    },
}

#[derive(Subcommand)]
enum ClockCommand {
    /// Move a sandbox tenant's clock to a date, billing everything due on the way.
    Advance {
        #[arg(long)]
        tenant: i64,
        #[arg(long)]
        to: NaiveDate,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time one billing run over N subscriptions against a plain insert of the same rows.
    BillingRun {
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL, dropped at the end).
        #[arg(long, default_value = "sqlite")]
        store: String,
        /// Also give the subscriptions N months of monthly documents and usage (billed by
        /// the engine month by month) and time the next month against subscriptions one
        /// month old.
        #[arg(long)]
        history_months: Option<u32>,
    },
    /// Time usage ingestion over HTTP, and the rating and invoicing of a month of calls.
    Usage {
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Events posted to /v1/usage in batches of 10,000.
        #[arg(long, default_value_t = 1_000_000)]
        http_events: usize,
        /// Calls in the month in all (the HTTP and pre-loaded events included).
        #[arg(long, default_value_t = 10_000_000)]
        month_calls: usize,
        /// Events written in bulk by the database before the HTTP phase (not timed with it),
        /// so ingestion is timed on a usage table already holding them.
        #[arg(long, default_value_t = 0)]
        preload_events: usize,
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
    /// Time the documents' files (CII XML + Factur-X PDF) of N invoices: on one thread in
    /// memory, then the render pass that stores them.
    Documents {
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL).
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
    /// Time one collection pass (dispatch and card charges through the sandbox gateway) over
    /// N accounts billed once.
    Collection {
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL).
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
    /// Start P `prorata serve` processes on one fresh PostgreSQL database (of --database-url
    /// or DATABASE_URL) and time them billing, charging and e-mailing N subscriptions spread
    /// over T live tenants; says what each process did.
    ScaleOut {
        #[arg(long, default_value_t = 20_000)]
        accounts: usize,
        #[arg(long, default_value_t = 3)]
        processes: usize,
        #[arg(long, default_value_t = 6)]
        tenants: usize,
        /// SIGKILL the first process a third of the way through the billing, then start it
        /// again.
        #[arg(long)]
        kill_one: bool,
        /// One customer in M has a billing contact, and gets its invoice by e-mail.
        #[arg(long, default_value_t = 1)]
        mail_every: usize,
        /// Send the e-mails there (smtp://HOST:PORT) rather than to .eml files.
        #[arg(long)]
        smtp_url: Option<String>,
        /// Keep the database and the processes' logs, and print where they are.
        #[arg(long)]
        keep: bool,
        /// One JSON object instead of the text report.
        #[arg(long)]
        json: bool,
    },
    /// Serve the API in this process, with its per-tenant limits, and load it over loopback:
    /// W writers of one tenant posting usage batches, then a normal tenant's clients alone and
    /// beside a tenant asking for previews ten years ahead.
    Api {
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Concurrent writers of the one tenant, each on its own connection.
        #[arg(long, default_value_t = 50)]
        writers: usize,
        /// How long each phase runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        limits: LimitArgs,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL).
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
    /// Serve the back office in this process and time its pages over loopback with a
    /// verified billing-team session: queues (deep pages too), a ticket, a five-year
    /// account's page and the account search, on N tickets.
    BackOffice {
        #[arg(long, default_value_t = 100_000)]
        tickets: usize,
        /// Measured requests of each page.
        #[arg(long, default_value_t = 300)]
        requests: usize,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL, dropped at the end).
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
    /// Serve the customer portal in this process and time its Plan and Billing pages over
    /// loopback: N accounts billed once, S owners signed in, S keep-alive clients.
    Portal {
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Signed-in owners, each on its own connection, alternating the two pages.
        #[arg(long, default_value_t = 50)]
        sessions: usize,
        /// How long the clients run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Stop earlier after this many requests in all.
        #[arg(long, default_value_t = 1_000_000)]
        max_requests: u64,
        /// sqlite (a fresh file in a temp folder) or postgres (a fresh database on the server
        /// of --database-url or DATABASE_URL).
        #[arg(long, default_value = "sqlite")]
        store: String,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate a catalog file; every problem is printed with the field it concerns.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = config::apply(&args) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<()> {
    logging::init(cli.log_format, &cli.log)?;
    let url = cli.database_url;
    match cli.command {
        Command::Catalog {
            command: CatalogCommand::Check { file },
        } => {
            let catalog = load_catalog(&file)?;
            println!(
                "{}: ok — {} products, {} usage metrics, {} plans, currencies {}",
                file.display(),
                catalog.products.len(),
                catalog.metrics.len(),
                catalog.plans.len(),
                catalog
                    .currencies
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Quote(args) => quote::run(args),
        Command::Simulate {
            scenario,
            json,
            documents,
        } => simulate(&scenario, json, documents.as_deref()),
        Command::Migrate => runtime()?.block_on(db::migrate(&url)),
        Command::Openapi => {
            let doc = prorata_server::openapi_document();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Bill { as_of, tenant } => runtime()?.block_on(db::bill(&url, as_of, tenant)),
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    live,
                    sandbox: _,
                    settings,
                },
        } => {
            let mode = if live {
                prorata_store::TenantMode::Live
            } else {
                prorata_store::TenantMode::Sandbox
            };
            runtime()?.block_on(tenants::create(&url, &name, mode, settings.as_deref()))
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => runtime()?.block_on(tenants::list(&url)),
        Command::Tenant {
            command:
                TenantCommand::Logo {
                    tenant,
                    file,
                    remove: _,
                },
        } => runtime()?.block_on(tenants::set_logo(&url, &tenant, file.as_deref())),
        Command::Keys { command } => runtime()?.block_on(async {
            match command {
                KeysCommand::Create { tenant } => tenants::create_key(&url, &tenant).await,
                KeysCommand::List { tenant } => tenants::list_keys(&url, &tenant).await,
                KeysCommand::Revoke { tenant, id } => tenants::revoke_key(&url, &tenant, id).await,
            }
        }),
        Command::Clock {
            command: ClockCommand::Advance { tenant, to },
        } => runtime()?.block_on(db::advance(&url, tenant, to)),
        Command::Demo {
            companies,
            no_serve,
            listen,
            mail,
            limits,
            scan,
            documents_dir,
        } => runtime()?.block_on(async {
            let engine = db::open(&url).await?.with_secret(mail.secret_key()?);
            let engine = scan.apply(engine).await;
            let mut out = String::new();
            let result = demo::run(&engine, companies, &mut out).await?;
            print!("{out}");
            let done = documents::export(&engine, &result.tenant, &documents_dir).await?;
            for (number, why) in &done.failed {
                eprintln!("{number}: no files: {why}");
            }
            println!(
                "documents: {} Factur-X PDFs and CII XMLs ({} kB) in {}; open {}",
                done.documents,
                done.bytes / 1000,
                documents_dir.display(),
                documents_dir.join("index.html").display()
            );
            println!("store: {url}");
            println!("API key (shown once): {}", result.api_key);
            // Sandbox people, all with the demo's password.
            println!(
                "portal: {}/portal/{}/sign-in — password for everyone: {}",
                mail.public_url.trim_end_matches('/'),
                result.tenant.slug,
                demo::DEMO_PASSWORD
            );
            for (company, role, email) in &result.people {
                println!("  {company}: {role} {email}");
            }
            println!("  staff: billing-team@vendor.example, account-manager@vendor.example, admin@vendor.example");
            if no_serve {
                return Ok(());
            }
            println!(
                "try: curl -H 'Authorization: Bearer {}' http://{listen}/v1/invoices?limit=2",
                result.api_key
            );
            // The demo's e-mails go out while it serves (to .eml files unless SMTP is set).
            serve(Serving {
                state: prorata_server::AppState::with_limits(engine, limits.config()?),
                listen: &listen,
                // The demo bills and collects its sandbox by moving the clock: its e-mails
                // go out, nothing else runs in the background.
                workers: prorata_server::worker::Workers {
                    delivery: true,
                    ..prorata_server::worker::Workers::NONE
                },
                every: std::time::Duration::from_secs(60),
                lease: prorata_server::worker::LEASE,
                mailer: mail.mailer()?,
                web: mail.web(),
                grace: std::time::Duration::from_secs(DEFAULT_GRACE_SECS),
            })
            .await
        }),
        Command::Serve {
            listen,
            worker_interval,
            workers,
            delivery_lease,
            operator_token,
            shutdown_grace,
            mail,
            limits,
            scan,
        } => runtime()?.block_on(async {
            let limits = limits.config()?;
            let engine = db::open(&url).await?.with_secret(mail.secret_key()?);
            let engine = scan.apply(engine).await;
            let mut state = prorata_server::AppState::with_limits(engine, limits);
            if let Some(token) = operator_token {
                state = state.with_operator_token(&token).ok_or_else(|| {
                    anyhow::anyhow!("--operator-token: cannot be empty (leave it out to keep the admin API off)")
                })?;
            }
            serve(Serving {
                state,
                listen: &listen,
                workers,
                every: std::time::Duration::from_secs(worker_interval),
                lease: std::time::Duration::from_secs(delivery_lease.max(1)),
                mailer: mail.mailer()?,
                web: mail.web(),
                grace: std::time::Duration::from_secs(shutdown_grace),
            })
            .await
        }),
        Command::Deliver { mail } => runtime()?.block_on(async {
            let engine = db::open(&url).await?.with_secret(mail.secret_key()?);
            let mailer = mail.mailer()?;
            let emails = prorata_server::worker::deliver_emails(&engine, &mailer).await?;
            let sender = prorata_server::webhooks::Sender::new(std::time::Duration::from_secs(10));
            let hooks = prorata_server::worker::deliver_webhooks(&engine, &sender).await?;
            println!("{emails} e-mails sent, {hooks} webhooks delivered");
            Ok(())
        }),
        Command::Documents {
            command: DocumentsCommand::Export { tenant, dir },
        } => runtime()?.block_on(async {
            let engine = db::open(&url).await?;
            let tenant = engine.tenant(tenant).await?;
            let done = documents::export(&engine, &tenant, &dir).await?;
            println!(
                "{} documents ({} kB) in {}",
                done.documents,
                done.bytes / 1000,
                dir.join("index.html").display()
            );
            for (number, why) in &done.failed {
                eprintln!("{number}: no files: {why}");
            }
            if done.failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} documents could not be rendered", done.failed.len())
            }
        }),
        Command::Usage {
            command:
                UsageCommand::Import {
                    file,
                    tenant,
                    format,
                    fold_after,
                },
        } => runtime()?.block_on(usage::import(
            &url,
            tenant,
            &file,
            format.as_deref(),
            fold_after,
        )),
        Command::Usage {
            command: UsageCommand::Fold { tenant },
        } => runtime()?.block_on(usage::fold(&url, tenant)),
        Command::Bench {
            command:
                BenchCommand::BillingRun {
                    accounts,
                    store,
                    history_months,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            match history_months {
                Some(months) => runtime()?.block_on(bench_history::billing_run_history(
                    &store, accounts, months, explicit,
                )),
                None => runtime()?.block_on(bench::billing_run(&store, accounts, explicit)),
            }
        }
        Command::Bench {
            command: BenchCommand::Documents { accounts, store },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            runtime()?.block_on(bench_documents::documents(&store, accounts, explicit))
        }
        Command::Bench {
            command:
                BenchCommand::ScaleOut {
                    accounts,
                    processes,
                    tenants,
                    kill_one,
                    mail_every,
                    smtp_url,
                    keep,
                    json,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            runtime()?.block_on(bench_scale_out::scale_out(bench_scale_out::ScaleOut {
                accounts,
                processes,
                tenants,
                kill_one,
                mail_every,
                smtp_url,
                keep,
                json,
                database_url: explicit,
            }))
        }
        Command::Bench {
            command: BenchCommand::Collection { accounts, store },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            runtime()?.block_on(bench_collection::collection(&store, accounts, explicit))
        }
        Command::Bench {
            command:
                BenchCommand::Portal {
                    accounts,
                    sessions,
                    seconds,
                    max_requests,
                    store,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            let args = bench_portal::Args {
                accounts,
                sessions,
                seconds,
                max_requests,
            };
            runtime()?.block_on(bench_portal::portal(&store, args, explicit))
        }
        Command::Bench {
            command:
                BenchCommand::BackOffice {
                    tickets,
                    requests,
                    store,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            let args = bench_back_office::Args { tickets, requests };
            runtime()?.block_on(bench_back_office::back_office(&store, args, explicit))
        }
        Command::Bench {
            command:
                BenchCommand::Api {
                    accounts,
                    writers,
                    seconds,
                    limits,
                    store,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            let args = bench_api::Args {
                accounts,
                writers,
                seconds,
                limits: limits.config()?,
            };
            runtime()?.block_on(bench_api::api(&store, args, explicit))
        }
        Command::Bench {
            command:
                BenchCommand::Usage {
                    accounts,
                    http_events,
                    month_calls,
                    preload_events,
                    store,
                },
        } => {
            let explicit = (url != DEFAULT_DATABASE_URL).then_some(url);
            runtime()?.block_on(bench_usage::usage(
                &store,
                accounts,
                http_events,
                month_calls,
                preload_events,
                explicit,
            ))
        }
    }
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// Seconds after SIGTERM or SIGINT before `serve` stops whatever still runs.
const DEFAULT_GRACE_SECS: u64 = 30;

/// What [`serve`] runs.
struct Serving<'a> {
    /// The engine, the rate limits and the operator token (the admin API) of the app.
    state: prorata_server::AppState,
    listen: &'a str,
    /// The background workers to run, the interval of the billing and collection passes,
    /// and the delivery worker's lease.
    workers: prorata_server::worker::Workers,
    every: std::time::Duration,
    lease: std::time::Duration,
    /// The delivery worker's mailer.
    mailer: prorata_server::mail::Mailer,
    web: prorata_web::WebConfig,
    grace: std::time::Duration,
}

/// Serves the API and the portal with the workers until SIGTERM or SIGINT, then stops: no new
/// connections, the requests in flight and the jobs in hand finished within `grace`, the
/// claimed jobs not started given back (prorata_server::shutdown).
async fn serve(s: Serving<'_>) -> Result<()> {
    use prorata_server::{shutdown, worker};
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("cannot listen on {}", s.listen))?;
    let (trigger, stop) = shutdown::channel();
    let engine = &s.state.engine;
    let mut workers = Vec::new();
    if s.workers.delivery {
        let every = std::time::Duration::from_secs(5);
        workers.push(worker::spawn_delivery(
            engine.clone(),
            s.mailer,
            every,
            s.lease,
            stop.clone(),
        ));
    }
    if s.workers.billing {
        workers.push(worker::spawn_billing(engine.clone(), s.every, stop.clone()));
    }
    if s.workers.collection {
        workers.push(worker::spawn_collection(
            engine.clone(),
            s.every,
            stop.clone(),
        ));
    }
    tracing::info!(workers = %s.workers, "workers started");
    println!(
        "serving http://{}/v1 (OpenAPI at /openapi.json); SIGTERM or Ctrl-C stops",
        listener.local_addr()?
    );
    if s.state.operator.is_some() {
        println!("admin API on /admin/v1 (operator token required)");
    }
    let app = prorata_server::app_with(s.state, s.web);
    let mut on_stop = stop.clone();
    // The client's address reaches the handlers: sign-in attempts are throttled by it.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { on_stop.wait().await });
    let mut server = tokio::spawn(async move { server.await });
    let signal = tokio::select! {
        signal = shutdown::signal() => signal,
        ended = &mut server => {
            trigger.stop();
            return Ok(ended.context("the server task")??);
        }
    };
    tracing::info!(
        signal,
        grace_s = s.grace.as_secs(),
        "stopping: no new connections; finishing the requests and jobs in hand"
    );
    trigger.stop();
    let deadline = tokio::time::Instant::now() + s.grace;
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(ended) => ended.context("the server task")??,
        Err(_) => {
            server.abort();
            tracing::warn!("requests still in flight at the deadline were cut");
        }
    }
    for mut handle in workers {
        if tokio::time::timeout_at(deadline, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            tracing::warn!("a worker still busy at the deadline was stopped mid-job (it resumes in the next process)");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

pub fn load_catalog(path: &Path) -> Result<Catalog> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read catalog {}", path.display()))?;
    Catalog::from_toml(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))
}

fn simulate(path: &Path, json: bool, documents: Option<&Path>) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario {}", path.display()))?;
    let scenario =
        Scenario::from_toml(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?;
    let catalog_path = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&scenario.catalog);
    let catalog = load_catalog(&catalog_path)?;
    let outcome = scenario::run(&scenario, &catalog)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", prorata_docs::text::outcome(&outcome));
    }
    if let Some(dir) = documents {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = 0;
        for entry in &outcome.entries {
            if let scenario::Entry::Document(doc) = entry {
                let files = prorata_docs::files::make(doc).map_err(anyhow::Error::msg)?;
                for (ext, body) in [("pdf", &files.pdf), ("xml", &files.xml)] {
                    let file = dir.join(format!("{}.{ext}", doc.number));
                    std::fs::write(&file, body)
                        .with_context(|| format!("writing {}", file.display()))?;
                }
                written += 1;
            }
        }
        if !json {
            println!(
                "{written} documents written to {} (Factur-X PDF and CII XML each)",
                dir.display()
            );
        }
    }
    Ok(())
}

//! What the crash tests (`crash.rs`, `crash_clock.rs`) share: each test body runs with two
//! databases, A (killed) and B (uninterrupted), on each store; a plain connection to either
//! store for reading what the killed binary committed; and the kill itself.

use std::path::Path;
use std::process::Child;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

/// For each `name`, `sqlite::name` and `postgres::name` run the body `name(a, b)` with two
/// fresh databases of that store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // Two SQLite files, each in a directory removed when its guard drops.
                    let (a, _guard_a) = prorata_testkit::sqlite_url();
                    let (b, _guard_b) = prorata_testkit::sqlite_url();
                    super::$name(&a, &b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let a = prorata_testkit::fresh_database().await;
                    let b = prorata_testkit::fresh_database().await;
                    super::$name(&a, &b).await;
                }
            )*
        }
    };
}

/// A plain connection to either store, for reading what the binary committed.
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` the store's pool, whichever store it is.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::crash_common::Db::Sqlite($pool) => $body,
            $crate::crash_common::Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    pub async fn connect(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .expect("a SQLite URL")
                .busy_timeout(Duration::from_secs(30));
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("SQLite opens"),
            )
        } else {
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .expect("PostgreSQL connects"),
            )
        }
    }

    pub async fn close(&self) {
        on_db!(self, p => p.close().await);
    }
}

/// What the binary wrote to its log so far.
pub fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Kills `child` with SIGKILL, asserting it was still running, and reaps it.
pub fn kill_running(child: &mut Child, log: &Path, what: &str) {
    let status = child.try_wait().expect("try_wait");
    assert!(
        status.is_none(),
        "{what}: the binary had already ended ({status:?}) when it was to be killed: give the \
         run more work (raise N)\n{}",
        log_text(log)
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    // Killed by a signal: no exit code.
    assert_eq!(status.code(), None, "{what}: {status:?}");
}

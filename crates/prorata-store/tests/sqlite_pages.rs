//! SQLite's page size is fixed when a database is created: the store creates its databases
//! with [`SQLITE_PAGE_SIZE`] pages (in WAL mode, where a later `PRAGMA page_size` is ignored,
//! so the order of the connection's pragmas matters), and opens a database made with another
//! page size as it is, data and all — an upgrade converts nothing.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use prorata_core::reconcile::Settings;
use prorata_store::{Store, TenantMode, SQLITE_PAGE_SIZE};
use prorata_testkit::TempDirGuard;

async fn open(url: &str) -> SqliteConnection {
    SqliteConnectOptions::from_str(url)
        .expect("a URL")
        .connect()
        .await
        .expect("open")
}

async fn page_size_and_journal(url: &str) -> (i64, String) {
    let mut c = open(url).await;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut c)
        .await
        .expect("page size");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .expect("journal mode");
    c.close().await.expect("close");
    (size, journal)
}

#[tokio::test]
async fn a_new_database_has_the_stores_page_size_in_wal_mode() {
    let dir = TempDirGuard::new("prorata-sqlite-pages");
    let url = format!("sqlite://{}/new.db", dir.path().display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    drop(store);
    let (size, journal) = page_size_and_journal(&url).await;
    assert_eq!(size, i64::from(SQLITE_PAGE_SIZE));
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn a_database_made_with_4_kib_pages_is_opened_and_migrated_as_it_is() {
    let dir = TempDirGuard::new("prorata-sqlite-pages");
    let url = format!("sqlite://{}/old.db", dir.path().display());
    let options = SqliteConnectOptions::from_str(&url)
        .expect("a URL")
        .create_if_missing(true)
        .page_size(4096)
        .journal_mode(SqliteJournalMode::Wal);
    let mut c = options.connect().await.expect("create");
    sqlx::query("CREATE TABLE kept (v TEXT)")
        .execute(&mut c)
        .await
        .expect("table");
    sqlx::query("INSERT INTO kept VALUES ('from before')")
        .execute(&mut c)
        .await
        .expect("row");
    c.close().await.expect("close");

    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    let tenant = tx
        .create_tenant("Old pages", TenantMode::Live, None, &Settings::default())
        .await
        .expect("a tenant is written");
    tx.commit().await.expect("commit");
    assert!(tenant > 0);
    drop(store);

    let (size, journal) = page_size_and_journal(&url).await;
    assert_eq!(size, 4096, "an existing database keeps its pages");
    assert_eq!(journal, "wal");
    let mut c = open(&url).await;
    let kept: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut c)
        .await
        .expect("the old row");
    assert_eq!(kept, "from before");
}

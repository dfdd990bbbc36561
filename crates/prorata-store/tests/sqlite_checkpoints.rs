//! A SQLite store copies committed pages from the WAL into the database file on a connection
//! of its own (`checkpoint.rs`), so the connections that write need not: here the writer is
//! a connection that never checkpoints (`wal_autocheckpoint = 0`), and the store, otherwise
//! idle, still brings its pages into the database file and lets the WAL start over.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use prorata_store::Store;
use prorata_testkit::TempDirGuard;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Commits about 8 MiB of new rows (a thousand 8 KiB pages) through `c`.
async fn write_pages(c: &mut SqliteConnection) {
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
         INSERT INTO bulk (v) SELECT randomblob(4000) FROM n",
    )
    .execute(&mut *c)
    .await
    .expect("rows");
}

/// Waits up to 20 s for `done`, checking every 20 ms.
async fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test]
async fn the_store_checkpoints_what_a_connection_that_never_does_commits() {
    let dir = TempDirGuard::new("prorata-sqlite-checkpoints");
    let db = dir.path().join("ckpt.db");
    let wal = dir.path().join("ckpt.db-wal");
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");

    let mut writer = SqliteConnectOptions::from_str(&url)
        .expect("a URL")
        .pragma("wal_autocheckpoint", "0")
        .connect()
        .await
        .expect("a writer");
    sqlx::query("CREATE TABLE bulk (v BLOB)")
        .execute(&mut writer)
        .await
        .expect("table");
    let before = size(&db);
    write_pages(&mut writer).await;
    let wal_once = size(&wal);
    assert!(
        wal_once > 8_000_000,
        "the pages went to the WAL: {wal_once}"
    );

    // Nothing but the store's checkpointer copies them into the database file.
    assert!(
        eventually(|| size(&db) >= before + 8_000_000).await,
        "the database file grew from {before} to {} only",
        size(&db)
    );

    // Copied, the WAL starts over with a later transaction instead of growing: its header's
    // checkpoint sequence moves on.
    let sequence = wal_sequence(&wal);
    let mut restarted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("INSERT INTO bulk (v) VALUES (x'00')")
            .execute(&mut writer)
            .await
            .expect("a row");
        if wal_sequence(&wal) != sequence {
            restarted = true;
            break;
        }
    }
    assert!(restarted, "the WAL never started over");
    assert!(size(&wal) <= wal_once, "the WAL is reused, not grown");
    store.close().await;
}

/// The checkpoint sequence number in the WAL file's header (bytes 12–15, big-endian), which
/// SQLite moves on each time the WAL starts over.
fn wal_sequence(wal: &Path) -> u32 {
    let bytes = std::fs::read(wal).expect("the WAL");
    u32::from_be_bytes(bytes[12..16].try_into().expect("four bytes"))
}

//! Exercises the throwaway cluster and `fresh_database`.
//!
//! These tests must run against the throwaway cluster even when the
//! developer has `DATABASE_URL` set, so every test first calls
//! [`ignore_database_url`], which removes `DATABASE_URL` from this test
//! process (once, before any test reads it). Other crates' tests are not
//! affected: this only changes the environment of this test binary.

use std::sync::Once;

use sqlx::{Connection, PgConnection, Row};

fn ignore_database_url() {
    static ONCE: Once = Once::new();
    // Every test calls this before anything else, so no other thread of this
    // process reads the environment while it is changed.
    ONCE.call_once(|| std::env::remove_var("DATABASE_URL"));
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|err| panic!("connect to {url}: {err}"))
}

async fn select_one(conn: &mut PgConnection) -> i32 {
    sqlx::query("SELECT 1")
        .fetch_one(conn)
        .await
        .unwrap()
        .get(0)
}

async fn current_database(conn: &mut PgConnection) -> String {
    sqlx::query("SELECT current_database()")
        .fetch_one(conn)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn postgres_url_starts_a_throwaway_cluster_on_a_unix_socket() {
    ignore_database_url();
    // Blocking inside the async test is fine here: nothing else runs on
    // this test's runtime.
    let url = prorata_testkit::postgres_url();
    assert!(
        url.starts_with("postgres://postgres@localhost:5432/postgres?host=/"),
        "{url}"
    );
    let dir = url
        .split("host=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap();
    assert!(
        dir.contains(&format!("prorata-testkit-pg-{}-", std::process::id())),
        "{dir}"
    );
    assert!(std::path::Path::new(dir).join(".s.PGSQL.5432").exists());
    // Started once: a second call returns the same cluster.
    assert_eq!(prorata_testkit::postgres_url(), url);

    let mut conn = connect(&url).await;
    assert_eq!(select_one(&mut conn).await, 1);
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('listen_addresses'), current_setting('fsync'), \
         current_setting('max_connections')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(settings, ("".into(), "off".into(), "200".into()));
    conn.close().await.unwrap();
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_isolated() {
    ignore_database_url();
    let first = prorata_testkit::fresh_database().await;
    let second = prorata_testkit::fresh_database().await;
    assert_ne!(first, second);

    let mut a = connect(&first).await;
    let mut b = connect(&second).await;
    assert_eq!(select_one(&mut a).await, 1);
    assert_eq!(select_one(&mut b).await, 1);
    let name_a = current_database(&mut a).await;
    let name_b = current_database(&mut b).await;
    assert_ne!(name_a, name_b);
    assert!(name_a.starts_with(&format!("prorata_test_{}_", std::process::id())));

    sqlx::query("CREATE TABLE only_in_first (id int)")
        .execute(&mut a)
        .await
        .unwrap();
    let exists = "SELECT to_regclass('public.only_in_first') IS NOT NULL";
    let in_a: bool = sqlx::query_scalar(exists).fetch_one(&mut a).await.unwrap();
    let in_b: bool = sqlx::query_scalar(exists).fetch_one(&mut b).await.unwrap();
    assert!(in_a);
    assert!(!in_b);

    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_fresh_databases_in_parallel() {
    ignore_database_url();
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(prorata_testkit::fresh_database()))
        .collect();
    let mut urls = Vec::new();
    for task in tasks {
        urls.push(task.await.unwrap());
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 8);
    let mut conn = connect(&urls[0]).await;
    assert_eq!(select_one(&mut conn).await, 1);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_url_is_usable_and_removed_on_drop() {
    ignore_database_url();
    let (url, guard) = prorata_testkit::sqlite_url();
    let dir = guard.path().to_path_buf();
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    assert!(dir.join("test.sqlite3").exists());
    drop(guard);
    assert!(!dir.exists());
}

/// Not a test of its own: run by `killed_test_process_leaves_nothing_behind`
/// in a child process, which it then kills.
#[test]
#[ignore = "helper process for killed_test_process_leaves_nothing_behind"]
fn helper_start_cluster_and_hang() {
    ignore_database_url();
    println!("URL={}", prorata_testkit::postgres_url());
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn killed_test_process_leaves_nothing_behind() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    ignore_database_url();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_start_cluster_and_hang",
            "--ignored",
            "--nocapture",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("URL=").map(str::to_string));
    let Some(url) = url else {
        let _ = child.kill();
        panic!("the helper process printed no URL");
    };
    let dir = url
        .split("host=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&dir).join("data").exists());

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while (std::path::Path::new(&dir).exists() || server_running_in(&dir))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!server_running_in(&dir), "a postgres for {dir} still runs");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} still exists");
}

/// Whether some process has `dir` on its command line (Linux `/proc`).
fn server_running_in(dir: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(dir))
}

//! `prorata serve` stops cleanly on SIGTERM: it takes no new connection, finishes a request
//! already in flight (its work committed and its answer sent), cuts one still unfinished at
//! the grace deadline, and exits 0 saying so in its log.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_store::{Store, TenantMode};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends a request's head and the first `sent` bytes of its body, leaving it in flight.
fn start_request(port: u16, key: &str, body: &str, sent: usize) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        conn,
        "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..sent]
    )
    .unwrap();
    conn.flush().unwrap();
    conn
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_cuts_a_stuck_one_at_the_deadline_and_exits_0() {
    let (url, guard) = prorata_testkit::sqlite_url();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store.clone());
    let tenant = engine
        .create_tenant(
            "Vendor",
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2024, 6, 6),
            &Settings::default(),
        )
        .await
        .unwrap();
    let key = engine.create_api_key(&tenant).await.unwrap().secret;
    store.close().await;

    let port = free_port();
    let log = guard.path().join("serve.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", &url, "--log-format", "json", "serve"])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "3",
        ])
        .args(["--mail-dir", &guard.path().join("mail").to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("serve");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }

    let body = serde_json::json!({"name": "Late Ltd", "country": "FR", "currency": "EUR",
        "language": "fr", "billing_contacts": ["compta@example.com"]})
    .to_string();
    let mut in_flight = start_request(port, &key, &body, 10);
    let _stuck = start_request(port, &key, &body, 10);
    std::thread::sleep(Duration::from_millis(300));

    let term = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "a new connection was accepted after SIGTERM"
    );

    // The request in flight is finished and answered.
    in_flight.write_all(&body.as_bytes()[10..]).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("Late Ltd") {
        let n = in_flight.read(&mut buf).expect("the answer");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The stuck one holds the process until the grace deadline, no longer.
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(term.elapsed() < Duration::from_secs(15), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = term.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_millis(2900),
        "stopped after {took:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let said = |message: &str| lines.iter().find(|l| l["message"] == message);
    let stopping = said("stopping: no new connections; finishing the requests and jobs in hand")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(stopping["signal"], "SIGTERM");
    assert!(
        said("requests still in flight at the deadline were cut").is_some(),
        "{text}"
    );
    assert!(said("stopped").is_some(), "{text}");
    assert!(
        lines.iter().any(|l| l["message"] == "request"
            && l["route"] == "/v1/accounts"
            && l["status"] == 201),
        "{text}"
    );

    // Its work was committed.
    let store = Store::connect(&url).await.unwrap();
    let accounts = Engine::new(store)
        .list_accounts(&tenant, 0, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account.name, "Late Ltd");
}

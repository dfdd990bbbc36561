//! The API as a customer's developer meets it (issue 16): a live tenant and its key made with
//! the CLI, `prorata serve --log-format json` on a free port, a Python client generated from
//! the served `/openapi.json` by the standard generator `openapi-python-client` (PyPI,
//! installed by `scripts/test`), and a short flow written only with that client's functions
//! and models (`generated_client.py`: a catalog, an account, a subscription read back, the
//! account's address moved as its owner and its country refused, a change previewed and one
//! refused, entitlements, the invoices, the change requests). Then what the operator sees of
//! it: each of those requests counted in `/metrics` by route and status, and logged once, as a
//! JSON line under the request id the client was answered. On SQLite and on PostgreSQL.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The seller a live French tenant needs to issue invoices (`tenant create --settings`).
const SETTINGS: &str = r#"
[seller]
legal_name = "Acme Télécom SAS"
siren = "552100554"
email = "billing@acme.example"
payment_terms_days = 30

[seller.address]
line1 = "1 rue de Rivoli"
postcode = "75001"
city = "Paris"
"#;

/// Runs `prorata --database-url URL ARGS…` in `dir` and returns its standard output.
fn prorata(url: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("prorata runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "prorata {args:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A server killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `prorata --log-format json serve` on a free port, its standard output and error written to
/// `serve.out` and `serve.log` in `dir`; returns it and its address once it listens.
fn serve(url: &str, dir: &Path) -> (Server, String) {
    let out = std::fs::File::create(dir.join("serve.out")).expect("serve.out");
    let log = std::fs::File::create(dir.join("serve.log")).expect("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "--log-format", "json"])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("PRORATA_OPERATOR_TOKEN")
        .env_remove("PRORATA_LOG")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("prorata serve starts");
    let server = Server(child);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let text = std::fs::read_to_string(dir.join("serve.out")).unwrap_or_default();
        if let Some(rest) = text.lines().find_map(|l| l.strip_prefix("serving http://")) {
            let addr = rest.split('/').next().expect("an address").to_string();
            return (server, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "prorata serve did not listen within 30 s:\n{}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}

/// `GET path` without a key: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response read");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs `python3 ARGS…` in `dir`: its standard output and error, or a failure showing both.
fn python(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> (String, String) {
    let mut command = Command::new("python3");
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command
        .output()
        .expect("python3 runs (scripts/test needs it for factur-x and schemathesis too)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "python3 {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

fn the_generated_client_drives_a_live_tenant_seen_in_metrics_and_logs(url: &str, dir: &Path) {
    let started = Instant::now();
    let installed = Command::new("python3")
        .args(["-c", "import openapi_python_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "the PyPI package openapi-python-client is missing: install it with \
         `python3 -m pip install \"openapi-python-client>=0.29,<0.30\"` (scripts/test does)"
    );

    std::fs::write(dir.join("acme.toml"), SETTINGS).expect("settings");
    let out = prorata(
        url,
        dir,
        &[
            "tenant",
            "create",
            "--name",
            "Acme Télécom",
            "--live",
            "--settings",
            "acme.toml",
        ],
    );
    assert!(out.contains("(live)"), "{out}");
    let out = prorata(url, dir, &["keys", "create", "--tenant", "acme-telecom"]);
    let key = out
        .lines()
        .find(|l| l.starts_with("pk_live_"))
        .unwrap_or_else(|| panic!("no live key printed: {out}"))
        .to_string();

    let (server, addr) = serve(url, dir);
    let generated = dir.join("generated");
    let (_, generating) = python(
        dir,
        &[],
        &[
            "-m",
            "openapi_python_client",
            "generate",
            "--url",
            &format!("http://{addr}/openapi.json"),
            "--meta",
            "none",
            "--output-path",
            &generated.join("prorata_client").to_string_lossy(),
        ],
    );
    // Every operation and schema made it into the client: the generator warns (on standard
    // error) of what it drops.
    assert!(
        !generating.to_lowercase().contains("warning"),
        "openapi-python-client stumbled on the document:\n{generating}"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated_client.py");
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/default.toml");
    let (out, _) = python(
        dir,
        &[("PYTHONPATH", &generated)],
        &[
            &script.to_string_lossy(),
            &format!("http://{addr}"),
            &key,
            &catalog.to_string_lossy(),
        ],
    );
    let calls: Vec<Value> = out
        .lines()
        .find_map(|l| l.strip_prefix("CALLS "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("the script reported no calls:\n{out}"));
    assert_eq!(calls.len(), 12, "{calls:#?}");

    // /metrics counts each request by route template, method and status.
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for call in &calls {
        let line = format!(
            "prorata_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}}",
            call["route"].as_str().expect("route"),
            call["method"].as_str().expect("method"),
            call["status"]
        );
        *expected.entry(line).or_default() += 1;
    }
    for (series, count) in &expected {
        assert!(
            metrics
                .lines()
                .any(|l| l.strip_prefix(series.as_str()) == Some(&format!(" {count}"))),
            "{series} {count} is not in /metrics:\n{}",
            metrics
                .lines()
                .filter(|l| l.starts_with("prorata_http_requests_total"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // The request log: one JSON line per request, under the id the client was answered.
    drop(server);
    let log = std::fs::read_to_string(dir.join("serve.log")).expect("serve.log");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .filter(|v: &Value| v["message"] == "request")
        .collect();
    for call in &calls {
        let id = call["request_id"].as_str().expect("an X-Request-Id");
        let logged: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                l["spans"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["request_id"] == id))
            })
            .collect();
        assert_eq!(logged.len(), 1, "request {id}: {logged:#?}\n{call}");
        let line = logged[0];
        assert_eq!(line["route"], call["route"], "{line}");
        assert_eq!(line["method"], call["method"], "{line}");
        assert_eq!(line["status"], call["status"], "{line}");
    }
    eprintln!(
        "generated client flow: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn on_sqlite() {
    let (url, guard) = prorata_testkit::sqlite_url();
    the_generated_client_drives_a_live_tenant_seen_in_metrics_and_logs(&url, guard.path());
}

#[tokio::test]
async fn on_postgres() {
    let url = prorata_testkit::fresh_database().await;
    let guard = prorata_testkit::TempDirGuard::new("generated-client");
    let dir = guard.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        the_generated_client_drives_a_live_tenant_seen_in_metrics_and_logs(&url, &dir)
    })
    .await
    .expect("the test ran");
}

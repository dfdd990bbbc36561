//! Going live from the command line, on SQLite and PostgreSQL: `tenant create` (a live tenant
//! with its seller from a settings file), `tenant list`, `keys create|list|revoke`, then the
//! key used against `prorata serve`; and `bill --as-of` refusing a date a sandbox's clock has
//! not reached; `tenant logo` setting and removing the logo its documents print.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Runs `prorata --database-url URL ARGS…` in `dir`: (exit code, stdout, stderr).
fn prorata(url: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("prorata runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(url: &str, dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = prorata(url, dir, args);
    assert_eq!(code, Some(0), "prorata {args:?}\n{stdout}\n{stderr}");
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

/// `prorata serve` on a free port; returns it and its address once it listens.
fn serve(url: &str, dir: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("PRORATA_OPERATOR_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("prorata serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if let Some(rest) = line.strip_prefix("serving http://") {
            let addr = rest.split('/').next().expect("an address").to_string();
            return (server, addr);
        }
    }
    panic!("prorata serve ended without listening");
}

/// One HTTP/1.1 request: (status, body).
fn http(addr: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
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
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

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

fn a_live_tenant_and_its_key_are_made_with_the_cli_and_work_on_the_api(url: &str, dir: &Path) {
    // A live French seller without its SIREN cannot issue invoices: refused, naming the field.
    let (code, _, stderr) = prorata(url, dir, &["tenant", "create", "--name", "Acme", "--live"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("seller.siren"), "{stderr}");
    // A mistake in the settings file names its field.
    std::fs::write(
        dir.join("bad.toml"),
        "[seller]\npayment_terms_days = \"thirty\"\n",
    )
    .unwrap();
    let (code, _, stderr) = prorata(
        url,
        dir,
        &[
            "tenant",
            "create",
            "--name",
            "Acme",
            "--live",
            "--settings",
            "bad.toml",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("seller.payment_terms_days"), "{stderr}");
    let (code, _, stderr) = prorata(url, dir, &["tenant", "create", "--name", "Acme"]);
    assert_eq!(code, Some(2), "either --live or --sandbox: {stderr}");

    std::fs::write(dir.join("acme.toml"), SETTINGS).unwrap();
    let out = ok(
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
    assert!(out.contains("(live), slug acme-telecom"), "{out}");
    assert!(!out.contains("clock"), "a live tenant has no clock: {out}");
    let out = ok(url, dir, &["tenant", "list"]);
    assert!(
        out.contains("live") && out.contains("acme-telecom"),
        "{out}"
    );

    let out = ok(url, dir, &["keys", "create", "--tenant", "acme-telecom"]);
    let secret = out
        .lines()
        .find(|l| l.starts_with("pk_"))
        .unwrap_or_else(|| panic!("no key printed: {out}"))
        .to_string();
    assert!(secret.starts_with("pk_live_"), "{secret}");
    let listed = ok(url, dir, &["keys", "list", "--tenant", "acme-telecom"]);
    assert!(
        !listed.contains(&secret),
        "the secret is shown once: {listed}"
    );
    assert!(
        listed.contains(&secret[..16]),
        "keys are listed by prefix: {listed}"
    );

    let (_server, addr) = serve(url, dir);
    let (status, body) = http(&addr, "GET", "/v1/accounts", &secret, "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/clock/advance",
        &secret,
        r#"{"to": "2099-01-01"}"#,
    );
    assert_eq!(status, 403, "a live tenant has no clock to move: {body}");

    // Revoked by the operator, even as the last key: refused at once.
    let id = listed.split_whitespace().next().expect("a key id");
    ok(
        url,
        dir,
        &["keys", "revoke", "--tenant", "acme-telecom", id],
    );
    let (status, body) = http(&addr, "GET", "/v1/accounts", &secret, "");
    assert_eq!(status, 401, "{body}");
    let (code, _, stderr) = prorata(url, dir, &["keys", "list", "--tenant", "nobody"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--tenant nobody") && stderr.contains("not found"),
        "{stderr}"
    );
}

fn bill_refuses_a_date_after_a_sandbox_clock(url: &str, dir: &Path) {
    let out = ok(
        url,
        dir,
        &["tenant", "create", "--name", "Play", "--sandbox"],
    );
    let id = out
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no id: {out}"))
        .to_string();
    assert!(out.contains("test clock at"), "{out}");
    let (code, stdout, stderr) = prorata(
        url,
        dir,
        &["bill", "--as-of", "2099-01-01", "--tenant", &id],
    );
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("test clock"), "{stderr}");
    assert!(stderr.contains("clock advance"), "{stderr}");
    // Up to the clock is allowed.
    ok(
        url,
        dir,
        &["bill", "--as-of", "2020-01-01", "--tenant", &id],
    );
}

/// A 2 × 2 PNG, opaque grey.
fn small_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 2, 2);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().expect("header");
    w.write_image_data(&[128; 12]).expect("pixels");
    w.finish().expect("png");
    out
}

fn a_tenants_logo_is_set_from_a_png_file_and_removed(url: &str, dir: &Path) {
    ok(
        url,
        dir,
        &["tenant", "create", "--name", "Logo Co", "--sandbox"],
    );
    std::fs::write(dir.join("logo.png"), small_png()).unwrap();
    std::fs::write(dir.join("logo.svg"), "<svg/>").unwrap();
    let out = ok(
        url,
        dir,
        &["tenant", "logo", "--tenant", "logo-co", "logo.png"],
    );
    assert!(out.contains("logo of tenant logo-co set (sha256 "), "{out}");
    // Anything but a PNG is refused, naming the file and why.
    let (code, _, stderr) = prorata(
        url,
        dir,
        &["tenant", "logo", "--tenant", "logo-co", "logo.svg"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("logo.svg") && stderr.contains("not a PNG"),
        "{stderr}"
    );
    let out = ok(
        url,
        dir,
        &["tenant", "logo", "--tenant", "logo-co", "--remove"],
    );
    assert!(out.contains("removed"), "{out}");
    let (code, _, stderr) = prorata(url, dir, &["tenant", "logo", "--tenant", "logo-co"]);
    assert_eq!(code, Some(2), "a file or --remove: {stderr}");
}

fn both(url: &str, dir: &Path) {
    a_live_tenant_and_its_key_are_made_with_the_cli_and_work_on_the_api(url, dir);
    bill_refuses_a_date_after_a_sandbox_clock(url, dir);
    a_tenants_logo_is_set_from_a_png_file_and_removed(url, dir);
}

#[test]
fn on_sqlite() {
    let (url, guard) = prorata_testkit::sqlite_url();
    both(&url, guard.path());
}

#[tokio::test]
async fn on_postgres() {
    let url = prorata_testkit::fresh_database().await;
    let guard = prorata_testkit::TempDirGuard::new("tenants-cli");
    let url2 = url.clone();
    let dir = guard.path().to_path_buf();
    tokio::task::spawn_blocking(move || both(&url2, &dir))
        .await
        .expect("the test ran");
}

//! Drives a real headless Chromium (`prorata_testkit::browser`) against a tiny HTTP server
//! started inside the test: a form, the page it submits to, and a page with accessibility
//! faults, all served with `Content-Security-Policy: script-src 'self'`.
//!
//! Without chromium/chromedriver (or axe-core for the accessibility part) these tests skip on
//! a developer's machine and fail in CI; scripts/test installs them.

use std::net::SocketAddr;
use std::path::Path;

use prorata_testkit::browser::{have_axe, report, serious, Browser, Options};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const CSP: &str = "script-src 'self'";

const FORM_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Greeter</title></head>
<body>
<main>
<h1>Greeter</h1>
<form action="/hello" method="get">
<label for="name">Your name</label>
<input id="name" name="name" type="text" autocomplete="name" value="someone">
<button type="submit">Greet</button>
</form>
</main>
</body>
</html>
"#;

const BAD_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Faults</title></head>
<body>
<main>
<h1>Faults</h1>
<img src="/missing.png">
<input type="text" name="q">
<script>document.body.dataset.inline = "ran";</script>
<script src="/app.js"></script>
</main>
</body>
</html>
"#;

/// The one script the CSP allows (same origin).
const APP_JS: &str = "document.body.dataset.external = 'ran';\n";

/// The test site; stops with the test's runtime.
struct Site {
    base: String,
}

async fn serve() -> Site {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handle(socket));
        }
    });
    Site {
        base: format!("http://{addr}"),
    }
}

/// One request per connection (`Connection: close`), GET only.
async fn handle(socket: TcpStream) {
    let mut reader = BufReader::new(socket);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return; // a speculative connection that never sent anything
    }
    let mut accept_language = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("accept-language") {
                accept_language = value.trim().to_string();
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut extra = String::new();
    let (status, content_type, body) = match path {
        "/" => ("200 OK", "text/html; charset=utf-8", FORM_PAGE.to_string()),
        "/bad" => ("200 OK", "text/html; charset=utf-8", BAD_PAGE.to_string()),
        "/app.js" => ("200 OK", "text/javascript", APP_JS.to_string()),
        "/hello" => {
            let name = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == "name")
                .map(|(_, value)| form_decode(value))
                .unwrap_or_default();
            extra.push_str("Set-Cookie: visited=yes; Path=/; SameSite=Lax\r\n");
            let page = format!(
                r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello</title></head>
<body>
<main>
<h1>Hello</h1>
<p id="greeting">Hello, {name}!</p>
<p id="lang">{lang}</p>
<ul><li data-n="1">one</li><li data-n="2">two</li><li data-n="3">three</li></ul>
<label for="file">Attachment</label>
<input id="file" type="file">
</main>
</body>
</html>
"#,
                name = html_escape(&name),
                lang = html_escape(&accept_language),
            );
            ("200 OK", "text/html; charset=utf-8", page)
        }
        _ => ("404 Not Found", "text/plain", "not found".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Content-Security-Policy: {CSP}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = reader.into_inner();
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// `application/x-www-form-urlencoded` value to text.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test]
async fn form_screenshot_and_accessibility() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let site = serve().await;

    browser.goto(&format!("{}/", site.base)).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Greeter");
    // fill replaces what the field holds (here the value attribute).
    browser.fill("#name", "Ada Lovelace").await.unwrap();
    browser.fill("input[name=name]", "Ada & Zoé").await.unwrap();
    let value = browser.find("#name").await.unwrap().property("value").await;
    assert_eq!(value.unwrap(), "Ada & Zoé");
    browser.click("button[type=submit]").await.unwrap();

    let greeting = browser.wait_for("#greeting").await.unwrap();
    assert_eq!(greeting.text().await.unwrap(), "Hello, Ada & Zoé!");
    let url = browser.current_url().await.unwrap();
    assert_eq!(url, format!("{}/hello?name=Ada+%26+Zo%C3%A9", site.base));
    assert_eq!(browser.title().await.unwrap(), "Hello");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser/greeting.png");
    let _ = std::fs::remove_file(&shot);
    browser.screenshot(&shot).await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        shot.display()
    );
    // The IHDR chunk holds the size: the viewport of a 1280x900 window.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "screenshot width");

    if !have_axe() {
        return;
    }
    browser.goto(&format!("{}/", site.base)).await.unwrap();
    let violations = browser.axe().await.unwrap();
    assert!(
        violations.is_empty(),
        "the form page has accessibility violations:\n{}",
        report(&violations)
    );

    browser.goto(&format!("{}/bad", site.base)).await.unwrap();
    // The page's CSP is in force: its inline script was blocked, its same-origin script ran.
    let dataset = browser
        .execute("return Object.assign({}, document.body.dataset);", &[])
        .await
        .unwrap();
    assert_eq!(dataset, json!({ "external": "ran" }));
    // ...and axe runs anyway (injected through WebDriver, not through a <script>).
    let violations = browser.axe().await.unwrap();
    let bad = serious(&violations);
    let ids: Vec<&str> = bad.iter().map(|v| v.id.as_str()).collect();
    assert!(
        ids.contains(&"image-alt") && ids.contains(&"label"),
        "expected image-alt and label among:\n{}",
        report(&violations)
    );
    let image_alt = bad.iter().find(|v| v.id == "image-alt").unwrap();
    assert_eq!(image_alt.impact, "critical");
    assert_eq!(image_alt.targets, ["img"]);
    assert!(image_alt
        .help_url
        .starts_with("https://dequeuniversity.com/"));
    let label = bad.iter().find(|v| v.id == "label").unwrap();
    assert_eq!(label.targets, ["input"]);
    // Running it again reuses the injected axe.
    assert_eq!(browser.axe().await.unwrap(), violations);
}

#[tokio::test]
async fn language_window_scripts_cookies_and_files() {
    let options = Options {
        lang: "fr".to_string(),
        width: 800,
        height: 600,
        ..Options::default()
    };
    let Some(browser) = Browser::start_with_or_skip(options).await else {
        return;
    };
    let site = serve().await;
    browser
        .goto(&format!("{}/hello?name=Zo%C3%A9", site.base))
        .await
        .unwrap();

    let accept_language = browser.text("#lang").await.unwrap();
    assert!(
        accept_language.starts_with("fr"),
        "Accept-Language: {accept_language}"
    );
    let language = browser.execute("return navigator.language;", &[]).await;
    assert_eq!(language.unwrap(), "fr");

    let inner_width = "return window.innerWidth;";
    assert_eq!(browser.execute(inner_width, &[]).await.unwrap(), 800);
    browser.set_window_size(1024, 700).await.unwrap();
    assert_eq!(browser.execute(inner_width, &[]).await.unwrap(), 1024);

    // Scripts, with plain and element arguments.
    let sum = browser
        .execute("return arguments[0] + arguments[1];", &[json!(2), json!(3)])
        .await;
    assert_eq!(sum.unwrap(), 5);
    let greeting = browser.find("#greeting").await.unwrap();
    let id = browser
        .execute("return arguments[0].id;", &[greeting.to_json()])
        .await;
    assert_eq!(id.unwrap(), "greeting");
    let doubled = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             setTimeout(() => done(arguments[0] * 2), 10);",
            &[json!(21)],
        )
        .await;
    assert_eq!(doubled.unwrap(), 42);

    // Finding.
    let items = browser.find_all("li").await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1].text().await.unwrap(), "two");
    assert_eq!(items[2].attr("data-n").await.unwrap().as_deref(), Some("3"));
    assert_eq!(items[0].attr("title").await.unwrap(), None);
    let list = browser.find("ul").await.unwrap();
    assert_eq!(list.find_all("li").await.unwrap().len(), 3);
    assert_eq!(list.find("li").await.unwrap().text().await.unwrap(), "one");
    assert!(browser.exists("#greeting").await.unwrap());
    assert!(!browser.exists("#nope").await.unwrap());
    let missing = browser.find("#nope").await.unwrap_err();
    assert!(
        missing.starts_with("find(\"#nope\"): no such element"),
        "{missing}"
    );
    let bad_script = browser.execute("return nope.x;", &[]).await.unwrap_err();
    assert!(bad_script.contains("javascript error"), "{bad_script}");
    assert!(browser.source().await.unwrap().contains("Hello, Zoé!"));

    // Cookies.
    let cookies = browser.cookies().await.unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c["name"] == "visited" && c["value"] == "yes"),
        "{cookies:?}"
    );
    browser.delete_cookies().await.unwrap();
    assert_eq!(browser.cookies().await.unwrap(), Vec::<Value>::new());

    // A file input.
    let dir = prorata_testkit::TempDirGuard::new("prorata-browser-test");
    let file = dir.path().join("note.txt");
    std::fs::write(&file, "hello").unwrap();
    browser.set_file("#file", &file).await.unwrap();
    let input = browser.find("#file").await.unwrap();
    let name = browser
        .execute(
            "return [arguments[0].files[0].name, arguments[0].files[0].size];",
            &[input.to_json()],
        )
        .await;
    assert_eq!(name.unwrap(), json!(["note.txt", 5]));
}

//! A real headless Chromium for browser tests, driven over W3C WebDriver by a small client
//! (hyper on loopback, serde_json, base64) instead of fantoccini or chromiumoxide.
//!
//! # What runs
//!
//! [`Browser::start`] finds `chromedriver` (`PRORATA_CHROMEDRIVER`, then `PATH`, then
//! `/usr/bin/chromedriver` and `/usr/lib/chromium/chromedriver`) and Chromium
//! (`PRORATA_CHROMIUM`, then `chromium`, `chromium-browser`, `google-chrome-stable`,
//! `google-chrome` in `PATH`, then `/usr/bin/chromium`), which Debian ships as the packages
//! `chromium-driver` and `chromium`. It picks a free loopback port (binds `127.0.0.1:0`, then
//! passes `--port`), waits until `GET /status` says `ready` and opens a session with
//! `--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --window-size=W,H
//! --lang=L` (`--no-sandbox` because Chromium's sandbox refuses to run as root) and the
//! preference `intl.accept_languages` = L, so pages see `Accept-Language: L` and
//! `navigator.language` = L. The profile lives in a temporary directory of its own. Starting
//! takes about half a second on two cores; set `PRORATA_TESTKIT_VERBOSE=1` (with
//! `--nocapture`) to see how long starting and stopping took.
//!
//! # Cleanup
//!
//! Dropping the [`Browser`] ends the session (Chromium quits) and stops chromedriver. As in
//! the PostgreSQL cluster of this crate, chromedriver runs under a small watchdog shell in
//! its own process group whose stdin is a pipe from the test process: when the test process
//! ends in a way that skips destructors (`abort`, `SIGKILL`, Ctrl-C), the kernel closes the
//! pipe and the watchdog sends `SIGTERM` to the whole group (chromedriver and every Chromium
//! process) and removes the temporary directory.
//!
//! # Missing tools: skip locally, fail in CI
//!
//! Like [`crate::checks`], a test calls [`Browser::start_or_skip`] (or
//! [`Browser::start_with_or_skip`]): when chromedriver or Chromium is not installed it returns
//! `None` after printing `skipped: ...` on a developer's machine, but panics when `CI` is set
//! (to anything but `false`/`0`), so CI never passes without running the browser. A browser
//! that is installed but fails to start always panics. [`have_axe`] applies the same rule to
//! axe-core (`node_modules/axe-core/axe.min.js`). `scripts/test` installs all three.
//!
//! # Accessibility
//!
//! [`Browser::axe`] injects axe-core into the current page through WebDriver's execute
//! endpoint (which DevTools evaluates, so a `Content-Security-Policy` such as
//! `script-src 'self'` does not block it) and returns axe's violations; [`serious`] keeps the
//! serious and critical ones.

use std::fmt;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{header, Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::checks::in_ci;
use crate::TempDirGuard;

/// How an element reference is written in WebDriver JSON (a fixed W3C constant).
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long chromedriver may take to answer `/status` with `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one WebDriver command may take (page loads and scripts have their own, shorter,
/// WebDriver timeouts set in the session).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// How long [`Browser::wait_for`] waits.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(15);

/// The message when chromedriver or Chromium is missing.
pub const MISSING_BROWSER: &str = "install the Debian packages `chromium` and `chromium-driver` \
    (apt-get install -y chromium chromium-driver; scripts/test does it), or set \
    PRORATA_CHROMIUM / PRORATA_CHROMEDRIVER";

/// How the browser is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The UI language and `Accept-Language` (`--lang` and the preference
    /// `intl.accept_languages`), like `en`, `fr` or `fr-FR,fr,en`; `--lang` gets the first.
    pub lang: String,
    /// Window width in pixels (`--window-size`).
    pub width: u32,
    /// Window height in pixels.
    pub height: u32,
    /// More Chromium command-line arguments, after the default ones.
    pub args: Vec<String>,
}

impl Default for Options {
    /// English, 1280x900, no extra arguments.
    fn default() -> Options {
        Options {
            lang: "en".to_string(),
            width: 1280,
            height: 900,
            args: Vec::new(),
        }
    }
}

/// A headless Chromium with one WebDriver session. Dropping it ends the session and stops
/// chromedriver and Chromium.
pub struct Browser {
    driver: Arc<Driver>,
    watchdog: Child,
    /// The write end of the watchdog's stdin; closing it stops chromedriver.
    pipe: Option<std::process::ChildStdin>,
    dir: TempDirGuard,
}

/// An element of the current page (a WebDriver element reference). It goes stale when the
/// page changes.
#[derive(Clone)]
pub struct Element {
    driver: Arc<Driver>,
    id: String,
}

/// One axe-core rule the page breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule, like `image-alt` or `label`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// What the rule asks for, like "Images must have alternative text".
    pub help: String,
    /// axe's page about the rule.
    pub help_url: String,
    /// One CSS selector per offending node (frames joined by ` >> `, shadow roots by ` >>> `).
    pub targets: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} at {}",
            self.id,
            self.impact,
            self.help,
            self.targets.join(", ")
        )
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element").field("id", &self.id).finish()
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("webdriver", &self.driver.base)
            .field("session", &self.driver.session)
            .finish()
    }
}

/// The violations whose impact is `serious` or `critical`.
pub fn serious(violations: &[Violation]) -> Vec<Violation> {
    violations
        .iter()
        .filter(|v| v.impact == "serious" || v.impact == "critical")
        .cloned()
        .collect()
}

/// One violation per line, for assertion messages.
pub fn report(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("  {v}\n"))
        .collect::<String>()
}

/// What is missing to run a browser here (`None` when chromedriver and Chromium are found).
pub fn missing_tools() -> Option<String> {
    match (chromedriver_path(), chromium_path()) {
        (Some(_), Some(_)) => None,
        (None, Some(_)) => Some(format!("chromedriver was not found: {MISSING_BROWSER}")),
        (Some(_), None) => Some(format!("Chromium was not found: {MISSING_BROWSER}")),
        (None, None) => Some(format!(
            "Chromium and chromedriver were not found: {MISSING_BROWSER}"
        )),
    }
}

/// chromedriver: `PRORATA_CHROMEDRIVER`, `PATH`, then Debian's locations.
pub fn chromedriver_path() -> Option<PathBuf> {
    find_program(
        "PRORATA_CHROMEDRIVER",
        &["chromedriver"],
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )
}

/// Chromium (or Chrome): `PRORATA_CHROMIUM`, `PATH`, then Debian's location.
pub fn chromium_path() -> Option<PathBuf> {
    find_program(
        "PRORATA_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome-stable",
            "google-chrome",
        ],
        &["/usr/bin/chromium"],
    )
}

fn find_program(var: &str, names: &[&str], fallbacks: &[&str]) -> Option<PathBuf> {
    // When the variable is set, it alone counts (a wrong path means missing, not a fallback).
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return crate::is_executable(&path).then_some(path);
    }
    names
        .iter()
        .find_map(|name| crate::find_in_path(name))
        .or_else(|| {
            fallbacks
                .iter()
                .map(PathBuf::from)
                .find(|p| crate::is_executable(p))
        })
}

/// Where axe-core's `axe.min.js` is read from: `PRORATA_AXE_JS`, or
/// `node_modules/axe-core/axe.min.js` at the workspace root.
pub fn axe_path() -> PathBuf {
    match std::env::var_os("PRORATA_AXE_JS").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/axe-core/axe.min.js")
        }
    }
}

/// axe-core's source, read once per process.
fn axe_source() -> Result<&'static str, String> {
    static SOURCE: OnceLock<Result<String, String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = axe_path();
            fs::read_to_string(&path).map_err(|err| {
                format!(
                    "axe-core cannot be read from {}: {err}; run scripts/test (it runs `npm \
                     install --no-save --no-audit --no-fund axe-core@4` at the workspace root) \
                     or set PRORATA_AXE_JS to an axe.min.js",
                    path.display()
                )
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// Whether axe-core is available for [`Browser::axe`]; when it is not, prints why and returns
/// `false` on a developer's machine, and panics in CI.
pub fn have_axe() -> bool {
    match axe_source() {
        Ok(_) => true,
        Err(why) => {
            assert!(!in_ci(), "CI needs axe-core: {why}");
            eprintln!("skipped the accessibility check: {why}");
            false
        }
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with [`Options::default`] (English,
    /// 1280x900).
    pub async fn start() -> Result<Browser, String> {
        Browser::start_with(Options::default()).await
    }

    /// Starts chromedriver and a headless Chromium with these options.
    pub async fn start_with(options: Options) -> Result<Browser, String> {
        if let Some(why) = missing_tools() {
            return Err(why);
        }
        let (Some(driver_bin), Some(chromium)) = (chromedriver_path(), chromium_path()) else {
            return Err(MISSING_BROWSER.to_string());
        };
        let started = Instant::now();
        let client = Client::builder(TokioExecutor::new())
            // No pooled connections: a Browser may outlive the runtime that started it, and
            // a fresh loopback connection per command costs next to nothing.
            .pool_max_idle_per_host(0)
            .build_http();

        // The port is free when probed but could be taken before chromedriver binds it: try
        // again with another one if chromedriver exits at once. Each attempt has its own
        // directory, since a stopped watchdog removes its directory.
        let mut attempt = 0;
        let (port, watchdog, pipe, dir) = loop {
            attempt += 1;
            let dir = TempDirGuard::new("prorata-testkit-chromium");
            let port = free_port()?;
            let (mut watchdog, pipe) = spawn_watchdog(&driver_bin, port, dir.path())?;
            match wait_until_ready(&client, port, dir.path()).await {
                Ok(()) => break (port, watchdog, pipe, dir),
                Err(why) => {
                    drop(pipe);
                    let _ = watchdog.wait();
                    if attempt >= 3 || !why.contains("exited") {
                        return Err(why);
                    }
                }
            }
        };

        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--window-size={},{}", options.width, options.height),
            format!(
                "--lang={}",
                options.lang.split(',').next().unwrap_or("en").trim()
            ),
            format!("--user-data-dir={}", dir.path().join("profile").display()),
        ];
        args.extend(options.args.iter().cloned());
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                        "prefs": { "intl.accept_languages": options.lang },
                    },
                }
            }
        });
        let driver = |session: String| Driver {
            client: client.clone(),
            base: format!("http://127.0.0.1:{port}"),
            port,
            session,
        };
        // Without a session yet, dropping this on an error only stops chromedriver.
        let mut browser = Browser {
            driver: Arc::new(driver(String::new())),
            watchdog,
            pipe: Some(pipe),
            dir,
        };
        let value = browser
            .driver
            .request(Method::POST, "/session", Some(capabilities), "new session")
            .await
            .map_err(|why| {
                format!(
                    "{why}\n(Chromium: {})\n{}",
                    chromium.display(),
                    read_log(browser.dir.path())
                )
            })?;
        let Some(session) = value["sessionId"].as_str() else {
            return Err(format!("new session: no sessionId in {value}"));
        };
        browser.driver = Arc::new(driver(session.to_string()));
        if verbose() {
            eprintln!(
                "prorata-testkit: headless Chromium ready after {:?} (chromedriver on port \
                 {port}, profile in {})",
                started.elapsed(),
                browser.dir.path().display()
            );
        }
        Ok(browser)
    }

    /// [`Browser::start`], or `None` when chromedriver or Chromium is not installed on a
    /// developer's machine (printing `skipped: ...`).
    ///
    /// # Panics
    ///
    /// When they are missing in CI (`CI` set), or when they are installed but the browser
    /// does not start.
    pub async fn start_or_skip() -> Option<Browser> {
        Browser::start_with_or_skip(Options::default()).await
    }

    /// [`Browser::start_with`] with the skip rule of [`Browser::start_or_skip`].
    pub async fn start_with_or_skip(options: Options) -> Option<Browser> {
        if let Some(why) = missing_tools() {
            assert!(!in_ci(), "CI needs a browser: {why}");
            eprintln!("skipped: {why}");
            return None;
        }
        match Browser::start_with(options).await {
            Ok(browser) => Some(browser),
            Err(why) => panic!("headless Chromium did not start: {why}"),
        }
    }

    /// The WebDriver session id.
    pub fn session_id(&self) -> &str {
        &self.driver.session
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.driver
            .session_post("/url", json!({ "url": url }), &format!("goto({url:?})"))
            .await
            .map(drop)
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> Result<String, String> {
        let value = self.driver.session_get("/url", "current_url()").await?;
        string(value, "current_url()")
    }

    /// The title of the current page.
    pub async fn title(&self) -> Result<String, String> {
        let value = self.driver.session_get("/title", "title()").await?;
        string(value, "title()")
    }

    /// The HTML of the current page (serialized from the DOM as it is now).
    pub async fn source(&self) -> Result<String, String> {
        let value = self.driver.session_get("/source", "source()").await?;
        string(value, "source()")
    }

    /// The first element matching the CSS selector; an error when there is none.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let what = format!("find({css:?})");
        let value = self
            .driver
            .session_post("/element", locator(css), &what)
            .await?;
        self.driver.element(&value, &what)
    }

    /// Every element matching the CSS selector, in document order (maybe none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let what = format!("find_all({css:?})");
        let value = self
            .driver
            .session_post("/elements", locator(css), &what)
            .await?;
        self.driver.elements(&value, &what)
    }

    /// Whether an element matches the CSS selector.
    pub async fn exists(&self, css: &str) -> Result<bool, String> {
        Ok(!self.find_all(css).await?.is_empty())
    }

    /// Waits up to [`WAIT_TIMEOUT`] for an element matching the CSS selector, for pages that
    /// change after loading.
    pub async fn wait_for(&self, css: &str) -> Result<Element, String> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            if let Some(element) = self.find_all(css).await?.into_iter().next() {
                return Ok(element);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "wait_for({css:?}): no such element after {}s",
                    WAIT_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rendered text of the first element matching the CSS selector.
    pub async fn text(&self, css: &str) -> Result<String, String> {
        self.find(css).await?.text().await
    }

    /// Clicks the first element matching the CSS selector (waiting for a navigation it
    /// starts).
    pub async fn click(&self, css: &str) -> Result<(), String> {
        self.find(css).await?.click().await
    }

    /// Clears the first field matching the CSS selector and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.find(css).await?;
        element.clear().await?;
        element.send_keys(text).await
    }

    /// Chooses the file `path` in the `<input type=file>` matching the CSS selector.
    pub async fn set_file(&self, css: &str, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let absolute = fs::canonicalize(path)
            .map_err(|err| format!("set_file({css:?}, {}): {err}", path.display()))?;
        self.find(css)
            .await?
            .send_keys(&absolute.to_string_lossy())
            .await
    }

    /// Chooses several files at once in an `<input type=file multiple>` (ChromeDriver takes
    /// their paths one per line).
    pub async fn set_files(&self, css: &str, paths: &[PathBuf]) -> Result<(), String> {
        let mut all = Vec::new();
        for path in paths {
            let absolute = fs::canonicalize(path)
                .map_err(|err| format!("set_files({css:?}, {}): {err}", path.display()))?;
            all.push(absolute.to_string_lossy().into_owned());
        }
        self.find(css).await?.send_keys(&all.join("\n")).await
    }

    /// Runs `script` as the body of a function in the page (`arguments[i]` are the `args`;
    /// elements are passed with [`Element::to_json`]) and returns what it returns.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        let what = format!("execute({:?})", abbreviate(script));
        self.driver
            .session_post(
                "/execute/sync",
                json!({ "script": script, "args": args }),
                &what,
            )
            .await
    }

    /// Runs `script` as the body of a function whose last argument is a callback, and
    /// returns the value passed to the callback (within the 30 s script timeout), like
    /// `const done = arguments[arguments.length - 1]; setTimeout(() => done(1), 10);`.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        let what = format!("execute_async({:?})", abbreviate(script));
        self.driver
            .session_post(
                "/execute/async",
                json!({ "script": script, "args": args }),
                &what,
            )
            .await
    }

    /// The cookies visible to the current page, as WebDriver cookie objects (`name`,
    /// `value`, `path`, `domain`, `httpOnly`, `secure`, `sameSite`, `expiry`).
    pub async fn cookies(&self) -> Result<Vec<Value>, String> {
        match self.driver.session_get("/cookie", "cookies()").await? {
            Value::Array(cookies) => Ok(cookies),
            other => Err(format!("cookies(): expected a list, got {other}")),
        }
    }

    /// Deletes every cookie of the current page's domain.
    pub async fn delete_cookies(&self) -> Result<(), String> {
        self.driver
            .request(
                Method::DELETE,
                &self.driver.session_path("/cookie"),
                None,
                "delete_cookies()",
            )
            .await
            .map(drop)
    }

    /// Resizes the window.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.driver
            .session_post(
                "/window/rect",
                json!({ "width": width, "height": height }),
                &format!("set_window_size({width}, {height})"),
            )
            .await
            .map(drop)
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        let value = self
            .driver
            .session_get("/screenshot", "screenshot()")
            .await?;
        let encoded = string(value, "screenshot()")?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|err| format!("screenshot(): invalid base64: {err}"))
    }

    /// Writes a PNG of the viewport to `path`, creating its parent folders.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let png = self.screenshot_png().await?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|err| format!("screenshot: cannot create {}: {err}", parent.display()))?;
        }
        fs::write(path, png)
            .map_err(|err| format!("screenshot: cannot write {}: {err}", path.display()))
    }

    /// Runs axe-core on the current page and returns its violations (every impact; see
    /// [`serious`]). axe-core is injected when the page does not have it yet.
    pub async fn axe(&self) -> Result<Vec<Violation>, String> {
        self.axe_with(json!({})).await
    }

    /// [`Browser::axe`] with axe's run options, like
    /// `json!({"runOnly": ["wcag2a", "wcag2aa"]})` or
    /// `json!({"rules": {"color-contrast": {"enabled": false}}})`.
    pub async fn axe_with(&self, options: Value) -> Result<Vec<Violation>, String> {
        let loaded = self
            .execute(
                "return typeof window.axe === 'object' && !!window.axe.run;",
                &[],
            )
            .await?;
        if loaded != Value::Bool(true) {
            let source = axe_source()?;
            let script = format!("{source}\n;return typeof window.axe;");
            let kind = self.execute(&script, &[]).await?;
            if kind != "object" {
                return Err(format!(
                    "axe-core from {} did not define window.axe (typeof is {kind})",
                    axe_path().display()
                ));
            }
        }
        let result = self.execute_async(AXE_RUN, &[options]).await?;
        if let Some(error) = result.get("error") {
            return Err(format!("axe.run failed: {}", error.as_str().unwrap_or("?")));
        }
        let Some(Value::Array(list)) = result.get("violations") else {
            return Err(format!("axe.run: unexpected result {result}"));
        };
        Ok(list
            .iter()
            .map(|v| Violation {
                id: text_of(&v["id"]),
                impact: text_of(&v["impact"]),
                help: text_of(&v["help"]),
                help_url: text_of(&v["helpUrl"]),
                targets: v["targets"]
                    .as_array()
                    .map(|t| t.iter().map(text_of).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }
}

/// Runs axe and keeps the part of its result the Rust side reads.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
const options = Object.assign({ resultTypes: ['violations'] }, arguments[0] || {});
const selector = (t) => Array.isArray(t) ? t.join(' >>> ') : String(t);
window.axe.run(document, options).then(
  (r) => done({ violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.map(selector).join(' >> ')),
  })) }),
  (e) => done({ error: String((e && e.stack) || e) }),
);
"#;

impl Element {
    /// The element as a WebDriver script argument, for [`Browser::execute`].
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// The rendered text (what a reader sees, whitespace collapsed).
    pub async fn text(&self) -> Result<String, String> {
        let value = self
            .driver
            .session_get(&format!("/element/{}/text", self.id), "text()")
            .await?;
        string(value, "Element::text()")
    }

    /// The HTML attribute `name` as written in the page (`None` when absent). For the
    /// current value of a field use [`Element::property`] with `"value"`.
    pub async fn attr(&self, name: &str) -> Result<Option<String>, String> {
        let what = format!("attr({name:?})");
        let value = self
            .driver
            .session_get(&format!("/element/{}/attribute/{name}", self.id), &what)
            .await?;
        Ok(value.as_str().map(str::to_string))
    }

    /// The DOM property `name` (like `value`, `checked`, `files`).
    pub async fn property(&self, name: &str) -> Result<Value, String> {
        let what = format!("property({name:?})");
        self.driver
            .session_get(&format!("/element/{}/property/{name}", self.id), &what)
            .await
    }

    /// Clicks the element in its center (scrolling it into view first).
    pub async fn click(&self) -> Result<(), String> {
        self.driver
            .session_post(&format!("/element/{}/click", self.id), json!({}), "click()")
            .await
            .map(drop)
    }

    /// Types `text` into the element.
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.driver
            .session_post(
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
                &format!("send_keys({text:?})"),
            )
            .await
            .map(drop)
    }

    /// Empties a field.
    pub async fn clear(&self) -> Result<(), String> {
        self.driver
            .session_post(&format!("/element/{}/clear", self.id), json!({}), "clear()")
            .await
            .map(drop)
    }

    /// The first descendant matching the CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let what = format!("Element::find({css:?})");
        let value = self
            .driver
            .session_post(
                &format!("/element/{}/element", self.id),
                locator(css),
                &what,
            )
            .await?;
        self.driver.element(&value, &what)
    }

    /// Every descendant matching the CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let what = format!("Element::find_all({css:?})");
        let value = self
            .driver
            .session_post(
                &format!("/element/{}/elements", self.id),
                locator(css),
                &what,
            )
            .await?;
        self.driver.elements(&value, &what)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let started = Instant::now();
        // Ending the session makes chromedriver quit Chromium properly. This is a blocking
        // request on purpose: a destructor cannot await.
        if !self.driver.session.is_empty() {
            let path = format!("/session/{}", self.driver.session);
            let _ = blocking_delete(self.driver.port, &path);
        }
        // Closing the pipe makes the watchdog stop chromedriver (and whatever is left).
        drop(self.pipe.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.watchdog.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.watchdog.try_wait(), Ok(None)) {
            let _ = self.watchdog.kill();
            let _ = self.watchdog.wait();
        }
        if verbose() {
            eprintln!(
                "prorata-testkit: headless Chromium stopped in {:?}",
                started.elapsed()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The WebDriver client.

struct Driver {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://127.0.0.1:<port>`.
    base: String,
    port: u16,
    session: String,
}

impl Driver {
    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    async fn session_get(&self, rest: &str, what: &str) -> Result<Value, String> {
        self.request(Method::GET, &self.session_path(rest), None, what)
            .await
    }

    async fn session_post(&self, rest: &str, body: Value, what: &str) -> Result<Value, String> {
        self.request(Method::POST, &self.session_path(rest), Some(body), what)
            .await
    }

    /// Sends one command and returns the `value` of the answer, or the WebDriver error as
    /// `"<what>: <error>: <message>"`.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let bytes = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json; charset=utf-8");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(bytes))
            .map_err(|err| format!("{what}: cannot build the request: {err}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| format!("{what}: chromedriver did not answer: {err}"))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|err| format!("{what}: reading chromedriver's answer: {err}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                format!(
                    "{what}: no answer from chromedriver within {}s",
                    COMMAND_TIMEOUT.as_secs()
                )
            })??;
        let json: Value = serde_json::from_slice(&body).map_err(|err| {
            format!(
                "{what}: chromedriver answered {status} with invalid JSON ({err}): {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        let mut json = json;
        let value = json
            .get_mut("value")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let error = value["error"].as_str().unwrap_or("unknown error");
        let message = value["message"].as_str().unwrap_or("");
        Err(format!("{what}: {error}: {message}"))
    }

    fn element(self: &Arc<Self>, value: &Value, what: &str) -> Result<Element, String> {
        match value.get(ELEMENT_KEY).and_then(Value::as_str) {
            Some(id) => Ok(Element {
                driver: Arc::clone(self),
                id: id.to_string(),
            }),
            None => Err(format!("{what}: not an element reference: {value}")),
        }
    }

    fn elements(self: &Arc<Self>, value: &Value, what: &str) -> Result<Vec<Element>, String> {
        match value {
            Value::Array(items) => items.iter().map(|v| self.element(v, what)).collect(),
            other => Err(format!("{what}: expected a list of elements, got {other}")),
        }
    }
}

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn string(value: Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("{what}: expected a string, got {other}")),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The first line of a script, at most 60 characters, for error messages.
fn abbreviate(script: &str) -> String {
    let line = script.trim().lines().next().unwrap_or("");
    if line.chars().count() > 60 || script.trim().contains('\n') {
        format!("{}...", line.chars().take(60).collect::<String>())
    } else {
        line.to_string()
    }
}

// ---------------------------------------------------------------------------
// Starting and stopping chromedriver.

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("cannot find a free loopback port for chromedriver: {err}"))
}

/// Starts the watchdog shell, which starts chromedriver (its pid in `dir/chromedriver.pid`,
/// its output in `dir/chromedriver.log`), waits for the end of its stdin, then stops the
/// whole process group and removes `dir`.
fn spawn_watchdog(
    driver_bin: &Path,
    port: u16,
    dir: &Path,
) -> Result<(Child, std::process::ChildStdin), String> {
    let log = dir.join("chromedriver.log");
    let pidfile = dir.join("chromedriver.pid");
    let _ = fs::remove_file(&pidfile);
    let script = format!(
        "{driver} --port={port} </dev/null >{log} 2>&1 &\n\
         p=$!\n\
         echo $p >{pidfile}\n\
         read _ignored\n\
         trap '' TERM\n\
         kill -TERM 0 2>/dev/null\n\
         wait $p\n\
         (sleep 2; rm -rf {dir}) &\n",
        driver = crate::sh_quote(driver_bin),
        log = crate::sh_quote(&log),
        pidfile = crate::sh_quote(&pidfile),
        dir = crate::sh_quote(dir),
    );
    // A home of its own: Chromium keeps state outside the profile too (crash reports under
    // ~/.config/chromium, caches under ~/.cache); parallel browsers sharing them wait on
    // each other's locks.
    let home = dir.join("home");
    fs::create_dir_all(&home).map_err(|err| format!("cannot create {}: {err}", home.display()))?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot start the chromedriver watchdog /bin/sh: {err}"))?;
    let pipe = child.stdin.take().expect("stdin was piped");
    Ok((child, pipe))
}

async fn wait_until_ready(
    client: &Client<HttpConnector, Full<Bytes>>,
    port: u16,
    dir: &Path,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let driver = Driver {
        client: client.clone(),
        base: format!("http://127.0.0.1:{port}"),
        port,
        session: String::new(),
    };
    loop {
        let status = tokio::time::timeout(
            Duration::from_secs(2),
            driver.request(Method::GET, "/status", None, "status"),
        )
        .await;
        if let Ok(Ok(value)) = status {
            if value["ready"] == Value::Bool(true) {
                return Ok(());
            }
        }
        let pid = fs::read_to_string(dir.join("chromedriver.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        if pid.is_some_and(|pid| !crate::process_alive(pid)) {
            return Err(format!(
                "chromedriver exited at startup on port {port}:\n{}",
                read_log(dir)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "chromedriver was not ready within {}s on port {port}:\n{}",
                START_TIMEOUT.as_secs(),
                read_log(dir)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn verbose() -> bool {
    std::env::var_os("PRORATA_TESTKIT_VERBOSE").is_some()
}

fn read_log(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    format!("--- chromedriver.log ---\n{text}")
}

/// `DELETE <path>` over a plain blocking socket, for the destructor.
fn blocking_delete(port: u16, path: &str) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    // chromedriver says `Connection: close` but keeps the connection open: read up to the
    // end of the body that Content-Length announces.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        answer.extend_from_slice(&chunk[..n]);
        let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if answer.len() >= head_end + 4 + length {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_abbreviated_in_messages() {
        assert_eq!(abbreviate("return 1;"), "return 1;");
        assert_eq!(abbreviate("\n  let a = 1;\n  return a;"), "let a = 1;...");
        assert_eq!(abbreviate(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn serious_keeps_serious_and_critical() {
        let v = |id: &str, impact: &str| Violation {
            id: id.to_string(),
            impact: impact.to_string(),
            help: String::new(),
            help_url: String::new(),
            targets: vec!["img".to_string()],
        };
        let all = [
            v("a", "minor"),
            v("b", "moderate"),
            v("c", "serious"),
            v("d", "critical"),
        ];
        let kept: Vec<_> = serious(&all).into_iter().map(|v| v.id).collect();
        assert_eq!(kept, ["c", "d"]);
        assert_eq!(report(&all[3..]), "  d (critical):  at img\n");
    }

    #[test]
    fn default_options() {
        let options = Options::default();
        assert_eq!(
            (options.lang.as_str(), options.width, options.height),
            ("en", 1280, 900)
        );
        assert!(options.args.is_empty());
    }
}

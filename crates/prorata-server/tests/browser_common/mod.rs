//! What the browser tests share: the application served on a loopback port, one Chromium at
//! a time, pages checked with axe-core and saved as screenshots (SQLite run only), and
//! signing people in as a person would — staff with their second factor.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use prorata_testkit::browser::{have_axe, report, serious, Browser, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::portal_common::*;

#[macro_export]
macro_rules! browser_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (url, _guard) = prorata_testkit::sqlite_url();
                    super::$name(&url, true).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    super::$name(&url, false).await;
                }
            )*
        }
    };
}

/// Serves the world's application on a loopback port; returns its base URL.
pub async fn serve(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("address");
    let app = prorata_server::app(prorata_server::AppState::new(w.engine.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    format!("http://{addr}")
}

/// One page seen by a person: its screenshot (SQLite run only) and its accessibility.
pub struct Pages {
    pub dir: Option<PathBuf>,
}

impl Pages {
    pub fn new(save: bool) -> Pages {
        let dir = save.then(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../docs/screenshots"
            ))
        });
        Pages { dir }
    }

    pub async fn check(&self, b: &Browser, name: &str) {
        if let Some(dir) = &self.dir {
            // The whole page: the window grows to the document's height for the picture.
            let height = b
                .execute("return document.documentElement.scrollHeight;", &[])
                .await
                .ok()
                .and_then(|h| h.as_u64())
                .unwrap_or(900)
                .clamp(600, 4000);
            b.set_window_size(1280, u32::try_from(height).unwrap_or(900) + 140)
                .await
                .expect("resize");
            b.screenshot(dir.join(format!("{name}.png")))
                .await
                .expect("screenshot");
            b.set_window_size(1280, 900).await.expect("resize");
        }
        if have_axe() {
            let v = b.axe().await.expect("axe runs");
            let bad = serious(&v);
            assert!(bad.is_empty(), "{name}: {}", report(&bad));
        }
    }
}

/// One Chromium at a time: on two cores, several at once start slowly and time out waits.
pub static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The turn and the browser that holds it (the browser, bound second, is dropped first).
pub async fn start(lang: &str) -> Option<(tokio::sync::MutexGuard<'static, ()>, Browser)> {
    let turn = ONE_BROWSER.lock().await;
    let browser = Browser::start_with_or_skip(Options {
        lang: lang.into(),
        ..Options::default()
    })
    .await?;
    Some((turn, browser))
}

/// The browser's session cookie for the portal.
pub async fn session_cookie(b: &Browser) -> String {
    b.cookies()
        .await
        .expect("cookies")
        .iter()
        .find(|c| c["name"] == prorata_web::SESSION_COOKIE)
        .and_then(|c| c["value"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A plain GET with a session cookie: what a download of the link would fetch.
pub async fn fetch(base: &str, path: &str, session: &str) -> (u16, String, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {}={session}\r\nConnection: close\r\n\r\n",
        prorata_web::SESSION_COOKIE
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, raw[(split + 4).min(raw.len())..].to_vec())
}

/// Waits for `css` on the page; on failure, says where the browser is and what it shows.
pub async fn wait(b: &Browser, css: &str) {
    if let Err(e) = b.wait_for(css).await {
        let url = b.current_url().await.unwrap_or_default();
        let text = b.text("body").await.unwrap_or_default();
        panic!("{e}\nat {url}:\n{text}");
    }
}

pub async fn sign_in(b: &Browser, base: &str, slug: &str, email: &str) {
    b.goto(&format!("{base}/portal/{slug}/sign-in"))
        .await
        .expect("sign-in page");
    b.fill("#email", email).await.expect("email");
    b.fill("#password", PASSWORD).await.expect("password");
    b.click("main button[type=submit]").await.expect("submit");
}

/// Signs a staff member in through both steps, as a person with an authenticator app would:
/// the password, then (first time) the key read off the page and a code computed from it —
/// returning the recovery codes shown once — or a recovery code from `spare`.
pub async fn sign_in_staff(
    b: &Browser,
    base: &str,
    slug: &str,
    email: &str,
    spare: &mut Vec<String>,
    shot: Option<(&Pages, &str)>,
) -> Vec<String> {
    b.delete_cookies().await.expect("fresh");
    sign_in(b, base, slug, email).await;
    wait(b, "#code").await;
    if let Some((pages, name)) = shot {
        pages.check(b, name).await;
    }
    if b.exists("#totp-key").await.expect("exists") {
        let key = b.text("#totp-key").await.expect("key");
        b.fill("#code", &current_code(&key)).await.expect("code");
        b.click("#verify").await.expect("verify");
        wait(b, "#recovery-codes").await;
        let codes: Vec<String> = b
            .text("#recovery-codes")
            .await
            .expect("codes")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(codes.len(), 10, "ten recovery codes");
        if let Some((pages, name)) = shot {
            pages.check(b, &format!("{name}-recovery")).await;
        }
        b.click("#continue").await.expect("continue");
        wait(b, "nav.tabs").await;
        codes
    } else {
        let code = spare.pop().expect("a recovery code left");
        b.fill("#code", &code).await.expect("code");
        b.click("#verify").await.expect("verify");
        wait(b, "nav.tabs").await;
        Vec::new()
    }
}

/// What a browser test works with: the world served on a loopback port, the one browser (its
/// turn held), and where pages are saved.
pub struct Scene {
    pub w: World,
    pub b: Browser,
    pub base: String,
    pub slug: String,
    pub pages: Pages,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Scene {
    /// A fresh world and a browser speaking `lang`; `None` when no browser can start here.
    pub async fn open(url: &str, save: bool, lang: &str) -> Option<Scene> {
        let w = world(url).await;
        let (turn, b) = start(lang).await?;
        let base = serve(&w).await;
        Some(Scene {
            slug: w.tenant.slug.clone(),
            w,
            b,
            base,
            pages: Pages::new(save),
            _turn: turn,
        })
    }

    /// The full address of a portal path.
    pub fn url(&self, path: &str) -> String {
        format!("{}/portal/{}/{path}", self.base, self.slug)
    }

    /// Signs a customer's person in afresh and waits for their tabs.
    pub async fn customer(&self, email: &str) {
        self.b.delete_cookies().await.expect("fresh");
        sign_in(&self.b, &self.base, &self.slug, email).await;
        wait(&self.b, "nav.tabs").await;
    }
}

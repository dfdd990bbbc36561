//! Schemathesis (PyPI, installed by `scripts/test` like `factur-x`) against the served
//! `/openapi.json`, on SQLite and PostgreSQL: it generates requests for every operation from
//! the document — valid ones, and invalid ones (wrong types, missing fields, out-of-range
//! values, odd strings) — sends them to the real server over a socket with the world's API
//! key, and checks every answer: no server error, a status the document declares for the
//! operation, the declared content type, and a body matching the declared schema.
//!
//! The run is bounded: [`EXAMPLES`] cases per operation and phase, a fixed seed so a failure
//! reproduces, a time budget. Run more with `PRORATA_SCHEMATHESIS_EXAMPLES=500`.

mod portal_common;

use std::process::Command;
use std::time::Instant;

use portal_common::world;

/// Cases per operation and phase in the test command.
const EXAMPLES: &str = "100";

async fn schemathesis_finds_no_server_error_and_no_schema_violation(url: &str) {
    let w = world(url).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("address").port();
    let router = w.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let examples =
        std::env::var("PRORATA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.to_string());
    let key = w.api_key.clone();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-m", "schemathesis.cli", "run"])
            .arg(format!("http://127.0.0.1:{port}/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &examples])
            .args(["--seed", "13"])
            .args(["--workers", "2"])
            .args(["--no-color", "--generation-database", "none"])
            .args(["--request-timeout", "30"])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            // It keeps a cache folder where it runs: not in the repository.
            .current_dir(std::env::temp_dir())
            .output()
    })
    .await
    .expect("joined")
    .expect("schemathesis runs: scripts/test installs it with pip (python3 -m pip install schemathesis)");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "schemathesis took {:.1} s\n{stdout}\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found failures (above)"
    );
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
        let (url, _guard) = prorata_testkit::sqlite_url();
        super::schemathesis_finds_no_server_error_and_no_schema_violation(&url).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
        let url = prorata_testkit::fresh_database().await;
        super::schemathesis_finds_no_server_error_and_no_schema_violation(&url).await;
    }
}

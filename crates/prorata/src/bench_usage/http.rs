//! The HTTP phase of `prorata bench usage`: batches posted to `POST /v1/usage` over several
//! keep-alive connections at once, as a telephony platform's feeders would send them.
//!
//! The request bodies are generated before the clock starts and written to a temporary file,
//! so the generator's time is left out and the bodies are not held in memory (the phase's
//! peak memory is the server's). Each connection takes the next batch, posts it and waits for
//! its answer (the batch committed) before taking another.

use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use prorata_engine::{IngestReport, MAX_BATCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::bench::cpu_secs;
use crate::callgen::{write_json, CallGen};

/// Connections posting at once: more than the machine's cores, so that the server always has
/// a batch to prepare while another is being written.
pub const CONNECTIONS: usize = 4;

/// The request bodies, one batch each, in a file: (offset, length) of each.
pub struct Bodies {
    path: PathBuf,
    file: std::fs::File,
    spans: Vec<(u64, usize)>,
}

impl Drop for Bodies {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `events` generated events as batches of [`MAX_BATCH`] to a temporary file.
pub fn write_bodies(gen: &mut CallGen, events: usize) -> Result<Bodies> {
    use std::io::Write as _;
    let path =
        std::env::temp_dir().join(format!("prorata-bench-usage-{}.json", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut spans = Vec::new();
    let (mut offset, mut sent) = (0u64, 0);
    let mut body = String::new();
    while sent < events {
        let n = MAX_BATCH.min(events - sent);
        body.clear();
        body.push_str(r#"{"events":["#);
        for i in 0..n {
            if i > 0 {
                body.push(',');
            }
            write_json(&mut body, &gen.next_call());
        }
        body.push_str("]}");
        out.write_all(body.as_bytes())?;
        spans.push((offset, body.len()));
        offset += body.len() as u64;
        sent += n;
    }
    out.flush()?;
    drop(out);
    let file = std::fs::File::open(&path)?;
    Ok(Bodies { path, file, spans })
}

/// What the phase measured.
pub struct Sent {
    pub report: IngestReport,
    pub secs: f64,
    pub cpu_secs: f64,
}

/// Posts every body over [`CONNECTIONS`] connections to `addr`; the merged report (refusals
/// indexed from the first event of all), the wall time and this process's CPU time.
pub async fn send(
    addr: std::net::SocketAddr,
    key: &str,
    bodies: Bodies,
    bar: &indicatif::ProgressBar,
) -> Result<Sent> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let (t, cpu) = (Instant::now(), cpu_secs());
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (bodies, next, key, bar) = (bodies.clone(), next.clone(), key.to_string(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await?);
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(offset, len)) = bodies.spans.get(i) else {
                    return Ok::<_, anyhow::Error>(answers);
                };
                let file = bodies.clone();
                let body = tokio::task::spawn_blocking(move || {
                    let mut body = vec![0; len];
                    file.file.read_exact_at(&mut body, offset).map(|()| body)
                })
                .await??;
                let (status, answer) = post(&mut conn, "/v1/usage", &key, &body).await?;
                if status != 200 {
                    bail!(
                        "POST /v1/usage answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    );
                }
                let report: IngestReport = serde_json::from_slice(&answer)?;
                answers.push((i, report));
                bar.inc(MAX_BATCH as u64);
            }
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.context("a sending task")??);
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_secs = cpu_secs()
        .zip(cpu)
        .map_or(0.0, |(after, before)| after - before);
    answers.sort_by_key(|(i, _)| *i);
    let mut report = IngestReport::default();
    for (i, r) in answers {
        report.add(r, i * MAX_BATCH);
    }
    Ok(Sent {
        report,
        secs,
        cpu_secs,
    })
}

/// One request on a keep-alive HTTP/1.1 connection; the status and the body.
async fn post(
    conn: &mut BufReader<TcpStream>,
    path: &str,
    key: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.get_mut().write_all(head.as_bytes()).await?;
    conn.get_mut().write_all(body).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut answer = vec![0; length];
    conn.read_exact(&mut answer).await?;
    Ok((status, answer))
}

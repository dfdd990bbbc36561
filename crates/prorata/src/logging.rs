//! Where the log lines go: standard error, as human-readable lines (`pretty`, the default)
//! or one JSON object a line (`json`, for a log shipper). Each line carries the spans it was
//! logged in, so a request's lines all show its `request_id` and a worker's its tenant.

use std::str::FromStr;

use anyhow::{Context as _, Result};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Installs the process's subscriber. `filter` takes `RUST_LOG`-style directives without
/// regexes (`info`, `warn,prorata_server=debug`).
pub fn init(format: LogFormat, filter: &str) -> Result<()> {
    let targets = Targets::from_str(filter).with_context(|| {
        format!("log filter {filter:?}: expected e.g. info or warn,prorata_server=debug")
    })?;
    // The filter is the log lines' own, not the whole subscriber's: the billing bench's
    // profiler (crate::bench_profile) listens to events below the log level.
    let registry = tracing_subscriber::registry().with(crate::bench_profile::layer());
    let writer = std::io::stderr;
    let done = match format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_filter(targets),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(writer)
                    .with_filter(targets),
            )
            .try_init(),
    };
    done.context("a log subscriber is already installed")
}

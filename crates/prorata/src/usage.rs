//! `prorata usage import FILE`: call records from a CSV or NDJSON file, streamed in batches of
//! 10,000 (each one transaction, acknowledged before the next is read), with a progress bar.
//! A file cut off by a crash can be imported again from the start: events already accepted
//! come back as duplicates and are not billed twice.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use prorata_core::calls::{CallError, CallRecord};
use prorata_engine::{parse_call, IngestReport, MAX_BATCH};

use crate::db::open;

/// Refusals printed one by one; beyond, only counted.
const SHOWN_REFUSALS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

fn format_of(path: &Path, format: Option<&str>) -> Result<Format> {
    let name = match format {
        Some(f) => f.to_string(),
        None => path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase(),
    };
    match name.as_str() {
        "csv" => Ok(Format::Csv),
        "ndjson" | "jsonl" => Ok(Format::Ndjson),
        other => bail!("{other:?}: give --format csv or --format ndjson"),
    }
}

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Events of a file in order, each with its line number, parsed or with why not.
type Parsed = (u64, std::result::Result<CallRecord, CallError>);

fn csv_events<R: Read>(reader: R) -> impl Iterator<Item = Parsed> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv.headers().cloned().unwrap_or_default();
    let mut record = csv::StringRecord::new();
    std::iter::from_fn(move || match csv.read_record(&mut record) {
        Ok(false) => None,
        Ok(true) => {
            let line = record.position().map_or(0, |p| p.line());
            Some((line, parse_call(&row_json(&headers, &record))))
        }
        Err(e) => {
            let line = e.position().map_or(0, |p| p.line());
            Some((line, Err(CallError::new("event", e.to_string()))))
        }
    })
}

/// A CSV row as the JSON object the API takes, so both formats are read, checked and
/// explained by the same code ([`parse_call`] names the field of a bad value). Numbers and
/// booleans are typed when they parse; anything else stays text and is refused by name.
fn row_json(headers: &csv::StringRecord, record: &csv::StringRecord) -> String {
    use serde_json::Value;
    let object: serde_json::Map<String, Value> = headers
        .iter()
        .zip(record.iter())
        .filter(|(_, v)| !v.is_empty())
        .map(|(h, v)| {
            let value = match h {
                "account_id" | "duration_seconds" => v
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(v), Value::from),
                "toll_free" => match v {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    other => Value::from(other),
                },
                _ => Value::from(v),
            };
            (h.to_string(), value)
        })
        .collect();
    Value::Object(object).to_string()
}

fn ndjson_events<R: Read>(reader: R) -> impl Iterator<Item = Parsed> {
    BufReader::new(reader)
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let n = i as u64 + 1;
            match line {
                Ok(l) if l.trim().is_empty() => None,
                Ok(l) => Some((n, parse_call(&l))),
                Err(e) => Some((n, Err(CallError::new("event", e.to_string())))),
            }
        })
}

pub async fn import(
    url: &str,
    tenant: i64,
    file: &Path,
    format: Option<&str>,
    fold_after: u64,
) -> Result<()> {
    let engine = open(url).await?.with_usage_fold_after(fold_after);
    let tenant = engine.tenant(tenant).await?;
    let format = format_of(file, format)?;
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = Counting {
        inner: f,
        read: read.clone(),
    };
    let mut events: Box<dyn Iterator<Item = Parsed>> = match format {
        Format::Csv => Box::new(csv_events(reader)),
        Format::Ndjson => Box::new(ndjson_events(reader)),
    };
    let label = file.display().to_string();
    let bar = crate::progress::bar(&label, total);
    let mut report = IngestReport::default();
    // Only counted: line numbers are kept for the batch in flight, not the whole file.
    let mut read_events = 0;
    let mut refused: Vec<String> = Vec::new();
    loop {
        let batch: Vec<Parsed> = events.by_ref().take(MAX_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let (batch_lines, batch): (Vec<u64>, Vec<_>) = batch.into_iter().unzip();
        let r = engine.ingest_calls(&tenant, batch).await?;
        for rej in &r.rejected {
            let line = batch_lines.get(rej.index).copied().unwrap_or(0);
            refused.push(format!("line {line}: {}: {}", rej.field, rej.reason));
        }
        report.add(r, read_events);
        read_events += batch_lines.len();
        crate::progress::set(&bar, read.get());
    }
    bar.finish_and_clear();
    for r in refused.iter().take(SHOWN_REFUSALS) {
        eprintln!("refused: {r}");
    }
    if refused.len() > SHOWN_REFUSALS {
        eprintln!("… and {} more refused", refused.len() - SHOWN_REFUSALS);
    }
    println!(
        "{label}: {} events read, {} accepted, {} duplicates, {} refused",
        read_events,
        report.accepted,
        report.duplicates,
        report.rejected.len()
    );
    // A script importing a file must see that part of it was left out.
    if !report.rejected.is_empty() {
        anyhow::bail!(
            "{} of {read_events} events refused (listed above); the others were imported",
            report.rejected.len()
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "usage_fuzz.rs"]
mod fuzz;

/// `prorata usage fold --tenant N`: the tenant's appended usage totals folded now, in one
/// transaction.
pub async fn fold(url: &str, tenant: i64) -> Result<()> {
    let engine = open(url).await?;
    let tenant = engine.tenant(tenant).await?;
    // Said before the fold starts: the crash test kills the process on this line.
    eprintln!("folding the usage totals of tenant {}", tenant.id);
    engine.fold_usage(tenant.id).await?;
    println!("tenant {}: usage totals folded", tenant.id);
    Ok(())
}

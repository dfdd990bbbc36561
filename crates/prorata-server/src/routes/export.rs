//! Exports: a list streamed whole as NDJSON or CSV (issue #16, item 3).
//!
//! Asked for with `Accept: application/x-ndjson` or `Accept: text/csv` on a list that offers it
//! (`GET /v1/invoices`, `GET /v1/subscriptions`): every row its filters match, from `cursor` on
//! when given, with no page limit. The rows are read from the store a page at a time and each
//! page is written out before the next is read (`Body::from_stream`), so memory holds one page
//! whatever the size of the export. The first page is read before the response starts: a
//! refusal or an unavailable database is still a problem document; a failure later cuts the
//! stream short (the CSV or NDJSON then ends without its last rows, and the error is logged).

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use prorata_engine::EngineError;
use prorata_store::Page;
use serde::Serialize;

use crate::error::ApiError;

/// Rows read from the store per page of an export.
pub const EXPORT_PAGE: i64 = 500;

pub const NDJSON: &str = "application/x-ndjson";
pub const CSV: &str = "text/csv";

/// How a list answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A page of JSON (the default).
    Page,
    Ndjson,
    Csv,
}

impl Format {
    /// The first of JSON, NDJSON and CSV that `Accept` lists (a client that lists JSON first
    /// prefers a page); a page of JSON when it lists none of them.
    pub fn of(headers: &HeaderMap) -> Format {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|range| {
                range
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .find_map(|media| match media.as_str() {
                "application/json" => Some(Format::Page),
                NDJSON => Some(Format::Ndjson),
                CSV => Some(Format::Csv),
                _ => None,
            })
            .unwrap_or(Format::Page)
    }
}

/// A row of an export: its JSON (NDJSON's lines) and its CSV record.
pub trait ExportRow: Serialize {
    /// The CSV header row, without its line end.
    const CSV_HEADER: &'static str;
    /// The row's fields, in the header's order (quoted by [`csv_line`]).
    fn csv_fields(&self) -> Vec<String>;
}

/// A CSV record (RFC 4180): fields with a comma, a quote or a line end are quoted.
fn csv_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn render<T: ExportRow>(format: Format, items: &[T], header_row: bool) -> Bytes {
    let mut out = String::new();
    if header_row {
        out.push_str(T::CSV_HEADER);
        out.push_str("\r\n");
    }
    for item in items {
        match format {
            Format::Csv => out.push_str(&csv_line(&item.csv_fields())),
            _ => {
                // A row that cannot be written would be a defect: it is logged and left out.
                match serde_json::to_string(item) {
                    Ok(json) => {
                        out.push_str(&json);
                        out.push('\n');
                    }
                    Err(e) => tracing::error!(error = %e, "export row not written"),
                }
            }
        }
    }
    Bytes::from(out)
}

/// A list's answer in `format`: one page of at most `limit` rows as JSON, or every row from
/// `start` on, streamed (NDJSON or CSV). `fetch(after, limit)` reads one page for both, so a
/// page and an export never differ in what they hold.
pub async fn answer<T, F, Fut>(
    format: Format,
    start: i64,
    limit: i64,
    fetch: F,
) -> Result<Response, ApiError>
where
    T: ExportRow + Send + 'static,
    F: Fn(i64, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, EngineError>> + Send + 'static,
{
    if format == Format::Page {
        let page = fetch(start, limit).await?;
        return Ok(axum::Json(super::ListResponse::new(page.items, page.next)).into_response());
    }
    stream(format, start, move |after| fetch(after, EXPORT_PAGE)).await
}

/// Streams every page `fetch` gives from `start` on, in `format` (NDJSON or CSV).
async fn stream<T, F, Fut>(format: Format, start: i64, mut fetch: F) -> Result<Response, ApiError>
where
    T: ExportRow + Send + 'static,
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, EngineError>> + Send + 'static,
{
    let first = fetch(start).await?;
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        _ => NDJSON,
    };
    let head = render(format, &first.items, format == Format::Csv);
    let rest =
        futures_util::stream::unfold((first.next, fetch), move |(after, mut fetch)| async move {
            let after = after?;
            match fetch(after).await {
                Ok(page) => Some((
                    Ok::<Bytes, std::io::Error>(render(format, &page.items, false)),
                    (page.next, fetch),
                )),
                Err(e) => {
                    tracing::error!(error = %e, "export cut short");
                    Some((Err(std::io::Error::other(e.to_string())), (None, fetch)))
                }
            }
        });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(head) }),
        rest,
    );
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_export_type_it_lists() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).unwrap_or(HeaderValue::from_static("")),
            );
            Format::of(&h)
        };
        assert_eq!(with("application/json"), Format::Page);
        assert_eq!(with("*/*"), Format::Page);
        assert_eq!(with("text/CSV; q=0.9"), Format::Csv);
        assert_eq!(with("application/x-ndjson, text/csv"), Format::Ndjson);
        assert_eq!(with("application/json, text/csv"), Format::Page);
        assert_eq!(with("text/html, text/csv"), Format::Csv);
        assert_eq!(Format::of(&HeaderMap::new()), Format::Page);
    }

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        let line = csv_line(&["a".into(), "b,c".into(), "say \"hi\"".into()]);
        assert_eq!(line, "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
    }
}

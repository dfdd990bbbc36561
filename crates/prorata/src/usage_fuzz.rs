//! Fuzzing `prorata usage import`'s readers (issue 13): CSV and NDJSON files of call records
//! become the events ingestion takes, one per row or line. No file may panic or hang, and the
//! readers must end: at most one event per line (a reader that kept failing on the same spot
//! would send batches of errors forever).
//!
//! Files are rows of the real columns (shuffled, some missing, some unknown, repeated), each
//! value valid, extreme (`i64::MAX`, `1e400`, dates at chrono's ends, 100 kB), quoted or not
//! (commas, quotes and newlines inside), or arbitrary; NDJSON lines are mutants of a valid
//! record (`prorata_testkit::fuzz`), blank or cut; and bytes of any kind, invalid UTF-8
//! included. Each file is read under a deadline on its own thread. A file of valid rows must
//! give back exactly its records.
//!
//! `PROPTEST_CASES=20000 cargo test -p prorata --bin prorata usage::fuzz` hunts longer.

use std::time::Duration;

use proptest::prelude::*;
use prorata_testkit::fuzz::{config, guarded, json_input, shown};
use serde_json::json;

use super::{csv_events, ndjson_events, Parsed};

/// The longest one file may take to read: milliseconds in fact.
const LIMIT: Duration = Duration::from_secs(20);

const COLUMNS: [&str; 8] = [
    "event_id",
    "account_id",
    "started_at",
    "direction",
    "toll_free",
    "caller",
    "callee",
    "duration_seconds",
];

/// A valid value of each column, by index in [`COLUMNS`].
fn valid_value(column: &str, row: usize) -> String {
    match column {
        "event_id" => format!("e{row}"),
        "account_id" => "1".into(),
        "started_at" => "2025-01-10T09:00:00Z".into(),
        "direction" => "outbound".into(),
        "toll_free" => "false".into(),
        "caller" => "+33145678900".into(),
        "callee" => "+12125550100".into(),
        "duration_seconds" => "61".into(),
        _ => String::new(),
    }
}

/// A cell: valid, extreme, arbitrary, or empty.
fn cell() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        18 => Just(None),
        9 => prop::sample::select(vec![
            "", " ", "0", "-1", "1", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "1e400", "86400", "86401", "true", "1", "0", "yes", "TRUE",
            "inbound", "outbound", "Outbound", "+", "+0", "+1234567890123456", "0612345678",
            "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "2025-02-30T00:00:00Z",
            "2025-01-10T09:00:00-99:00", "2025-01-10", "🦀", "\u{0}", "a,b", "a\"b", "\"", "\n",
            "a\r\nb", " e1 ", "null", "{}", "[]",
        ])
        .prop_map(|s| Some(s.to_string())),
        3 => "\\PC{0,20}".prop_map(Some),
        1 => (0_usize..100_000).prop_map(|n| Some("7".repeat(n))),
    ]
}

/// A CSV file: a header of columns, then rows; each cell `None` is the column's valid value.
#[derive(Debug, Clone)]
struct CsvFile {
    header: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    /// Cells written as they are, not quoted (so commas, quotes and newlines break rows).
    raw: bool,
    line_end: &'static str,
}

fn header() -> impl Strategy<Value = Vec<String>> {
    let name = prop_oneof![
        8 => prop::sample::select(COLUMNS.to_vec()).prop_map(String::from),
        1 => prop::sample::select(vec!["", " event_id", "EVENT_ID", "extra", "event_id,", "\u{feff}event_id"])
            .prop_map(String::from),
        1 => "\\PC{0,10}",
    ];
    prop_oneof![
        3 => Just(COLUMNS.iter().map(|c| c.to_string()).collect()),
        2 => Just(COLUMNS.to_vec())
            .prop_shuffle()
            .prop_map(|c| c.into_iter().map(String::from).collect()),
        2 => prop::collection::vec(name, 0..11),
    ]
}

fn csv_file() -> impl Strategy<Value = CsvFile> {
    (
        header(),
        prop::collection::vec(prop::collection::vec(cell(), 0..11), 0..12),
        prop::bool::weighted(0.3),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
    )
        .prop_map(|(header, rows, raw, line_end)| CsvFile {
            header,
            rows,
            raw,
            line_end,
        })
}

impl CsvFile {
    fn text(&self) -> String {
        let quote = |s: &str| {
            if self.raw {
                s.to_string()
            } else {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
        };
        let mut out = self.header.join(",");
        for (r, row) in self.rows.iter().enumerate() {
            out.push_str(self.line_end);
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Some(v) => quote(v),
                    None => quote(&valid_value(
                        self.header.get(i).map(String::as_str).unwrap_or(""),
                        r,
                    )),
                })
                .collect();
            out.push_str(&cells.join(","));
        }
        out
    }
}

/// Reads every event of `bytes` with `read`, under the deadline; at most one event per line
/// (and one for a last line without its end), with line numbers within the file.
fn read_all(bytes: Vec<u8>, read: fn(&[u8]) -> Vec<Parsed>) -> Result<Vec<Parsed>, TestCaseError> {
    let shown_input = shown(&String::from_utf8_lossy(&bytes), 3000);
    let lines = bytes
        .iter()
        .filter(|b| **b == b'\n' || **b == b'\r')
        .count() as u64
        + 1;
    let (events, _) = guarded(LIMIT, &shown_input, move || read(&bytes))?;
    prop_assert!(
        events.len() as u64 <= lines,
        "{} events from {lines} lines of:\n{shown_input}",
        events.len()
    );
    for (line, e) in &events {
        prop_assert!(*line <= lines, "line {line} of {lines}:\n{shown_input}");
        if let Err(e) = e {
            prop_assert!(
                !e.field.is_empty() && !e.reason.is_empty(),
                "a refusal without field or reason ({e:?}) in:\n{shown_input}"
            );
        }
    }
    Ok(events)
}

/// The reader on a file of at most `lines + 1` records: `take` bounds a reader that would not
/// end, so the count check above catches it instead of memory running out.
fn read_csv(bytes: &[u8]) -> Vec<Parsed> {
    let bound = bytes.len() + 2;
    csv_events(bytes).take(bound).collect()
}

fn read_ndjson(bytes: &[u8]) -> Vec<Parsed> {
    let bound = bytes.len() + 2;
    ndjson_events(bytes).take(bound).collect()
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn csv_files_never_panic_or_hang(file in csv_file()) {
        read_all(file.text().into_bytes(), read_csv)?;
    }

    #[test]
    fn ndjson_files_never_panic_or_hang(
        lines in prop::collection::vec(
            prop_oneof![
                8 => json_input().prop_map(Some),
                1 => Just(None),
            ],
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let base = json!({"event_id": "n1", "account_id": 1,
            "started_at": "2025-01-10T09:00:00Z", "direction": "outbound",
            "caller": "+33145678900", "callee": "+12125550100", "duration_seconds": 61});
        let text: Vec<String> = lines
            .iter()
            .map(|l| l.as_ref().map(|i| i.text(&base)).unwrap_or_default())
            .collect();
        let text = text.join(if crlf { "\r\n" } else { "\n" });
        read_all(text.into_bytes(), read_ndjson)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_hang(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        read_all(bytes.clone(), read_csv)?;
        read_all(bytes, read_ndjson)?;
    }

    /// Valid rows, in any column order, come back as their records, checked.
    #[test]
    fn valid_rows_are_read_back(columns in Just(COLUMNS.to_vec()).prop_shuffle(), rows in 1_usize..20) {
        let file = CsvFile {
            header: columns.iter().map(|c| c.to_string()).collect(),
            rows: vec![vec![None; COLUMNS.len()]; rows],
            raw: false,
            line_end: "\n",
        };
        let events = read_all(file.text().into_bytes(), read_csv)?;
        prop_assert_eq!(events.len(), rows);
        for (i, (line, e)) in events.iter().enumerate() {
            prop_assert_eq!(*line, i as u64 + 2);
            let call = e.as_ref().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(&call.event_id, &format!("e{i}"));
            prop_assert_eq!(call.check(), Ok(()));
        }
    }
}

/// Bytes that are not UTF-8 in the middle of a CSV and an NDJSON file: each reader reports the
/// bad line and goes on with the next.
#[test]
fn a_line_that_is_not_utf8_is_refused_and_reading_goes_on() {
    let mut csv =
        b"event_id,account_id,started_at,direction,caller,callee,duration_seconds\n".to_vec();
    csv.extend_from_slice(b"e1,1,2025-01-10T09:00:00Z,outbound,+33145678900,+12125550100,61\n");
    csv.extend_from_slice(
        b"e\xff\xfe,1,2025-01-10T09:00:00Z,outbound,+33145678900,+12125550100,61\n",
    );
    csv.extend_from_slice(b"e3,1,2025-01-10T09:00:00Z,outbound,+33145678900,+12125550100,61\n");
    let events = read_csv(&csv);
    let ok: Vec<bool> = events.iter().map(|(_, e)| e.is_ok()).collect();
    assert_eq!(ok, [true, false, true], "{events:?}");
    let mut nd = br#"{"event_id":"n1"}"#.to_vec();
    nd.extend_from_slice(b"\n\xff\xfe\n");
    nd.extend_from_slice(br#"{"event_id":"n3"}"#);
    let events = read_ndjson(&nd);
    let lines: Vec<u64> = events.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2, 3], "{events:?}");
}

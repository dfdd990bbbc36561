//! Fuzzing call records (issue 13): [`parse_call`] reads every event of `POST /v1/usage` and
//! every line of an NDJSON import (`prorata usage import`); a CSV row becomes the same JSON
//! first (that path is fuzzed in the `prorata` binary's `usage::fuzz` tests). No input may
//! panic or hang.
//!
//! Inputs: mutants of a valid record (a field dropped, retyped or replaced by an extreme
//! value — `i64::MAX`, `1e400`, dates at chrono's ends, offsets like `-99:00`, 100 kB
//! strings, unicode — or an unknown field added), arbitrary JSON, and arbitrary text. What
//! parses is then checked ([`CallRecord::check`]), dated in several time zones and rated
//! against the default catalog, as ingestion does; a refusal must name a field. Each input
//! runs under a deadline on its own thread (`prorata_testkit::fuzz::guarded`).
//!
//! `PROPTEST_CASES=100000 cargo test -p prorata-engine --test fuzz_usage` hunts longer.

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use prorata_core::calls::{local_date, time_zone, CallRater};
use prorata_core::catalog::Catalog;
use prorata_engine::parse_call;
use prorata_testkit::fuzz::{config, guarded, json_input, JsonInput};
use serde_json::{json, Value};

const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

/// The longest one record may take: it takes microseconds.
const LIMIT: Duration = Duration::from_secs(10);

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::from_toml(DEFAULT_CATALOG).expect("default catalog"))
}

/// Valid records: outbound, inbound to a toll-free number, inbound free.
fn bases() -> [Value; 3] {
    [
        json!({"event_id": "c1", "account_id": 1, "started_at": "2024-06-03T08:00:00Z",
               "direction": "outbound", "caller": "+33145678900", "callee": "+12125550100",
               "duration_seconds": 61}),
        json!({"event_id": "c2", "account_id": 7, "started_at": "2024-06-03T23:30:00+02:00",
               "direction": "inbound", "toll_free": true, "caller": "+4930123456",
               "callee": "+33800123456", "duration_seconds": 0}),
        json!({"event_id": "c3", "account_id": 9223372036854775807_i64,
               "started_at": "2024-02-29T00:00:00-12:00", "direction": "inbound",
               "toll_free": false, "caller": "+81312345678", "callee": "+33180000000",
               "duration_seconds": 86400}),
    ]
}

/// Reads `text` as ingestion does; a refusal names a field.
fn ingest_one(text: String) -> Result<(), String> {
    match parse_call(&text) {
        Err(e) => {
            if e.field.is_empty() || e.reason.is_empty() {
                return Err(format!("a refusal without field or reason: {e:?}"));
            }
        }
        Ok(call) => {
            if let Err(e) = call.check() {
                if e.field.is_empty() || e.reason.is_empty() {
                    return Err(format!("a refusal without field or reason: {e:?}"));
                }
                return Ok(());
            }
            for tz in [
                "Europe/Paris",
                "Pacific/Kiritimati",
                "Pacific/Pago_Pago",
                "UTC",
            ] {
                if let Some(tz) = time_zone(tz) {
                    let _ = local_date(call.started_at, tz);
                }
            }
            let rated = CallRater::new(catalog()).rate(&call);
            if let Ok(Some(r)) = rated {
                if r.seconds < call.duration_seconds {
                    return Err(format!(
                        "{} s billed for a call of {} s",
                        r.seconds, call.duration_seconds
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check(text: String) -> Result<(), TestCaseError> {
    let shown = text.clone();
    let (outcome, _) = guarded(LIMIT, &shown, move || ingest_one(text))?;
    outcome.map_err(|e| TestCaseError::fail(format!("{e} on:\n{shown}")))
}

proptest! {
    #![proptest_config(config(3000))]

    /// Mutants of valid records, arbitrary JSON and text, as one event or one NDJSON line.
    #[test]
    fn call_records_never_panic_or_hang(base in 0_usize..3, input in json_input()) {
        check(input.text(&bases()[base]))?;
    }

    /// Bytes of any kind (an NDJSON line is read as UTF-8 first; the lossy form covers what
    /// gets through).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in any::<Vec<u8>>()) {
        check(String::from_utf8_lossy(&bytes).into_owned())?;
    }
}

/// Found by the NDJSON harness: a field with an empty name was refused naming the field `""`.
#[test]
fn a_field_without_a_name_is_refused_naming_the_event() {
    let mut record = bases()[0].clone();
    record[""] = json!(1e-300);
    let e = parse_call(&record.to_string()).map(|c| c.event_id);
    assert_eq!(
        e.map_err(|e| e.field),
        Err("event".to_string()),
        "the field of a nameless key"
    );
}

#[test]
fn the_valid_records_parse_and_rate() {
    for b in bases() {
        let call = parse_call(&b.to_string()).expect("parses");
        assert_eq!(call.check(), Ok(()));
    }
    // A mutant with an extreme value is refused, naming its field.
    let text = JsonInput::Mutant(vec![prorata_testkit::fuzz::JsonMutation::Replace {
        at: 1,
        with: prorata_testkit::fuzz::Replacement::Value(json!(-1)),
    }])
    .text(&bases()[0]);
    let e = parse_call(&text).and_then(|c| c.check().map(|_| c));
    assert_eq!(
        e.map_err(|e| e.field),
        Err("account_id".to_string()),
        "{text}"
    );
}
